/**
 * npm run bench: wall time and peak memory of loading + planning and of the program under
 * Pulumi's mocks, for 1,000 / 10,000 / 50,000 mailboxes over 200 domains, and of the real engine's
 * preview of a pilot-shaped stack with as many mailboxes. Each case runs in a fresh process so its
 * peak memory is its own.
 */
import { execFileSync } from "node:child_process";
import { labDown, labHealthy, labUp } from "../lab/lab";
import { inOperatorNamespaceOutput } from "../lab/namespaces";
import { loadConfig } from "../src/model/config";
import type { Phase } from "../src/model/inventory";
import { plan } from "../src/model/plan";
import type { ScaleBench } from "./bench/scale";
import type { StepsBench } from "./bench/steps";
import { stepsTable } from "./bench/steps-table";
import { syntheticInventory, syntheticMailboxes } from "./bench/synthetic";
import type { ZeroLossBench } from "./bench/zero-loss";
import { command, EXIT, main, printJson, progress } from "./cli";

const DOMAINS = 200;
const SIZES = [1_000, 10_000, 50_000];

const program = command(
  "bench",
  "Measure plan and program-under-mocks time and peak memory at 1k/10k/50k mailboxes and 200 domains, and the real engine's preview of a pilot-shaped stack with as many mailboxes.",
)
  .option("--case <kind>", "internal: run one case (plan | mocks | engine | drift | steps | cycles | deferred | scale) in this process")
  .option(
    "--only <kinds>",
    "comma-separated cases to run (plan,mocks,engine,drift,steps,cycles,deferred,scale; drift, steps, cycles, deferred and scale need root: they build the lab; cycles streams mail for 5 minutes; deferred is the zero-loss run with mail deferred on the legacy gateway at the go-live; scale takes an on-prem stack of 200 zones and 50,000 mailboxes through up, a no-change up and refresh)",
    "plan,mocks,engine,drift,steps,cycles,deferred,scale",
  )
  .option("--mailboxes <n>", "internal: mailboxes for --case", Number)
  .option("--json", "print the results as JSON")
  .parse();
type Kind = "plan" | "mocks" | "engine" | "drift" | "steps" | "cycles" | "deferred" | "scale";
const opts = program.opts<{ case?: Kind; only: string; mailboxes?: number; json?: boolean }>();

interface Result {
  case: string;
  mailboxes: number;
  domains: number;
  loadMs: number;
  runMs: number;
  resources?: number;
  peakMiB: number;
  /** drift: probes run, and how many were not ok (0 on a clean lab). */
  checks?: number;
  notOk?: number;
}

async function runCase(kind: Kind, mailboxes: number): Promise<Result> {
  if (kind === "drift") {
    const { driftBench } = await import("./bench/drift");
    const r = await driftBench();
    return {
      case: kind,
      mailboxes: 0,
      domains: 200,
      loadMs: 0,
      runMs: r.seconds * 1000,
      resources: r.records,
      peakMiB: process.resourceUsage().maxRSS / 1024,
      checks: r.checks,
      notOk: r.notOk,
    };
  }
  if (kind === "engine") {
    const { engineBench } = await import("./bench/engine-preview");
    const r = await engineBench(mailboxes);
    return { case: kind, mailboxes, domains: 3, loadMs: 0, runMs: r.seconds * 1000, resources: r.resources, peakMiB: r.peakMiB };
  }
  const text = syntheticMailboxes(mailboxes, DOMAINS);
  const phase: Phase = 4;
  // Loaded before the clock starts: "run" is the program under mocks, not importing @pulumi/*.
  const mocks = kind === "mocks" ? await import("../test/pulumi/mock-program") : undefined;
  const t0 = performance.now();
  const { inventory: inv } = loadConfig({ inventory: syntheticInventory(DOMAINS), phase, baseDir: ".", readText: () => text });
  const t1 = performance.now();
  let resources: number | undefined;
  if (kind === "plan") {
    plan(inv, phase);
  } else {
    resources = (await mocks!.runUnderMocks(inv, phase)).resources.length;
  }
  const t2 = performance.now();
  return {
    case: kind,
    mailboxes,
    domains: DOMAINS,
    loadMs: t1 - t0,
    runMs: t2 - t1,
    ...(resources ? { resources } : {}),
    peakMiB: process.resourceUsage().maxRSS / 1024,
  };
}

async function bench(): Promise<number> {
  if (opts.case === "steps") {
    const { stepsBench } = await import("./bench/steps");
    process.stdout.write(`${JSON.stringify(await stepsBench(progress))}\n`);
    return EXIT.done;
  }
  if (opts.case === "scale") {
    const { scaleBench } = await import("./bench/scale");
    process.stdout.write(`${JSON.stringify(await scaleBench(progress))}\n`);
    return EXIT.done;
  }
  if (opts.case === "cycles" || opts.case === "deferred") {
    const { zeroLossBench } = await import("./bench/zero-loss");
    process.stdout.write(`${JSON.stringify(await zeroLossBench(progress, opts.case))}\n`);
    return EXIT.done;
  }
  if (opts.case) {
    process.stdout.write(`${JSON.stringify(await runCase(opts.case, opts.mailboxes ?? 1000))}\n`);
    return EXIT.done;
  }
  const results: Result[] = [];
  let steps: StepsBench | undefined;
  let scale: ScaleBench | undefined;
  const zeroLoss: ZeroLossBench[] = [];
  for (const kind of opts.only.split(",") as Kind[]) {
    if (kind === "drift" || kind === "steps" || kind === "cycles" || kind === "deferred" || kind === "scale") {
      progress(
        {
          drift: "bench: drift check of 1,000 records in 200 zones on the lab's DNS server, plus the lab hosts...",
          steps: "bench: where a phase step's time goes, on a lab stack...",
          cycles: "bench: ten go-live/rollback cycles in one 5-minute stream of 25 messages/s, on a lab stack...",
          deferred:
            "bench: a go-live with mail deferred in the legacy gateway's queue, in a 30 s stream of 25 messages/s, on a lab stack...",
          scale: "bench: an on-prem lab stack of 200 zones and 50,000 mailboxes through up, a no-change up and refresh...",
        }[kind],
      );
      const healthy = await labHealthy();
      if (!healthy) await labUp(progress);
      try {
        const out = await inOperatorNamespaceOutput([process.execPath, ...process.execArgv, __filename, "--case", kind]);
        const last = JSON.parse(out.trim().split("\n").pop()!);
        if (kind === "steps") steps = last;
        else if (kind === "scale") scale = last;
        else if (kind === "cycles" || kind === "deferred") zeroLoss.push(last);
        else results.push(last);
      } finally {
        if (!healthy) await labDown();
      }
      continue;
    }
    for (const n of SIZES) {
      process.stderr.write(`bench: ${kind} with ${n} mailboxes${kind === "engine" ? "" : `, ${DOMAINS} domains`}...\n`);
      const out = execFileSync(process.execPath, [...process.execArgv, __filename, "--case", kind, "--mailboxes", String(n)], {
        encoding: "utf8",
      });
      results.push(JSON.parse(out.trim().split("\n").pop()!));
    }
  }
  if (opts.json) {
    printJson(steps || scale || zeroLoss.length ? { results, steps, scale, zeroLoss } : results);
    return EXIT.done;
  }
  const label: Record<Kind, string> = {
    plan: "plan",
    mocks: "program under mocks",
    engine: "real-engine preview, new pilot-shaped stack",
    drift: "drift check on the lab (records; checks, not ok)",
    steps: "",
    cycles: "",
    deferred: "",
    scale: "",
  };
  if (steps) process.stdout.write(stepsTable(steps));
  if (scale)
    process.stdout.write(
      `\n| zones | mailboxes | resources | first up | no-change up | refresh | state | route check |\n|---|---|---|---|---|---|---|---|\n| ${scale.zones} (+3) | ${scale.mailboxes} | ${scale.resources} | ${scale.firstUpSeconds.toFixed(1)} s | ${scale.noChangeUpSeconds.toFixed(1)} s | ${scale.refreshSeconds.toFixed(1)} s | ${scale.stateMiB.toFixed(1)} MiB | ${scale.routesChecked} routes, ${scale.routesDiffering} differing, ${scale.routeCheckSeconds.toFixed(1)} s |\n\nverification with ${scale.verification.probes} probe mailboxes: ${scale.verification.messages} messages, ${scale.verification.routes} routes, ${scale.verification.passed ? "passed" : "NOT passed"}, ${scale.verification.seconds.toFixed(1)} s\n`,
    );
  for (const z of zeroLoss)
    process.stdout.write(
      `\n${z.summary}\n${z.commands.map((c) => `  ${c.name}: ${c.status}, ${c.seconds.toFixed(1)} s`).join("\n")}\n  ${z.notes.join("\n  ")}\nreport: ${z.report}\n`,
    );
  if (!results.length) return EXIT.done;
  process.stdout.write("| case | mailboxes | domains | load + validate | run | resources | peak RSS |\n|---|---|---|---|---|---|---|\n");
  for (const r of results)
    process.stdout.write(
      `| ${label[r.case as Kind]} | ${r.case === "drift" ? "-" : r.mailboxes} | ${r.domains} | ${r.case === "engine" ? "-" : `${r.loadMs.toFixed(0)} ms`} | ${r.runMs.toFixed(0)} ms | ${r.resources ?? "-"}${r.case === "drift" ? ` records; ${r.checks} checks, ${r.notOk} not ok` : ""} | ${r.peakMiB.toFixed(0)} MiB${r.case === "engine" ? " (process tree)" : ""} |\n`,
    );
  return EXIT.done;
}

main(bench);
