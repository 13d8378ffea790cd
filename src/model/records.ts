/**
 * DNS records as plain data, and the few facts about them that every layer shares: the key of a
 * record set, its content digest, and how TXT text is written on the wire's presentation form.
 * One owner each, so the plan, the providers, the on-prem updates and the checks cannot disagree.
 */
import { createHash } from "node:crypto";

export type RecordType = "A" | "MX" | "TXT" | "CNAME" | "TLSA";

/** One DNS record set: a name and type with all its values. Names are lower-case, without trailing dot. */
export interface DnsRecord {
  zone: string;
  name: string;
  type: RecordType;
  ttl: number;
  /** A: addresses; MX: "preference target"; TXT: the text unquoted; CNAME: the target; TLSA: "usage selector type hex". */
  values: string[];
}

/** The key of a record set, "name TYPE": what diffs, drift checks and zone updates compare by. */
export const recordSetKey = (r: Pick<DnsRecord, "name" | "type">) => `${r.name} ${r.type}`;

/** Whether two sets hold the same values with the same TTL. Pure. */
export function sameSet(a: DnsRecord | undefined, b: DnsRecord | undefined): boolean {
  if (!a || !b) return a === b;
  return a.ttl === b.ttl && [...a.values].sort().join("\n") === [...b.values].sort().join("\n");
}

/**
 * A zone's record sets keyed by "name TYPE", values sorted: how an on-prem zone's records sit in the
 * stack's state, so that the engine's diff of one hand-added MX is one changed key, not a list
 * shifted by one place.
 */
export type RecordSetMap = Record<string, { ttl: number; values: string[] }>;

export const recordSetMap = (records: DnsRecord[]): RecordSetMap =>
  Object.fromEntries(
    [...records]
      .sort((a, b) => (recordSetKey(a) < recordSetKey(b) ? -1 : recordSetKey(a) > recordSetKey(b) ? 1 : 0))
      .map((r) => [recordSetKey(r), { ttl: r.ttl, values: [...r.values].sort() }]),
  );

/** The record sets of a zone's state: a map, or the list that states written before the map hold. Pure. */
export function recordSetList(zone: string, records: RecordSetMap | DnsRecord[]): DnsRecord[] {
  if (Array.isArray(records)) return records;
  return Object.entries(records).map(([key, set]) => {
    const at = key.lastIndexOf(" ");
    return { zone, name: key.slice(0, at), type: key.slice(at + 1) as RecordType, ttl: set.ttl, values: set.values };
  });
}

/** A record set's TTL and values as one comparable string ("300 a, b"), values sorted. */
export const recordSetValue = (r: Pick<DnsRecord, "ttl" | "values">) => `${r.ttl} ${[...r.values].sort().join(", ")}`;

/** Content digest of a list of record sets: equal records in any order, equal digest. */
export const recordsDigest = (records: DnsRecord[]) =>
  createHash("sha256")
    .update(
      records
        .map((r) => `${r.name} ${r.type} ${r.ttl} ${[...r.values].sort().join(" ")}`)
        .sort()
        .join("\n"),
    )
    .digest("hex");

/** The longest character-string a TXT record holds (RFC 1035 section 3.3): 255 octets. */
export const TXT_STRING_OCTETS = 255;

/** Splits text into character-strings of at most 255 octets, never inside a UTF-8 character. Pure. */
export function txtStrings(text: string): string[] {
  const out: string[] = [];
  let current = "";
  let octets = 0;
  for (const ch of text) {
    const size = Buffer.byteLength(ch, "utf8");
    if (octets + size > TXT_STRING_OCTETS) {
      out.push(current);
      current = "";
      octets = 0;
    }
    current += ch;
    octets += size;
  }
  out.push(current);
  return out;
}

/**
 * TXT text in presentation form: quoted character-strings of at most 255 octets, separated by a
 * space, with `"` and `\` escaped (RFC 1035 section 5.1). Route 53's record values, Cloudflare's
 * TXT content and nsupdate's rdata all take exactly this form. Pure.
 */
export const txtPresentation = (text: string) =>
  txtStrings(text)
    .map((s) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`)
    .join(" ");

/**
 * The text of TXT rdata in presentation form (as dig prints it): strings unquoted and unescaped
 * (`\X` is X, `\DDD` is the octet DDD, as dig writes bytes outside printable ASCII), joined. Pure.
 */
export function parseTxtPresentation(rdata: string): string {
  const octets: number[] = [];
  for (const m of rdata.matchAll(/"((?:[^"\\]|\\.)*)"/g)) {
    const s = m[1];
    for (let i = 0; i < s.length; i++) {
      if (s[i] === "\\" && /^\d{3}$/.test(s.slice(i + 1, i + 4))) {
        octets.push(Number(s.slice(i + 1, i + 4)));
        i += 3;
      } else {
        if (s[i] === "\\") i++;
        const ch = String.fromCodePoint(s.codePointAt(i) ?? 0);
        octets.push(...Buffer.from(ch, "utf8"));
        i += ch.length - 1;
      }
    }
  }
  return Buffer.from(octets).toString("utf8");
}

/**
 * TLSA rdata in the plan's form, "usage selector matching-type hex" with the hex in lower case and
 * whole: dig prints it upper-case and split into groups. Pure.
 */
export function tlsaPresentation(rdata: string): string {
  const [usage, selector, type, ...hex] = rdata.trim().split(/\s+/);
  return `${usage} ${selector} ${type} ${hex.join("").toLowerCase()}`;
}

/** A TLSA value as the plan writes it: three small numbers and hex. */
export const TLSA_VALUE = /^[0-3] [01] [0-2] (?:[0-9a-f]{2})+$/;

/** Whether TXT text is an SPF record (RFC 7208 section 4.5: "v=spf1" then a space or the end). */
export const isSpf = (text: string) => /^v=spf1( |$)/i.test(text);

const spfEnding = (t: string) => /^[-+~?]?all$/i.test(t) || /^redirect=/i.test(t);

/**
 * The organisation's SPF record with the plan's senders added: its own terms kept in order, the
 * plan's terms it lacks (the gateways' ip4, and whatever else the plan's record holds) added before
 * its "all" (or redirect=), which ends the record as it did; without either, the plan's ending (or
 * "-all") does. Pure.
 */
export function mergeSpf(planned: string, own: string): string {
  const terms = own.split(/\s+/).slice(1).filter(Boolean);
  const ending = terms.filter(spfEnding);
  const kept = terms.filter((t) => !ending.includes(t));
  const have = new Set(kept.map((t) => t.toLowerCase()));
  const plannedTerms = planned.split(/\s+/).slice(1).filter(Boolean);
  const added = plannedTerms.filter((t) => !spfEnding(t) && !have.has(t.toLowerCase()));
  const plannedEnding = plannedTerms.filter(spfEnding);
  return ["v=spf1", ...kept, ...added, ...(ending.length ? ending : plannedEnding.length ? plannedEnding : ["-all"])].join(" ");
}

/** The terms of an SPF record that cost a receiver a DNS lookup (RFC 7208 4.6.4: at most 10 in all). Pure. */
export const spfLookups = (spf: string) =>
  spf
    .split(/\s+/)
    .slice(1)
    .filter((t) => /^[+~?-]?(include:|a($|[:/])|mx($|[:/])|ptr($|:)|exists:)/i.test(t) || /^redirect=/i.test(t));

/** At most this many lookups per SPF evaluation, or receivers answer permerror (RFC 7208 4.6.4). */
export const SPF_LOOKUP_LIMIT = 10;

/**
 * How a live TXT set at a name cutover shares with others compares with the plan's: every planned
 * value but the SPF must be there, and exactly one SPF record holding every term of the planned one
 * (the organisation's own terms beside them are its business); `others` are the values beside the
 * plan's, kept for whoever put them there. Pure.
 */
export function sharedTxt(planned: string[], live: string[]): { holds: boolean; others: string[] } {
  const plannedSpf = planned.find(isSpf);
  const liveSpf = live.filter(isSpf);
  const terms = (spf: string) =>
    new Set(
      spf
        .split(/\s+/)
        .slice(1)
        .map((t) => t.toLowerCase()),
    );
  const spfHolds =
    !plannedSpf || (liveSpf.length === 1 && [...terms(plannedSpf)].filter((t) => !spfEnding(t)).every((t) => terms(liveSpf[0]).has(t)));
  const holds = spfHolds && planned.filter((v) => !isSpf(v)).every((v) => live.includes(v));
  return { holds, others: live.filter((v) => !planned.includes(v) && !(plannedSpf && isSpf(v))) };
}

/** A record set as a DNS provider's listing gives it: any type, the name as the provider spells it. */
export interface ListedRecordSet {
  name: string;
  type: string;
  ttl?: number;
  values: string[];
}

/** A listed name as the plan writes names: lower case, no trailing dot, Route 53's `\052` as `*`. Pure. */
export const listedName = (name: string) => name.replace(/\\052/g, "*").replace(/\.$/, "").toLowerCase();

/**
 * The record sets a zone's listing holds that the plan does not manage, as "name TYPE ttl values",
 * sorted: records the organisation keeps in its zone, left alone and listed by the drift check.
 * The zone's SOA and apex NS are the provider's own. Listings that give one entry per value (Cloudflare)
 * are grouped into record sets. Pure.
 */
export function unmanagedRecordSets(
  zone: { name: string; records: Pick<DnsRecord, "name" | "type">[] },
  listed: ListedRecordSet[],
): string[] {
  const managed = new Set(zone.records.map(recordSetKey));
  const sets = new Map<string, { ttl?: number; values: string[] }>();
  for (const r of listed) {
    const name = listedName(r.name);
    const type = r.type.toUpperCase();
    if (name === zone.name && (type === "SOA" || type === "NS")) continue;
    const key = `${name} ${type}`;
    if (managed.has(key)) continue;
    const set = sets.get(key) ?? { values: [] };
    set.ttl ??= r.ttl;
    set.values.push(...r.values);
    sets.set(key, set);
  }
  return [...sets].map(([key, s]) => `${key} ${s.ttl ?? "?"} ${[...s.values].sort().join(", ")}`).sort();
}
