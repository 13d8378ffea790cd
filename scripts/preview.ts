/**
 * npm run preview -- <stack> [--phase n]: what moving the stack to phase n would change. Always the
 * offline diff of the plans (no engine, no credentials); then the engine's preview, unless
 * --offline.
 */
import type { Phase } from "../src/model/inventory";
import { diffPlans, renderPlanDiff } from "../src/model/plan-diff";
import { loadStack, stackPlan } from "../src/model/stack-file";
import { runPreview } from "../src/ops/preview";
import { command, EXIT, main, phaseArgument, printJson, printText, progress, stackOption } from "./cli";
import { inLabNamespace, openStack, stackAndArguments } from "./stack-cli";

const program = command(
  "preview",
  "Show what moving a stack to phase n changes: the offline diff of plan(current) against plan(n) (records, routing entries, gateway identity; no engine or credentials needed), large changes flagged (they need --force in the phase command), then the engine's preview diff.",
)
  .usage("[options] <stack>  |  -s <stack>")
  .argument("[stack]", "stack name")
  .addOption(stackOption())
  .option("-p, --phase <n>", "the phase to preview (default: the stack's current phase)", phaseArgument)
  .option("--offline", "the plan diff only, without the engine")
  .option("--json", "print the plan diff as JSON on stdout (the engine's preview, if any, goes to stderr)")
  .parse();
const o = program.opts<{ phase?: Phase; offline?: boolean; json?: boolean }>();

main(async () => {
  const { stack: stackName } = stackAndArguments(program, 0);
  const current = loadStack(stackName).phase;
  const target = o.phase ?? current;
  const diff = diffPlans(stackPlan(stackName, current), stackPlan(stackName, target));
  if (o.json) printJson(diff);
  else printText(`${renderPlanDiff(diff)}\n`);
  if (o.offline) return EXIT.done;
  const there = await inLabNamespace(stackName);
  if (there !== undefined) return there;
  const r = await runPreview(await openStack(stackName), target, progress);
  (o.json ? progress : (m: string) => printText(`${m}\n`))(`\nengine preview of phase ${target}:\n${r}`);
  return EXIT.done;
});
