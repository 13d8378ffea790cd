/**
 * Rollback from the engine's own history: the configuration of an earlier successful update,
 * restored, then `up`. The stack's backend is the only record; nothing is kept beside it.
 */
import type { ConfigMap, UpdateSummary } from "@pulumi/pulumi/automation";
import type { MigrationStack } from "./stack";

/** The configuration keys a rollback restores: the phase and the inventory (secrets stay as they are). */
export const RESTORED_KEYS = ["cutover:phase", "cutover:inventory"];

const restored = (c: ConfigMap) => JSON.stringify(RESTORED_KEYS.map((k) => c[k]?.value ?? null));

/**
 * Numbers the history's entries as Pulumi Cloud numbers versions: 1 for the oldest operation. The
 * file and S3 backends record no version, so the number is the entry's position from the oldest.
 */
export const numbered = (history: UpdateSummary[]): (UpdateSummary & { number: number })[] =>
  history.map((h, i) => ({ ...h, number: h.version || history.length - i }));

/**
 * The update to go back to: `to` by its version number, or else the newest successful update whose
 * configuration differs from the newest successful one (no-change updates are skipped). Pure.
 */
export function rollbackTarget(history: UpdateSummary[], to?: number): UpdateSummary & { number: number } {
  const updates = numbered(history).filter((h) => h.kind === "update" && h.result === "succeeded");
  if (!updates.length) throw new Error("the stack has no successful update to roll back to");
  if (to !== undefined) {
    const target = updates.find((u) => u.number === to);
    if (!target) throw new Error(`update ${to} is not a successful update of this stack (successful: ${updates.map((u) => u.number).join(", ")})`);
    return target;
  }
  const current = restored(updates[0].config);
  const target = updates.find((u) => restored(u.config) !== current);
  if (!target) throw new Error("every successful update ran with the current configuration: there is nothing to roll back to");
  return target;
}

export interface Rollback {
  from: UpdateSummary & { number: number };
  to: UpdateSummary & { number: number };
}

/** Restores the target update's phase and inventory into the stack's config; the caller runs up. */
export async function restoreConfiguration(stack: MigrationStack, to?: number): Promise<Rollback> {
  const history = await stack.history();
  const target = rollbackTarget(history, to);
  const current = numbered(history).find((h) => h.kind === "update" && h.result === "succeeded")!;
  const config: ConfigMap = {};
  for (const k of RESTORED_KEYS) if (target.config[k]) config[k] = { value: target.config[k].value };
  await stack.setConfig(config);
  return { from: current, to: target };
}
