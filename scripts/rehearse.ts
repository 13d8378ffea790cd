/**
 * npm run rehearse: the whole cutover on a lab on this machine, through the real Pulumi engine.
 * Builds (or reuses) the lab, obtains the engine, then runs the rehearsal from the lab's operator
 * namespace; tears lab and stack down afterwards, also after a failure or Ctrl-C, unless --keep.
 */

import { Option } from "commander";
import { labAccessLines, labDown, labHealthy, labPulumiLines, labUp, readLabDescription } from "../lab/lab";
import { inOperatorNamespace } from "../lab/namespaces";
import { rehearse, renderReport, writeReport } from "../lab/rehearsal";
import { LAYOUTS, type Layout } from "../src/model/inventory";
import { PROJECT_DIR } from "../src/model/stack-file";
import { obtainEngine } from "../src/ops/engine";
import { command, EXIT, main, positive, printJson, printText, progress, report } from "./cli";

const program = command(
  "rehearse",
  "Rehearse the cutover on the lab: phases 1-5 with real mail checked after each, go-live, rollback from the stack history, go-live again, a wave of users (root). Exit 4 names each failed check (the flow, the expected and the actual mailbox); 130 after Ctrl-C.",
)
  .option("-s, --stack <name>", "stack to use (created on the project's local backend if missing)")
  .option("--keep", "leave the lab and the stack up, and print how to reach them")
  .option("--wave <n>", "users the wave moves from legacy to new", positive("--wave"), 2)
  .addOption(
    new Option(
      "--layout <layout>",
      "the organisation's layout: the pilot's, or a lab stack of post offices (an MX each) or behind a smart host",
    )
      .choices(LAYOUTS)
      .default("single-post-office"),
  )
  .option("--short", "stop after the rollback of the go-live (skips the second go-live, the wave and its rollback)")
  .option("--json", "print the report as JSON on stdout instead of the table")
  .parse();
const opts = program.opts<{ stack?: string; keep?: boolean; wave: number; layout: Layout; short?: boolean; json?: boolean }>();
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
    report(e);
    await labDown(progress);
    return EXIT.failed;
  }
  const code = await inOperatorNamespace([
    process.execPath,
    require.resolve("tsx/cli"),
    __filename,
    ...process.argv.slice(2),
    "--stack",
    stackName,
  ]);
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
      await cleanup?.().catch((e: Error) => progress(`rehearse: could not remove the stack: ${e.message.split("\n")[0]}`));
      resolve(130);
    }),
  );
  const work = (async () => {
    let result: Awaited<ReturnType<typeof rehearse>>;
    try {
      result = await rehearse({
        lab,
        engine,
        stackName,
        waveSize: opts.wave,
        layout: opts.layout,
        short: opts.short,
        progress,
        onStack: (dispose) => (cleanup = dispose),
      });
    } catch (e) {
      report(e);
      if (!opts.keep) await cleanup?.();
      return EXIT.failed;
    }
    const { report: rehearsal, stack } = result;
    const files = writeReport(rehearsal);
    if (opts.json) printJson(rehearsal);
    else printText(`\n${renderReport(rehearsal).table}\n`);
    progress(`reports: ${files.json}, ${files.markdown}`);
    if (opts.keep) {
      progress(`\nThe lab and stack ${stack.name} are up. Hosts:`);
      for (const line of labAccessLines(lab)) progress(`  ${line}`);
      progress("Pulumi by hand:");
      for (const line of labPulumiLines(engine.binDir, stack.name, PROJECT_DIR)) progress(`  ${line}`);
      progress("Tear down: npm run lab -- down");
    } else {
      await cleanup?.();
    }
    return rehearsal.passed ? EXIT.done : EXIT.verificationFailed;
  })();
  return Promise.race([work, interrupted]);
}

main(() => (process.env.CUTOVER_IN_LAB ? inside() : outside()));
