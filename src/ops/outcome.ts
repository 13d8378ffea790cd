/** What the phase and rollback commands are asked, and what they report. */
import type { Verification } from "../checks/verify";
import type { Progress } from "./engine";
import type { Refusal } from "./guards";
import type { OperationResult } from "./stack";

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
