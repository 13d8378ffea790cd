/**
 * The rehearsal: the whole cutover on the lab through the real engine, with the commands an
 * administrator runs on the real stacks (the phase and rollback commands' own functions, guards
 * included). Phases 1 to 5, the go-live, a rollback read from the stack's history, the go-live
 * again, a reboot of each gateway, a wave of users and its rollback (the mailbox file restored from the stack's archive);
 * every expected mail flow checked with real messages after each step, and each switch timed by
 * an outside prober.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Layout, Phase } from "../src/model/inventory";
import { loadStack, PROJECT_DIR, STACKS_DIR, stackPlan } from "../src/model/stack-file";
import type { Engine } from "../src/ops/engine";
import { type PhaseOutcome, runPhase } from "../src/ops/phase";
import { runRollback } from "../src/ops/rollback";
import type { MigrationStack } from "../src/ops/stack";
import { verifyDeployed } from "../src/ops/verification";
import { SessionPool } from "../src/remote/ssh";
import { hostTarget, sshEndpoint } from "../src/remote/targets";
import { checkGatewayOwnServices, gatewayServer, type OwnServiceCheck } from "./gateway-own";
import { type LabDescription, labHostKeys, rebootHost } from "./lab";
import { labMailboxFile, openLabStack, removeLabStack } from "./lab-stack";
import { outageWindow, type Switch, startProber } from "./prober";

export interface StepReport {
  step: string;
  flows: number;
  passed: number;
  seconds: number;
  ok: boolean;
  /** Each failed check: the flow, the expected and the actual mailbox. */
  failures: string[];
  /** The engine's summary of the preview or update. */
  changes: Record<string, number>;
  /** Of the seconds: those spent checking mail after the engine was done. */
  verifySeconds: number;
  /** The gateway's services to its clients after the step, at its name (office relay, SASL submission, a stranger refused). */
  own: OwnServiceCheck[];
}

export interface SwitchReport {
  name: string;
  from: string;
  to: string;
  outageMs: number | undefined;
  unanswered: number;
  /** Greetings by the old server after the new one's first (both answering at once). */
  overlaps: number;
  /** From the first to the last DATA probe a draining gateway refused with 421, ms (0: none seen). */
  drainMs: number;
  refusedAtData: number;
  commandSeconds: number;
  /**
   * The TLS identity on the gateway address after the switch, from the verification: whose key it
   * served ("new's key 1a2b3c4d..."), and whether the TLSA record publishes it.
   */
  tls?: string;
}

export interface RehearsalReport {
  stack: string;
  layout: Layout;
  startedAt: string;
  seconds: number;
  passed: boolean;
  steps: StepReport[];
  switches: SwitchReport[];
}

export interface RehearsalOptions {
  lab: LabDescription;
  engine: Engine;
  stackName: string;
  /** How many legacy users the wave moves to the new server. */
  waveSize?: number;
  /** The stack's layout: the pilot's (single-post-office), post-offices or smart-host. */
  layout?: Layout;
  /**
   * Stop after the rollback of the go-live: phases 1-5 and the rollback, without the second go-live,
   * the wave and the wave's rollback (whose code does not depend on the layout).
   */
  short?: boolean;
  progress: (m: string) => void;
  /** Called as soon as the stack exists, with what removes it and its mailbox file. */
  onStack?: (dispose: () => Promise<void>) => void;
}

export async function rehearse(o: RehearsalOptions): Promise<{ report: RehearsalReport; stack: MigrationStack }> {
  const started = Date.now();
  const steps: StepReport[] = [];
  const switches: SwitchReport[] = [];
  const layout = o.layout ?? "single-post-office";
  const shape = layout === "single-post-office" ? "pilot" : layout;
  const stack = await openLabStack(o.stackName, o.lab, o.engine, (m) => o.progress(m), undefined, { shape });
  o.onStack?.(() => removeLabStack(stack));
  const options = { yes: true, progress: o.progress };

  /** The step's report, from what the phase or rollback command verified. */
  const report = (step: string, outcome: PhaseOutcome, seconds: number) => {
    const v = outcome.verification;
    const r: StepReport = {
      step,
      flows: v ? v.flows.length + v.relays.length : 0,
      passed: v ? v.flows.filter((f) => f.passed).length + v.relays.filter((x) => x.passed).length : 0,
      seconds,
      ok: outcome.status === "done",
      failures: v
        ? [
            ...v.flows.filter((f) => !f.passed).map((f) => f.detail),
            ...v.relays.filter((x) => !x.passed).map((x) => x.detail),
            ...(v.tls ?? []).filter((x) => !x.passed).map((x) => x.detail),
          ]
        : [
            `${outcome.status}${outcome.unverifiedBecause ? `: ${outcome.unverifiedBecause}` : ""}${outcome.refusals.map((x) => `: ${x.message}`).join("")}`,
          ],
      changes: outcome.up?.changes ?? {},
      verifySeconds: v?.seconds ?? 0,
      own: [],
    };
    steps.push(r);
    o.progress(
      `${r.ok ? "ok  " : "FAIL"} ${step}: ${r.passed}/${r.flows} checks, ${r.seconds.toFixed(1)} s${v ? ` (checks ${v.seconds.toFixed(1)} s: send ${v.sendSeconds.toFixed(1)}, slowest delivery ${Math.max(0, ...v.flows.map((f) => f.deliverySeconds ?? 0)).toFixed(1)})` : ""}${r.failures.length ? `\n       ${r.failures.join("\n       ")}` : ""}`,
    );
    return r;
  };
  /** The gateway's services to its own clients, by its name, which cutover must keep: a failure fails the step. */
  const pool = new SessionPool();
  const internet = () =>
    pool.session(
      hostTarget(
        sshEndpoint(loadStack(o.stackName, 1).inventory, "internet", labHostKeys(o.lab)),
        readFileSync(o.lab.adminKeyPath, "utf8"),
      ),
    );
  const checkOwn = async (r: StepReport) => {
    const server = gatewayServer(stackPlan(o.stackName));
    r.own = await checkGatewayOwnServices(await internet(), server);
    const failed = r.own.filter((c) => !c.ok);
    if (failed.length) {
      r.ok = false;
      r.failures.push(...failed.map((c) => `the gateway's ${c.service} at ${server}: ${c.detail}`));
    }
    o.progress(`     the gateway's own services at ${server}: ${r.own.map((c) => `${c.service} ${c.ok ? "ok" : "FAILED"}`).join(", ")}`);
  };
  const timed = async <T extends PhaseOutcome>(step: string, run: () => Promise<T>) => {
    const t = Date.now();
    const outcome = await run();
    const r = report(step, outcome, (Date.now() - t) / 1000);
    await checkOwn(r);
    return { outcome, step: r };
  };

  /** Whose key the gateway address served after a switch, as its verification saw it. */
  const tlsAtGateway = (outcome: PhaseOutcome) => {
    const t = outcome.verification?.tls?.find((x) => x.server === o.lab.serviceAddress);
    if (!t) return undefined;
    const whose = t.served === o.lab.tls?.legacy.spki ? "legacy's key" : t.served === o.lab.tls?.new.spki ? "new's key" : "a key";
    return `${whose} ${t.served?.slice(0, 8) ?? "(none)"}..., ${t.passed ? "in the TLSA record" : `NOT VERIFIED (${t.verdict})`}`;
  };
  /** A command that moves the gateway, timed by the prober on the outside host. */
  const timedSwitch = async <T extends PhaseOutcome>(name: string, from: string, to: string, run: () => Promise<T>) => {
    // A mailbox both systems accept, for the DATA probes that see a draining gateway's 421.
    const recipient = stackPlan(o.stackName, 5).flows.find((f) => f.from === "outside" && f.mailboxHost !== "internet")!.recipient;
    const prober = startProber(o.lab.hosts.internet!.namespace, o.lab.serviceAddress, { maxSeconds: 120, dataRecipient: recipient });
    await prober.ready();
    const outcome = await run();
    await new Promise((r) => setTimeout(r, 300));
    const own = (role: string) => stackPlan(o.stackName, 5).hosts.find((h) => h.role === role)!.ownName;
    const w: Switch = outageWindow(await prober.stop(), own(from), own(to));
    switches.push({
      name,
      from,
      to,
      outageMs: w.outageMs,
      unanswered: w.unanswered,
      overlaps: w.overlaps,
      drainMs: w.drainMs,
      refusedAtData: w.refusedAtData,
      commandSeconds: outcome.up?.seconds ?? 0,
      ...(tlsAtGateway(outcome) ? { tls: tlsAtGateway(outcome) } : {}),
    });
    o.progress(
      `     ${name}: outage ${w.outageMs === undefined ? "not seen" : `${w.outageMs} ms`} (${w.unanswered} probes unanswered, ${w.overlaps} greetings by both), drain ${w.drainMs} ms (${w.refusedAtData} DATA probes refused with 421), command ${(outcome.up?.seconds ?? 0).toFixed(1)} s${tlsAtGateway(outcome) ? `, TLS: ${tlsAtGateway(outcome)}` : ""}`,
    );
    return outcome;
  };

  const finish = async (): Promise<RehearsalReport> => {
    await pool.closeAll();
    return {
      stack: o.stackName,
      layout,
      startedAt: new Date(started).toISOString(),
      seconds: (Date.now() - started) / 1000,
      passed: steps.every((s) => s.ok) && switches.every((s) => s.outageMs !== undefined),
      steps,
      switches,
    };
  };

  // Before cutover touches anything: the gateway's own services work as the site has them.
  const before: StepReport = {
    step: "before cutover",
    flows: 0,
    passed: 0,
    seconds: 0,
    ok: true,
    failures: [],
    changes: {},
    verifySeconds: 0,
    own: [],
  };
  await checkOwn(before);
  steps.push(before);
  for (const phase of [1, 2, 3, 4] as Phase[]) await timed(`phase ${phase}`, () => runPhase(stack, phase, options));
  await timed("phase 5: go-live", () => timedSwitch("go-live", "legacy", "new", () => runPhase(stack, 5, options)));
  await timed("rollback", () => timedSwitch("rollback", "new", "legacy", () => runRollback(stack, options)));
  if (o.short) return { report: await finish(), stack };
  await timed("go-live again", () => timedSwitch("go-live again", "legacy", "new", () => runPhase(stack, 5, options)));
  // Each gateway rebooted (lab/lab.ts, rebootHost): what the go-live wrote to the hosts' own
  // configuration brings them back as it left them, with no cutover command; verified as the morning after.
  for (const role of ["new", "legacy"] as const)
    await timed(`reboot of ${role} after the go-live`, async () => {
      await rebootHost(role, o.progress);
      const v = await verifyDeployed(stack, o.progress);
      return {
        status: v.status,
        refusals: [],
        forced: false,
        ...(v.verification ? { verification: v.verification } : {}),
        ...(v.unverifiedBecause ? { unverifiedBecause: v.unverifiedBecause } : {}),
      } satisfies PhaseOutcome;
    });

  const mailboxFile = join(STACKS_DIR, labMailboxFile(o.stackName));
  const moved = moveWave(mailboxFile, o.waveSize ?? 2);
  o.progress(`     wave: moving ${moved.join(", ")} to the new server`);
  const { step: waveStep } = await timed(`wave (${moved.length} users)`, () => runPhase(stack, 5, options));
  const onNew = () =>
    stackPlan(o.stackName, 5)
      .flows.filter((f) => moved.includes(f.recipient) && f.from === "outside")
      .map((f) => f.mailboxHost);
  if (!onNew().every((h) => h === "new")) {
    waveStep.ok = false;
    waveStep.failures.push(`the wave's users are not planned on the new server: ${moved.join(", ")}`);
  }
  const { step: back } = await timed("wave rolled back", () => runRollback(stack, options));
  if (!onNew().every((h) => h === "legacy")) {
    back.ok = false;
    back.failures.push(`the rollback did not restore the mailbox file: ${moved.join(", ")} are not back on legacy`);
  }
  return { report: await finish(), stack };
}

/** Moves the first n users living on legacy to new, in the mailbox file: one line each. */
export function moveWave(file: string, n: number): string[] {
  const lines = readFileSync(file, "utf8").split("\n");
  const moved: string[] = [];
  const out = lines.map((l, i) => {
    const cols = l.split(",");
    if (i === 0 || moved.length >= n || cols[1] !== "legacy") return l;
    moved.push(cols[0]);
    return [cols[0], "new", ...cols.slice(2)].join(",");
  });
  writeFileSync(file, out.join("\n"));
  return moved;
}

export function renderReport(r: RehearsalReport): { table: string; markdown: string } {
  const rows = r.steps.map((s) => [
    s.step,
    String(s.flows),
    String(s.passed),
    `${s.own.filter((c) => c.ok).length}/${s.own.length}`,
    s.seconds.toFixed(1),
  ]);
  const switchRows = r.switches.map((s) => [
    s.name,
    `${s.from} -> ${s.to}`,
    s.outageMs === undefined ? "not seen" : `${s.outageMs} ms`,
    String(s.unanswered),
    String(s.overlaps),
    `${s.drainMs} ms (${s.refusedAtData})`,
    `${s.commandSeconds.toFixed(1)} s`,
    s.tls ?? "-",
  ]);
  const pad = (cells: string[][], head: string[]) => {
    const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
    return [head, ...cells].map((c) => c.map((x, i) => x.padEnd(widths[i])).join("  ")).join("\n");
  };
  const md = (cells: string[][], head: string[]) =>
    [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...cells.map((c) => `| ${c.join(" | ")} |`)].join("\n");
  const stepHead = ["step", "checks", "passed", "clients' services", "seconds"];
  const switchHead = [
    "switch",
    "direction",
    "outage window",
    "unanswered probes",
    "greeted by both",
    "drain (421 at DATA)",
    "command time",
    "TLS on the gateway address",
  ];
  const verdict = `${r.passed ? "PASSED" : "FAILED"}: rehearsal of stack ${r.stack} (layout ${r.layout}) in ${r.seconds.toFixed(1)} s`;
  const failures = r.steps.flatMap((s) => s.failures.map((f) => `${s.step}: ${f}`));
  return {
    table: `${pad(rows, stepHead)}\n\n${pad(switchRows, switchHead)}\n\n${verdict}\n${failures.join("\n")}`,
    markdown: `# Cutover rehearsal: ${r.stack}\n\n${verdict} (started ${r.startedAt}).\n\n${md(rows, stepHead)}\n\n${md(switchRows, switchHead)}\n${failures.length ? `\n## Failures\n\n${failures.map((f) => `- ${f}`).join("\n")}\n` : ""}`,
  };
}

export const REPORTS_DIR = join(PROJECT_DIR, "reports");

export function writeReport(r: RehearsalReport): { json: string; markdown: string } {
  mkdirSync(REPORTS_DIR, { recursive: true });
  const base = join(REPORTS_DIR, `rehearsal-${r.stack}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(`${base}.md`, renderReport(r).markdown);
  return { json: `${base}.json`, markdown: `${base}.md` };
}
