/**
 * What the stack itself records, read for the guards and the rollback: the update history with
 * each update's configuration, the mailbox files in the stack's archive, pending operations.
 */
import type { ConfigMap, UpdateSummary } from "@pulumi/pulumi/automation";
import { loadConfig, type StackConfig } from "../model/config";
import { CONFIG } from "../model/config-keys";
import type { Phase } from "../model/inventory";
import { type ArchivedAssignment, unpackAssignment } from "../model/mailbox-archive";
import { type Plan, plan } from "../model/plan";
import { STACKS_DIR } from "../model/stack-file";
import { parseVerifications, parseVerifiedTag, type StackFacts, TAGS, type VerificationResult } from "./guards";
import type { MigrationStack, StackState } from "./stack";

/**
 * The inventory and phase the newest successful update deployed, from the history, with its
 * mailbox file from the stack's archive (the current file when the archive no longer has it), read
 * from the facts' state when they carry it.
 */
export async function deployedConfig(
  stack: MigrationStack,
  facts: Pick<StackFacts, "history"> & { state?: StackState },
): Promise<(StackConfig & { update: UpdateSummary }) | undefined> {
  const last = facts.history.find((h) => h.kind === "update" && h.result === "succeeded");
  const raw = last?.config[CONFIG.inventory]?.value;
  if (!last || !raw) return undefined;
  const phase = Number(last.config[CONFIG.phase]?.value) as Phase;
  const digest = last.config[CONFIG.mailboxesDigest]?.value;
  const archived = digest ? archivedMailboxFile(facts.state ?? (await stack.state()), digest).content : undefined;
  const deployed = loadConfig({
    inventory: JSON.parse(raw),
    phase,
    baseDir: STACKS_DIR,
    ...(archived !== undefined ? { readText: () => archived } : {}),
  });
  return { ...deployed, update: last };
}

/** The plan the newest successful update deployed (see deployedConfig). */
export async function deployedPlan(
  stack: MigrationStack,
  facts: Pick<StackFacts, "history"> & { state?: StackState },
): Promise<Plan | undefined> {
  const deployed = await deployedConfig(stack, facts);
  return deployed && plan(deployed.inventory, deployed.phase);
}

/** The mailbox file with this digest from the stack's archive, and how many files the archive keeps. */
export function archivedMailboxFile(state: StackState, digest: string): { content?: string; kept: number } {
  const entries = (state.outputsOf("pulumi-nodejs:dynamic/cutover:MailboxArchive")[0]?.entries ?? []) as ArchivedAssignment[];
  const entry = entries.find((e) => e.digest === digest);
  return { ...(entry ? { content: unpackAssignment(entry.packed) } : {}), kept: entries.length };
}

/** How the last update ended when it did not succeed ("failed", "was interrupted"), else undefined. */
export function interrupted(f: StackFacts): string | undefined {
  if (f.pendingOperations.length) return `was interrupted with ${f.pendingOperations.length} operation(s) pending`;
  const newest = f.history[0];
  return newest && newest.kind === "update" && newest.result !== "succeeded" ? newest.result : undefined;
}

/**
 * `pilotStack`: the stack the inventory names as its pilot, whose verification tag is read too. The
 * state is read once, for the pending operations and for deployedPlan's mailbox archive; the config
 * once, for the phase command's own use after it (its SSH key and pinned host keys).
 */
export async function stackFacts(
  stack: MigrationStack,
  pilotStack?: string,
): Promise<StackFacts & { state: StackState; config: ConfigMap }> {
  const [history, tags, state, config, pilotTags] = await Promise.all([
    stack.history(),
    stack.tags(),
    stack.state(),
    stack.config(),
    pilotStack ? stack.tagsOf(pilotStack) : Promise.resolve(undefined),
  ]);
  const configured = Number(config[CONFIG.phase]?.value);
  return {
    history,
    tags,
    pendingOperations: state.pendingOperations,
    state,
    config,
    now: new Date(),
    ...(configured ? { configuredPhase: configured } : {}),
    ...(pilotStack ? { pilot: { stack: pilotStack, verifiedPhase: parseVerifiedTag(pilotTags?.[TAGS.verified])?.phase } } : {}),
  };
}

/**
 * Numbers the history's entries as Pulumi Cloud numbers versions: 1 for the oldest operation. The
 * file and S3 backends record no version, so the number is the entry's position from the oldest.
 */
export const numbered = (history: UpdateSummary[]): (UpdateSummary & { number: number })[] =>
  history.map((h, i) => ({ ...h, number: h.version || history.length - i }));

/** The number the next update will have: one more than the newest entry's. Pure. */
export const nextUpdateNumber = (history: UpdateSummary[]): number => (numbered(history)[0]?.number ?? 0) + 1;

/** What an entry of the stack's history was, as an operator reads it. */
export type EntryKind = "phase" | "go-live" | "wave" | "rollback" | "recovery" | "refresh" | "destroy" | "other";

export interface HistoryRow {
  /** As `rollback --to` takes it: 1 for the oldest entry. */
  number: number;
  time: string;
  phase: number | undefined;
  kind: EntryKind;
  result: string;
  /** A wave's or a rollback's moves as its message says them ("1 user to new"), else "". */
  moved: string;
  /** Who ran it (the message's "by user@host"), "" when not recorded. */
  by: string;
  /** How the verification after it ended (the stack's cutover-verifications tag); "-" when none is recorded. */
  verified: VerificationResult | "-";
  message: string;
}

/**
 * The stack's history, newest first, as rows a person reads and `rollback --to` numbers, with the
 * verification results the stack's tags record. Pure.
 */
export function historyRows(history: UpdateSummary[], tags: Record<string, string> = {}): HistoryRow[] {
  const rows = numbered(history);
  const verifications = parseVerifications(tags[TAGS.verifications]);
  return rows.map((h, i) => {
    const message = h.message ?? "";
    const older = rows.slice(i + 1).find((o) => o.kind === "update");
    const kind: EntryKind =
      h.kind === "refresh" || h.kind === "destroy"
        ? h.kind
        : h.kind !== "update"
          ? "other"
          : /^rollback to update \d+/.test(message)
            ? "rollback"
            : older && older.result !== "succeeded"
              ? "recovery"
              : /: wave: /.test(message)
                ? "wave"
                : /: go-live\b/.test(message)
                  ? "go-live"
                  : "phase";
    const phase = Number(h.config?.[CONFIG.phase]?.value);
    return {
      number: h.number,
      time: new Date(h.endTime ?? h.startTime).toISOString().replace(/\.\d+Z$/, "Z"),
      phase: phase || undefined,
      kind,
      result: h.result,
      moved: /: wave: ([^(]+?)(?: \(|$| by )/.exec(message)?.[1] ?? "",
      by: / by (\S+@\S+)/.exec(message)?.[1] ?? "",
      verified: verifications.get(h.number) ?? "-",
      message,
    };
  });
}

/** The rows as a table. Pure. */
export function renderHistory(rows: HistoryRow[]): string {
  const head = ["#", "time", "phase", "kind", "result", "verified", "moved", "by"];
  const cells = rows.map((r) => [
    String(r.number),
    r.time,
    r.phase ? String(r.phase) : "-",
    r.kind,
    r.result,
    r.verified,
    r.moved || "-",
    r.by || "-",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  return [head, ...cells]
    .map((c) =>
      c
        .map((x, i) => x.padEnd(widths[i]))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
