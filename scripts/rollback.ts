/** npm run rollback -- <stack> [--to n]: back to an earlier update's configuration and mailbox file. */
import { runRollback } from "../src/ops/rollback";
import { command, confirm, exitForStatus, main, positive, printJson, progress, stackOption } from "./cli";
import { inLabNamespace, openStack, stackAndArguments } from "./stack-cli";

const program = command(
  "rollback",
  "Roll a stack back: take the previous successful update from the stack's history (or update n), print what it reverts, restore its phase, inventory and mailbox file (from the stack's archive), run `up` and verify. Rolling back a go-live gives the address and host name back to the legacy gateway. Works whatever the state of the last update: it is also how a failed or interrupted update is undone.",
)
  .usage("[options] <stack>  |  -s <stack>")
  .argument("[stack]", "stack name")
  .addOption(stackOption())
  .option("--to <n>", "the update to go back to, as `npm run history` numbers it (1 = the oldest)", positive("--to"))
  .option("-y, --yes", "roll back without asking")
  .option("--json", "print the outcome (from, to, moves, status) as JSON on stdout")
  .parse();
const opts = program.opts<{ to?: number; yes?: boolean; json?: boolean }>();

main(async () => {
  const { stack: stackName } = stackAndArguments(program, 0);
  const there = await inLabNamespace(stackName);
  if (there !== undefined) return there;
  const stack = await openStack(stackName);
  const outcome = await runRollback(stack, { yes: opts.yes, confirm, progress, ...(opts.to !== undefined ? { to: opts.to } : {}) });
  progress(`rollback of ${stackName}: ${outcome.status}`);
  if (opts.json) {
    const { mailboxFile: _content, restore: _config, ...plan } = outcome.plan;
    printJson({ status: outcome.status, ...plan, ...(outcome.verification ? { verified: outcome.verification.passed } : {}) });
  }
  return exitForStatus(outcome.status);
});
