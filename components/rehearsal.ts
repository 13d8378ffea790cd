/**
 * The rehearsal: the whole cutover on the lab through the real engine, with the commands an
 * administrator runs on the real stacks. Phases 1 to 5, the go-live, a rollback read from the
 * stack's history, the go-live again, and a wave of users; every expected mail flow checked with
 * real messages after each step, and each switch timed by an outside prober.
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { outageWindow, startProber, type Switch } from "./checks/prober";
import { type Verification, verifyPhase } from "./checks/verify";
import { openLabStack } from "./engine/lab-stack";
import type { Engine } from "./engine/obtain";
import { restoreConfiguration } from "./engine/rollback";
import type { MigrationStack, OperationResult } from "./engine/stack";
import type { HostRole, Phase } from "./inventory";
import type { LabDescription } from "./lab/lab";
import { plan } from "./plan";
import { loadStack, PROJECT_DIR, STACKS_DIR } from "./stack-file";
import { SessionPool } from "./ssh";
import { hostTarget } from "./targets";

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
}

export interface SwitchReport {
  name: string;
  from: string;
  to: string;
  outageMs: number | undefined;
  unanswered: number;
  commandSeconds: number;
}

export interface RehearsalReport {
  stack: string;
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
  progress: (m: string) => void;
  /** Called as soon as the stack exists, with what removes it and its mailbox file. */
  onStack?: (dispose: () => Promise<void>) => void;
}

export async function rehearse(o: RehearsalOptions): Promise<{ report: RehearsalReport; stack: MigrationStack }> {
  const started = Date.now();
  const steps: StepReport[] = [];
  const switches: SwitchReport[] = [];
  const pool = new SessionPool();
  const privateKey = readFileSync(o.lab.adminKeyPath, "utf8");
  const mailboxFile = `mailboxes.${o.stackName}.csv`;
  copyFileSync(join(STACKS_DIR, loadStack("pilot", 1).mailboxes), join(STACKS_DIR, mailboxFile));

  const stack = await openLabStack(o.stackName, o.lab, o.engine, (m) => o.progress(m));
  o.onStack?.(async () => {
    rmSync(join(STACKS_DIR, mailboxFile), { force: true });
    await stack.remove();
  });
  await stack.setConfig({ "cutover:inventory.mailboxes": { value: mailboxFile } }, true);
  const session = (role: HostRole) => pool.session(hostTarget(loadStack(o.stackName, 1), role, o.lab.hosts[role]!.hostKey, privateKey));

  const verify = async (step: string, phase: Phase, changes: Record<string, number>, seconds: number) => {
    const v: Verification = await verifyPhase(plan(loadStack(o.stackName, phase), phase), { session });
    const report: StepReport = {
      step,
      flows: v.flows.length + v.relays.length,
      passed: v.flows.filter((f) => f.passed).length + v.relays.filter((r) => r.passed).length,
      seconds: seconds + v.seconds,
      ok: v.passed,
      failures: [...v.flows.filter((f) => !f.passed).map((f) => f.detail), ...v.relays.filter((r) => !r.passed).map((r) => r.detail)],
      changes,
      verifySeconds: v.seconds,
    };
    steps.push(report);
    o.progress(`${report.ok ? "ok  " : "FAIL"} ${step}: ${report.passed}/${report.flows} checks, ${report.seconds.toFixed(1)} s (checks ${v.seconds.toFixed(1)} s: send ${v.sendSeconds.toFixed(1)}, slowest delivery ${Math.max(0, ...v.flows.map((f) => f.deliverySeconds ?? 0)).toFixed(1)})${report.failures.length ? `\n       ${report.failures.join("\n       ")}` : ""}`);
    return report;
  };

  /** An up that moves the gateway, timed by the prober on the outside host. */
  const timedSwitch = async (name: string, from: string, to: string, run: () => Promise<OperationResult>) => {
    const prober = startProber(o.lab.hosts.internet!.namespace, o.lab.serviceAddress, { maxSeconds: 90 });
    await prober.ready();
    const result = await run();
    await new Promise((r) => setTimeout(r, 300));
    const own = (role: string) => plan(loadStack(o.stackName, 5), 5).hosts.find((h) => h.role === role)!.ownName;
    const w: Switch = outageWindow(await prober.stop(), own(from), own(to));
    switches.push({ name, from, to, outageMs: w.outageMs, unanswered: w.unanswered, commandSeconds: result.seconds });
    o.progress(`     ${name}: outage ${w.outageMs === undefined ? "not seen" : `${w.outageMs} ms`} (${w.unanswered} probes unanswered), command ${result.seconds.toFixed(1)} s`);
    return result;
  };

  try {
    for (const phase of [1, 2, 3, 4, 5] as Phase[]) {
      const t = Date.now();
      await stack.setPhase(phase);
      const preview = await stack.preview();
      o.progress(`     phase ${phase} preview: ${Object.entries(preview.changes).map(([k, v]) => `${v} ${k}`).join(", ")}`);
      const up = phase === 5 ? await timedSwitch("go-live", "legacy", "new", () => stack.up({ message: "phase 5: go-live" })) : await stack.up({ message: `phase ${phase}` });
      await verify(phase === 5 ? "phase 5: go-live" : `phase ${phase}`, phase, up.changes, (Date.now() - t) / 1000);
    }

    let t = Date.now();
    const back = await restoreConfiguration(stack);
    o.progress(`     rollback: from update ${back.from.number} (phase ${back.from.config["cutover:phase"]?.value}) to the configuration of update ${back.to.number} (phase ${back.to.config["cutover:phase"]?.value})`);
    const rolled = await timedSwitch("rollback", "new", "legacy", () => stack.up({ message: `rollback to update ${back.to.number}` }));
    await verify("rollback", Number(back.to.config["cutover:phase"]?.value) as Phase, rolled.changes, (Date.now() - t) / 1000);

    t = Date.now();
    await stack.setPhase(5);
    const again = await timedSwitch("go-live again", "legacy", "new", () => stack.up({ message: "phase 5: go-live again" }));
    await verify("go-live again", 5, again.changes, (Date.now() - t) / 1000);

    t = Date.now();
    const moved = moveWave(join(STACKS_DIR, mailboxFile), o.waveSize ?? 2);
    o.progress(`     wave: moving ${moved.join(", ")} to the new server`);
    const wave = await stack.up({ message: `wave: ${moved.join(", ")}` });
    const waveStep = await verify(`wave (${moved.length} users)`, 5, wave.changes, (Date.now() - t) / 1000);
    const p5 = plan(loadStack(o.stackName, 5), 5);
    const landOnNew = moved.every((a) => p5.flows.some((f) => f.recipient === a && f.mailboxHost === "new"));
    if (!landOnNew) {
      waveStep.ok = false;
      waveStep.failures.push(`the wave's users are not planned on the new server: ${moved.join(", ")}`);
    }
  } finally {
    await pool.closeAll();
  }
  const passed = steps.every((s) => s.ok) && switches.every((s) => s.outageMs !== undefined);
  return { report: { stack: o.stackName, startedAt: new Date(started).toISOString(), seconds: (Date.now() - started) / 1000, passed, steps, switches }, stack };
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
  const rows = r.steps.map((s) => [s.step, String(s.flows), String(s.passed), s.seconds.toFixed(1)]);
  const switchRows = r.switches.map((s) => [s.name, `${s.from} -> ${s.to}`, s.outageMs === undefined ? "not seen" : `${s.outageMs} ms`, String(s.unanswered), `${s.commandSeconds.toFixed(1)} s`]);
  const pad = (cells: string[][], head: string[]) => {
    const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
    return [head, ...cells].map((c) => c.map((x, i) => x.padEnd(widths[i])).join("  ")).join("\n");
  };
  const md = (cells: string[][], head: string[]) => [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...cells.map((c) => `| ${c.join(" | ")} |`)].join("\n");
  const stepHead = ["step", "checks", "passed", "seconds"];
  const switchHead = ["switch", "direction", "outage window", "unanswered probes", "command time"];
  const verdict = `${r.passed ? "PASSED" : "FAILED"}: rehearsal of stack ${r.stack} in ${r.seconds.toFixed(1)} s`;
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
