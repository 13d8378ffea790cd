import { describe, expect, it } from "vitest";
import { cloudflareListed, route53Listed, route53Values } from "../../components/dns/adapters";
import {
  type DnsRecord,
  mergeSpf,
  parseTxtPresentation,
  recordSetKey,
  recordsDigest,
  sharedTxt,
  txtPresentation,
  txtStrings,
  unmanagedRecordSets,
} from "../../src/model/records";
import { cloudflareRecords } from "../../src/remote/effects/cloud-zone";
import { zoneUpdate } from "../../src/remote/effects/zone";

const txt = (value: string): DnsRecord => ({ zone: "example.com", name: "example.com", type: "TXT", ttl: 300, values: [value] });

describe("TXT presentation form: one encoding for Route 53, Cloudflare and RFC 2136", () => {
  it.each([
    ["plain text", "v=spf1 -all", '"v=spf1 -all"'],
    ["a double quote", 'say "hi"', '"say \\"hi\\""'],
    ["a backslash", "C:\\mail", '"C:\\\\mail"'],
    ["a backslash before a quote", '\\"', '"\\\\\\""'],
    ["the empty string", "", '""'],
    ["256 characters: two strings", "x".repeat(256), `"${"x".repeat(255)}" "x"`],
  ])("encodes %s", (_what, text, encoded) => {
    expect(txtPresentation(text)).toBe(encoded);
    expect(parseTxtPresentation(encoded)).toBe(text);
  });

  it("splits at 255 octets, never inside a UTF-8 character", () => {
    const text = `${"a".repeat(254)}é${"b".repeat(10)}`;
    expect(txtStrings(text).map((s) => Buffer.byteLength(s))).toEqual([254, 12]);
    expect(parseTxtPresentation(txtPresentation(text))).toBe(text);
  });

  it("reads dig's \\DDD escapes back as UTF-8", () => {
    expect(parseTxtPresentation('"caf\\195\\169"')).toBe("café");
  });

  it("Route 53, Cloudflare and the RFC 2136 update write a backslash the same way", () => {
    const record = txt('dkim "k" \\ end');
    const encoded = txtPresentation('dkim "k" \\ end');
    expect(route53Values(record)).toEqual([encoded]);
    expect(cloudflareRecords(record).map((c) => c.content)).toEqual([encoded]);
    const update = zoneUpdate(
      { zone: "example.com", server: "127.0.0.1", tsig: { name: "k", algorithm: "hmac-sha256", secret: "c2VjcmV0" } },
      [record],
      [],
    );
    expect(update).toContain(`update add example.com. 300 TXT ${encoded}\n`);
  });
});

describe("record sets", () => {
  it("are keyed by name and type", () => {
    expect(recordSetKey({ name: "mail.example.com", type: "A" })).toBe("mail.example.com A");
  });

  it("have a digest that ignores the order of records and values", () => {
    const a: DnsRecord = { zone: "z.test", name: "z.test", type: "MX", ttl: 60, values: ["10 a.z.test", "20 b.z.test"] };
    const b: DnsRecord = { zone: "z.test", name: "www.z.test", type: "A", ttl: 60, values: ["192.0.2.1"] };
    expect(recordsDigest([a, b])).toBe(recordsDigest([b, { ...a, values: [...a.values].reverse() }]));
    expect(recordsDigest([a, b])).not.toBe(recordsDigest([a, { ...b, ttl: 61 }]));
  });
});

describe("records a zone holds that the plan does not manage", () => {
  const zone = {
    name: "example.com",
    records: [
      { name: "example.com", type: "MX" as const },
      { name: "mail.example.com", type: "A" as const },
    ],
  };

  it("Route 53: the zone's SOA and apex NS are the provider's; managed sets are not listed; names as the plan writes them", () => {
    const listed = [
      { name: "example.com.", type: "SOA", ttl: 900, resourceRecords: [{ value: "ns-1.awsdns-01.org. admin. 1 7200 900 1209600 86400" }] },
      { name: "example.com.", type: "NS", ttl: 172800, resourceRecords: [{ value: "ns-1.awsdns-01.org." }] },
      { name: "example.com.", type: "MX", ttl: 300, resourceRecords: [{ value: "10 mail.example.com." }] },
      { name: "Mail.Example.com.", type: "A", ttl: 300, resourceRecords: [{ value: "203.0.113.10" }] },
      { name: "\\052.example.com.", type: "A", ttl: 60, resourceRecords: [{ value: "203.0.113.80" }] },
      { name: "www.example.com.", type: "A", ttl: 0, aliasTarget: { dnsName: "d111.cloudfront.net." } },
      { name: "sub.example.com.", type: "NS", ttl: 3600, resourceRecords: [{ value: "ns1.other.test." }] },
    ].map(route53Listed);
    expect(unmanagedRecordSets(zone, listed)).toEqual([
      "*.example.com A 60 203.0.113.80",
      "sub.example.com NS 3600 ns1.other.test.",
      "www.example.com A 0 alias d111.cloudfront.net.",
    ]);
  });

  it("Cloudflare: one record per value, grouped into record sets; an MX's preference put back before its target", () => {
    const listed = [
      { name: "example.com", type: "MX", ttl: 300, content: "mail.example.com", priority: 10 },
      { name: "example.com", type: "TXT", ttl: 1, content: '"google-site-verification=abc"' },
      { name: "extra.example.com", type: "MX", ttl: 300, content: "b.example.net", priority: 20 },
      { name: "extra.example.com", type: "MX", ttl: 300, content: "a.example.net", priority: 10 },
    ].map(cloudflareListed);
    expect(unmanagedRecordSets(zone, listed)).toEqual([
      'example.com TXT 1 "google-site-verification=abc"',
      "extra.example.com MX 300 10 a.example.net, 20 b.example.net",
    ]);
  });

  it("a zone holding only what the plan writes lists nothing", () => {
    expect(
      unmanagedRecordSets(zone, [cloudflareListed({ name: "mail.example.com", type: "A", ttl: 300, content: "203.0.113.10" })]),
    ).toEqual([]);
  });
});

describe("a TXT name shared with the organisation (issue 39)", () => {
  const planned = ["v=spf1 ip4:198.51.100.25 ip4:198.51.100.10 -all"];
  const merged = "v=spf1 mx include:_spf.partner.example ip4:198.51.100.25 ip4:198.51.100.10 -all";

  it("holds when one SPF record carries every planned term, the organisation's beside them, and names the others' values", () => {
    expect(sharedTxt(planned, [merged, "site-verification=abc"])).toEqual({ holds: true, others: ["site-verification=abc"] });
    expect(sharedTxt(["v=STSv1; id=1"], ["v=STSv1; id=1"])).toEqual({ holds: true, others: [] });
  });

  it("fails a missing planned sender, a second SPF record, a missing planned value", () => {
    expect(sharedTxt(planned, ["v=spf1 mx ip4:198.51.100.25 -all"]).holds).toBe(false);
    expect(sharedTxt(planned, [merged, "v=spf1 -all"]).holds).toBe(false);
    expect(sharedTxt([...planned, "v=STSv1; id=1"], [merged]).holds).toBe(false);
  });

  it("merges the plan's terms into the organisation's record, its ending kept", () => {
    expect(mergeSpf(planned[0], "v=spf1 mx include:_spf.partner.example ~all")).toBe(
      "v=spf1 mx include:_spf.partner.example ip4:198.51.100.25 ip4:198.51.100.10 ~all",
    );
    expect(mergeSpf("v=spf1 include:_spf.mail.example ip4:198.51.100.25 -all", "v=spf1 mx")).toBe(
      "v=spf1 mx include:_spf.mail.example ip4:198.51.100.25 -all",
    );
  });
});
