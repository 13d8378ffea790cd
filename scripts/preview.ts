/**
 * npm run preview -- <stack> [--phase n]: what moving the stack to phase n would change. Always the
 * offline diff (no engine run, no host): the plan of phase n against what the last update deployed,
 * or with --against plan against the plan of the current phase; then the engine's preview, unless
 * --offline.
 */

import { Option } from "commander";
import type { Phase } from "../src/model/inventory";
import { renderPlanDiff } from "../src/model/plan-diff";
import { loadStack } from "../src/model/stack-file";
import { offlineDiff, type PreviewBase, runPreview } from "../src/ops/preview";
import type { MigrationStack } from "../src/ops/stack";
import { command, EXIT, main, phaseArgument, printJson, printText, progress, stackOption } from "./cli";
import { inLabNamespace, openStack, stackAndArguments } from "./stack-cli";

const program = command(
  "preview",
  "Show what moving a stack to phase n changes: the offline diff of plan(n) against what the stack's last update deployed (its inventory from the update history, its mailbox file from the stack's archive: a wave shows its users), records, routing entries and gateway identity, large changes flagged (they need --force in the phase command); then the engine's preview diff.",
)
  .usage("[options] <stack>  |  -s <stack>")
  .argument("[stack]", "stack name")
  .addOption(stackOption())
  .option("-p, --phase <n>", "the phase to preview (default: the stack's current phase)", phaseArgument)
  .option("--offline", "the plan diff only, without the engine's preview")
  .addOption(
    new Option(
      "--against <base>",
      "deployed: what the last update deployed (reads the stack's history); plan: the plan of the current phase, from the stack file alone",
    )
      .choices(["deployed", "plan"])
      .default("deployed"),
  )
  .option("--json", "print the plan diff as JSON on stdout (the engine's preview, if any, goes to stderr)")
  .parse();
const o = program.opts<{ phase?: Phase; offline?: boolean; json?: boolean; against: PreviewBase }>();

main(async () => {
  const { stack: stackName } = stackAndArguments(program, 0);
  // A lab stack's engine preview runs in the lab: the whole command goes there first, so it prints once.
  if (!o.offline) {
    const there = await inLabNamespace(stackName);
    if (there !== undefined) return there;
  }
  let opened: MigrationStack | undefined;
  const open = async () => {
    opened ??= await openStack(stackName);
    return opened;
  };
  const target = o.phase ?? loadStack(stackName).phase;
  const { diff, note } = await offlineDiff(stackName, target, o.against, open);
  if (note) progress(note);
  if (o.json) printJson(diff);
  else printText(`${renderPlanDiff(diff)}\n`);
  if (o.offline) return EXIT.done;
  const r = await runPreview(await open(), target, progress);
  (o.json ? progress : (m: string) => printText(`${m}\n`))(`\nengine preview of phase ${target}:\n${r}`);
  return EXIT.done;
});
