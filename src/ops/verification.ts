/**
 * The verification after a phase or a rollback, with the stack's own credentials (pinned host keys,
 * SSH key), and its result recorded in the stack's tags, where the go-live guard reads it.
 */
import type { ConfigMap } from "@pulumi/pulumi/automation";
import type { OutsideOptions } from "../checks/outside";
import { type Verification, verifyPhase } from "../checks/verify";
import { parseHostKeys } from "../model/config";
import { CONFIG } from "../model/config-keys";
import { InputError } from "../model/errors";
import type { HostRole, Inventory, Phase } from "../model/inventory";
import { type Plan, plan } from "../model/plan";
import { type HostSession, SessionPool } from "../remote/ssh";
import { hostTarget, sshEndpoint } from "../remote/targets";
import { TAGS, verificationsTag, verifiedTag } from "./guards";
import { deployedConfig, numbered } from "./history";
import type { PhaseOptions, PhaseOutcome } from "./outcome";
import type { MigrationStack } from "./stack";

/** Verification of a phase against the stack's own hosts, or why it cannot run. */
export type Verifier = (p: Plan) => Promise<Verification>;

/**
 * SSH sessions to the stack's hosts with its pinned host keys and its secret SSH key, or why not.
 * `known`: the stack's config as this command read it already (else it is read).
 */
export async function stackSessions(
  stack: MigrationStack,
  inv: Inventory,
  known?: ConfigMap,
): Promise<{
  session?: (role: HostRole) => Promise<HostSession>;
  close: () => Promise<void>;
  unavailable?: string;
  config: ConfigMap;
  /** The pinned host keys the sessions use (cutover:hostKeys). */
  hostKeys?: ReturnType<typeof parseHostKeys>;
}> {
  const config = known ?? (await stack.config());
  const privateKey = config[CONFIG.sshPrivateKey]?.value;
  if (!privateKey) return { close: async () => {}, unavailable: "the stack has no cutover:sshPrivateKey secret", config };
  const raw = config[CONFIG.hostKeys]?.value;
  const hostKeys = parseHostKeys(raw ? JSON.parse(raw) : undefined, inv);
  const pool = new SessionPool();
  return {
    session: (role) => pool.session(hostTarget(sshEndpoint(inv, role, hostKeys), privateKey)),
    close: () => pool.closeAll(),
    config,
    hostKeys,
  };
}

/**
 * A verifier over SSH (every host is reached by SSH, EC2 instances too), or the reason it cannot
 * verify: no SSH key in the stack.
 */
export async function stackVerifier(
  stack: MigrationStack,
  inv: Inventory,
  known?: ConfigMap,
  outside?: OutsideOptions,
): Promise<{ verify?: Verifier; close: () => Promise<void>; unavailable?: string }> {
  const s = await stackSessions(stack, inv, known);
  if (!s.session) return { close: s.close, unavailable: `${s.unavailable}: verify the mail flows by hand` };
  const session = s.session;
  return { verify: (phasePlan) => verifyPhase(phasePlan, { session, ...(outside ? { outside } : {}) }), close: s.close };
}

/** The update a verification checks, and the stack's tags as read before it (under the command's hold). */
export interface VerifiedUpdate {
  /** The update's number, as the history listing and `rollback --to` number it. */
  number: number;
  tags: Record<string, string>;
  /** The stack's config as read before the update, when its SSH key and host keys stand unchanged (else it is read again). */
  config?: ConfigMap;
}

/**
 * Records the verification's result in the stack's tags: the go-live guard reads the last one
 * that passed; the history listing reads each update's.
 */
async function recordVerification(
  stack: MigrationStack,
  phase: Phase,
  inv: Inventory,
  v: Verification,
  update: VerifiedUpdate,
): Promise<void> {
  if (v.passed) await stack.setTag(TAGS.verified, verifiedTag(phase, inv));
  const result = verificationStatus(v).status;
  await stack.setTag(
    TAGS.verifications,
    verificationsTag(
      update.tags[TAGS.verifications],
      update.number,
      result === "done" ? "passed" : result === "verification-failed" ? "failed" : "unclear",
    ),
  );
}

export async function verifyAndRecord(
  stack: MigrationStack,
  phase: Phase,
  inv: Inventory,
  o: PhaseOptions,
  outcome: PhaseOutcome,
  update: VerifiedUpdate,
): Promise<PhaseOutcome> {
  if (o.noVerify) return { ...outcome, status: "unverified", unverifiedBecause: "verification skipped" };
  if (o.legacyDown) {
    await stack.removeTag(TAGS.verified);
    const because =
      "the legacy gateway is down: the mail flows through it cannot be checked; once it is back (without the service address), run phase 5 again without --legacy-down: that gives it its own name and verifies every flow";
    o.progress(`not verified: ${because}`);
    return { ...outcome, status: "unverified", unverifiedBecause: because };
  }
  const desired = plan(inv, phase);
  const verifier = await stackVerifier(stack, inv, update.config);
  if (!verifier.verify) {
    await stack.removeTag(TAGS.verified);
    o.progress(`not verified: ${verifier.unavailable}`);
    return { ...outcome, status: "unverified", unverifiedBecause: verifier.unavailable! };
  }
  try {
    // The last pass goes before this verification starts: one that crashes leaves none behind for the go-live guard.
    if (TAGS.verified in update.tags) await stack.removeTag(TAGS.verified);
    const v = await runVerification(verifier.verify, desired, o.progress);
    await recordVerification(stack, phase, inv, v, update);
    return { ...outcome, ...verificationStatus(v), verification: v };
  } finally {
    await verifier.close();
  }
}

/** How many differing routes a host's verification prints before it counts the rest. */
const ROUTES_SHOWN = 10;

/** Whether a routed host's live tables send an address elsewhere than the plan. Pure. */
const routesDiffer = (v: Verification) => (v.routes ?? []).some((r) => r.differing.length > 0);

/** Runs a verification of `desired`, telling each check that failed or could not be decided, and the verdict. */
async function runVerification(verify: Verifier, desired: Plan, progress: (m: string) => void): Promise<Verification> {
  progress(
    `verifying phase ${desired.phase}: a real message per mail flow${desired.hosts.some((h) => h.role === "internet") ? "" : " (mail from outside sent from here over SMTP to the published MX, as a remote MTA sends it)"}${desired.outbound?.length ? `, one from each system to ${desired.outbound[0].recipient}` : ""}, the open-relay test${desired.routing.some((t) => t.tls) ? " and the gateways' TLS keys" : ""}`,
  );
  const v = await verify(desired);
  const failed = [
    ...v.flows.filter((x) => !x.passed && !x.undecided),
    ...v.relays.filter((x) => !x.passed && x.verdict !== "unknown"),
    ...(v.tls ?? []).filter((t) => t.verdict === "mismatch"),
    ...(v.outbound ?? []).filter((o) => !o.passed && !o.undecided),
  ];
  for (const f of failed) progress(`  FAIL ${f.detail}`);
  // Routes: a line per address that differs, the first ROUTES_SHOWN of each host and the count of the rest.
  for (const r of v.routes ?? []) {
    for (const line of r.differing.slice(0, ROUTES_SHOWN)) progress(`  FAIL route: ${line}`);
    if (r.differing.length > ROUTES_SHOWN)
      progress(`  FAIL route: ... and ${r.differing.length - ROUTES_SHOWN} more addresses on ${r.host}`);
  }
  for (const u of v.undecided) progress(`  COULD NOT CHECK ${u}`);
  for (const left of v.leftInProbes ?? []) progress(`  NOT REMOVED from its probe mailbox: ${left}; remove it by hand`);
  const verdict = v.passed ? "passed" : failed.length || routesDiffer(v) ? "FAILED" : "could not check everything";
  const routes = v.routes ?? [];
  const checked = routes.reduce((n, r) => n + r.checked, 0);
  const differing = routes.reduce((n, r) => n + r.differing.length, 0);
  progress(
    `verification ${verdict}: ${v.flows.filter((f) => f.passed).length}/${v.flows.length} flows (${v.flows.length} messages), ${checked - differing}/${checked} routes on ${routes.length} hosts, ${v.relays.filter((r) => r.passed).length}/${v.relays.length} relay checks${v.tls ? `, ${v.tls.filter((t) => t.passed).length}/${v.tls.length} TLS keys` : ""}${v.outbound ? `, ${v.outbound.filter((o) => o.passed).length}/${v.outbound.length} outbound to ${v.outbound[0]?.probe.recipient}` : ""}, ${v.seconds.toFixed(1)} s`,
  );
  return v;
}

/** What `npm run verify` found: the phase the stack's newest successful update deployed, and its verification. */
export interface DeployedVerification extends Pick<PhaseOutcome, "status" | "unverifiedBecause"> {
  stack: string;
  phase: Phase;
  /** The update verified, numbered as the history listing numbers it. */
  update: number;
  verification?: Verification;
}

/**
 * The verification of the phase the stack's newest successful update deployed (its inventory and
 * mailbox file as that update recorded them), changing nothing: no config, no tag, no update. What
 * an administrator runs the morning after a go-live. Refuses a stack that has deployed nothing.
 */
export async function verifyDeployed(
  stack: MigrationStack,
  progress: (m: string) => void,
  outside?: OutsideOptions,
): Promise<DeployedVerification> {
  const history = await stack.history();
  const deployed = await deployedConfig(stack, { history });
  if (!deployed) throw new InputError(`${stack.name} has no successful update to verify: run npm run phase -- ${stack.name} <phase> first`);
  const number = numbered(history)[history.indexOf(deployed.update)].number;
  const head = { stack: stack.name, phase: deployed.phase, update: number };
  progress(`${stack.name}: update ${number} deployed phase ${deployed.phase}`);
  const verifier = await stackVerifier(stack, deployed.inventory, undefined, outside);
  if (!verifier.verify) return { ...head, status: "unverified", unverifiedBecause: verifier.unavailable! };
  try {
    const v = await runVerification(verifier.verify, plan(deployed.inventory, deployed.phase), progress);
    return { ...head, ...verificationStatus(v), verification: v };
  } finally {
    await verifier.close();
  }
}

/**
 * What a verification makes of the phase: done when it passed; verification-failed when a flow
 * failed or a server relays; unverified (exit 6) when all else passed but a check got no clear
 * answer, which is neither a pass nor a failure. Pure.
 */
export function verificationStatus(v: Verification): Pick<PhaseOutcome, "status" | "unverifiedBecause"> {
  if (v.passed) return { status: "done" };
  if (
    routesDiffer(v) ||
    v.flows.some((f) => !f.passed && !f.undecided) ||
    v.relays.some((r) => !r.passed && r.verdict !== "unknown") ||
    v.tls?.some((t) => t.verdict === "mismatch") ||
    v.outbound?.some((o) => !o.passed && !o.undecided)
  )
    return { status: "verification-failed" };
  return { status: "unverified", unverifiedBecause: `could not check: ${v.undecided.join("; ")}` };
}
