/**
 * Rollback from the engine's own history: the configuration of an earlier successful update,
 * restored, then `up`. The stack's backend is the only record; nothing is kept beside it.
 */

import { writeFileSync } from "node:fs";
import type { ConfigMap, UpdateSummary } from "@pulumi/pulumi/automation";
import { CONFIG } from "../model/config-keys";
import { InputError } from "../model/errors";
import type { Phase } from "../model/inventory";
import { mailboxFilePath, readMailboxFile } from "../model/mailbox-archive";
import { type Plan, plan } from "../model/plan";
import { loadStack, STACKS_DIR, stackPlan } from "../model/stack-file";
import { restoreLostAddress, undoElasticIpMove } from "./address-restore";
import { HoldLostError } from "./errors";
import { providerRecordsOfAdoptedZones } from "./guards";
import { archivedMailboxFile, nextUpdateNumber, numbered } from "./history";
import { operatorName, type StackHold } from "./hold";
import { describeSteps, type PhaseOptions, type PhaseOutcome } from "./outcome";
import { foundChanged, type MigrationStack } from "./stack";
import { type VerifiedUpdate, verifyAndRecord } from "./verification";

/**
 * The configuration keys a rollback restores: the phase, the inventory and the digest of the
 * mailbox file (whose content comes back from the stack's archive). Secrets stay as they are.
 */
export const RESTORED_KEYS = [CONFIG.phase, CONFIG.inventory, CONFIG.mailboxesDigest];

const restored = (c: ConfigMap) => JSON.stringify(RESTORED_KEYS.map((k) => c[k]?.value ?? null));

/**
 * The update to go back to: `to` by its version number; else, when the newest update failed or was
 * interrupted (a killed engine leaves no history entry on file and S3 backends, only pending
 * operations in the checkpoint: `interrupted`), the newest successful one (undoing what the failed one half did); else the newest
 * successful update whose configuration differs from the newest successful one (no-change updates
 * are skipped), counted back from where the last rollback went: successive rollbacks walk back
 * through the history (wave, go-live, phase 4...) instead of toggling. Pure.
 */
export function rollbackTarget(history: UpdateSummary[], to?: number, interrupted = false): UpdateSummary & { number: number } {
  const all = numbered(history).filter((h) => h.kind === "update");
  const updates = all.filter((h) => h.result === "succeeded");
  if (!updates.length) throw new InputError("the stack has no successful update to roll back to");
  if (to !== undefined) {
    const target = updates.find((u) => u.number === to);
    if (!target)
      throw new InputError(
        `update ${to} is not a successful update of this stack (successful: ${updates.map((u) => u.number).join(", ")})`,
      );
    return target;
  }
  if (interrupted || all[0].result !== "succeeded") return updates[0];
  const current = restored(updates[0].config);
  // After a rollback to update N the stack stands at N: the next rollback steps back from there, not to what was undone.
  const at = Number(/^rollback to update (\d+)\b/.exec(updates[0].message ?? "")?.[1] ?? updates[0].number);
  const target = updates.find((u) => u.number <= at && restored(u.config) !== current);
  if (!target) throw new InputError("every successful update ran with the current configuration: there is nothing to roll back to");
  return target;
}

export interface RollbackPlan {
  from: { number: number; phase: number; result: string; mailboxes?: string };
  to: { number: number; phase: number; mailboxes?: string };
  /** Users whose system the rollback changes: address, from, to. */
  moves: { address: string; from: string; to: string }[];
  /** The mailbox file the target update ran with, when the stack's archive has it. */
  mailboxFile?: { path: string; content: string };
  /** Why the mailbox file cannot be restored (the archive no longer has it, or no digest was recorded). */
  mailboxProblem?: string;
  /** The target update's phase, inventory and mailbox digest: what the rollback sets. */
  restore: ConfigMap;
  /** The rollback's own update (its number) and the stack's tags before it: where its verification is recorded. */
  update: VerifiedUpdate;
}

const systems = (csv: string) =>
  new Map(
    csv
      .split("\n")
      .slice(1)
      .filter(Boolean)
      .map((l) => [l.split(",")[0], l.split(",")[1]] as const),
  );

/** What a rollback would do: read from the history and the stack's archive; changes nothing. */
export async function planRollback(stack: MigrationStack, to?: number): Promise<RollbackPlan> {
  const [history, state, config, tags] = await Promise.all([stack.history(), stack.state(), stack.config(), stack.tags()]);
  const pending = state.pendingOperations;
  const target = rollbackTarget(history, to, pending.length > 0);
  // From the newest update: the failed one, or the interrupted one that left only pending operations.
  const newest = numbered(history).find((h) => h.kind === "update")!;
  const digestOf = (h: typeof target) => h.config[CONFIG.mailboxesDigest]?.value;
  const from = pending.length
    ? {
        number: newest.number + 1,
        phase: Number(config[CONFIG.phase]?.value),
        result: `interrupted, ${pending.length} operation(s) pending`,
      }
    : {
        number: newest.number,
        phase: Number(newest.config[CONFIG.phase]?.value),
        result: newest.result,
        ...(digestOf(newest) ? { mailboxes: digestOf(newest)! } : {}),
      };
  const rollback: RollbackPlan = {
    from,
    to: {
      number: target.number,
      phase: Number(target.config[CONFIG.phase]?.value),
      ...(digestOf(target) ? { mailboxes: digestOf(target)! } : {}),
    },
    moves: [],
    restore: Object.fromEntries(RESTORED_KEYS.filter((k) => target.config[k]).map((k) => [k, { value: target.config[k].value }])),
    update: { number: nextUpdateNumber(history), tags },
  };
  const wanted = digestOf(target);
  const inventory = target.config[CONFIG.inventory]?.value;
  const mailboxesPath = inventory ? (JSON.parse(inventory) as { mailboxes?: string }).mailboxes : undefined;
  if (!wanted || !mailboxesPath)
    return { ...rollback, mailboxProblem: `update ${target.number} recorded no mailbox digest: the mailbox file stays as it is` };
  try {
    mailboxFilePath(mailboxesPath, STACKS_DIR);
  } catch (e) {
    return { ...rollback, mailboxProblem: `update ${target.number} named ${(e as Error).message}; the mailbox file stays as it is` };
  }
  const { content, kept } = archivedMailboxFile(state, wanted);
  if (content === undefined)
    return {
      ...rollback,
      mailboxProblem: `the stack's archive no longer holds the mailbox file of update ${target.number} (${wanted.slice(0, 19)}): it keeps the last ${kept}`,
    };
  const file = readMailboxFile(mailboxesPath, STACKS_DIR);
  const [now, then] = [systems(file.content), systems(content)];
  const moves = [...then]
    .filter(([a, sys]) => now.get(a) !== sys)
    .map(([address, sys]) => ({ address, from: now.get(address) ?? "(none)", to: sys }));
  return { ...rollback, moves, mailboxFile: { path: file.path, content } };
}

/** The plan of the stack file as it is, or nothing when it does not load (a rollback runs whatever state the stack is in). */
function planOrNothing(stackName: string): Plan | undefined {
  try {
    return stackPlan(stackName);
  } catch {
    return undefined;
  }
}

export interface RollbackOutcome extends PhaseOutcome {
  plan: RollbackPlan;
  /** The gateway's address was on no host after an interrupted move, and was put back before the engine ran. */
  addressRestored?: boolean;
}

/**
 * `npm run rollback -- <stack> [--to n]`: restores the phase, the inventory and the mailbox file the
 * target update ran with, runs `up` and the verification. Allowed whatever state the stack is in: it
 * is how a failed or interrupted update is undone.
 */
export async function runRollback(stack: MigrationStack, o: Omit<PhaseOptions, "force"> & { to?: number }): Promise<RollbackOutcome> {
  // Held from reading the history to the verification: no other operator's phase or rollback runs between.
  const hold = await stack.hold("rollback");
  try {
    return await heldRollback(stack, o, hold);
  } finally {
    await hold?.release();
  }
}

async function heldRollback(
  stack: MigrationStack,
  o: Omit<PhaseOptions, "force"> & { to?: number },
  hold: StackHold | undefined,
): Promise<RollbackOutcome> {
  const rb = await planRollback(stack, o.to);
  o.progress(
    `rollback of ${stack.name}: from update ${rb.from.number} (phase ${rb.from.phase}${rb.from.result === "succeeded" ? "" : `, ${rb.from.result}`}) to the configuration of update ${rb.to.number} (phase ${rb.to.phase})` +
      (rb.from.phase === 5 && rb.to.phase < 5 ? "\n  the gateway's address and host name go back to the legacy gateway" : "") +
      (rb.moves.length
        ? `\n  mailboxes: ${rb.moves.length} move back (${rb.moves
            .slice(0, 5)
            .map((m) => `${m.address} ${m.from} -> ${m.to}`)
            .join(", ")}${rb.moves.length > 5 ? ", ..." : ""})`
        : "\n  mailboxes: no user changes system") +
      (rb.mailboxProblem ? `\n  warning: ${rb.mailboxProblem}` : ""),
  );
  if (!o.yes && !(await (o.confirm ?? (async () => false))(`Roll ${stack.name} back to update ${rb.to.number}?`)))
    return { status: "declined", refusals: [], forced: false, plan: rb };
  // Nothing is written yet: without the hold now, another operator may have taken the stack since.
  const lost = hold?.lost?.();
  if (lost) throw new HoldLostError(stack.name, lost);

  // The gateway as the stack has it before the rollback: whose Elastic IP a failed move would give back.
  const before = planOrNothing(stack.name);
  if (rb.mailboxFile) writeFileSync(rb.mailboxFile.path, rb.mailboxFile.content);
  await stack.setConfig(rb.restore);
  const phase = rb.to.phase as Phase;
  const inv = loadStack(stack.name, phase).inventory;
  // The state may not be what the hosts have (a failed or interrupted update, a hand change): the
  // preview reads the live hosts first; the up again only when that found a change or after a failure.
  const recovering = rb.from.result !== "succeeded";
  // An interrupted move can have left the gateway's address on no host: that goes back first.
  const addressRestored = recovering && (await restoreLostAddress(stack, inv, plan(inv, phase), o.progress));
  const preview = await stack.preview({ refresh: true });
  o.progress(`preview of the rollback (after reading the live hosts):\n${describeSteps(preview)}`);
  // Nothing is applied yet; once the state forgets them, the same rollback runs again.
  const orphaned = providerRecordsOfAdoptedZones(stack.name, preview.steps, inv);
  if (orphaned) throw new InputError(orphaned);
  const up = await stack
    .up({
      message: `rollback to update ${rb.to.number} (phase ${phase}) by ${operatorName()}`,
      refresh: recovering || foundChanged(preview),
    })
    .catch(async (e: unknown) => {
      // An Elastic IP move that failed part-way: the releasing gateway back as it was, before the command ends.
      if (before) await undoElasticIpMove(stack, inv, before, plan(inv, phase), o.progress);
      throw e;
    });
  const outcome = await verifyAndRecord(stack, phase, inv, o, { status: "done", refusals: [], forced: false, preview, up }, rb.update);
  return { ...outcome, plan: rb, ...(addressRestored ? { addressRestored } : {}) };
}
