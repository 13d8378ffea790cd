/**
 * A signed zone's delegation (RFC 4034): the DS record its parent publishes must match one of the
 * zone's key-signing keys, or validating resolvers cannot reach the zone's signatures. No DS leaves
 * the zone insecure: resolvers validate nothing and DANE senders ignore its TLSA records (RFC 7672
 * 2.2), silently. A DS that matches no key makes the zone bogus: validating resolvers answer
 * SERVFAIL, and every DANE sender defers the domain's mail. Pure.
 */
import { createHash } from "node:crypto";

/** A DNSKEY record as zone files write it: flags, protocol (3), algorithm, the key in base64. */
interface DnsKey {
  flags: number;
  algorithm: number;
  key: Buffer;
}

function parseKey(presentation: string): DnsKey {
  const [flags, , algorithm, ...key] = presentation.trim().split(/\s+/);
  return { flags: Number(flags), algorithm: Number(algorithm), key: Buffer.from(key.join(""), "base64") };
}

/** The key's RDATA: flags, protocol 3, algorithm, key. */
const rdata = (k: DnsKey) => Buffer.concat([Buffer.from([k.flags >> 8, k.flags & 0xff, 3, k.algorithm]), k.key]);

/** A name in canonical wire form (RFC 4034 6.2): lower-case labels, each with its length, then the root. */
function wireName(name: string): Buffer {
  const labels = name.toLowerCase().replace(/\.$/, "").split(".").filter(Boolean);
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, "ascii")])), Buffer.from([0])]);
}

/** The key tag (RFC 4034 Appendix B) of a DNSKEY given as zone files write it. */
export function keyTag(presentation: string): number {
  const data = rdata(parseKey(presentation));
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum += i & 1 ? data[i] : data[i] << 8;
  return (sum + ((sum >> 16) & 0xffff)) & 0xffff;
}

const DIGESTS: Record<number, string> = { 1: "sha1", 2: "sha256", 4: "sha384" };

/** The DS record ("tag algorithm digest-type hex") for a zone's DNSKEY, with SHA-256 (digest type 2) unless told. */
export function dsRecord(zone: string, dnskey: string, digestType = 2): string {
  const k = parseKey(dnskey);
  const digest = createHash(DIGESTS[digestType] ?? "sha256")
    .update(Buffer.concat([wireName(zone), rdata(k)]))
    .digest("hex");
  return `${keyTag(dnskey)} ${k.algorithm} ${digestType} ${digest}`;
}

/** Whether a DS record names this key: its tag, algorithm and digest recomputed. */
const dsMatches = (zone: string, ds: string, dnskey: string) => {
  const [, , type] = ds.trim().split(/\s+/).map(Number);
  return DIGESTS[type] !== undefined && dsRecord(zone, dnskey, type).toLowerCase() === ds.trim().toLowerCase().replace(/\s+/g, " ");
};

/**
 * What is wrong with a zone's delegation, given the zone's DNSKEY records (as its own servers
 * answer) and the DS records its parent publishes; undefined when a DS matches a key-signing key
 * (flags 257). An unsigned zone without DS is no delegation problem (nothing to chain to); the
 * TLSA records' own signature check names it.
 */
export function delegationProblem(zone: string, dnskeys: string[], ds: string[]): string | undefined {
  const ksks = dnskeys.filter((k) => parseKey(k).flags === 257);
  const wanted = ksks.map((k) => dsRecord(zone, k));
  if (!dnskeys.length)
    return ds.length
      ? `the parent publishes DS ${ds.map((d) => d.split(" ")[0]).join(", ")} for an unsigned zone: validating resolvers fail every answer of ${zone} (SERVFAIL); remove the DS at the registrar or sign the zone`
      : undefined;
  if (!ds.length)
    return `signed, but the parent publishes no DS record: validating resolvers treat ${zone} as unsigned, so DANE is silently off; publish ${wanted.length ? wanted.join(" or ") : "a DS of its key-signing key"} at the registrar`;
  if (!ds.some((d) => ksks.some((k) => dsMatches(zone, d, k))))
    return `the parent's DS (key tag ${ds.map((d) => d.split(" ")[0]).join(", ")}) matches none of the zone's key-signing keys (tag ${ksks.map(keyTag).join(", ") || "none"}): validating resolvers fail ${zone} (SERVFAIL) and every DANE sender defers its mail; replace it at the registrar with ${wanted.join(" or ")}`;
  return undefined;
}
