import { describe, expect, it } from "vitest";
import { packLines } from "../../src/model/routing";
import { changedProperties, describeChange, propertyChanges } from "../../src/ops/property-changes";

describe("property changes from an event's old and new values", () => {
  it("one record set added by hand is one changed key, not a shifted list; the digest that restates it is left out", () => {
    const mx = { ttl: 300, values: ["10 mail.example.test"] };
    const a = { ttl: 300, values: ["192.0.2.1"] };
    const changes = propertyChanges(
      { digest: "1", records: { "example.test A": a, "example.test MX": mx } },
      { digest: "2", records: { "example.test A": a, "example.test MX": { ...mx, values: [...mx.values, "5 mx.evil.test"] } } },
    );
    expect(changes.map((c) => c.path)).toEqual(['records["example.test MX"]']);
  });

  it("a line set (a routing map) reports the lines added and removed, not the whole text", () => {
    const [c] = propertyChanges(
      { routing: { mailboxes: "a@x.test\nb@x.test\nc@x.test", domains: "x.test" } },
      { routing: { mailboxes: "a@x.test\nc@x.test\nd@x.test", domains: "x.test" } },
    );
    expect(c).toEqual({ path: "routing.mailboxes", added: ["d@x.test"], removed: ["b@x.test"] });
    expect(describeChange(c)).toBe("routing.mailboxes: - b@x.test + d@x.test");
  });

  it("a key that appears or goes is one change; a key with characters outside a name is quoted", () => {
    const changes = propertyChanges(
      { baseline: { "main.cf relayhost": "[relay.isp.test]:2525" } },
      { baseline: { "main.cf relayhost": "[relay.isp.test]:2525", "main.cf header_checks": "regexp:/etc/postfix/header_checks" } },
    );
    expect(changes).toEqual([{ path: 'baseline["main.cf header_checks"]', added: ['"regexp:/etc/postfix/header_checks"'], removed: [] }]);
  });

  it("equal values, secrets masked alike, and top-level digests are no change; a long change is shortened", () => {
    expect(propertyChanges({ privateKey: "[secret]", digest: "1" }, { privateKey: "[secret]", digest: "2" })).toEqual([]);
    const many = Array.from({ length: 5 }, (_, i) => `u${i}@x.test`);
    const [c] = propertyChanges({ routing: { mailboxes: "z@x.test\n" } }, { routing: { mailboxes: `z@x.test\n${many.join("\n")}` } });
    expect(describeChange(c, 2)).toBe("routing.mailboxes: + u0@x.test, u1@x.test (+3 more)");
    expect(changedProperties({ diffs: [], changes: [c] })).toBe(" (routing.mailboxes)");
    expect(changedProperties({ diffs: ["records"], changes: [] })).toBe(" (records)");
  });

  it("a packed line set (a long routing map) reports the lines that changed, and packing alone is no change", () => {
    const users = Array.from({ length: 20_000 }, (_, i) => `user${i}@x.test`);
    const before = users.join("\n");
    const after = [...users.slice(1), "newcomer@x.test"].join("\n");
    expect(packLines(before).startsWith("gzip:")).toBe(true);
    const [c] = propertyChanges({ routing: { mailboxes: packLines(before) } }, { routing: { mailboxes: packLines(after) } });
    expect(c).toEqual({ path: "routing.mailboxes", added: ["newcomer@x.test"], removed: ["user0@x.test"] });
    // A state written before packing holds the lines plain: the same lines packed are the same map.
    expect(propertyChanges({ routing: { mailboxes: before } }, { routing: { mailboxes: packLines(before) } })).toEqual([]);
  });
});
