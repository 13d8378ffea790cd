/**
 * What the stack itself records, read for the guards and the rollback: the update history with
 * each update's configuration, the mailbox files in the stack's archive, pending operations.
 */
import { loadConfig } from "../model/config";
import { CONFIG } from "../model/config-keys";
import type { Phase } from "../model/inventory";
import { type ArchivedAssignment, unpackAssignment } from "../model/mailbox-archive";
import { type Plan, plan } from "../model/plan";
import { STACKS_DIR } from "../model/stack-file";
import { parseVerifiedTag, type StackFacts, TAGS } from "./guards";
import type { MigrationStack } from "./stack";

/**
 * The plan the newest successful update deployed: its inventory and phase from the history, its
 * mailbox file from the stack's archive (the current file when the archive no longer has it).
 */
export async function deployedPlan(stack: MigrationStack, facts: Pick<StackFacts, "history">): Promise<Plan | undefined> {
  const last = facts.history.find((h) => h.kind === "update" && h.result === "succeeded");
  const raw = last?.config[CONFIG.inventory]?.value;
  if (!last || !raw) return undefined;
  const phase = Number(last.config[CONFIG.phase]?.value) as Phase;
  const digest = last.config[CONFIG.mailboxesDigest]?.value;
  const archived = digest ? (await archivedMailboxFile(stack, digest)).content : undefined;
  const deployed = loadConfig({
    inventory: JSON.parse(raw),
    phase,
    baseDir: STACKS_DIR,
    ...(archived !== undefined ? { readText: () => archived } : {}),
  });
  return plan(deployed.inventory, deployed.phase);
}

/** The mailbox file with this digest from the stack's archive, and how many files the archive keeps. */
export async function archivedMailboxFile(stack: MigrationStack, digest: string): Promise<{ content?: string; kept: number }> {
  const entries = ((await stack.resourceOutputs("pulumi-nodejs:dynamic/cutover:MailboxArchive"))?.entries ?? []) as ArchivedAssignment[];
  const entry = entries.find((e) => e.digest === digest);
  return { ...(entry ? { content: unpackAssignment(entry.packed) } : {}), kept: entries.length };
}

/** How the last update ended when it did not succeed ("failed", "was interrupted"), else undefined. */
export function interrupted(f: StackFacts): string | undefined {
  if (f.pendingOperations.length) return `was interrupted with ${f.pendingOperations.length} operation(s) pending`;
  const newest = f.history[0];
  return newest && newest.kind === "update" && newest.result !== "succeeded" ? newest.result : undefined;
}

/** `pilotStack`: the stack the inventory names as its pilot, whose verification tag is read too. */
export async function stackFacts(stack: MigrationStack, pilotStack?: string): Promise<StackFacts> {
  const [history, tags, pendingOperations, config, pilotTags] = await Promise.all([
    stack.history(),
    stack.tags(),
    stack.pendingOperations(),
    stack.config(),
    pilotStack ? stack.tagsOf(pilotStack) : Promise.resolve(undefined),
  ]);
  const configured = Number(config[CONFIG.phase]?.value);
  return {
    history,
    tags,
    pendingOperations,
    now: new Date(),
    ...(configured ? { configuredPhase: configured } : {}),
    ...(pilotStack ? { pilot: { stack: pilotStack, verifiedPhase: parseVerifiedTag(pilotTags?.[TAGS.verified])?.phase } } : {}),
  };
}
