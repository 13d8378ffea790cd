/**
 * Provider adapters: plain planned records to each DNS API's shape. Provider quirks live here,
 * never in the plan.
 */
import { type DnsRecord, type ListedRecordSet, tlsaPresentation, txtPresentation } from "../../src/model/records";

/** Route 53 keeps one record set per name and type; its TXT values are in presentation form. */
export function route53Values(r: DnsRecord): string[] {
  return r.type === "TXT" ? r.values.map(txtPresentation) : r.values;
}

export interface CloudflareRecord {
  name: string;
  type: string;
  ttl: number;
  content: string;
  /** Cloudflare takes the MX preference apart from the target. */
  priority?: number;
  /** Cloudflare takes a TLSA record's fields apart, in data rather than content. */
  data?: { usage: number; selector: number; matchingType: number; certificate: string };
}

/** Cloudflare keeps one record per value; its TXT content is quoted character-strings too. */
export function cloudflareRecords(r: DnsRecord): CloudflareRecord[] {
  return r.values.map((v) => {
    if (r.type === "TXT") return { name: r.name, type: r.type, ttl: r.ttl, content: txtPresentation(v) };
    if (r.type === "TLSA") {
      const [usage, selector, matchingType, certificate] = v.split(" ");
      return {
        name: r.name,
        type: r.type,
        ttl: r.ttl,
        content: v,
        data: { usage: Number(usage), selector: Number(selector), matchingType: Number(matchingType), certificate },
      };
    }
    if (r.type !== "MX") return { name: r.name, type: r.type, ttl: r.ttl, content: v };
    const [pref, target] = v.split(/\s+/);
    return { name: r.name, type: "MX", ttl: r.ttl, content: target, priority: Number(pref) };
  });
}

/** A stable, readable Pulumi resource name for a record set: "<type>-<name relative to the zone>". */
export function recordResourceName(r: DnsRecord): string {
  const rel = r.name === r.zone ? "apex" : r.name.slice(0, -(r.zone.length + 1));
  return `${r.type.toLowerCase()}-${rel}`;
}

/** A Route 53 listing's record set (getRecords): an alias has no values of its own, only its target. */
export function route53Listed(s: {
  name: string;
  type: string;
  ttl: number;
  resourceRecords?: { value: string }[];
  aliasTarget?: { dnsName?: string };
}): ListedRecordSet {
  const values = (s.resourceRecords ?? []).map((r) => r.value);
  return {
    name: s.name,
    type: s.type,
    ttl: s.ttl,
    values: values.length || !s.aliasTarget?.dnsName ? values : [`alias ${s.aliasTarget.dnsName}`],
  };
}

/** A Cloudflare listing's record (getDnsRecords): one per value, an MX's preference apart from its target. */
export function cloudflareListed(r: { name: string; type: string; ttl: number; content: string; priority?: number }): ListedRecordSet {
  const value = r.type === "MX" ? `${r.priority ?? 0} ${r.content}` : r.type === "TLSA" ? tlsaPresentation(r.content) : r.content;
  return { name: r.name, type: r.type, ttl: r.ttl, values: [value] };
}
