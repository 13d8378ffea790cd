import { describe, expect, it } from "vitest";
import { plan } from "../../src/model/plan";
import { compactRouting, expandRouting, hostRouting, routingDigest } from "../../src/model/routing";
import { load } from "../helpers";

describe("routing tables in compact form", () => {
  it("round-trip through the lines the engine stores, keeping the digest", () => {
    for (const t of plan(load("post-offices", 3), 3).routing) {
      expect(expandRouting(compactRouting(t))).toEqual(hostRouting(t));
      expect(routingDigest(expandRouting(compactRouting(t)))).toBe(routingDigest(t));
    }
  });

  it("keep the outbound relay, and a table that names none keeps the digest it had before relays existed", () => {
    const [, legacy] = plan(load("pilot", 4), 4).routing;
    expect(legacy.relayHost).toBe("[relay.isp.test]:2525");
    expect(expandRouting(compactRouting(legacy)).relayHost).toBe("[relay.isp.test]:2525");
    const { relayHost: _, ...direct } = legacy;
    // A relayhost set by hand on a host planned without one makes the digest differ: drift.
    expect(routingDigest(direct)).not.toBe(routingDigest(legacy));
    expect(routingDigest({ ...direct, relayHost: "[203.0.113.9]:25" })).not.toBe(routingDigest(legacy));
    expect("relayHost" in compactRouting(direct)).toBe(false);
    // The digest of a table without a relay is the one written before outbound relays (state from
    // an older cutover compares equal): sha-256 over the same text as then.
    const old = routingDigest({ ...direct, relayRecipients: [] });
    expect(old).toBe(
      routingDigest({ domains: direct.domains, mailboxes: direct.mailboxes, relays: direct.relays, trusted: direct.trusted }),
    );
  });
});
