/**
 * Provider adapters: plain planned records to each DNS API's shape. Provider quirks live here,
 * never in the plan.
 */
import { type DnsRecord, type ListedRecordSet, tlsaPresentation, txtPresentation } from "../../src/model/records";

/** Route 53 keeps one record set per name and type; its TXT values are in presentation form. */
export function route53Values(r: DnsRecord): string[] {
  return r.type === "TXT" ? r.values.map(txtPresentation) : r.values;
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
