import { describe, expect, it } from "vitest";
import { adoptedSets, adoptionConflicts, adoptionLines, managedPart, restoredSets } from "../../src/model/adoption";
import type { DnsRecord } from "../../src/model/records";
import { zoneUpdate } from "../../src/remote/effects/zone";

const target = { zone: "paradigms.com", server: "127.0.0.1", tsig: { name: "cutover", algorithm: "hmac-sha256", secret: "c2VjcmV0" } };

describe("adopting the organisation's records", () => {
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

describe("what the preview says of a zone's first write", () => {
  const r = (name: string, type: DnsRecord["type"], values: string[], ttl = 300): DnsRecord => ({
    zone: "example.com",
    name,
    type,
    ttl,
    values,
  });
  it("adopt, replace (values or TTL) or merge, and nothing for a set the zone did not hold", () => {
    const live = [
      r("example.com", "MX", ["10 mail.example.com"]),
      r("mail.example.com", "A", ["192.0.2.1"], 3600),
      r("old.example.com", "A", ["192.0.2.9"]),
      r("example.com", "TXT", ["v=spf1 mx -all", "ms=ms1"]),
    ];
    expect(
      adoptionLines(
        [
          r("example.com", "MX", ["10 mail.example.com"]),
          r("mail.example.com", "A", ["192.0.2.1"]),
          r("old.example.com", "A", ["192.0.2.25"]),
          r("example.com", "TXT", ["v=spf1 ip4:192.0.2.25 -all"]),
          r("_25._tcp.mail.example.com", "TLSA", [`3 1 1 ${"ab".repeat(32)}`]),
        ],
        live,
      ),
    ).toEqual([
      "adopt: example.com MX 10 mail.example.com (as it is)",
      "replace: mail.example.com A 192.0.2.1; TTL 3600 -> 300 (the original is kept for rollback)",
      "replace: old.example.com A 192.0.2.9 -> 192.0.2.25 (the original is kept for rollback)",
      'merge: example.com TXT "v=spf1 mx -all" -> "v=spf1 mx ip4:192.0.2.25 -all"; 1 other value kept (the original is kept for rollback)',
    ]);
  });
});
