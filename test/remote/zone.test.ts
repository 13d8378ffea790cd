import { describe, expect, it } from "vitest";
import type { DnsRecord } from "../../src/model/records";
import { parseZone, zoneUpdate } from "../../src/remote/effects/zone";

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
