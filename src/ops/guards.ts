/**
 * The guards of the phase command, as pure functions over what the stack itself records: its update
 * history (each update's config), its tags (the last verification) and its checkpoint (pending
 * operations). Nothing else is consulted, so every administrator sharing the stack's backend sees
 * the same answer.
 */

import { createHash } from "node:crypto";
import type { UpdateSummary } from "@pulumi/pulumi/automation";
import { CONFIG } from "../model/config-keys";
import type { Inventory, Phase } from "../model/inventory";
import type { PlanDiff } from "../model/plan-diff";

/** Stack tags the commands write. */
export const TAGS = {
  /** "phase=<n> inventory=<digest>": the last verification that passed; removed when one fails. */
  verified: "cutover-verified",
  /** "<time> phase <n>: <what was overridden>": the last --force. */
  forced: "cutover-forced",
  /** "12:passed 13:failed 15:unclear": how the verification after each recent update ended, oldest first. */
  verifications: "cutover-verifications",
} as const;

/** How the verification after an update ended: every check passed, one failed, or one had no clear answer. */
export type VerificationResult = "passed" | "failed" | "unclear";

/** A tag value fits the smallest limit of the backends (Pulumi Cloud: 256 characters). */
const TAG_LIMIT = 250;

/** The verifications tag with the result for `update` added (replacing an older one for it), the oldest dropped to fit. Pure. */
export function verificationsTag(previous: string | undefined, update: number, result: VerificationResult): string {
  const entries = [...parseVerifications(previous)].filter(([n]) => n !== update).map(([n, r]) => `${n}:${r}`);
  entries.push(`${update}:${result}`);
  while (entries.join(" ").length > TAG_LIMIT) entries.shift();
  return entries.join(" ");
}

/** The verifications tag as update number -> result; anything unreadable in it is skipped. Pure. */
export function parseVerifications(value: string | undefined): Map<number, VerificationResult> {
  const out = new Map<number, VerificationResult>();
  for (const entry of value?.split(/\s+/) ?? []) {
    const m = /^(\d+):(passed|failed|unclear)$/.exec(entry);
    if (m) out.set(Number(m[1]), m[2] as VerificationResult);
  }
  return out;
}

/** The inventory a verification ran on: everything but the phase, the mailbox assignment included. Pure. */
export function inventoryDigest(inv: Inventory): string {
  return `sha256:${createHash("sha256").update(JSON.stringify(inv)).digest("hex").slice(0, 32)}`;
}

export const verifiedTag = (phase: Phase, inv: Inventory) => `phase=${phase} inventory=${inventoryDigest(inv)}`;

export function parseVerifiedTag(value: string | undefined): { phase: number; inventory: string } | undefined {
  const m = value?.match(/^phase=(\d) inventory=(\S+)$/);
  return m ? { phase: Number(m[1]), inventory: m[2] } : undefined;
}

export interface StackFacts {
  /** Newest first, as the engine lists it. */
  history: UpdateSummary[];
  tags: Record<string, string>;
  /** URNs with an operation the engine started and never finished (the process died). */
  pendingOperations: string[];
  now: Date;
  /** The phase in the stack's config: what an interrupted update was running. */
  configuredPhase?: number;
  /** The stack inventory.pilotStack names, and the phase its last passed verification was at (none: undefined). */
  pilot?: { stack: string; verifiedPhase: number | undefined };
}

const succeeded = (h: UpdateSummary) => h.kind === "update" && h.result === "succeeded";
const phaseOf = (h: UpdateSummary) => Number(h.config[CONFIG.phase]?.value);

/** The phase of the newest successful update: where the stack is. */
export const currentPhase = (f: Pick<StackFacts, "history">): Phase | undefined => {
  const last = f.history.find(succeeded);
  return last ? (phaseOf(last) as Phase) : undefined;
};

const inventoryOf = (h: UpdateSummary): { goLive?: { strategy?: string }; ttl?: { records?: number; mxSwitch?: number } } | undefined => {
  const raw = h.config[CONFIG.inventory]?.value;
  try {
    return raw ? JSON.parse(raw) : undefined;
  } catch {
    return undefined;
  }
};

/**
 * With the mx strategy, when the go-live may run: the MX record's TTL was lowered by the first of
 * the unbroken run of newest successful updates at phase 4 or later with the mx strategy, and the
 * old TTL must have passed since, so that no resolver still holds the MX with the long TTL. Pure.
 */
export function mxSwitchReadyAt(history: UpdateSummary[], inv: Inventory): { loweredAt?: Date; readyAt?: Date; update?: number } {
  let lowered: UpdateSummary | undefined;
  const successful = history.filter(succeeded);
  for (const h of successful) {
    const i = inventoryOf(h);
    if (phaseOf(h) >= 4 && i?.goLive?.strategy === "mx") lowered = h;
    else break;
  }
  if (!lowered?.endTime) return {};
  const loweredAt = new Date(lowered.endTime);
  return { loweredAt, readyAt: new Date(loweredAt.getTime() + inv.ttl.records * 1000), update: history.length - history.indexOf(lowered) };
}

export interface Refusal {
  guard: "skip" | "backwards" | "verification" | "unfinished" | "mx-ttl" | "large-change" | "go-live pre-flight" | "host";
  message: string;
}

/**
 * Why moving the stack to `target` must not happen now; empty when it may. Re-running the current
 * phase is always allowed: it is how an interrupted update is finished. Pure.
 */
export function phaseRefusals(stack: string, target: Phase, inv: Inventory, f: StackFacts): Refusal[] {
  const refusals: Refusal[] = [];
  const current = currentPhase(f);
  const from = current ?? 0;
  const newest = f.history[0];
  // Running the current phase again, or the phase of a failed or interrupted update, finishes it.
  if (target === current) return refusals;
  if (newest && newest.kind === "update" && newest.result !== "succeeded" && target === phaseOf(newest)) return refusals;
  // A killed engine leaves no history entry (file and S3 backends), only pending operations.
  if (f.pendingOperations.length && target === f.configuredPhase) return refusals;
  // A production stack starts at phase 4 when its pilot passed phase 3: the pilot rehearsed 1-3.
  const pilotDone = current === undefined && target === 4 && (f.pilot?.verifiedPhase ?? 0) >= 3;
  if (target > from + 1 && !pilotDone)
    refusals.push({
      guard: "skip",
      message:
        `phase ${target} would skip phase ${from + 1}: the stack is at ${current ? `phase ${current}` : "no phase yet"}; run npm run phase -- ${stack} ${from + 1} first` +
        (current === undefined && target === 4
          ? f.pilot
            ? `, or finish the pilot: stack ${f.pilot.stack} (inventory.pilotStack) ${f.pilot.verifiedPhase ? `has passed the verification of phase ${f.pilot.verifiedPhase} only` : "has no passed verification"}; a production stack starts at phase 4 once its pilot's phase-3 verification passed`
            : "; a production stack starts at phase 4 when inventory.pilotStack names the pilot stack whose phase-3 verification passed"
          : ""),
    });
  if (current !== undefined && target < current)
    refusals.push({
      guard: "backwards",
      message: `moving back from phase ${current} to ${target} is a rollback: run npm run rollback -- ${stack} (it restores the configuration and mailbox file that update ran with)`,
    });
  const finish =
    f.pendingOperations.length && f.configuredPhase
      ? f.configuredPhase
      : newest && newest.result !== "succeeded" && newest.kind === "update"
        ? phaseOf(newest)
        : (current ?? 1);
  if (f.pendingOperations.length)
    refusals.push({
      guard: "unfinished",
      message: `the last operation on ${stack} was interrupted with ${f.pendingOperations.length} operation(s) pending (${f.pendingOperations.map((u) => u.slice(u.lastIndexOf("::") + 2)).join(", ")}): finish it with npm run phase -- ${stack} ${finish} or roll it back with npm run rollback -- ${stack}`,
    });
  else if (newest && newest.result !== "succeeded")
    refusals.push({
      guard: "unfinished",
      message: `the last ${newest.kind} of ${stack} ${newest.result === "failed" ? "failed" : `is ${newest.result}`}: finish it with npm run phase -- ${stack} ${finish} or roll it back with npm run rollback -- ${stack}`,
    });
  if (target === 5) {
    const verified = parseVerifiedTag(f.tags[TAGS.verified]);
    const digest = inventoryDigest(inv);
    if (verified?.phase !== 4 || verified.inventory !== digest)
      refusals.push({
        guard: "verification",
        message: `the go-live needs the phase-4 verification to have passed on the current inventory (${digest.slice(0, 19)}); the stack records ${verified ? `phase ${verified.phase} verified on ${verified.inventory.slice(0, 19)}` : "no passed verification"}: run npm run phase -- ${stack} 4`,
      });
    if (inv.goLive?.strategy === "mx") {
      const ready = mxSwitchReadyAt(f.history, inv);
      if (!ready.readyAt)
        refusals.push({
          guard: "mx-ttl",
          message: `the mx strategy moves the MX record: its TTL is lowered to ${inv.ttl.mxSwitch} s at phase 4, which the stack has not run with the mx strategy yet`,
        });
      else if (ready.readyAt > f.now)
        refusals.push({
          guard: "mx-ttl",
          message: `the MX TTL was lowered to ${inv.ttl.mxSwitch} s by update ${ready.update} at ${ready.loweredAt!.toISOString()}; resolvers may hold the old MX for its old TTL of ${inv.ttl.records} s: the go-live may run from ${ready.readyAt.toISOString()} (in ${Math.ceil((ready.readyAt.getTime() - f.now.getTime()) / 1000)} s)`,
        });
    }
  }
  return refusals;
}

/** A large change of the plan (see plan-diff.ts) as a refusal: it needs --force. Pure. */
export function largeChangeRefusals(stack: string, target: Phase, diff: PlanDiff): Refusal[] {
  return diff.large.map((l) => ({
    guard: "large-change" as const,
    message: `large change in ${l.scope}: ${l.reason}; read npm run preview -- ${stack} --phase ${target}, then run the phase with --force if it is intended`,
  }));
}

/** The provider record types an update of a stack from before adoption may hold for an existing zone. */
const PROVIDER_RECORD_TYPES = new Set(["aws:route53/record:Record", "cloudflare:index/dnsRecord:DnsRecord"]);

/**
 * Records of an existing Route 53 or Cloudflare zone that the preview would delete because the
 * stack's state still holds them as the aws or cloudflare provider's resources (stacks updated
 * before cutover adopted records itself): deleting them deletes the live records, the
 * organisation's MX among them. What to run instead, or nothing when there are none. A hosted zone
 * the stack created keeps its provider records. Pure.
 */
export function providerRecordsOfAdoptedZones(
  stack: string,
  steps: { op: string; type: string; urn: string; inputs: Record<string, unknown> }[],
  inv: Pick<Inventory, "zones">,
): string | undefined {
  const adopted = new Set(inv.zones.filter((z) => z.zoneId).map((z) => z.zoneId));
  const leaving = steps.filter(
    (s) => s.op.startsWith("delete") && PROVIDER_RECORD_TYPES.has(s.type) && adopted.has(String(s.inputs.zoneId ?? "")),
  );
  if (!leaving.length) return undefined;
  return [
    `${stack}'s state holds ${leaving.length} record(s) of existing zones as the cloud provider's resources (written before cutover adopted records itself); this update would delete them, and with them the live records. Forget them in the state (the live records stay), then run the phase again: cutover's zone provider adopts them as they are:`,
    ...leaving.map((s) => `  pulumi state delete --stack ${stack} --yes '${s.urn}'`),
  ].join("\n");
}
