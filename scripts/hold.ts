/** npm run hold -- <stack> [--break]: who holds a stack for a command, and how to end a hold that outlived its command. */
import { command, confirm, EXIT, main, printJson, printText, stackOption } from "./cli";
import { openStack, stackAndArguments } from "./stack-cli";

const program = command(
  "hold",
  "Show who holds a stack for a phase or rollback (the command, operator, workstation and since when) and the holds broken before, read from the stack's backend (PostgreSQL: cutover's holds table; a local directory: its .cutover-holds). With --break, end a hold that outlived its command (a hung or unreachable workstation): its PostgreSQL session is terminated (the command holding it stops before its update, or lets the engine's lock finish an update it is in) or its hold file removed, and the break is recorded in the backend with who broke it. Break only a hold whose command is not running any more.",
)
  .usage("[options] <stack>  |  -s <stack>")
  .argument("[stack]", "stack name")
  .addOption(stackOption())
  .option("--break", "end the hold, recording who broke it")
  .option("-y, --yes", "break without asking")
  .option("--json", "print what was found as JSON")
  .parse();
const o = program.opts<{ break?: boolean; yes?: boolean; json?: boolean }>();

main(async () => {
  const { stack: stackName } = stackAndArguments(program, 0);
  const stack = await openStack(stackName);
  const now = await stack.inspectHold(false);
  if (!now) {
    printText(`${stackName}'s backend offers no hold (S3, Pulumi Cloud): the engine's lock alone guards an update\n`);
    return EXIT.done;
  }
  const breaking = Boolean(o.break && now.holder) && (o.yes || (await confirm(`end the hold of ${stackName} by ${now.holder}?`)));
  const after = breaking ? await stack.inspectHold(true) : now;
  if (o.json) printJson({ stack: stackName, held: now.holder ?? null, broken: breaking, recorded: after?.recorded ?? [] });
  else
    printText(
      [
        now.holder ? `${stackName} ${breaking ? "was" : "is"} held by ${now.holder}` : `${stackName} is not held`,
        ...(breaking ? ["the hold was broken, and the break recorded"] : o.break && now.holder ? ["nothing was changed"] : []),
        ...(after?.recorded.length
          ? ["holds broken before, newest first:", ...after.recorded.map((b) => `  ${b.at}  ${b.holder}  (broken by ${b.brokenBy})`)]
          : []),
        "",
      ].join("\n"),
    );
  return EXIT.done;
});
