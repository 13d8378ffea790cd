/**
 * An on-prem zone on a BIND or Knot server reached by SSH: the plan's records set with RFC 2136
 * updates signed with TSIG (one update message, so one atomic change), read back by AXFR. Both run
 * on the DNS server itself, with the key given on standard input or in a 0600 file, never in argv.
 */
import {
  type DnsRecord,
  parseTxtPresentation,
  type RecordType,
  recordSetKey,
  sameSet,
  TLSA_VALUE,
  tlsaPresentation,
  txtPresentation,
} from "../../model/records";
import { refuseControl } from "../../model/text";
import type { HostSession } from "../ssh";

export interface Tsig {
  name: string;
  algorithm: string;
  secret: string;
}

export interface ZoneTarget {
  zone: string;
  /** Address the DNS server answers on, as seen from its own host. */
  server: string;
  tsig: Tsig;
}

/**
 * A name as the update writes it, fully qualified. Defence in depth: a name that is not plain DNS
 * labels (a newline would start another update command, perhaps for another zone) is refused.
 */
function fq(name: string): string {
  refuseControl("the DNS name", name);
  if (!/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/i.test(name))
    throw new Error(`refusing to write the DNS name ${JSON.stringify(name)} into a zone update`);
  return `${name}.`;
}

function rdata(r: DnsRecord, value: string): string {
  refuseControl(`the ${r.type} value of ${r.name}`, value);
  switch (r.type) {
    case "MX": {
      const m = /^(\d{1,5}) (\S+)$/.exec(value);
      if (!m) throw new Error(`refusing to write the MX value ${JSON.stringify(value)} of ${r.name} into a zone update`);
      return `${m[1]} ${fq(m[2])}`;
    }
    case "CNAME":
      return fq(value);
    case "TXT":
      return txtPresentation(value);
    case "TLSA":
      if (!TLSA_VALUE.test(value))
        throw new Error(`refusing to write the TLSA value ${JSON.stringify(value)} of ${r.name} into a zone update`);
      return value;
    case "A":
      if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(value))
        throw new Error(`refusing to write the A value ${JSON.stringify(value)} of ${r.name} into a zone update`);
      return value;
  }
}

/** The RFC 2136 update that turns `live` into `desired` for the managed names. Pure. */
export function zoneUpdate(
  target: ZoneTarget,
  desired: DnsRecord[],
  live: DnsRecord[],
  previouslyManaged: Pick<DnsRecord, "name" | "type">[] = [],
): string | undefined {
  const want = new Map(desired.map((r) => [recordSetKey(r), r]));
  const have = new Map(live.map((r) => [recordSetKey(r), r]));
  const lines: string[] = [];
  for (const r of [...desired, ...previouslyManaged])
    if (!TYPES.has(r.type) || ("ttl" in r && !Number.isInteger(r.ttl)))
      throw new Error(
        `refusing to write the record ${JSON.stringify(recordSetKey(r))} into a zone update: not an A, MX, TXT, CNAME or TLSA with a whole TTL`,
      );
  for (const r of desired) {
    if (sameSet(r, have.get(recordSetKey(r)))) continue;
    lines.push(`update delete ${fq(r.name)} ${r.type}`);
    for (const v of r.values) lines.push(`update add ${fq(r.name)} ${r.ttl} ${r.type} ${rdata(r, v)}`);
  }
  for (const r of previouslyManaged)
    if (!want.has(recordSetKey(r)) && have.has(recordSetKey(r))) lines.push(`update delete ${fq(r.name)} ${r.type}`);
  if (!lines.length) return undefined;
  const { algorithm, name, secret } = target.tsig;
  if (!/^[A-Za-z0-9._-]+$/.test(`${algorithm}${name}`) || !/^[A-Za-z0-9+/=]+$/.test(secret) || !/^[0-9.]+$/.test(target.server))
    throw new Error(`refusing to write a zone update for ${fq(target.zone)}: the server address or the TSIG key is not plain text`);
  return [
    `server ${target.server}`,
    `zone ${fq(target.zone)}`,
    `key ${target.tsig.algorithm}:${target.tsig.name} ${target.tsig.secret}`,
    ...lines,
    "send",
    "",
  ].join("\n");
}

/** Applies the plan's records; records of the zone the plan does not manage are left alone. */
export async function applyZone(
  s: HostSession,
  target: ZoneTarget,
  desired: DnsRecord[],
  previouslyManaged: Pick<DnsRecord, "name" | "type">[] = [],
  live?: DnsRecord[],
): Promise<boolean> {
  live ??= await readZone(s, target);
  const update = zoneUpdate(target, desired, live, previouslyManaged);
  if (!update) return false;
  await s.exec(["nsupdate"], { stdin: update, timeoutMs: 15_000 });
  return true;
}

const TYPES = new Set<RecordType>(["A", "MX", "TXT", "CNAME", "TLSA"]);

/** Every A, MX, TXT, CNAME and TLSA record of the zone as the server serves it, in the plan's terms. */
export async function readZone(s: HostSession, target: ZoneTarget): Promise<DnsRecord[]> {
  return (await readZones(s, [target]))[0];
}

/**
 * Several zones of one DNS server read in one round trip and one dig process: one zone transfer
 * each, with one key file (the targets share the server's TSIG key), removed in the same round
 * trip whatever happened. Each record goes to the zone its name is under; a zone whose transfer
 * brought no SOA failed.
 */
export async function readZones(s: HostSession, targets: ZoneTarget[]): Promise<DnsRecord[][]> {
  if (!targets.length) return [];
  const { tsig, server } = targets[0];
  if (!/^[A-Za-z0-9._-]+$/.test(`${tsig.algorithm}${tsig.name}`) || !/^[A-Za-z0-9+/=]+$/.test(tsig.secret) || !/^[0-9.]+$/.test(server))
    throw new Error(`refusing to read zones from ${server}: the server address or the TSIG key is not plain text`);
  // The key arrives on standard input into a 0600 file that the shell's trap removes however dig
  // ends, a timeout included (a separate rm after it never ran when the round trip was cut short).
  const transfers = [
    "sh",
    "-c",
    'k=$(mktemp /tmp/cutover-tsig-XXXXXXXX) || exit 1; trap \'rm -f "$k"\' EXIT HUP INT TERM; cat > "$k"; dig -k "$k" "$@"',
    "sh",
    `@${server}`,
    "+noall",
    "+answer",
    "+nocmd",
    "+time=3",
    "+tries=2",
    ...targets.flatMap((t) => [t.zone, "AXFR"]),
  ];
  const { stdout } = await s.exec(transfers, {
    stdin: `key "${tsig.name}" { algorithm ${tsig.algorithm}; secret "${tsig.secret}"; };\n`,
    allowFailure: true,
    timeoutMs: 15_000 + 100 * targets.length,
  });
  const byZone = new Map<string, string[]>(targets.map((t) => [t.zone, []]));
  const zones = [...byZone.keys()].sort((x, y) => y.length - x.length);
  for (const line of stdout.split("\n")) {
    const owner = line.split(/\s/)[0]?.toLowerCase().replace(/\.$/, "");
    const zone = owner && zones.find((z) => owner === z || owner.endsWith(`.${z}`));
    if (zone) byZone.get(zone)!.push(line);
  }
  return targets.map((t) => {
    const text = byZone.get(t.zone)!.join("\n");
    if (!/\sSOA\s/.test(text))
      throw new Error(
        `on ${s.target.name}: zone transfer of ${t.zone} from ${t.server} failed: ${
          stdout
            .trim()
            .split("\n")
            .filter((l) => l.startsWith(";"))
            .slice(-2)
            .join(" | ") || "no answer"
        }`,
      );
    return parseZone(t.zone, text);
  });
}

/** Parses dig's answer lines into record sets. Pure. */
export function parseZone(zone: string, text: string): DnsRecord[] {
  const sets = new Map<string, DnsRecord>();
  for (const line of text.split("\n")) {
    const m = line.match(/^(\S+)\s+(\d+)\s+IN\s+(\S+)\s+(.*)$/);
    if (!m) continue;
    const type = m[3] as RecordType;
    if (!TYPES.has(type)) continue;
    const name = m[1].toLowerCase().replace(/\.$/, "");
    let value = m[4].trim();
    if (type === "MX") value = value.replace(/\.$/, "").toLowerCase();
    if (type === "CNAME") value = value.replace(/\.$/, "").toLowerCase();
    if (type === "TXT") value = parseTxtPresentation(value);
    if (type === "TLSA") value = tlsaPresentation(value);
    const k = recordSetKey({ name, type });
    const set = sets.get(k) ?? { zone, name, type, ttl: Number(m[2]), values: [] };
    set.values.push(value);
    sets.set(k, set);
  }
  return [...sets.values()].map((r) => ({ ...r, values: r.values.sort() }));
}
