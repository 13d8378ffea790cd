/**
 * Provider adapters: plain planned records to each DNS API's shape. Provider quirks live here,
 * never in the plan.
 */
import type { DnsRecord } from "../../model/plan";

/** Route 53 keeps one record set per name and type; TXT strings are quoted, 255 characters a chunk. */
export function route53Values(r: DnsRecord): string[] {
  if (r.type !== "TXT") return r.values;
  return r.values.map((v) => (v.match(/.{1,255}/g) ?? [""]).map((chunk) => `"${chunk.replace(/"/g, '\\"')}"`).join(" "));
}

export interface CloudflareRecord {
  name: string;
  type: string;
  ttl: number;
  content: string;
  /** Cloudflare takes the MX preference apart from the target. */
  priority?: number;
}

/** Cloudflare keeps one record per value. */
export function cloudflareRecords(r: DnsRecord): CloudflareRecord[] {
  return r.values.map((v) => {
    if (r.type !== "MX") return { name: r.name, type: r.type, ttl: r.ttl, content: v };
    const [pref, target] = v.split(/\s+/);
    return { name: r.name, type: "MX", ttl: r.ttl, content: target, priority: Number(pref) };
  });
}

/** A stable, readable resource name for a record set: "<type>-<name relative to the zone>". */
export function recordKey(r: DnsRecord): string {
  const rel = r.name === r.zone ? "apex" : r.name.slice(0, -(r.zone.length + 1));
  return `${r.type.toLowerCase()}-${rel}`;
}
