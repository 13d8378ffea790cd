import { describe, expect, it } from "vitest";
import { recordResourceName, route53Values } from "../../components/dns/adapters";
import type { DnsRecord } from "../../src/model/records";
import { cloudflareRecords } from "../../src/remote/effects/cloud-zone";

const rec = (name: string, type: DnsRecord["type"], values: string[]): DnsRecord => ({ zone: "example.com", name, type, ttl: 300, values });

describe("Route 53 record values", () => {
  it.each<[string, DnsRecord, string[]]>([
    ["A values as they are", rec("example.com", "A", ["192.0.2.1", "192.0.2.2"]), ["192.0.2.1", "192.0.2.2"]],
    ["MX values keep preference and target together", rec("example.com", "MX", ["10 mail.example.com"]), ["10 mail.example.com"]],
    ["TXT values quoted, a backslash escaped", rec("example.com", "TXT", ["a\\b"]), ['"a\\\\b"']],
    ["TXT over 255 octets split into strings", rec("example.com", "TXT", ["x".repeat(300)]), [`"${"x".repeat(255)}" "${"x".repeat(45)}"`]],
  ])("%s", (_what, record, values) => {
    expect(route53Values(record)).toEqual(values);
  });
});

describe("Cloudflare records", () => {
  it("take one record per value, the MX preference apart", () => {
    expect(cloudflareRecords(rec("example.com", "MX", ["10 a.example.com", "20 b.example.com"]))).toEqual([
      { name: "example.com", type: "MX", ttl: 300, content: "a.example.com", priority: 10 },
      { name: "example.com", type: "MX", ttl: 300, content: "b.example.com", priority: 20 },
    ]);
  });

  it("take TXT content as quoted character-strings", () => {
    expect(cloudflareRecords(rec("example.com", "TXT", ['v=spf1 "x"'])).map((c) => c.content)).toEqual(['"v=spf1 \\"x\\""']);
  });
});

describe("resource names of record sets", () => {
  it.each([
    [rec("example.com", "MX", []), "mx-apex"],
    [rec("mail.example.com", "A", []), "a-mail"],
    [rec("a.b.example.com", "CNAME", []), "cname-a.b"],
  ])("%j is %s", (record, name) => {
    expect(recordResourceName(record)).toBe(name);
  });
});
