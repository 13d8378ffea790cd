/**
 * npm run preview -- <stack> [--phase n]: what moving the stack to phase n would change. Always the
 * offline diff of the plans (no engine, no credentials); then the engine's preview, unless
 * --offline or the stack cannot be opened.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { InventoryError, type Phase } from "../src/model/inventory";
import { diffPlans, renderPlanDiff } from "../src/model/plan-diff";
import { readStackFile, STACKS_DIR, stackPlan } from "../src/model/stack-file";
import { runPreview } from "../src/ops/preview";
import { EXIT, exitFor, inLabNamespace, openStack, progress } from "./stack-cli";

const program = new Command("preview")
  .description(
    "Show what moving a stack to phase n changes: the offline diff of plan(current) against plan(n) (records, routing entries, gateway identity; no engine or credentials needed), large changes flagged (they need --force in the phase command), then the engine's preview diff.",
  )
  .argument("<stack>", "stack name")
  .option("--phase <n>", "the phase to preview (default: the stack's current phase)", (v) => {
    if (!/^[1-5]$/.test(v)) throw new InvalidArgumentError("a phase is 1, 2, 3, 4 or 5");
    return Number(v) as Phase;
  })
  .option("--offline", "the plan diff only, without the engine")
  .addHelpText(
    "after",
    "\nExit codes:\n  0  shown (large changes are flagged in the output)\n  1  the engine's preview failed\n  2  bad input: unknown stack, invalid inventory or phase",
  )
  .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : EXIT.badInput))
  .parse();
const [stackName] = program.processedArgs as [string];
const o = program.opts<{ phase?: Phase; offline?: boolean }>();

async function main(): Promise<number> {
  if (!o.offline) {
    const there = await inLabNamespace(stackName);
    if (there !== undefined) return there;
  }
  try {
    const file = join(STACKS_DIR, `Pulumi.${stackName}.yaml`);
    if (!existsSync(file))
      throw new InventoryError([{ path: "stack", message: `no stacks/Pulumi.${stackName}.yaml: name an existing stack` }]);
    const current = Number(readStackFile(file).phase) as Phase;
    const target = o.phase ?? current;
    const diff = diffPlans(stackPlan(stackName, current), stackPlan(stackName, target));
    process.stdout.write(`${renderPlanDiff(diff)}\n`);
    if (o.offline) return EXIT.done;
    const stack = await openStack(stackName);
    const r = await runPreview(stack, target, progress);
    process.stdout.write(`\nengine preview of phase ${target}:\n${r}\n`);
    return EXIT.done;
  } catch (e) {
    return exitFor(e);
  }
}

main().then((code) => process.exit(code));
