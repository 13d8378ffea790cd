/** npm run history -- <stack>: the stack's updates as an operator reads them, numbered as rollback --to takes them. */
import { historyRows, renderHistory } from "../src/ops/history";
import { command, EXIT, main, printJson, printText, stackOption } from "./cli";
import { openStack, stackAndArguments } from "./stack-cli";

const program = command(
  "history",
  "List a stack's updates, newest first: the number `npm run rollback -- <stack> --to <n>` takes (1 = the oldest), when it ended, the phase it ran with, what it was (phase, go-live, wave, rollback, recovery after a failed update, refresh, destroy), how it ended, how the verification after it ended (passed, failed, unclear: a check had no clear answer; - none recorded), the users a wave moved and who ran it. Read from the stack's backend; no host is reached.",
)
  .usage("[options] <stack>  |  -s <stack>")
  .argument("[stack]", "stack name")
  .addOption(stackOption())
  .option("--json", "print the rows as JSON")
  .parse();
const o = program.opts<{ json?: boolean }>();

main(async () => {
  const { stack: stackName } = stackAndArguments(program, 0);
  const stack = await openStack(stackName);
  const [history, tags] = await Promise.all([stack.history(), stack.tags()]);
  const rows = historyRows(history, tags);
  if (o.json) printJson(rows);
  else printText(`${rows.length ? renderHistory(rows) : `${stackName} has no update yet`}\n`);
  return EXIT.done;
});
