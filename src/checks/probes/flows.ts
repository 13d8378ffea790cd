/**
 * With --flows: the verification's probe messages, one per mail flow of the plan, and its open-relay
 * test. A flow that did not arrive where the plan says is drift in mail flow; a relay test with no
 * clear answer could not be checked (never clean).
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
        status: f.passed ? "ok" : "drift",
        ...(f.passed ? {} : { severity: "mail flow" as const }),
        expected: `in ${f.flow.mailboxHost}'s mailbox${f.flow.via ? ` through ${f.flow.via}` : ""}`,
        actual: f.detail,
      }),
    ),
    ...v.relays.map(
      (r): Finding => ({
        area: "flow",
        subject: r.server,
        check: "refuses to relay",
        status: r.verdict === "refused" ? "ok" : r.verdict === "open" ? "drift" : "unreachable",
        ...(r.verdict === "open" ? { severity: "mail flow" as const } : {}),
        expected: "refused (5xx)",
        actual: r.detail,
      }),
    ),
  ];
}

export function flowProbes(o: DriftOptions): Probe[] {
  const flows = o.flows;
  if (!flows) return [];
  return [probe({ area: "flow", subject: o.stack, check: "mail flows" }, async () => flowFindings(await flows()))];
}
