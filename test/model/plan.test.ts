import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/model/config";
import { PHASES, type Phase } from "../../src/model/inventory";
import { type DnsRecord, type Plan, plan, spfSenders } from "../../src/model/plan";
import { load, rawStack } from "../helpers";

const planOf = (name: string, phase: Phase) => plan(load(name, phase), phase);
const records = (p: Plan) => p.zones.flatMap((z) => z.records);
const record = (p: Plan, name: string, type: DnsRecord["type"]) => records(p).find((r) => r.name === name && r.type === type);
const table = (p: Plan, host: string) => p.routing.find((t) => t.host === host)!;

describe("plan of the pilot stack", () => {
  it("phase 1 models only the Internet: its zone, its host's mailboxes, mail among outside users", () => {
    const p = planOf("pilot", 1);
    expect(p.stage).toBe("pilot");
    expect(p.zones.map((z) => z.name)).toEqual(["aegean.test"]);
    expect(record(p, "aegean.test", "MX")?.values).toEqual(["10 mx.aegean.test"]);
    expect(record(p, "mx.aegean.test", "A")?.values).toEqual(["198.51.100.53"]);
    expect(p.routing).toEqual([
      {
        host: "internet",
        domains: ["aegean.test"],
        mailboxes: ["jillr@aegean.test", "spyros@aegean.test"],
        relays: [],
        trusted: [],
        relayRecipients: [],
      },
    ]);
    expect(p.flows.every((f) => f.from === "outside" && f.mailboxHost === "internet")).toBe(true);
  });

  it("phase 2 models both local systems in separate address spaces joined by a connector", () => {
    const p = planOf("pilot", 2);
    expect(p.zones.map((z) => z.name)).toEqual(["aegean.test", "api.test"]);
    expect(record(p, "api.test", "MX")?.values).toEqual(["10 mail.api.test"]);
    expect(record(p, "mail.api.test", "A")?.values).toEqual(["198.51.100.25"]);
    expect(record(p, "new.api.test", "MX")?.values).toEqual(["10 new.api.test"]);
    expect(table(p, "legacy")).toEqual({
      host: "legacy",
      domains: ["api.test"],
      mailboxes: ["user1@api.test", "user2@api.test", "user3@api.test"],
      relays: [{ recipient: "new.api.test", to: "new", nextHop: "198.51.100.20" }],
      trusted: ["198.51.100.10", "198.51.100.20", "198.51.100.25", "198.51.100.64/28"],
      // Only the new system's users pass the connector: anyone else is refused at RCPT, not bounced.
      relayRecipients: ["user4@new.api.test", "user5@new.api.test"],
      // The pilot's outboundRelay: outbound mail leaves through the ISP's relay.
      relayHost: "[relay.isp.test]:2525",
    });
    expect(table(p, "new")).toEqual({
      host: "new",
      domains: ["new.api.test"],
      mailboxes: ["user4@new.api.test", "user5@new.api.test"],
      relays: [{ recipient: "api.test", to: "legacy", nextHop: "198.51.100.10" }],
      trusted: ["198.51.100.10", "198.51.100.20", "198.51.100.25", "198.51.100.64/28"],
      relayRecipients: ["user1@api.test", "user2@api.test", "user3@api.test"],
      relayHost: "[relay.isp.test]:2525",
    });
    expect(p.flows.filter((f) => f.from === "outside" && f.recipient === "user4@new.api.test")).toEqual([
      { recipient: "user4@new.api.test", from: "outside", entry: "new", mailboxHost: "new" },
    ]);
  });

  it("phase 3 gives both systems one address space with split delivery for every user", () => {
    const p = planOf("pilot", 3);
    expect(record(p, "new.api.test", "MX")).toBeUndefined();
    const legacy = table(p, "legacy");
    const neu = table(p, "new");
    expect(legacy.domains).toEqual(["api.test"]);
    expect(neu.domains).toEqual(["api.test"]);
    expect(legacy.relays.map((r) => r.recipient)).toEqual(neu.mailboxes);
    expect(neu.relays.map((r) => r.recipient)).toEqual(legacy.mailboxes);
    expect(new Set(legacy.relays.map((r) => r.nextHop))).toEqual(new Set(["198.51.100.20"]));
    expect(new Set(neu.relays.map((r) => r.nextHop))).toEqual(new Set(["198.51.100.10"]));
    // Every user is reachable at user@domain on either system.
    for (const t of [legacy, neu])
      expect([...t.mailboxes, ...t.relays.map((r) => r.recipient)].sort()).toEqual([1, 2, 3, 4, 5].map((i) => `user${i}@api.test`));
  });

  it("phase 4 moves to the production address space and drops the pilot zone", () => {
    const p3 = planOf("pilot", 3);
    const p4 = planOf("pilot", 4);
    expect(p4.stage).toBe("production");
    expect(p4.zones.map((z) => z.name)).toEqual(["aegean.test", "paradigms.test"]);
    expect(p4.gateway).toMatchObject({ holder: "legacy", hostName: "mail.paradigms.test", address: "198.51.100.25" });
    const rename = (s: string) => s.replace("@api.test", "@paradigms.test").replace(/^api\.test$/, "paradigms.test");
    for (const host of ["legacy", "new"]) {
      const t3 = table(p3, host);
      expect(table(p4, host)).toEqual({
        ...t3,
        domains: t3.domains.map(rename),
        mailboxes: t3.mailboxes.map(rename),
        relays: t3.relays.map((r) => ({ ...r, recipient: rename(r.recipient) })),
      });
    }
  });

  it("from phase 4 to 5 only the gateway identity moves, and back", () => {
    const p4 = planOf("pilot", 4);
    const p5 = planOf("pilot", 5);
    expect(p5.zones).toEqual(p4.zones);
    expect(p5.routing).toEqual(p4.routing);
    expect(p4.gateway.holder).toBe("legacy");
    expect(p5.gateway).toEqual({ ...p4.gateway, holder: "new", service: { ...p4.gateway.service, holder: "new" } });
    expect(p5.hosts.find((h) => h.role === "new")?.name).toBe("mail.paradigms.test");
    expect(p5.hosts.find((h) => h.role === "legacy")?.name).toBe("legacy.paradigms.test");
    const outside = (p: Plan) => p.flows.filter((f) => f.from === "outside" && f.mailboxHost !== "internet");
    expect(new Set(outside(p4).map((f) => f.entry))).toEqual(new Set(["legacy"]));
    expect(new Set(outside(p5).map((f) => f.entry))).toEqual(new Set(["new"]));
  });

  it("relays between the systems go to management addresses, never the moving service address", () => {
    for (const phase of PHASES)
      for (const t of planOf("pilot", phase).routing) for (const r of t.relays) expect(r.nextHop).not.toBe("198.51.100.25");
  });

  it("every mailbox has one flow from outside and one from each system, ending on its home", () => {
    const inv = load("pilot", 3);
    const p = plan(inv, 3);
    for (const m of inv.mailboxList) {
      const address = m.address.replace("paradigms.test", "api.test");
      const flows = p.flows.filter((f) => f.recipient === address);
      expect(flows.map((f) => f.from).sort()).toEqual(["legacy", "new", "outside"]);
      expect(new Set(flows.map((f) => f.mailboxHost))).toEqual(new Set([m.home]));
    }
  });
});

describe("plan properties", () => {
  it("is deterministic and independent of the mailbox file's order", () => {
    const inv = load("pilot", 3);
    const shuffled = { ...inv, mailboxList: [...inv.mailboxList].reverse() };
    expect(plan(shuffled, 3)).toEqual(plan(inv, 3));
    expect(JSON.stringify(plan(inv, 3))).toBe(JSON.stringify(plan(inv, 3)));
  });

  it("does not change the inventory it is given", () => {
    const inv = load("production", 5);
    const before = structuredClone(inv);
    plan(inv, 5);
    expect(inv).toEqual(before);
  });

  it("moving one user is one routing change on each system and nothing else", () => {
    const inv = load("pilot", 4);
    const moved = {
      ...inv,
      mailboxList: inv.mailboxList.map((m) => (m.address === "user1@paradigms.test" ? { ...m, home: "new" as const } : m)),
    };
    const [before, after] = [plan(inv, 4), plan(moved, 4)];
    expect(after.zones).toEqual(before.zones);
    expect(table(after, "legacy").mailboxes).toEqual(table(before, "legacy").mailboxes.filter((a) => a !== "user1@paradigms.test"));
    expect(table(after, "new").mailboxes).toEqual(["user1@paradigms.test", ...table(before, "new").mailboxes]);
    expect(table(after, "legacy").relays.map((r) => r.recipient)).toContain("user1@paradigms.test");
  });

  it("names records lower-case without trailing dots and sorts them", () => {
    for (const phase of PHASES) {
      for (const z of planOf("production", phase).zones) {
        for (const r of z.records) expect(r.name).toMatch(/^[a-z0-9.-]+[a-z0-9]$/);
        const keys = z.records.map((r) => r.name);
        expect([...keys].sort()).toEqual(keys);
      }
    }
  });
});

describe("plan of the production stack", () => {
  it("puts each address space in its own provider's zone with the organisation's extra records", () => {
    const p = planOf("production", 4);
    // The pilot's hosted zone, which the stack created, stays (empty): its delegation must not break.
    expect(p.zones.map((z) => [z.name, z.provider, z.records.length])).toEqual([
      ["example-pilot.com", "route53", 0],
      ["example.com", "route53", 6],
      ["example.org", "cloudflare", 2],
    ]);
    expect(p.zones[1].zoneId).toBe("Z0123456789EXAMPLECOM");
    expect(p.zones[2].zoneId).toBe("0123456789abcdef0123456789abcdef");
    expect(record(p, "www.example.com", "CNAME")?.values).toEqual(["example.github.io"]);
    expect(record(p, "example.org", "MX")?.values).toEqual(["10 mail.example.com"]);
    expect(record(p, "example.com", "TXT")?.values).toEqual(["v=spf1 ip4:203.0.113.25 ip4:198.51.100.110 ip4:198.51.100.120 -all"]);
  });

  it("rehearses phases 1-3 under the pilot domains, in zones of their own: no production zone is touched", () => {
    const p = planOf("production", 3);
    expect(record(p, "example-pilot.com", "MX")?.values).toEqual(["10 mail.example-pilot.com"]);
    expect(p.zones.map((z) => z.name)).toEqual(["example-pilot.com", "example-pilot.org"]);
  });

  it("has no model Internet, so phase 1 plans no records and no routing", () => {
    const p = planOf("production", 1);
    expect(p.zones.flatMap((z) => z.records)).toEqual([]);
    expect(p.routing).toEqual([]);
  });

  it("goes live with the eip strategy", () => {
    expect(planOf("production", 5).gateway).toMatchObject({ holder: "new", strategy: "eip", address: "203.0.113.25" });
  });
});

describe("the organisation's own records", () => {
  const withOwn = (own: object[], phase: Phase = 3) => {
    const { inventory, baseDir } = rawStack("pilot");
    inventory.zones[1].records = own;
    inventory.ttl = { records: 1800 };
    const inv = loadConfig({ inventory, phase, baseDir }).inventory;
    return plan(inv, phase);
  };

  it("merges the organisation's SPF into the plan's: its mechanisms kept, the gateway's addresses added, one record", () => {
    const p = withOwn([
      { name: "@", type: "TXT", values: ["v=spf1 include:_spf.example.net ip4:198.51.100.10 ~all", "site-verification=abc"] },
    ]);
    const txt = record(p, "api.test", "TXT")!;
    expect(txt.values.filter((v) => v.startsWith("v=spf1"))).toEqual([
      "v=spf1 include:_spf.example.net ip4:198.51.100.10 ip4:198.51.100.25 ip4:198.51.100.20 a:relay.isp.test ~all",
    ]);
    expect(txt.values).toContain("site-verification=abc");
    expect(records(p).filter((r) => r.name === "api.test" && r.type === "TXT")).toHaveLength(1);
  });

  it("keeps a TXT beside the plan's SPF when the organisation has no SPF of its own", () => {
    const txt = record(withOwn([{ name: "@", type: "TXT", values: ["site-verification=abc"] }]), "api.test", "TXT")!;
    expect(txt.values).toEqual(
      ["site-verification=abc", "v=spf1 ip4:198.51.100.25 ip4:198.51.100.10 ip4:198.51.100.20 a:relay.isp.test -all"].sort(),
    );
  });

  it("names in SPF what really sends: the gateway address, each system's egress (an instance's public one, never its private), the outbound relay", () => {
    const prod = load("production", 4);
    expect(spfSenders(prod)).toEqual(["ip4:203.0.113.25", "ip4:198.51.100.110", "ip4:198.51.100.120"]);
    const { egressAddress: _, ...noEgress } = prod.hosts.new as typeof prod.hosts.new & { egressAddress?: string };
    const relayed = {
      ...prod,
      hosts: { ...prod.hosts, new: noEgress as typeof prod.hosts.new },
      outboundRelay: { host: "203.0.113.5", port: 25 },
    };
    expect(spfSenders(relayed)).toEqual(["ip4:203.0.113.25", "ip4:198.51.100.110", "ip4:203.0.113.5"]);
    expect(spfSenders({ ...relayed, outboundRelay: { host: "smtp.isp.example", port: 587 } }).at(-1)).toBe("a:smtp.isp.example");
    expect(spfSenders({ ...relayed, outboundRelay: { host: "smtp.isp.example", port: 587, spf: "include:_spf.isp.example" } }).at(-1)).toBe(
      "include:_spf.isp.example",
    );
  });

  it("gives a record without a TTL of its own ttl.records, not 3600", () => {
    expect(record(withOwn([{ name: "www", type: "A", values: ["198.51.100.80"] }]), "www.api.test", "A")?.ttl).toBe(1800);
    expect(record(withOwn([{ name: "www", type: "A", values: ["198.51.100.80"], ttl: 600 }]), "www.api.test", "A")?.ttl).toBe(600);
  });
});

describe("plan of the other layouts", () => {
  it("post-offices: one MX per post office and addresses user@po.domain in both stages", () => {
    const p3 = planOf("post-offices", 3);
    expect(record(p3, "north.corp-pilot.test", "MX")?.values).toEqual(["10 mail.corp-pilot.test"]);
    expect(record(p3, "south.corp-pilot.test", "MX")?.values).toEqual(["10 mail.corp-pilot.test"]);
    expect(record(p3, "corp-pilot.test", "MX")).toBeUndefined();
    expect(table(p3, "legacy").domains).toEqual(["north.corp-pilot.test", "south.corp-pilot.test"]);
    expect(table(p3, "legacy").mailboxes).toEqual(["ann@north.corp-pilot.test", "cid@south.corp-pilot.test"]);
    expect(table(p3, "legacy").relays.map((r) => r.recipient)).toEqual(["ann@south.corp-pilot.test", "bob@north.corp-pilot.test"]);
    expect(table(planOf("post-offices", 4), "new").mailboxes).toEqual(["ann@south.corp.test", "bob@north.corp.test"]);
  });

  it("post-offices phase 2: the new system has its own subdomain per post office", () => {
    const p = planOf("post-offices", 2);
    expect(table(p, "new").domains).toEqual(["new.north.corp-pilot.test", "new.south.corp-pilot.test"]);
    expect(record(p, "new.south.corp-pilot.test", "MX")?.values).toEqual(["10 new.corp-pilot.test"]);
  });

  it("smart-host: MX to the smart host, which relays every domain to the gateway's address", () => {
    const p4 = planOf("smart-host", 4);
    const p5 = planOf("smart-host", 5);
    expect(record(p4, "corp.test", "MX")?.values).toEqual(["10 relay.corp.test"]);
    expect(record(p4, "relay.corp.test", "A")?.values).toEqual(["198.51.100.30"]);
    expect(table(p4, "smartHost").relays).toEqual([{ recipient: "corp.test", to: "legacy", nextHop: "198.51.100.25" }]);
    expect(table(p5, "smartHost").relays).toEqual([{ recipient: "corp.test", to: "new", nextHop: "198.51.100.25" }]);
    expect(table(p5, "smartHost").relayRecipients).toEqual(["ann@corp.test", "bob@corp.test", "cid@corp.test"]);
    expect(new Set(p4.flows.filter((f) => f.from === "outside" && f.mailboxHost !== "internet").map((f) => f.entry))).toEqual(
      new Set(["smartHost"]),
    );
    expect(table(p4, "legacy").mailboxes).toEqual(["ann@corp.test", "cid@corp.test"]);
    // Mail from outside must show the smart host in its Received path.
    expect(new Set(p4.flows.filter((f) => f.entry === "smartHost").map((f) => f.via))).toEqual(new Set(["198.51.100.30"]));
  });

  it("outbound relay: relayhost on both systems from phase 2, outbound messages must pass it", () => {
    const raw = rawStack("pilot");
    const withRelay = (phase: Phase) => planOf("pilot", phase);
    const direct = (phase: Phase) => {
      const { outboundRelay: _, ...inv } = raw.inventory as Record<string, unknown>;
      const config = loadConfig({ inventory: inv, phase, baseDir: raw.baseDir });
      return plan(config.inventory, phase);
    };
    expect(withRelay(1).routing.map((t) => t.relayHost)).toEqual([undefined]);
    for (const phase of [2, 3, 4, 5] as Phase[]) {
      const p = withRelay(phase);
      expect(p.routing.map((t) => `${t.host} ${t.relayHost}`)).toEqual([
        "internet undefined",
        "legacy [relay.isp.test]:2525",
        "new [relay.isp.test]:2525",
      ]);
      const outbound = p.flows.filter((f) => f.from !== "outside" && f.mailboxHost === "internet");
      expect(outbound.length).toBeGreaterThan(0);
      expect(outbound.every((f) => f.via === "relay.isp.test")).toBe(true);
      // Mail into the organisation does not pass the relay.
      expect(p.flows.filter((f) => f.mailboxHost !== "internet").every((f) => f.via === undefined)).toBe(true);
    }
    // No outboundRelay: direct delivery by MX, no relayhost, no hop to show.
    expect(direct(5).routing.every((t) => t.relayHost === undefined)).toBe(true);
    expect(direct(5).flows.every((f) => f.via === undefined)).toBe(true);
  });

  it("mx strategy: phase 4 lowers the MX TTL, phase 5 points the MX at the new server", () => {
    const [p3, p4, p5] = [planOf("mx", 3), planOf("mx", 4), planOf("mx", 5)];
    expect(record(p3, "example-pilot.com", "MX")?.ttl).toBe(3600);
    expect(record(p4, "example.com", "MX")).toMatchObject({ ttl: 300, values: ["10 mail.example.com"] });
    expect(record(p5, "example.com", "MX")).toMatchObject({ ttl: 300, values: ["10 new.example.com"] });
    expect(record(p5, "example.com", "TXT")?.ttl).toBe(3600);
    expect(p5.gateway).toMatchObject({ holder: "new", hostName: "new.example.com", address: "203.0.113.20" });
  });

  it.each([
    ["pilot", "legacy", "new"],
    ["mx", "legacy", "legacy"],
  ])("%s: the service address is on %s before the go-live and on %s after it", (stack, before, after) => {
    const [p4, p5] = [planOf(stack, 4), planOf(stack, 5)];
    expect(p4.gateway.service.holder).toBe(before);
    expect(p5.gateway.service.holder).toBe(after);
    expect(p5.gateway.service.address).toBe(p4.gateway.service.address);
  });
});

describe("the gateway's relay clients (gateway.relayClients)", () => {
  it("are trusted by both systems from phase 2: whichever holds the service address trusts them, and the go-live changes no routing", () => {
    const inv = load("production", 4);
    for (const phase of [2, 3, 4, 5] as const)
      for (const host of ["legacy", "new"])
        expect(plan(inv, phase).routing.find((t) => t.host === host)!.trusted, `${host} in phase ${phase}`).toContain("192.0.2.0/24");
    expect(plan(inv, 4).routing).toEqual(plan(inv, 5).routing);
  });
});

describe("the gateway's services (gateway.services)", () => {
  it("move their sessions with the address: the ports go with the service address, none when the gateway offers port 25 only", () => {
    const inv = load("production", 4);
    expect(plan(inv, 5).gateway.service.ports).toBeUndefined();
    const offering = { ...inv, gateway: { ...inv.gateway, services: ["submission", "imaps"] as ("submission" | "imaps")[] } };
    expect(plan(offering, 5).gateway.service.ports).toEqual([587, 993]);
    expect(plan(offering, 4).gateway.service.ports).toEqual([587, 993]);
  });
});

describe("probe mailboxes (inventory.verification.probes)", () => {
  it("get every real message of the verification, while every mailbox is routed: the count of messages does not grow with the organisation", () => {
    const inv = load("production", 4);
    const p = plan(inv, 4);
    expect(p.probes).toEqual(["probe-legacy@example.com", "probe-new@example.org"]);
    expect([...new Set(p.flows.map((f) => f.recipient))].sort()).toEqual(p.probes);
    expect(p.routing.flatMap((t) => t.mailboxes).length).toBe(inv.mailboxList.length);
    // A thousand more mailboxes: the same messages, a thousand more routes.
    const more = {
      ...inv,
      mailboxList: [
        ...inv.mailboxList,
        ...Array.from({ length: 1000 }, (_, i) => ({ address: `staff${i}@example.com`, home: "legacy" as const, postOffice: "hq" })),
      ],
    };
    const bigger = plan(more, 4);
    expect(bigger.flows).toEqual(p.flows);
    expect(bigger.routing.flatMap((t) => t.mailboxes).length).toBe(inv.mailboxList.length + 1000);
  });

  it("with an outside probe mailbox: one message from each system to it, from phase 2, through the outbound relay when there is one", () => {
    const inv = load("production", 4);
    expect(plan(inv, 4).outbound).toEqual([
      { from: "legacy", recipient: "cutover-probe@example.net" },
      { from: "new", recipient: "cutover-probe@example.net" },
    ]);
    const relayed = { ...inv, outboundRelay: { host: "smtp.isp.example", port: 587 } };
    expect(plan(relayed, 5).outbound?.map((o) => o.via)).toEqual([
      { host: "smtp.isp.example", port: 587 },
      { host: "smtp.isp.example", port: 587 },
    ]);
    expect(plan(inv, 1).outbound).toBeUndefined();
    expect(plan(load("pilot", 4), 4).outbound).toBeUndefined();
  });

  it("are absent from a stack without them (the pilot): every mailbox gets the verification's messages", () => {
    const p = plan(load("pilot", 4), 4);
    expect(p.probes).toBeUndefined();
    expect(new Set(p.flows.filter((f) => f.mailboxHost !== "internet").map((f) => f.recipient)).size).toBe(
      load("pilot", 4).mailboxList.length,
    );
  });
});
