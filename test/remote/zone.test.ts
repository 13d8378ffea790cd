import { describe, expect, it } from "vitest";
import type { DnsRecord } from "../../src/model/records";
import { adoptedSets, adoptionConflicts, managedPart, parseZone, restoredSets, zoneUpdate } from "../../src/remote/effects/zone";

const target = { zone: "api.test", server: "127.0.0.1", tsig: { name: "cutover", algorithm: "hmac-sha256", secret: "c2VjcmV0" } };
const rec = (name: string, type: DnsRecord["type"], values: string[], ttl = 300): DnsRecord => ({
  zone: "api.test",
  name,
  type,
  ttl,
  values,
});
const header = ["server 127.0.0.1", "zone api.test.", "key hmac-sha256:cutover c2VjcmV0"];

describe("the RFC 2136 update that turns the live zone into the plan's", () => {
  it.each<[string, DnsRecord[], DnsRecord[], DnsRecord[], string[] | undefined]>([
    ["nothing to do", [rec("api.test", "A", ["192.0.2.1"])], [rec("api.test", "A", ["192.0.2.1"])], [], undefined],
    [
      "a new A record",
      [rec("mail.api.test", "A", ["192.0.2.25"])],
      [],
      [],
      ["update delete mail.api.test. A", "update add mail.api.test. 300 A 192.0.2.25"],
    ],
    [
      "an MX whose target gains its trailing dot",
      [rec("api.test", "MX", ["10 mail.api.test"])],
      [rec("api.test", "MX", ["10 old.api.test"])],
      [],
      ["update delete api.test. MX", "update add api.test. 300 MX 10 mail.api.test."],
    ],
    [
      "a CNAME target with its trailing dot",
      [rec("www.api.test", "CNAME", ["web.api.test"])],
      [],
      [],
      ["update delete www.api.test. CNAME", "update add www.api.test. 300 CNAME web.api.test."],
    ],
    [
      "a TTL change rewrites the whole set",
      [rec("api.test", "A", ["192.0.2.1", "192.0.2.2"], 60)],
      [rec("api.test", "A", ["192.0.2.2", "192.0.2.1"], 300)],
      [],
      ["update delete api.test. A", "update add api.test. 60 A 192.0.2.1", "update add api.test. 60 A 192.0.2.2"],
    ],
    [
      "a name the plan stops managing goes; one it never managed stays",
      [],
      [rec("new.api.test", "MX", ["10 new.api.test"]), rec("www.api.test", "A", ["192.0.2.80"])],
      [rec("new.api.test", "MX", [])],
      ["update delete new.api.test. MX"],
    ],
  ])("%s", (_what, desired, live, previouslyManaged, lines) => {
    const update = zoneUpdate(target, desired, live, previouslyManaged);
    expect(update).toBe(lines ? [...header, ...lines, "send", ""].join("\n") : undefined);
  });

  it("never puts the TSIG secret anywhere but the key line, and sends one message", () => {
    const update = zoneUpdate(target, [rec("api.test", "TXT", ["v=spf1 -all"])], [])!;
    expect(update.split("\n").filter((l) => l.includes("c2VjcmV0"))).toEqual(["key hmac-sha256:cutover c2VjcmV0"]);
    expect(update.match(/^send$/gm)).toHaveLength(1);
  });
});

describe("reading dig's zone transfer", () => {
  it.each<[string, string, DnsRecord[]]>([
    [
      "sets by name and type, names lower-case without the dot, values sorted",
      "API.test.\t300\tIN\tA\t192.0.2.2\napi.test.\t300\tIN\tA\t192.0.2.1\n",
      [rec("api.test", "A", ["192.0.2.1", "192.0.2.2"])],
    ],
    [
      "MX and CNAME targets lose their dot",
      "api.test. 60 IN MX 10 Mail.API.test.\nw.api.test. 60 IN CNAME Web.api.test.\n",
      [rec("api.test", "MX", ["10 mail.api.test"], 60), rec("w.api.test", "CNAME", ["web.api.test"], 60)],
    ],
    [
      "TXT strings are joined and unescaped",
      'api.test. 300 IN TXT "v=spf1 \\"a\\" " "-all \\\\"\n',
      [rec("api.test", "TXT", ['v=spf1 "a" -all \\'])],
    ],
    [
      "SOA, NS and comments are not the plan's",
      "; <<>> DiG\napi.test. 300 IN SOA ns. h. 1 2 3 4 5\napi.test. 300 IN NS ns.api.test.\n",
      [],
    ],
  ])("%s", (_what, text, records) => {
    expect(parseZone("api.test", text)).toEqual(records);
  });
});

describe("the zone update builder refuses what validation should have caught", () => {
  const HOSTILE = [
    "x\nupdate add evil.test. 60 NS ns.evil.test.",
    "x\rsend",
    "x\u0000",
    "x\u001b[2J",
    "x\u2028zone evil.test.",
    "two words",
  ];
  it.each(HOSTILE)("a name %j", (name) => {
    expect(() => zoneUpdate(target, [rec(name, "A", ["192.0.2.1"])], [])).toThrow(/refusing to write/);
  });
  it.each(HOSTILE)("a CNAME target %j", (value) => {
    expect(() => zoneUpdate(target, [rec("www.api.test", "CNAME", [value])], [])).toThrow(/refusing to write/);
  });
  it.each(HOSTILE.map((h) => `10 ${h}`))("an MX value %j", (value) => {
    expect(() => zoneUpdate(target, [rec("api.test", "MX", [value])], [])).toThrow(/refusing to write/);
  });
  it.each(HOSTILE.slice(0, 5))("a TXT value %j", (value) => {
    expect(() => zoneUpdate(target, [rec("api.test", "TXT", [value])], [])).toThrow(/refusing to write/);
  });
  it("an A value that is not an address, a type it does not write, a TTL that is not whole, a previously managed name", () => {
    expect(() => zoneUpdate(target, [rec("api.test", "A", ["1.2.3.4\nsend"])], [])).toThrow(/refusing to write/);
    expect(() => zoneUpdate(target, [rec("api.test", "NS\nsend" as "A", ["1.2.3.4"])], [])).toThrow(/refusing to write/);
    expect(() => zoneUpdate(target, [rec("api.test", "A", ["1.2.3.4"], Number.NaN)], [])).toThrow(/refusing to write/);
    expect(() => zoneUpdate(target, [], [rec("x\nsend", "A", ["1.2.3.4"])], [{ name: "x\nsend", type: "A" }])).toThrow(/refusing to write/);
  });
  it("a TSIG key or server that is not plain text", () => {
    const records = [rec("api.test", "A", ["192.0.2.1"])];
    expect(() => zoneUpdate({ ...target, tsig: { ...target.tsig, secret: "c2Vj\nsend" } }, records, [])).toThrow(/refusing to write/);
    expect(() => zoneUpdate({ ...target, tsig: { ...target.tsig, name: "a b" } }, records, [])).toThrow(/refusing to write/);
    expect(() => zoneUpdate({ ...target, server: "127.0.0.1\nzone evil.test." }, records, [])).toThrow(/refusing to write/);
  });
});

describe("adopting the organisation's records (issue 39)", () => {
  const z = "paradigms.com";
  const set = (name: string, type: DnsRecord["type"], values: string[], ttl = 300): DnsRecord => ({ zone: z, name, type, ttl, values });
  const orgSpf = "v=spf1 mx include:_spf.partner.example -all";
  const token = "site-verification=abc123";
  const planSpf = "v=spf1 ip4:198.51.100.25 ip4:198.51.100.10 -all";
  const live = [
    set(z, "MX", ["10 old-gw.paradigms.com"], 3600),
    set(z, "TXT", [orgSpf, token], 3600),
    set("_dmarc.paradigms.com", "TXT", ["v=DMARC1; p=reject"], 3600),
  ];
  const desired = [set(z, "MX", ["10 mail.paradigms.com"]), set(z, "TXT", [planSpf])];

  it("keeps the values others hold at a TXT name and writes one SPF: the organisation's, with the gateways added", () => {
    const original = live.filter((r) => r.name === z);
    expect(adoptedSets(desired, live, original)).toEqual([
      set(z, "MX", ["10 mail.paradigms.com"]),
      set(z, "TXT", ["site-verification=abc123", "v=spf1 mx include:_spf.partner.example ip4:198.51.100.25 ip4:198.51.100.10 -all"]),
    ]);
    // A set equal to the live one is written as it is: no update at all.
    const same = adoptedSets([set(z, "MX", ["10 old-gw.paradigms.com"], 3600)], live, original);
    expect(zoneUpdate(target, same, live)).toBeUndefined();
  });

  it("drops a value cutover wrote before and no longer plans (an old MTA-STS id), never one others added since", () => {
    const name = "_mta-sts.paradigms.com";
    const ours = [set(name, "TXT", ["v=STSv1; id=old"])];
    const now = [set(name, "TXT", ["v=STSv1; id=new", "added-by-hand"])];
    expect(adoptedSets([set(name, "TXT", ["v=STSv1; id=new"])], now, [], ours)[0].values).toEqual(["added-by-hand", "v=STSv1; id=new"]);
    expect(adoptedSets([set(name, "TXT", ["v=STSv1; id=new"])], [set(name, "TXT", ["v=STSv1; id=old"])], [], ours)[0].values).toEqual([
      "v=STSv1; id=new",
    ]);
  });

  it("reads back cutover's part only: another's value is no drift, the merged SPF is the planned one, an SPF edited by hand is", () => {
    const original = live.filter((r) => r.name === z);
    const written = adoptedSets(desired, live, original);
    const later = written.map((r) => (r.type === "TXT" ? { ...r, values: [...r.values, "added-later"] } : r));
    expect(managedPart(later, desired, original)).toEqual(desired);
    const edited = written.map((r) => (r.type === "TXT" ? { ...r, values: [token, "v=spf1 -all"] } : r));
    expect(managedPart(edited, desired, original)[1].values).toEqual(["v=spf1 -all"]);
  });

  it("gives back each original, with what others added since; a name that had nothing goes", () => {
    const original = live.filter((r) => r.name === z);
    const written = adoptedSets([...desired, set("mail.paradigms.com", "A", ["198.51.100.25"])], live, original);
    const later = written.map((r) => (r.type === "TXT" ? { ...r, values: [...r.values, "added-later"] } : r));
    expect(restoredSets([...desired, set("mail.paradigms.com", "A", ["198.51.100.25"])], later, original)).toEqual([
      set(z, "MX", ["10 old-gw.paradigms.com"], 3600),
      set(z, "TXT", ["added-later", orgSpf, token].sort(), 3600),
    ]);
  });

  it("refuses a zone it cannot take over without breaking it: two SPF records, a CNAME where a record is planned", () => {
    const broken = [set(z, "TXT", [orgSpf, "v=spf1 -all"]), set("mail.paradigms.com", "CNAME", ["gw.isp.example"])];
    expect(adoptionConflicts(z, [...desired, set("mail.paradigms.com", "A", ["198.51.100.25"])], broken)).toEqual([
      `zone paradigms.com: paradigms.com holds 2 SPF records ("${orgSpf}", "v=spf1 -all"): SPF fails for every message (RFC 7208 3.2), and cutover cannot tell which one to merge; keep one in the zone, then run the phase again`,
      "zone paradigms.com: mail.paradigms.com is a CNAME to gw.isp.example, and cutover plans a A record there (a name with a CNAME holds nothing else, RFC 1034 3.6.2): remove the CNAME, or give the gateway another label",
    ]);
    expect(adoptionConflicts(z, desired, live)).toEqual([]);
  });
});
