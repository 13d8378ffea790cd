/** The engine's preview of a stack at another phase; the stack's config file is never touched. */
import { CONFIG } from "../model/config-keys";
import type { Phase } from "../model/inventory";
import { assignmentDigest, readMailboxFile } from "../model/mailbox-archive";
import { diffPlans, type PlanDiff } from "../model/plan-diff";
import { loadStack, STACKS_DIR, stackPlan } from "../model/stack-file";
import type { Progress } from "./engine";
import { deployedPlan } from "./history";
import { changeSummary, describeSteps } from "./outcome";
import type { MigrationStack, OperationResult } from "./stack";

/**
 * The engine's preview of the stack at `phase` with its mailbox file as it is now: a wave edited
 * into the file previews as the phase command would run it (the digest set only in the preview's
 * private copy of the config).
 */
export function enginePreview(stack: MigrationStack, phase: number, o: { refresh?: boolean } = {}): Promise<OperationResult> {
  const inv = loadStack(stack.name).inventory;
  const digest = assignmentDigest(readMailboxFile(inv.mailboxes, STACKS_DIR).content);
  return stack.preview({ phase, config: { [CONFIG.mailboxesDigest]: digest }, ...(o.refresh ? { refresh: true } : {}) });
}

export type PreviewBase = "deployed" | "plan";

/**
 * The offline diff of the plan of `target`: against what the stack's last successful update
 * deployed (its inventory from the history, its mailbox file from the stack's archive), so that a
 * wave edited into the mailbox file shows its users; or, with "plan" or before any update, against
 * the plan of the stack file's current phase. No engine run and no host is needed.
 */
export async function offlineDiff(
  stackName: string,
  target: Phase,
  base: PreviewBase,
  open: () => Promise<MigrationStack>,
): Promise<{ diff: PlanDiff; note?: string }> {
  const againstPlan = (note?: string) => ({
    diff: diffPlans(stackPlan(stackName, loadStack(stackName).phase), stackPlan(stackName, target)),
    ...(note ? { note } : {}),
  });
  if (base === "plan") return againstPlan();
  const stack = await open();
  const deployed = await deployedPlan(stack, { history: await stack.history() });
  if (!deployed) return againstPlan(`${stackName} has no successful update yet: the plan of its current phase is the base`);
  return {
    diff: { ...diffPlans(deployed, stackPlan(stackName, target)), fromLabel: `deployed by the last update (phase ${deployed.phase})` },
  };
}

export async function runPreview(stack: MigrationStack, phase: number, progress: Progress): Promise<string> {
  const r = await enginePreview(stack, phase);
  progress(`engine preview: ${changeSummary(r)}`);
  return describeSteps(r);
}
