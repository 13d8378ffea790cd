/**
 * With --flows: the verification's probe messages, one per mail flow of the plan, and its open-relay
 * test. A flow that did not arrive where the plan says is drift in mail flow; whatever the
 * verification could not decide (a relay or TLS test with no clear answer, messages still queued)
 * could not be checked (never clean).
 */
import type { Verification } from "../verify";
import type { DriftOptions, Finding, Probe } from "./common";
import { probe } from "./common";

/** The verification's results as findings. Pure. */
export function flowFindings(v: Verification): Finding[] {
  return [
    ...v.flows.map(
      (f): Finding => ({
        area: "flow",
        subject: `${f.flow.from}${f.flow.enforcing ? ` (${f.flow.sender}, enforcing ${f.flow.enforcing.toUpperCase()})` : ""} -> ${f.flow.recipient}`,
        check: "delivered as planned",
        ...judged(f.passed, f.undecided === true),
        expected: `in ${f.flow.mailboxHost}'s mailbox${f.flow.via ? ` through ${f.flow.via}` : ""}`,
        actual: f.detail,
      }),
    ),
    ...v.relays.map(
      (r): Finding => ({
        area: "flow",
        subject: r.server,
        check: "refuses to relay",
        // A refusal by another host than the gateway's planned holder is no pass.
        ...judged(r.passed, r.verdict === "unknown"),
        expected: "refused (5xx)",
        actual: r.detail,
      }),
    ),
    ...(v.tls ?? []).map(
      (t): Finding => ({
        area: "flow",
        subject: t.server,
        check: "presents a published TLS key",
        ...judged(t.passed, t.verdict === "unknown"),
        expected: `a key the TLSA record of ${t.name} publishes`,
        actual: t.detail,
      }),
    ),
    ...(v.outbound ?? []).map(
      (o): Finding => ({
        area: "flow",
        subject: `${o.probe.from} -> ${o.probe.recipient}`,
        check: "leaves as planned",
        ...judged(o.passed, o.undecided === true),
        expected: o.probe.via
          ? `taken by the outbound relay ${o.probe.via.host}:${o.probe.via.port} (2xx)`
          : "taken by the MX of its domain (2xx)",
        actual: o.detail,
      }),
    ),
    // What else the verification could not decide (messages still queued when it judged): never clean.
    ...v.stillQueued.map(
      (u): Finding => ({
        area: "flow",
        subject: "probe messages",
        check: "all judged",
        status: "unreachable",
        expected: "every probe message out of the queues",
        actual: u,
      }),
    ),
  ];
}

/** ok, drift in mail flow, or could not check. Pure. */
const judged = (passed: boolean, undecided: boolean): Pick<Finding, "status" | "severity"> =>
  passed ? { status: "ok" } : undecided ? { status: "unreachable" } : { status: "drift", severity: "mail flow" };

export function flowProbes(o: DriftOptions): Probe[] {
  const flows = o.flows;
  if (!flows) return [];
  return [probe({ area: "flow", subject: o.stack, check: "mail flows" }, async () => flowFindings(await flows()))];
}
