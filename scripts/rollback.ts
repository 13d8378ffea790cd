/** npm run rollback -- <stack> [--to n]: back to an earlier update's configuration and mailbox file. */
import { Command, InvalidArgumentError } from "commander";
import { runRollback } from "../src/ops/rollback";
import { confirm, EXIT, EXIT_HELP, exitFor, exitForStatus, inLabNamespace, openStack, progress } from "./stack-cli";

const program = new Command("rollback")
  .description(
    "Roll a stack back: take the previous successful update from the stack's history (or update n), print what it reverts, restore its phase, inventory and mailbox file (from the stack's archive), run `up` and verify. Rolling back a go-live gives the address and host name back to the legacy gateway. Works whatever the state of the last update: it is also how a failed or interrupted update is undone.",
  )
  .argument("<stack>", "stack name")
  .option("--to <n>", "the update to go back to, as numbered by `pulumi stack history` (1 = oldest)", (v) => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError("an update number");
    return Number(v);
  })
  .option("--yes", "roll back without asking")
  .addHelpText(
    "after",
    EXIT_HELP.split("\n")
      .filter((l) => !l.includes("refused by a guard"))
      .join("\n"),
  )
  .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : EXIT.badInput))
  .parse();
const [stackName] = program.processedArgs as [string];
const opts = program.opts<{ to?: number; yes?: boolean }>();

async function main(): Promise<number> {
  const there = await inLabNamespace(stackName);
  if (there !== undefined) return there;
  try {
    const stack = await openStack(stackName);
    const outcome = await runRollback(stack, { yes: opts.yes, confirm, progress, ...(opts.to !== undefined ? { to: opts.to } : {}) });
    progress(`rollback of ${stackName}: ${outcome.status}`);
    return exitForStatus(outcome.status);
  } catch (e) {
    return exitFor(e);
  }
}

main().then((code) => process.exit(code));
