/**
 * Rollback from the engine's own history: the configuration of an earlier successful update,
 * restored, then `up`. The stack's backend is the only record; nothing is kept beside it.
 */

import type { ConfigMap, UpdateSummary } from "@pulumi/pulumi/automation";
import { CONFIG } from "../model/config-keys";

/**
 * The configuration keys a rollback restores: the phase, the inventory and the digest of the
 * mailbox file (whose content comes back from the stack's archive). Secrets stay as they are.
 */
export const RESTORED_KEYS = [CONFIG.phase, CONFIG.inventory, CONFIG.mailboxesDigest];

const restored = (c: ConfigMap) => JSON.stringify(RESTORED_KEYS.map((k) => c[k]?.value ?? null));

/**
 * Numbers the history's entries as Pulumi Cloud numbers versions: 1 for the oldest operation. The
 * file and S3 backends record no version, so the number is the entry's position from the oldest.
 */
export const numbered = (history: UpdateSummary[]): (UpdateSummary & { number: number })[] =>
  history.map((h, i) => ({ ...h, number: h.version || history.length - i }));

/**
 * The update to go back to: `to` by its version number; else, when the newest update failed or was
 * interrupted (a killed engine leaves no history entry on file and S3 backends, only pending
 * operations in the checkpoint: `interrupted`), the newest successful one (undoing what the failed one half did); else the newest
 * successful update whose configuration differs from the newest successful one (no-change updates
 * are skipped). Pure.
 */
export function rollbackTarget(history: UpdateSummary[], to?: number, interrupted = false): UpdateSummary & { number: number } {
  const all = numbered(history).filter((h) => h.kind === "update");
  const updates = all.filter((h) => h.result === "succeeded");
  if (!updates.length) throw new Error("the stack has no successful update to roll back to");
  if (to !== undefined) {
    const target = updates.find((u) => u.number === to);
    if (!target)
      throw new Error(`update ${to} is not a successful update of this stack (successful: ${updates.map((u) => u.number).join(", ")})`);
    return target;
  }
  if (interrupted || all[0].result !== "succeeded") return updates[0];
  const current = restored(updates[0].config);
  const target = updates.find((u) => restored(u.config) !== current);
  if (!target) throw new Error("every successful update ran with the current configuration: there is nothing to roll back to");
  return target;
}
