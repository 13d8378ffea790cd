import { describe, expect, it } from "vitest";
import { type DnsRecord, parseTxtPresentation, recordSetKey, recordsDigest, txtPresentation, txtStrings } from "../../src/model/records";
import { cloudflareRecords, route53Values } from "../../src/pulumi/dns/adapters";
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
