/**
 * npm run rehearse: the whole cutover on a lab on this machine, through the real Pulumi engine.
 * Builds (or reuses) the lab, obtains the engine, then runs the rehearsal from the lab's operator
 * namespace; tears lab and stack down afterwards, also after a failure or Ctrl-C, unless --keep.
 */
import { spawn } from "node:child_process";
import { Command } from "commander";
import { labDown, labHealthy, labUp, OPERATOR_NS, readLabDescription } from "../lab/lab";
import { rehearse, renderReport, writeReport } from "../lab/rehearsal";
import { obtainEngine } from "../src/ops/engine";

const program = new Command("rehearse")
  .description(
    "Rehearse the cutover on the lab: phases 1-5 with real mail checked after each, go-live, rollback from the stack history, go-live again, a wave of users (root).",
  )
  .option("--stack <name>", "stack to use (created on the project's local backend if missing)")
  .option("--keep", "leave the lab and the stack up, and print how to reach them")
  .option("--wave <n>", "users the wave moves from legacy to new", (v) => Number(v), 2)
  .option("--json", "print the report as JSON on stdout instead of the table")
  .addHelpText(
    "after",
    "\nExit codes: 0 every check passed, 1 a check failed (each failure names the flow, the expected and the actual mailbox), 2 the lab, the engine or the stack could not be set up.",
  )
  .parse();
const opts = program.opts<{ stack?: string; keep?: boolean; wave: number; json?: boolean }>();
const progress = (m: string) => process.stderr.write(`${m}\n`);
const stackName = opts.stack ?? `lab-rehearsal-${new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14)}`;

/** In the root namespace: set the lab and the engine up, then run the rest from the operator namespace. */
async function outside(): Promise<number> {
  const started = Date.now();
  try {
    progress("rehearse: lab and engine");
    const [engine] = await Promise.all([
      obtainEngine(progress),
      labHealthy().then(async (ok) => (ok ? progress("lab: reusing the healthy lab") : void (await labUp(progress)))),
    ]);
    progress(`rehearse: engine v${engine.version} (${engine.source}), set up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (e) {
    progress(`rehearse: ${(e as Error).message}`);
    await labDown(progress);
    return 2;
  }
  const tsx = require.resolve("tsx/cli");
  const child = spawn(
    "ip",
    ["netns", "exec", OPERATOR_NS, process.execPath, tsx, __filename, ...process.argv.slice(2), "--stack", stackName],
    {
      stdio: "inherit",
      env: { ...process.env, CUTOVER_IN_LAB: "1" },
    },
  );
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  process.on("SIGINT", forward("SIGINT"));
  process.on("SIGTERM", forward("SIGTERM"));
  const code = await new Promise<number>((r) => child.on("exit", (c, s) => r(c ?? (s ? 130 : 1))));
  if (!opts.keep) await labDown(progress);
  return code;
}

/** In the operator namespace: the rehearsal itself. */
async function inside(): Promise<number> {
  const lab = readLabDescription();
  const engine = await obtainEngine();
  let cleanup: (() => Promise<void>) | undefined;
  const interrupted = new Promise<number>((resolve) =>
    process.once("SIGINT", async () => {
      progress("rehearse: interrupted; removing the stack");
      try {
        await cleanup?.();
      } catch (e) {
        progress(`rehearse: could not remove the stack: ${(e as Error).message.split("\n")[0]}`);
      }
      resolve(130);
    }),
  );
  const work = (async () => {
    let result: Awaited<ReturnType<typeof rehearse>>;
    try {
      result = await rehearse({ lab, engine, stackName, waveSize: opts.wave, progress, onStack: (dispose) => (cleanup = dispose) });
    } catch (e) {
      progress(`rehearse: ${(e as Error).message}`);
      if (!opts.keep) await cleanup?.();
      return 2;
    }
    const { report, stack } = result;
    const files = writeReport(report);
    process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `\n${renderReport(report).table}\n`);
    progress(`reports: ${files.json}, ${files.markdown}`);
    if (opts.keep) {
      progress(`\nThe lab and stack ${stack.name} are up. Hosts (from the lab's operator namespace):`);
      for (const h of Object.values(lab.hosts))
        progress(`  ip netns exec ${OPERATOR_NS} ssh -i ${lab.adminKeyPath} root@${h!.address}    # ${h!.role}`);
      progress(
        `Pulumi by hand: export PATH=${engine.binDir}:$PATH PULUMI_BACKEND_URL=file://${process.cwd()}/.state PULUMI_CONFIG_PASSPHRASE=cutover-lab`,
      );
      progress(`  ip netns exec ${OPERATOR_NS} pulumi preview --stack ${stack.name}`);
      progress(`Tear down: npm run lab -- down`);
    } else {
      await cleanup?.();
    }
    return report.passed ? 0 : 1;
  })();
  return Promise.race([work, interrupted]);
}

(process.env.CUTOVER_IN_LAB ? inside() : outside()).then((code) => process.exit(code));
