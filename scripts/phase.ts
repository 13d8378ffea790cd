/** npm run phase -- <stack> <n>: move a stack to a phase, guarded, previewed, verified. */
import { runPhase } from "../src/ops/phase";
import { command, confirm, exitForStatus, main, printJson, progress, requirePhase, stackOption } from "./cli";
import { inLabNamespace, openStack, stackAndArguments } from "./stack-cli";

const program = command(
  "phase",
  "Move a stack to phase n (1-5): validate the inventory, check the guards, show the preview, ask, record the phase and the mailbox file's digest, run `up`, then verify the phase with real mail on the stack's hosts.\n" +
    "Guards: no skipping a phase; no going back (that is npm run rollback); the go-live (5) only after the phase-4 verification passed on the current inventory (and, with the mx strategy, once the old MX TTL has passed); no phase change while the last update failed or was interrupted. Re-running the current phase is always allowed.",
)
  .usage("[options] <stack> <n>  |  -s <stack> <n>")
  .argument("[stack]", "stack name (pilot, production, lab-...)")
  .argument("[n]", "phase, 1 to 5")
  .addOption(stackOption())
  .option("-y, --yes", "apply without asking")
  .option("--force", "override the guards; recorded in the stack's tags (cutover-forced) and the update message")
  .option(
    "--legacy-down",
    "phase 5 only, readdress go-live: the legacy gateway is dead (power loss); take its address without reaching or draining it, once no host answers ARP for it. Recorded in the stack (cutover:legacyDown, the update message). Run phase 5 again without it once the legacy host is back, without the address",
  )
  .option("--json", "print the outcome (status, refusals, changes, verification) as JSON on stdout")
  .parse();
const opts = program.opts<{ yes?: boolean; force?: boolean; json?: boolean; legacyDown?: boolean }>();

main(async () => {
  const { stack: stackName, args } = stackAndArguments(program, 1);
  const target = requirePhase(args[0]);
  const there = await inLabNamespace(stackName);
  if (there !== undefined) return there;
  const stack = await openStack(stackName);
  const outcome = await runPhase(stack, target, { yes: opts.yes, force: opts.force, legacyDown: opts.legacyDown, confirm, progress });
  if (outcome.forced)
    progress(
      `warning: the guards were overridden (${outcome.refusals.map((r) => r.guard).join(", ")}); recorded in the stack's tag cutover-forced`,
    );
  progress(`phase ${target} on ${stackName}: ${outcome.status}`);
  if (opts.json) printJson(outcomeJson(outcome));
  return exitForStatus(outcome.status);
});

/** The outcome without the engine's step inputs (large, and not for machines to read). */
function outcomeJson(o: Awaited<ReturnType<typeof runPhase>>) {
  return {
    status: o.status,
    forced: o.forced,
    refusals: o.refusals,
    ...(o.up ? { changes: o.up.changes, seconds: o.up.seconds } : o.preview ? { preview: o.preview.changes } : {}),
    ...(o.verification
      ? {
          verification: {
            passed: o.verification.passed,
            flows: o.verification.flows.length,
            failures: [...o.verification.flows, ...o.verification.relays].filter((f) => !f.passed).map((f) => f.detail),
          },
        }
      : {}),
    ...(o.unverifiedBecause ? { unverifiedBecause: o.unverifiedBecause } : {}),
  };
}
