/** What the phase and rollback commands are asked, and what they report. */
import type { Verification } from "../checks/verify";
import type { Progress } from "./engine";
import type { Refusal } from "./guards";
import { describeChange } from "./property-changes";
import type { OperationResult, Step } from "./stack";

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
  /**
   * The legacy gateway is dead (phase 5 only, readdress go-live): its address is taken without
   * reaching or draining it, once no host answers ARP for it. Recorded in cutover:legacyDown.
   */
  legacyDown?: boolean;
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

/**
 * The steps that change something, as an operator reads them: a refresh (the engine reading a
 * resource from the live hosts first) only when it found the resource changed there.
 */
const changingSteps = (r: OperationResult) =>
  r.steps.filter((s) => (s.op === "refresh" ? s.refreshChanged : !["same", "read"].includes(s.op)));

/** The steps that change something, one line each. */
/** The adoption lines a zone provider's check gave the step (components/providers/runtime.ts). */
const adoptionOf = (s: Step): string[] =>
  Array.isArray(s.inputs.adoption) ? s.inputs.adoption.filter((l): l is string => typeof l === "string") : [];

export const describeSteps = (r: OperationResult) => {
  const changed = changingSteps(r);
  return changed.length
    ? changed
        .map((s) =>
          [
            `  ${s.op.padEnd(8)} ${s.type.replace(/^pulumi-nodejs:dynamic\//, "")} ${s.name}${s.op === "refresh" ? " (changed on the host since the last update)" : ""}`,
            ...s.changes.map((c) => `             ${describeChange(c)}`),
            // A zone's first write over the organisation's records: adopt, replace or merge, each named.
            ...(s.op === "create" || s.op === "update" ? adoptionOf(s) : []).map((l) => `             ${l}`),
          ].join("\n"),
        )
        .join("\n")
    : "  no changes";
};

/** "2 to create, 1 to update", counted from the very steps describeSteps lists, so the two agree. */
export const changeSummary = (r: OperationResult) => {
  const counts = new Map<string, number>();
  for (const s of changingSteps(r)) counts.set(s.op, (counts.get(s.op) ?? 0) + 1);
  return [...counts].map(([op, n]) => (op === "refresh" ? `${n} changed on the host` : `${n} to ${op}`)).join(", ") || "no changes";
};
