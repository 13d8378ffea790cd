import { describe, expect, it } from "vitest";
import { plan } from "../../src/model/plan";
import { compactRouting, expandRouting, hostRouting, routingDigest, unpackLines } from "../../src/model/routing";
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

  it("pack a long line set (50,000 mailboxes) into far fewer bytes, the same string for the same lines, and give every line back", () => {
    const users = Array.from({ length: 50_000 }, (_, i) => `user${i}@scale-${String(i % 200).padStart(3, "0")}.test`);
    const table = {
      domains: ["scale-000.test"],
      mailboxes: users.filter((_, i) => i % 4 === 0),
      relays: users.filter((_, i) => i % 4 !== 0).map((recipient) => ({ recipient, nextHop: "smtp:[198.51.100.10]:25" })),
      trusted: ["198.51.100.0/24"],
    };
    const c = compactRouting(table);
    expect(c.relays.startsWith("gzip:")).toBe(true);
    expect(c.mailboxes.startsWith("gzip:")).toBe(true);
    // Short line sets stay readable in the state.
    expect(c.domains).toBe("scale-000.test");
    expect(c.relays.length).toBeLessThan(unpackLines(c.relays).length / 5);
    expect(compactRouting(table)).toEqual(c);
    expect(expandRouting(c)).toEqual(hostRouting(table));
    expect(routingDigest(expandRouting(c))).toBe(routingDigest(table));
  });
});
