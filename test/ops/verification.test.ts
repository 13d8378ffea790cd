import { describe, expect, it } from "vitest";
import type { FlowResult, RelayResult, Verification } from "../../src/checks/verify";
import { verificationStatus } from "../../src/ops/verification";

const flow = (passed: boolean) =>
  ({
    passed,
    detail: "f",
    foundIn: [],
    flow: { recipient: "a@x.test", from: "outside", entry: "legacy", mailboxHost: "legacy" },
  }) as FlowResult;
const relay = (verdict: RelayResult["verdict"]): RelayResult => ({
  server: "192.0.2.25",
  verdict,
  passed: verdict === "refused",
  detail: `192.0.2.25: ${verdict}`,
});
const verification = (flows: FlowResult[], relays: RelayResult[]): Verification => ({
  phase: 4,
  sendSeconds: 0,
  waitSeconds: 0,
  seconds: 0,
  flows,
  relays,
  passed: flows.every((f) => f.passed) && relays.every((r) => r.passed),
  undecided: relays.filter((r) => r.verdict === "unknown").map((r) => r.detail),
  stillQueued: [],
});

describe("what a verification makes of a phase", () => {
  it.each<[string, Verification, string]>([
    ["every flow delivered, every server refusing to relay: done", verification([flow(true)], [relay("refused")]), "done"],
    ["a flow not delivered: failed", verification([flow(false)], [relay("refused")]), "verification-failed"],
    [
      "an open relay: failed, even beside a check that could not tell",
      verification([flow(true)], [relay("open"), relay("unknown")]),
      "verification-failed",
    ],
    [
      "the gateway address refusing to relay, but answered by another host than the planned holder: failed",
      verification([flow(true)], [{ ...relay("refused"), passed: false }]),
      "verification-failed",
    ],
    [
      "a relay test with no clear answer: applied but not verified",
      verification([flow(true)], [relay("refused"), relay("unknown")]),
      "unverified",
    ],
  ])("%s", (_what, v, status) => {
    expect(verificationStatus(v).status).toBe(status);
  });

  it("says which check could not tell", () => {
    expect(verificationStatus(verification([flow(true)], [relay("unknown")])).unverifiedBecause).toBe(
      "could not check: 192.0.2.25: unknown",
    );
  });
});
