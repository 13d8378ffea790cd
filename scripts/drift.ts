/** npm run drift -- <stack>: the stack's plan against the live world; a table, JSON, Markdown. */
import { writeFileSync } from "node:fs";
import { Command, InvalidArgumentError } from "commander";
import { renderDriftMarkdown, renderDriftTable } from "../src/checks/drift";
import { stackDrift } from "../src/ops/drift";
import { exitFor, inLabNamespace, openStack, progress } from "./stack-cli";

const number = (what: string) => (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError(`${what} is a positive whole number`);
  return Number(v);
};

const program = new Command("drift")
  .description(
    "Check a stack's live world against the plan of its phase: the engine's refresh preview; every planned DNS record at the authoritative servers (value and TTL) and records the plan does not know; with the mx strategy, what resolvers still hold; over SSH each host's routing, host name and who holds the service address; over SMTP the gateway's banner and name, the open-relay test and STARTTLS where the inventory asks for it.",
  )
  .argument("<stack>", "stack name")
  .option("--json", "print the report as JSON on stdout (the table goes to stderr)")
  .option("--markdown <file>", "write the Markdown summary to this file (e.g. $GITHUB_STEP_SUMMARY)")
  .option("--resolver <address...>", "resolvers to compare with the authoritative MX (mx strategy)")
  .option("--skip-engine", "live checks only, without the engine's refresh preview")
  .option("--concurrency <n>", "probes at a time", number("--concurrency"), 32)
  .option("--timeout <ms>", "per probe", number("--timeout"), 5000)
  .addHelpText(
    "after",
    "\nExit codes:\n  0  clean\n  1  drift: the live world differs from the plan\n  2  could not check everything (a server unreachable, a probe timed out, bad input): never clean",
  )
  .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2))
  .parse();
const [stackName] = program.processedArgs as [string];
const o = program.opts<{
  json?: boolean;
  markdown?: string;
  resolver?: string[];
  skipEngine?: boolean;
  concurrency: number;
  timeout: number;
}>();

async function main(): Promise<number> {
  const there = await inLabNamespace(stackName);
  if (there !== undefined) return there;
  try {
    const stack = await openStack(stackName);
    const report = await stackDrift(stack, {
      skipEngine: o.skipEngine,
      concurrency: o.concurrency,
      timeoutMs: o.timeout,
      ...(o.resolver ? { resolvers: o.resolver } : {}),
    });
    const table = renderDriftTable(report);
    if (o.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      progress(table);
    } else process.stdout.write(`${table}\n`);
    if (o.markdown) writeFileSync(o.markdown, renderDriftMarkdown(report), { flag: "a" });
    return report.exitCode;
  } catch (e) {
    exitFor(e);
    return 2;
  }
}

main().then((code) => process.exit(code));
