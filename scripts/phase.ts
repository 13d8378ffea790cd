/** npm run phase -- <stack> <n>: move a stack to a phase, guarded, previewed, verified. */
import { Command, InvalidArgumentError } from "commander";
import type { Phase } from "../src/model/inventory";
import { runPhase } from "../src/ops/phase";
import { confirm, EXIT, EXIT_HELP, exitFor, exitForStatus, inLabNamespace, openStack, progress } from "./stack-cli";

const program = new Command("phase")
  .description(
    "Move a stack to phase n (1-5): validate the inventory, check the guards, show the preview, ask, record the phase and the mailbox file's digest, run `up`, then verify the phase with real mail on the stack's hosts.\n" +
      "Guards: no skipping a phase; no going back (that is npm run rollback); the go-live (5) only after the phase-4 verification passed on the current inventory (and, with the mx strategy, once the old MX TTL has passed); no phase change while the last update failed or was interrupted. Re-running the current phase is always allowed.",
  )
  .argument("<stack>", "stack name (pilot, production, lab-...)")
  .argument("<n>", "phase, 1 to 5", (v) => {
    if (!/^[1-5]$/.test(v)) throw new InvalidArgumentError("a phase is 1, 2, 3, 4 or 5");
    return Number(v) as Phase;
  })
  .option("--yes", "apply without asking")
  .option("--force", "override the guards; recorded in the stack's tags (cutover-forced) and the update message")
  .addHelpText("after", EXIT_HELP)
  .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : EXIT.badInput))
  .parse();
const [stackName, target] = program.processedArgs as [string, Phase];
const opts = program.opts<{ yes?: boolean; force?: boolean }>();

async function main(): Promise<number> {
  const there = await inLabNamespace(stackName);
  if (there !== undefined) return there;
  try {
    const stack = await openStack(stackName);
    const outcome = await runPhase(stack, target, { yes: opts.yes, force: opts.force, confirm, progress });
    if (outcome.forced)
      progress(
        `warning: the guards were overridden (${outcome.refusals.map((r) => r.guard).join(", ")}); recorded in the stack's tag cutover-forced`,
      );
    progress(`phase ${target} on ${stackName}: ${outcome.status}`);
    return exitForStatus(outcome.status);
  } catch (e) {
    return exitFor(e);
  }
}

main().then((code) => process.exit(code));
