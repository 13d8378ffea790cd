/**
 * What `npm run phase` and `npm run rollback` do, as functions over a MigrationStack: validate,
 * guard, preview, confirm, record, `up`, verify. Everything they record lives in the stack (config,
 * tags, update messages), so a team sharing a Pulumi Cloud or S3 backend shares the guards.
 */

import { writeFileSync } from "node:fs";
import type { ConfigMap } from "@pulumi/pulumi/automation";
import { type Verification, verifyPhase } from "../checks/verify";
import { loadConfig, parseHostKeys } from "../model/config";
import { CONFIG } from "../model/config-keys";
import type { HostRole, Inventory, Phase } from "../model/inventory";
import { type ArchivedAssignment, assignmentDigest, readMailboxFile, unpackAssignment } from "../model/mailbox-archive";
import { type Plan, plan } from "../model/plan";
import { diffPlans } from "../model/plan-diff";
import { loadStack, STACKS_DIR } from "../model/stack-file";
import { type HostSession, SessionPool } from "../remote/ssh";
import { hostTarget, sshEndpoint } from "../remote/targets";
import type { Progress } from "./engine";
import { currentPhase, largeChangeRefusals, phaseRefusals, type Refusal, type StackFacts, TAGS, verifiedTag } from "./guards";
import { numbered, RESTORED_KEYS, rollbackTarget } from "./rollback";
import type { MigrationStack, OperationResult } from "./stack";

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
async function archivedMailboxFile(stack: MigrationStack, digest: string): Promise<{ content?: string; kept: number }> {
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

export async function stackFacts(stack: MigrationStack): Promise<StackFacts> {
  const [history, tags, pendingOperations, config] = await Promise.all([
    stack.history(),
    stack.tags(),
    stack.pendingOperations(),
    stack.config(),
  ]);
  const configured = Number(config[CONFIG.phase]?.value);
  return { history, tags, pendingOperations, now: new Date(), ...(configured ? { configuredPhase: configured } : {}) };
}

/** Verification of a phase against the stack's own hosts, or why it cannot run. */
export type Verifier = (p: Plan) => Promise<Verification>;

/** SSH sessions to the stack's hosts with its pinned host keys and its secret SSH key, or why not. */
export async function stackSessions(
  stack: MigrationStack,
  inv: Inventory,
  roles: HostRole[],
): Promise<{ session?: (role: HostRole) => Promise<HostSession>; close: () => Promise<void>; unavailable?: string; config: ConfigMap }> {
  const config = await stack.config();
  const notSsh = roles.filter((r) => inv.hosts[r]?.kind !== "existing");
  if (notSsh.length) return { close: async () => {}, unavailable: `hosts ${notSsh.join(", ")} are not reached by SSH`, config };
  const privateKey = config[CONFIG.sshPrivateKey]?.value;
  if (!privateKey) return { close: async () => {}, unavailable: "the stack has no cutover:sshPrivateKey secret", config };
  const raw = config[CONFIG.hostKeys]?.value;
  const hostKeys = parseHostKeys(raw ? JSON.parse(raw) : undefined, inv);
  const pool = new SessionPool();
  return {
    session: (role) => pool.session(hostTarget(sshEndpoint(inv, role, hostKeys), privateKey)),
    close: () => pool.closeAll(),
    config,
  };
}

/**
 * A verifier over SSH, when every host the plan sends or receives mail on is reached by SSH;
 * otherwise the reason it cannot verify.
 */
export async function stackVerifier(
  stack: MigrationStack,
  inv: Inventory,
  p: Plan,
): Promise<{ verify?: Verifier; close: () => Promise<void>; unavailable?: string }> {
  const s = await stackSessions(stack, inv, [...new Set(p.hosts.map((h) => h.role))]);
  if (!s.session) return { close: s.close, unavailable: `${s.unavailable}: verify the mail flows by hand` };
  const session = s.session;
  return { verify: (phasePlan) => verifyPhase(phasePlan, { session }), close: s.close };
}

export interface PhaseOptions {
  /** Apply without asking. */
  yes?: boolean;
  /** Override the guards; the override is recorded in the stack's tags and the update message. */
  force?: boolean;
  /** Asked after the preview unless `yes`; no answer means no. */
  confirm?: (question: string) => Promise<boolean>;
  progress: Progress;
  /** Skip the verification (the rehearsal verifies on its own). */
  noVerify?: boolean;
}

export type PhaseStatus = "done" | "unverified" | "refused" | "declined" | "verification-failed";

export interface PhaseOutcome {
  status: PhaseStatus;
  refusals: Refusal[];
  forced: boolean;
  preview?: OperationResult;
  up?: OperationResult;
  verification?: Verification;
  /** Why the verification did not run. */
  unverifiedBecause?: string;
}

/** The steps that change something, one line each. */
export const describeSteps = (r: OperationResult) => {
  const changed = r.steps.filter((s) => !["same", "read"].includes(s.op));
  return changed.length
    ? changed.map((s) => `  ${s.op.padEnd(8)} ${s.type.replace(/^pulumi-nodejs:dynamic\//, "")} ${s.name}`).join("\n")
    : "  no changes";
};

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

/** Records the verification's result in the stack's tags: the go-live guard reads it. */
async function recordVerification(stack: MigrationStack, phase: Phase, inv: Inventory, v: Verification): Promise<void> {
  if (v.passed) await stack.setTag(TAGS.verified, verifiedTag(phase, inv));
  else await stack.removeTag(TAGS.verified);
}

async function verifyAndRecord(
  stack: MigrationStack,
  phase: Phase,
  inv: Inventory,
  o: PhaseOptions,
  outcome: PhaseOutcome,
): Promise<PhaseOutcome> {
  if (o.noVerify) return { ...outcome, status: "unverified", unverifiedBecause: "verification skipped" };
  const desired = plan(inv, phase);
  const verifier = await stackVerifier(stack, inv, desired);
  if (!verifier.verify) {
    await stack.removeTag(TAGS.verified);
    o.progress(`not verified: ${verifier.unavailable}`);
    return { ...outcome, status: "unverified", unverifiedBecause: verifier.unavailable! };
  }
  try {
    o.progress(`verifying phase ${phase}: a real message per mail flow, and the open-relay test`);
    const v = await verifier.verify(desired);
    await recordVerification(stack, phase, inv, v);
    for (const f of [...v.flows.filter((x) => !x.passed), ...v.relays.filter((x) => !x.passed)]) o.progress(`  FAIL ${f.detail}`);
    o.progress(
      `verification ${v.passed ? "passed" : "FAILED"}: ${v.flows.filter((f) => f.passed).length}/${v.flows.length} flows, ${v.relays.filter((r) => r.passed).length}/${v.relays.length} relay checks, ${v.seconds.toFixed(1)} s`,
    );
    return { ...outcome, status: v.passed ? "done" : "verification-failed", verification: v };
  } finally {
    await verifier.close();
  }
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
  const [history, pending, config] = await Promise.all([stack.history(), stack.pendingOperations(), stack.config()]);
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
  };
  const wanted = digestOf(target);
  const inventory = target.config[CONFIG.inventory]?.value;
  const mailboxesPath = inventory ? (JSON.parse(inventory) as { mailboxes?: string }).mailboxes : undefined;
  if (!wanted || !mailboxesPath)
    return { ...rollback, mailboxProblem: `update ${target.number} recorded no mailbox digest: the mailbox file stays as it is` };
  const { content, kept } = await archivedMailboxFile(stack, wanted);
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

export interface RollbackOutcome extends PhaseOutcome {
  plan: RollbackPlan;
}

/**
 * `npm run rollback -- <stack> [--to n]`: restores the phase, the inventory and the mailbox file the
 * target update ran with, runs `up` and the verification. Allowed whatever state the stack is in: it
 * is how a failed or interrupted update is undone.
 */
export async function runRollback(stack: MigrationStack, o: Omit<PhaseOptions, "force"> & { to?: number }): Promise<RollbackOutcome> {
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

  if (rb.mailboxFile) writeFileSync(rb.mailboxFile.path, rb.mailboxFile.content);
  await stack.setConfig(rb.restore);
  const phase = rb.to.phase as Phase;
  const inv = loadStack(stack.name, phase).inventory;
  // After a failed or interrupted update the state may not be what the hosts have: read them first.
  const recovering = rb.from.result !== "succeeded";
  const preview = await stack.preview({ refresh: recovering });
  o.progress(`preview of the rollback${recovering ? " (after reading the live hosts)" : ""}:\n${describeSteps(preview)}`);
  const up = await stack.up({ message: `rollback to update ${rb.to.number} (phase ${phase})`, refresh: recovering });
  const outcome = await verifyAndRecord(stack, phase, inv, o, { status: "done", refusals: [], forced: false, preview, up });
  return { ...outcome, plan: rb };
}
