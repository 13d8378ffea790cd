/**
 * `npm run phase`, as a function over a MigrationStack: validate, guard, preview, confirm, record,
 * `up`, verify. Everything it records lives in the stack (config, tags, update messages), so a team
 * sharing a Pulumi Cloud, S3 or PostgreSQL backend shares the guards.
 */
import { CONFIG } from "../model/config-keys";
import type { Inventory, Phase } from "../model/inventory";
import { assignmentDigest, readMailboxFile } from "../model/mailbox-archive";
import { plan } from "../model/plan";
import { diffPlans } from "../model/plan-diff";
import { loadStack, STACKS_DIR } from "../model/stack-file";
import { currentPhase, largeChangeRefusals, phaseRefusals, TAGS } from "./guards";
import { deployedPlan, interrupted, stackFacts } from "./history";
import { describeSteps, type PhaseOptions, type PhaseOutcome } from "./outcome";
import type { MigrationStack, OperationResult } from "./stack";
import { verifyAndRecord } from "./verification";

export type { PhaseOptions, PhaseOutcome } from "./outcome";

/** Sets the stack's phase and mailbox digest, remembering what they were (for a declined change). */
async function recordConfiguration(stack: MigrationStack, phase: Phase, inv: Inventory): Promise<() => Promise<void>> {
  const before = await stack.config();
  const digest = assignmentDigest(readMailboxFile(inv.mailboxes, STACKS_DIR).content);
  await stack.setConfig({ [CONFIG.phase]: { value: String(phase) }, [CONFIG.mailboxesDigest]: { value: digest } });
  return async () => {
    for (const key of [CONFIG.phase, CONFIG.mailboxesDigest]) {
      if (before[key]) await stack.setConfig({ [key]: { value: before[key].value } });
      else await stack.stack.removeConfig(key);
    }
  };
}

/** `npm run phase -- <stack> <n>`: validate, guard, preview, confirm, record, up, verify. */
export async function runPhase(stack: MigrationStack, target: Phase, o: PhaseOptions): Promise<PhaseOutcome> {
  const inv = loadStack(stack.name, target).inventory;
  const facts = await stackFacts(stack);
  // What the plan changes against what the last update deployed: a large change needs --force.
  const deployed = await deployedPlan(stack, facts);
  const diff = deployed ? diffPlans(deployed, plan(inv, target)) : undefined;
  const refusals = [...phaseRefusals(stack.name, target, inv, facts), ...(diff ? largeChangeRefusals(stack.name, target, diff) : [])];
  for (const r of refusals) o.progress(`${o.force ? "overridden" : "refused"} (${r.guard}): ${r.message}`);
  if (refusals.length && !o.force) return { status: "refused", refusals, forced: false };

  const current = currentPhase(facts);
  // After a failed or interrupted update the state may not be what the hosts have: read them first.
  const recovering = interrupted(facts);
  if (recovering) o.progress(`the last update ${recovering}: the engine reads every resource from the live hosts first`);
  const restore = await recordConfiguration(stack, target, inv);
  let preview: OperationResult;
  try {
    preview = await stack.preview({ refresh: Boolean(recovering) });
  } catch (e) {
    await restore();
    throw e;
  }
  o.progress(`preview of phase ${target} on ${stack.name} (now ${current ? `phase ${current}` : "new"}):\n${describeSteps(preview)}`);
  const changes =
    Object.entries(preview.changes)
      .filter(([k]) => k !== "same")
      .map(([k, v]) => `${v} to ${k}`)
      .join(", ") || "no changes";
  if (!o.yes && !(await (o.confirm ?? (async () => false))(`Apply phase ${target} to ${stack.name} (${changes})?`))) {
    await restore();
    return { status: "declined", refusals, forced: false, preview };
  }
  const forced = refusals.length > 0;
  if (forced)
    await stack.setTag(
      TAGS.forced,
      `${new Date().toISOString()} phase ${target}: ${refusals.map((r) => r.guard).join(", ")}`.slice(0, 250),
    );
  const message = `phase ${target}${target === 5 ? ": go-live" : ""}${forced ? ` (forced past: ${refusals.map((r) => r.guard).join(", ")})` : ""}`;
  const up = await stack.up({ message, refresh: Boolean(recovering) });
  return verifyAndRecord(stack, target, inv, o, { status: "done", refusals, forced, preview, up });
}
