/** npm run drift -- <stack>: the stack's plan against the live world; a table, JSON, Markdown. */
import { writeFileSync } from "node:fs";
import { renderDriftMarkdown, renderDriftTable } from "../src/checks/drift";
import { stackDrift } from "../src/ops/drift";
import { command, DRIFT_EXIT_HELP, main, positive, printJson, printText, progress, report, stackOption } from "./cli";
import { inLabNamespace, openStack, stackAndArguments } from "./stack-cli";

const program = command(
  "drift",
  "Check a stack's live world against the plan of its phase: the engine's refresh preview; every planned DNS record at the authoritative servers (value and TTL) and records the plan does not know; with the mx strategy, what resolvers still hold; over SSH each host's routing, host name and who holds the service address; over SMTP the gateway's banner and name, the open-relay test and STARTTLS where the inventory asks for it; each host's whole postfix (main.cf, master.cf, its maps) against what the last update recorded; with --flows, a probe message per mail flow.",
  DRIFT_EXIT_HELP,
)
  .usage("[options] <stack>  |  -s <stack>")
  .argument("[stack]", "stack name")
  .addOption(stackOption())
  .option("--json", "print the report as JSON on stdout (the table goes to stderr)")
  .option("--markdown <file>", "write the Markdown summary to this file (e.g. $GITHUB_STEP_SUMMARY)")
  .option("--resolver <address...>", "resolvers to compare with the authoritative MX (mx strategy)")
  .option("--skip-engine", "live checks only, without the engine's refresh preview")
  .option(
    "--flows",
    "also send the verification's probe messages, one per mail flow of the plan, and its open-relay test (they are delivered: opt-in)",
  )
  .option("--concurrency <n>", "probes at a time", positive("--concurrency"), 32)
  .option("--timeout <ms>", "per probe", positive("--timeout"), 5000)
  .parse();
const o = program.opts<{
  json?: boolean;
  markdown?: string;
  resolver?: string[];
  skipEngine?: boolean;
  flows?: boolean;
  concurrency: number;
  timeout: number;
}>();

// Anything that stops the check (bad input, an engine that cannot start) means "could not check": 2.
main(async () => {
  try {
    const { stack: stackName } = stackAndArguments(program, 0);
    const there = await inLabNamespace(stackName);
    if (there !== undefined) return there;
    const drift = await stackDrift(await openStack(stackName), {
      skipEngine: o.skipEngine,
      flows: o.flows,
      concurrency: o.concurrency,
      timeoutMs: o.timeout,
      ...(o.resolver ? { resolvers: o.resolver } : {}),
    });
    const table = renderDriftTable(drift);
    if (o.json) {
      printJson(drift);
      progress(table);
    } else printText(`${table}\n`);
    if (o.markdown) writeFileSync(o.markdown, renderDriftMarkdown(drift), { flag: "a" });
    return drift.exitCode;
  } catch (e) {
    report(e);
    return 2;
  }
});
