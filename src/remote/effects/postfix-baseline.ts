/**
 * A gateway's postfix as a whole, beyond the parameters cutover owns: every main.cf setting
 * (`postconf -n`), every master.cf service (`postconf -M`) and the content digest of every map they
 * name. Each update that configures a host records it; the drift check compares the live host with
 * it, so a hand change to anything (a relayhost, a transport entry, a header check) is found.
 */

import { execSequence, type HostSession } from "../ssh";
import { DRAIN_SERVICE } from "./identity";
import { ROUTING_DIR } from "./routing";

/**
 * One flat map, so that a preview's diff names one entry per change: "main.cf <name>" -> its value
 * (`postconf -n`, without what the gateway identity sets: its own resource reads those);
 * "master.cf <service>/<type>" -> the service's line, white space collapsed (`postconf -M`, without
 * the go-live's drain service); "map <type>:<path>" -> sha256 of what postfix looks up in the map
 * (maps under cutover's own directory are the routing's to compare, entry by entry).
 */
export type PostfixBaseline = Record<string, string>;

/** Parameters the gateway identity sets and reads itself (names, greeting, the go-live's drain). */
const IDENTITY_PARAMETERS = new Set(["myhostname", "smtpd_banner", "smtpd_data_restrictions"]);

/**
 * A change to these, or to a map they name, changes where mail goes or who may relay: severity
 * "mail flow". Everything else is "config".
 */
export const MAIL_FLOW_PARAMETERS = new Set([
  "relayhost",
  "mynetworks",
  "mynetworks_style",
  "smtpd_relay_restrictions",
  "smtpd_recipient_restrictions",
  "transport_maps",
  "default_transport",
  "relay_transport",
  "relay_domains",
  "sender_dependent_relayhost_maps",
]);

/** Parameters that name a cache postfix writes itself, not a map anyone edits. */
const CACHE_PARAMETER = /(_cache_database|_cache_map|^address_verify_map)$/;

/** Map types whose file is the content postfix reads; the others are compiled and dumped with postmap -s. */
const MAP_REFERENCE = /\b(hash|btree|lmdb|cdb|dbm|sdbm|regexp|pcre|cidr|texthash):(\/[^\s,]+)/g;

/** The maps a set of parameter values and service lines name, cutover's own excepted. Pure. */
export function mapReferences(texts: string[]): string[] {
  const found = new Set<string>();
  for (const t of texts) for (const m of t.matchAll(MAP_REFERENCE)) if (!m[2].startsWith(`${ROUTING_DIR}/`)) found.add(`${m[1]}:${m[2]}`);
  return [...found].sort();
}

/** `postconf -n` output as name -> value. Pure. */
export function parsePostconf(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const at = line.indexOf(" = ");
    if (at > 0) out[line.slice(0, at).trim()] = line.slice(at + 3).trim();
    else if (line.trim().endsWith(" =")) out[line.trim().slice(0, -2).trim()] = "";
  }
  return out;
}

/** `postconf -M` output as "service/type" -> the line with white space collapsed. Pure. */
export function parseServices(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields.length >= 8) out[`${fields[0]}/${fields[1]}`] = fields.join(" ");
  }
  return out;
}

/** Prints "digest type:path" per map: compiled maps dumped and sorted, the others as they are; "missing" when absent. */
const MAP_DIGESTS = `for m; do t=\${m%%:*}; p=\${m#*:}
  if [ ! -e "$p" ] && [ ! -e "$p.db" ] && [ ! -e "$p.lmdb" ] && [ ! -e "$p.cdb" ]; then echo "missing $m"; continue; fi
  case $t in regexp|pcre|cidr|texthash) d=$(sha256sum < "$p");; *) d=$(postmap -s "$m" | LC_ALL=C sort | sha256sum);; esac
  echo "\${d%% *} $m"; done`;

/** The host's postfix as a baseline: two round trips (the settings, then the digests of the maps they name). */
export async function readBaseline(s: HostSession): Promise<PostfixBaseline> {
  const marker = "--- cutover baseline section ---";
  const { stdout } = await execSequence(s, [
    ["postconf", "-n"],
    ["echo", marker],
    ["postconf", "-M"],
  ]);
  const [main, master] = stdout.split(`${marker}\n`);
  const parameters = Object.entries(parsePostconf(main ?? "")).filter(([k]) => !IDENTITY_PARAMETERS.has(k));
  const services = Object.entries(parseServices(master ?? "")).filter(([k]) => k !== `${DRAIN_SERVICE}/unix`);
  const baseline: PostfixBaseline = Object.fromEntries([
    ...parameters.map(([k, v]) => [`main.cf ${k}`, v]),
    ...services.map(([k, v]) => [`master.cf ${k}`, v]),
  ]);
  // Caches (TLS sessions, address verification, postscreen) change with every session: not settings.
  const settings = parameters.filter(([k]) => !CACHE_PARAMETER.test(k));
  const refs = mapReferences([...settings, ...services].map(([, v]) => v));
  if (refs.length) {
    const r = await s.exec(["sh", "-c", MAP_DIGESTS, "sh", ...refs]);
    for (const line of r.stdout.split("\n")) {
      const at = line.indexOf(" ");
      if (at > 0) baseline[`map ${line.slice(at + 1)}`] = line.slice(0, at);
    }
  }
  return baseline;
}

export type Severity = "mail flow" | "config";

export interface BaselineDifference {
  /** "main.cf relayhost", "master.cf smtp/inet", "map hash:/etc/postfix/transport". */
  what: string;
  recorded: string;
  live: string;
  severity: Severity;
}

/** Every setting, service and map that differs between the recorded baseline and the live one. Pure. */
export function baselineDifferences(recorded: PostfixBaseline, live: PostfixBaseline): BaselineDifference[] {
  const flowParameter = (what: string) => what.startsWith("main.cf ") && MAIL_FLOW_PARAMETERS.has(what.slice("main.cf ".length));
  const flowMaps = new Set(
    mapReferences([...Object.entries(recorded), ...Object.entries(live)].flatMap(([k, v]) => (flowParameter(k) ? [v] : []))).map(
      (m) => `map ${m}`,
    ),
  );
  return [...new Set([...Object.keys(recorded), ...Object.keys(live)])]
    .sort()
    .filter((k) => recorded[k] !== live[k])
    .map((k) => ({
      what: k,
      recorded: recorded[k] ?? "(not set)",
      live: live[k] ?? "(not set)",
      severity: flowParameter(k) || flowMaps.has(k) ? "mail flow" : "config",
    }));
}
