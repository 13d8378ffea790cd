/**
 * Where a phase step's time goes (`npm run bench -- --only steps`, root: it builds the lab). A lab
 * stack is taken to phase 3 without verification, then steps are timed through the phase command
 * as an operator runs it (its preview, then "yes"): the move to phase 4, phase 4 again (a wave's or
 * a repair's re-run), and a no-change `up`. The engine's binaries are reached through a
 * wrapper that logs every `pulumi` command with its wall time, and every Node.js process the engine
 * starts loads process-trace.cjs, which stamps when the program and the provider started and loaded.
 */
import { chmodSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { labHostKeys, readLabDescription } from "../../lab/lab";
import { openLabStack, removeLabStack } from "../../lab/lab-stack";
import type { Phase } from "../../src/model/inventory";
import { loadStack } from "../../src/model/stack-file";
import { type Engine, obtainEngine } from "../../src/ops/engine";
import { type PhaseOptions, runPhase } from "../../src/ops/phase";
import { POSTFIX_RELOAD } from "../../src/remote/effects/routing";
import { SessionPool } from "../../src/remote/ssh";
import { hostTarget, sshEndpoint } from "../../src/remote/targets";

/** One `pulumi` command the wrapper saw. */
interface Command {
  at: number;
  ms: number;
  args: string;
}

/** One line of process-trace.cjs. */
interface ProcessEvent {
  role: "program" | "provider";
  pid: number;
  event: "start" | "loaded" | "exit";
  at: number;
}

/**
 * The parts of one engine run (preview or up), in ms. In a run with --refresh the engine reads every
 * resource through the provider before it starts the program, so the parts are not one line.
 */
export interface EngineRunParts {
  command: string;
  /** From the CLI's start to the first Node.js process it starts (backend, plugins, language host). */
  cliStart: number;
  /** The provider process: Node.js, @pulumi/pulumi, tsx and the effects' code, to its first method. */
  providerStart: number;
  /** --refresh: from the provider's code loaded to the program's start (every resource read over SSH). */
  refresh: number;
  /** The program: Node.js, @pulumi/pulumi, ts-node and index.ts, which registers the provider before it loads cutover's modules. */
  programLoad: number;
  /** From the program loaded (and the provider ready) to the program's exit: registration, diffs, applies. */
  resourceOperations: number;
  /** From the program's exit to the CLI's: the last checkpoint written. */
  cliFinish: number;
  total: number;
}

export interface StepParts {
  step: string;
  total: number;
  /** Wall time of the `pulumi` commands that are not engine runs (config, tags, history, state); side-by-side ones count once. */
  stackCommands: number;
  stackCommandCount: number;
  engineRuns: EngineRunParts[];
  verification: number;
  /** What is left: the command's own work (plan, guards, SSH pre-flight) between the commands. */
  other: number;
}

export interface StepsBench {
  steps: StepParts[];
  /** One SSH session to the new server (TCP, key exchange, authentication). */
  sshSessionMs: number;
  /** One command round trip on an open session. */
  sshRoundTripMs: number;
  /** `postfix reload` on the new server, as the routing effect runs it. */
  postfixReloadMs: number;
}

/** A copy of the engine's bin directory whose `pulumi` logs each command and its wall time to `log`. */
function tracedEngine(engine: Engine, dir: string, log: string): Engine {
  mkdirSync(dir, { recursive: true });
  for (const plugin of ["pulumi-language-nodejs", "pulumi-resource-pulumi-nodejs"])
    symlinkSync(join(engine.binDir, plugin), join(dir, plugin));
  const wrapper = join(dir, "pulumi");
  writeFileSync(
    wrapper,
    [
      "#!/bin/bash",
      "s=$(date +%s%3N)",
      `${JSON.stringify(join(engine.binDir, "pulumi"))} "$@"`,
      "rc=$?",
      `printf '%s %s %s\\n' "$s" "$(( $(date +%s%3N) - s ))" "$*" >> ${JSON.stringify(log)}`,
      "exit $rc",
      "",
    ].join("\n"),
  );
  chmodSync(wrapper, 0o755);
  return { ...engine, binDir: dir };
}

const readLines = (file: string): string[] => {
  try {
    return readFileSync(file, "utf8").split("\n").filter(Boolean);
  } catch {
    return [];
  }
};

const commandsIn = (file: string, from: number, to: number): Command[] =>
  readLines(file)
    .map((l) => {
      const [at, ms, ...args] = l.split(" ");
      return { at: Number(at), ms: Number(ms), args: args.join(" ") };
    })
    .filter((c) => c.at >= from && c.at <= to);

const isEngineRun = (c: Command) => /^(preview|up|refresh|destroy)\b/.test(c.args);

/** Splits one engine run by the processes' stamps that fall inside it. Pure. */
export function engineRunParts(run: Command, events: ProcessEvent[]): EngineRunParts {
  const end = run.at + run.ms;
  const inside = events.filter((e) => e.at >= run.at && e.at <= end);
  const first = (role: ProcessEvent["role"], event: ProcessEvent["event"]) => inside.find((e) => e.role === role && e.event === event)?.at;
  const programStart = first("program", "start") ?? run.at;
  const programLoaded = first("program", "loaded") ?? programStart;
  const programExit = first("program", "exit") ?? end;
  const providerStart = first("provider", "start");
  const providerLoaded = first("provider", "loaded") ?? providerStart;
  const refreshed = providerLoaded !== undefined && providerLoaded < programStart;
  return {
    command: run.args
      .split(" ")
      .filter((a) => /^(preview|up|--refresh)$/.test(a))
      .join(" "),
    cliStart: Math.min(programStart, providerStart ?? programStart) - run.at,
    providerStart: providerStart !== undefined ? providerLoaded! - providerStart : 0,
    refresh: refreshed ? programStart - providerLoaded! : 0,
    programLoad: programLoaded - programStart,
    resourceOperations: Math.max(0, programExit - Math.max(programLoaded, refreshed ? 0 : (providerLoaded ?? 0))),
    cliFinish: end - programExit,
    total: run.ms,
  };
}

/** The wall time a set of commands covers (side-by-side commands counted once). Pure. */
export function coveredMs(commands: Command[]): number {
  const spans = commands.map((c) => [c.at, c.at + c.ms] as const).sort((a, b) => a[0] - b[0]);
  let total = 0;
  let [from, to] = [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY];
  for (const [a, b] of spans) {
    if (a > to) {
      if (to > from) total += to - from;
      [from, to] = [a, b];
    } else to = Math.max(to, b);
  }
  return to > from ? total + (to - from) : total;
}

export async function stepsBench(progress: (line: string) => void): Promise<StepsBench> {
  const lab = readLabDescription();
  const dir = join(tmpdir(), `cutover-bench-steps-${process.pid}`);
  const commandLog = join(dir, "commands.log");
  const processLog = join(dir, "processes.log");
  const engine = tracedEngine(await obtainEngine(progress), join(dir, "bin"), commandLog);
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ""} --require ${join(__dirname, "process-trace.cjs")}`.trim();
  process.env.CUTOVER_BENCH_TRACE = processLog;
  const stack = await openLabStack("lab-bench-steps", lab, engine, () => {});
  const quiet = { yes: true, progress: () => {} };
  try {
    for (const phase of [1, 2, 3] as Phase[]) {
      progress(`bench: steps: phase ${phase} (set-up, not timed)`);
      await runPhase(stack, phase, { ...quiet, noVerify: true });
    }
    const steps: StepParts[] = [];
    const timed = async (step: string, fn: () => Promise<number>) => {
      progress(`bench: steps: ${step}`);
      const from = Date.now();
      const verification = await fn();
      const to = Date.now();
      const commands = commandsIn(commandLog, from, to);
      const events = readLines(processLog).map((l) => JSON.parse(l) as ProcessEvent);
      const runs = commands.filter(isEngineRun).map((c) => engineRunParts(c, events));
      const others = commands.filter((c) => !isEngineRun(c));
      const stackCommands = coveredMs(others);
      const total = to - from;
      steps.push({
        step,
        total,
        stackCommands,
        stackCommandCount: others.length,
        engineRuns: runs,
        verification,
        other: Math.max(0, total - stackCommands - runs.reduce((s, r) => s + r.total, 0) - verification),
      });
    };
    // As an operator runs it: the preview read, then "yes" (the confirmation costs no time here).
    const confirmed = { progress: () => {}, confirm: async () => true };
    const phaseStep = (o: PhaseOptions) => async () => {
      const outcome = await runPhase(stack, 4, o);
      if (outcome.status !== "done") throw new Error(`bench: phase 4 ended ${outcome.status}`);
      return (outcome.verification?.seconds ?? 0) * 1000;
    };
    await timed("phase 3 -> 4", phaseStep(confirmed));
    await timed("phase 4 again (reads the hosts first)", phaseStep(confirmed));
    await timed("no-change up", async () => {
      await stack.up({ expectNoChanges: true });
      return 0;
    });

    const inv = loadStack(stack.name, 4).inventory;
    const pool = new SessionPool();
    try {
      const key = readFileSync(lab.adminKeyPath, "utf8");
      const target = hostTarget(sshEndpoint(inv, "new", labHostKeys(lab)), key);
      let t = performance.now();
      const session = await pool.session(target);
      const sshSessionMs = performance.now() - t;
      t = performance.now();
      await session.exec(["true"]);
      const sshRoundTripMs = performance.now() - t;
      t = performance.now();
      await session.exec(POSTFIX_RELOAD);
      const postfixReloadMs = performance.now() - t;
      return { steps, sshSessionMs, sshRoundTripMs, postfixReloadMs };
    } finally {
      await pool.closeAll();
    }
  } finally {
    delete process.env.CUTOVER_BENCH_TRACE;
    await stack.destroy().catch(() => {});
    await removeLabStack(stack);
    rmSync(dir, { recursive: true, force: true });
  }
}
