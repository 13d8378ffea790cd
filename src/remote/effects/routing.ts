/**
 * Gateway routing on a postfix host: split delivery from the plan's routing table. Local users are
 * virtual mailboxes; users (or, in phase 2, whole domains) living on the other system get a
 * transport entry to it; the organisation's hosts may relay. The host's own settings stay: cutover's
 * maps, trusted clients and relay rule join the host's values (recorded before the first change and
 * given back exactly on delete), and mydestination only loses the domains cutover routes. Outbound
 * mail leaves through the inventory's relay (relayhost), or directly when it names none. Each
 * version of the maps lives in a directory of its own, never the live one; a symlink swap makes it
 * current, so a cut connection leaves the previous routing whole, and the previous version stays
 * for rollback. The host records a version as applied only once postfix reloaded it, so a failed
 * reload is retried.
 */
import { randomBytes } from "node:crypto";
import { readCertificate, readChain } from "../../model/certificate";
import { CutoverError } from "../../model/errors";
import { DOMAIN_NAME, LOCAL_PART } from "../../model/names";
import type { GatewayTls } from "../../model/plan";
import { type HostRouting, hostRouting, parseTlsLine, routingDigest, tlsLine } from "../../model/routing";
import { refuseControl } from "../../model/text";
import { execSequence, type HostSession, sectionMarker, sections } from "../ssh";

export const ROUTING_DIR = "/etc/postfix/cutover";
const CURRENT = `${ROUTING_DIR}/current`;
/** Holds the digest of the routing postfix last reloaded successfully. */
const RELOADED = `${ROUTING_DIR}/reloaded`;
/** Records `digest` as reloaded: run only after POSTFIX_RELOAD succeeded. */
const markReloaded = (digest: string) => ["sh", "-c", 'echo "$1" > "$2"', "sh", digest, RELOADED];

/**
 * cutover's part of each main.cf parameter it touches, all pointing at the current version. A host
 * keeps its own value of each: cutover's maps come first in the list (its entries for the
 * organisation's addresses win), the host's follow; its trusted clients join the host's mynetworks;
 * its relay rule joins the host's restrictions (see mergedParameters).
 */
export const OWNED_PARAMETERS: Record<string, string> = {
  virtual_mailbox_domains: `hash:${CURRENT}/domains`,
  virtual_mailbox_maps: `hash:${CURRENT}/mailboxes, hash:${CURRENT}/relayed`,
  transport_maps: `hash:${CURRENT}/transport`,
  relay_domains: `hash:${CURRENT}/relay_domains`,
  relay_recipient_maps: `hash:${CURRENT}/relay_recipients`,
  mynetworks: `127.0.0.0/8, cidr:${CURRENT}/trusted`,
  smtpd_relay_restrictions: "permit_mynetworks, reject_unauth_destination",
};

/** What the host said before cutover, per parameter it touches (null: not set in main.cf). */
export type OriginalParameters = Record<string, string | null>;
/**
 * The STARTTLS settings of a host serving the gateway's TLS identity: its chain for the gateway
 * name, and STARTTLS offered (the host's own "encrypt" is kept; anything else becomes "may", as a
 * public MX must not require TLS, RFC 3207).
 */
const TLS_PARAMETERS = ["smtpd_tls_chain_files", "smtpd_tls_security_level"] as const;
/** Where a chain from the stack's secret lives on the host: root's alone, as postfix wants keys. */
export const SECRET_CHAIN = `${ROUTING_DIR}/tls/gateway.pem`;

/**
 * Also recorded and given back: mydestination loses the domains cutover routes (see
 * withoutRoutedDomains); relayhost is the inventory's outbound relay, or the host's own; the TLS
 * settings are cutover's while the host serves the gateway's identity, the host's own otherwise.
 */
const RECORDED = [...Object.keys(OWNED_PARAMETERS), "mydestination", "relayhost", ...TLS_PARAMETERS];

/** The TLS settings a host should have, given its own (`original`) and the TLS identity it serves. Pure. */
export function tlsParameters(
  original: OriginalParameters,
  tls: GatewayTls | undefined,
): Record<(typeof TLS_PARAMETERS)[number], string | null> {
  if (!tls)
    return {
      smtpd_tls_chain_files: original.smtpd_tls_chain_files ?? null,
      smtpd_tls_security_level: original.smtpd_tls_security_level ?? null,
    };
  const own = original.smtpd_tls_security_level?.trim();
  return { smtpd_tls_chain_files: tls.chain ?? SECRET_CHAIN, smtpd_tls_security_level: own === "encrypt" ? own : "may" };
}
const ORIGINAL = `${ROUTING_DIR}/original.json`;

/** A postfix list value's elements (separated by commas and/or white space). Pure. */
const listOf = (value: string) => value.split(/[\s,]+/).filter(Boolean);

/**
 * The value of each parameter cutover touches, given the host's own (`original`): cutover's part
 * alone where the host set none. Pure.
 */
export function mergedParameters(original: OriginalParameters): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, ours] of Object.entries(OWNED_PARAMETERS)) {
    const own = listOf(original[name] ?? "");
    if (!own.length) {
      out[name] = ours;
    } else if (name === "mynetworks") {
      out[name] = [...own, `cidr:${CURRENT}/trusted`].join(", ");
    } else if (name === "smtpd_relay_restrictions") {
      out[name] = relayRestrictions(own).join(", ");
    } else {
      const mine = listOf(ours);
      out[name] = [...mine, ...own.filter((x) => !mine.includes(x))].join(", ");
    }
  }
  return out;
}

/**
 * The host's relay restrictions with cutover's rule in them, in the host's own order: cutover's
 * trusted clients (the other system, the office networks) may relay, and relaying anywhere else is
 * refused with 5xx. A host that relays for its mynetworks already trusts them there (they join its
 * mynetworks); a host that left permit_mynetworks out on purpose gets cutover's clients alone, by
 * their own table (check_client_access), never its whole mynetworks. Debian's stock
 * `defer_unauth_destination` (4xx: the client retries) stays after `reject_unauth_destination`, so
 * nothing the host permitted before is refused, and an open-relay test gets an answer it can
 * judge. Pure.
 */
function relayRestrictions(own: string[]): string[] {
  const trusted = own.includes("permit_mynetworks") || own.includes(`cidr:${CURRENT}/trusted`);
  const list = trusted ? [...own] : ["check_client_access", `cidr:${CURRENT}/trusted`, ...own];
  if (list.includes("reject_unauth_destination")) return list;
  const defer = list.indexOf("defer_unauth_destination");
  if (defer < 0) return [...list, "reject_unauth_destination"];
  return [...list.slice(0, defer), "reject_unauth_destination", ...list.slice(defer)];
}

/**
 * mydestination without the domains cutover routes: postfix delivers a domain listed there to
 * local accounts, not to cutover's mailboxes or transports ("do not list domain in BOTH
 * mydestination and virtual_mailbox_domains"), and Debian's stock value holds $myhostname, which
 * the new system's phase-2 address space is. `raw` and `expanded`: the host's own value as main.cf
 * has it and as postconf -x expands it. Undefined when nothing is in the way. Pure.
 */
export function withoutRoutedDomains(raw: string, expanded: string, routed: string[]): string | undefined {
  const [tokens, values] = [listOf(raw), listOf(expanded.toLowerCase())];
  const inTheWay = (v: string) => routed.includes(v);
  if (!values.some(inTheWay)) return undefined;
  // Each token expands to one value, as in every stock config: keep the host's own spelling.
  if (tokens.length === values.length) return tokens.filter((_, i) => !inTheWay(values[i])).join(", ");
  return values.filter((v) => !inTheWay(v)).join(", ");
}

const HASH_MAPS = ["domains", "mailboxes", "relayed", "transport", "relay_domains", "relay_recipients"] as const;

/**
 * A map key as postfix reads it: one token, no control character (a second line would be a second
 * entry), no leading "#" (a comment). Defence in depth: the inventory's schema refuses these first.
 */
export function mapKey(what: string, key: string): string {
  refuseControl(what, key);
  if (!key || /\s/.test(key) || key.startsWith("#"))
    throw new Error(`refusing to write ${what} ${JSON.stringify(key)} as a postfix map key`);
  return key;
}

/** The maildir of a mailbox, under the virtual mailbox base: refused unless it stays there. */
export function maildir(address: string): string {
  const at = address.lastIndexOf("@");
  const [local, domain] = [address.slice(0, at), address.slice(at + 1)];
  if (at < 0 || !LOCAL_PART.test(local) || !DOMAIN_NAME.test(domain))
    throw new Error(`refusing to make a mailbox path of ${JSON.stringify(address)}: it would not stay under the mailbox base`);
  return `${domain}/${local}/`;
}

/** A main.cf setting for postconf -e: a value with a control character would be a second setting. */
export function mainCfSetting(name: string, value: string): string {
  return `${refuseControl("the main.cf parameter", name)}=${refuseControl(`the value of ${name}`, value)}`;
}

/**
 * A shell fragment for after cutover's own write of main.cf: its modification time goes two seconds
 * back. Every Postfix program that reads main.cf reads it again, 300 ms later, while the file's
 * mtime lies within a second of when its read began (util/load_file.c: a file an editor is still
 * writing may have been read half-written). Postfix writes main.cf whole (postconf -e and -X write
 * a temporary file and rename it), so a reader never sees it half-written; without this, every
 * change of main.cf cost about 2 s in each program that read it next: the `postfix reload`, the
 * master, the next postconf. `$main_cf` is set before the write, as reading config_directory after
 * it would pause too. A touch that fails leaves only that pause. Pure.
 */
const COOL_MAIN_CF = 'touch -c -m -d "@$(( $(date +%s) - 2 ))" "$main_cf" 2>/dev/null || :';
const MAIN_CF_PATH = 'main_cf="$(postconf -h config_directory)/main.cf"';

/** postconf with these arguments (a write of main.cf: -e, -X, -#), then main.cf cooled (COOL_MAIN_CF). Pure. */
export const mainCfEdit = (args: string[]): string[] => [
  "sh",
  "-c",
  `${MAIN_CF_PATH}; postconf "$@" && { ${COOL_MAIN_CF}; }`,
  "sh",
  ...args,
];

/**
 * Sets main.cf parameters ("name=value"), writing main.cf once, and only when a parameter's explicit
 * value differs: postconf -e rewrites main.cf even for an equal value, and a changed main.cf is a
 * main.cf Postfix's programs read twice (see COOL_MAIN_CF). On the lab a reload after an unchanged
 * postconf -e took 1.8 s before main.cf was cooled, against 0.03 s; one postconf -e per parameter,
 * each read after the last write, took 16 s. Pure.
 */
export const setChangedCommand = (settings: string[]): string[] => [
  "sh",
  "-c",
  `n=$#; for kv do k=\${kv%%=*}; [ "$(postconf -n "$k")" = "$k = \${kv#*=}" ] || set -- "$@" "$kv"; done; shift "$n"; [ "$#" -eq 0 ] || { ${MAIN_CF_PATH}; postconf -e "$@" && { ${COOL_MAIN_CF}; }; }`,
  "sh",
  ...settings,
];

/** Removes main.cf parameters, touching main.cf once and only when one of them is set (see setChangedCommand). Pure. */
export const unsetPresentCommand = (names: string[]): string[] => [
  "sh",
  "-c",
  `n=$#; for k do [ -z "$(postconf -n "$k")" ] || set -- "$@" "$k"; done; shift "$n"; [ "$#" -eq 0 ] || { ${MAIN_CF_PATH}; postconf -X "$@" && { ${COOL_MAIN_CF}; }; }`,
  "sh",
  ...names,
];

/** The map files of a routing table, as text (and its TLS identity, in the version as "tls"). Pure. */
export function renderRouting(t: HostRouting): Record<(typeof HASH_MAPS)[number] | "trusted" | "tls", string> {
  const r = hostRouting(t);
  const key = (k: string) => mapKey("the routing entry", k);
  const userRelays = r.relays.filter((x) => x.recipient.includes("@"));
  const domainRelays = r.relays.filter((x) => !x.recipient.includes("@"));
  const lines = (xs: string[]) => (xs.length ? `${xs.join("\n")}\n` : "");
  return {
    domains: lines(r.domains.map((d) => `${key(d)} OK`)),
    mailboxes: lines(r.mailboxes.map((a) => `${key(a)} ${maildir(a)}`)),
    // Known here (so accepted), delivered there: the alternative delivery route.
    relayed: lines(userRelays.map((x) => `${key(x.recipient)} relayed`)),
    transport: lines(r.relays.map((x) => `${key(x.recipient)} smtp:[${key(x.nextHop)}]:25`)),
    relay_domains: lines(domainRelays.map((x) => `${key(x.recipient)} OK`)),
    // Who exists in the domains relayed whole: anyone else is refused at RCPT, not bounced later.
    relay_recipients: lines(r.relayRecipients.map((a) => `${key(a)} OK`)),
    // An address is one client (/32); a network (the gateway's relay clients) stays as written.
    trusted: lines(r.trusted.map((a) => `${key(a)}${a.includes("/") ? "" : "/32"} OK`)),
    tls: r.tls ? `${refuseControl("the TLS identity", tlsLine(r.tls))}\n` : "",
  };
}

export interface RoutingApplied {
  digest: string;
  /** False when the host already had exactly this routing: nothing was written or reloaded. */
  changed: boolean;
}

export interface LiveRouting {
  /** Whether main.cf points at cutover's maps, merged with the host's own values, and mydestination is out of their way. */
  configured: boolean;
  digest: string | undefined;
  routing: HostRouting | undefined;
  /** Touched parameters whose value differs from what cutover sets (mydestination when it lists a routed domain). */
  parameters: Record<string, string>;
  /** Name of the current version directory. */
  version?: string;
  /** Digest of the routing postfix last reloaded successfully. */
  reloaded?: string;
  /** The host's own values from before cutover's first apply, as recorded then. */
  original?: OriginalParameters;
  /** The sha256 of the certificate in the chain cutover installed from the stack secret, if any. */
  secretChainCertificate?: string;
}

/**
 * The master's children that decide where mail goes: the queue manager, the address resolver and
 * rewriter, and what feeds them. Not the delivery agents: one of the old configuration finishes the
 * delivery it has (a slow next hop can take minutes) and takes no new one.
 */
const ROUTING_PROCESSES = "qmgr|pickup|cleanup|trivial-rewrite";

/**
 * postfix reload, without waiting for the postsuper it leaves running in the background, and then
 * until the master's children of the old configuration that decide routing (ROUTING_PROCESSES) have
 * exited (at most 5 s; 0.07 s on the lab). `postfix reload` returns once the master got its
 * signal; a message queued in the moment after could still leave by the old routing (a fresh-clone
 * CI run caught one that went direct after relayhost was set).
 */
export const POSTFIX_RELOAD = [
  "sh",
  "-c",
  [
    `m=$(sed -n '1s/ //gp' "$(postconf -h queue_directory)/pid/master.pid" 2>/dev/null); old=$(pgrep -P "$m" -d ' ' -x '${ROUTING_PROCESSES}' 2>/dev/null)`,
    "postfix reload </dev/null >/dev/null 2>&1 || { postfix status >&2; echo 'postfix reload failed' >&2; exit 1; }",
    'end=$(( $(date +%s) + 5 )); for p in $old; do while kill -0 "$p" 2>/dev/null && [ "$(date +%s)" -lt "$end" ]; do sleep 0.05; done; done; :',
  ].join("\n"),
];

const parseParameters = (text: string) =>
  Object.fromEntries(
    text
      .trim()
      .split("\n")
      .filter((l) => l.includes("="))
      .map((l) => [l.slice(0, l.indexOf("=")).trim(), l.slice(l.indexOf("=") + 1).trim()]),
  );

/** postmap -s of a map that may not exist: a failing postmap sleeps a second before it exits. */
const dumpMap = (path: string) => ["sh", "-c", 'if [ -e "$1.db" ]; then postmap -s "hash:$1"; fi', "sh", path];

const entries = (text: string | undefined) =>
  (text ?? "")
    .split("\n")
    .filter((l) => l.trim() && !l.startsWith("#"))
    .map((l) => l.trim().split(/\s+/));

/** The domains a routing table routes: its virtual mailbox domains and the domains it relays whole. Pure. */
const routedDomains = (r: HostRouting) => [...r.domains, ...r.relays.filter((x) => !x.recipient.includes("@")).map((x) => x.recipient)];

/** Routing as postfix sees it: the maps' compiled contents, read back with postmap -s, in one round trip. */
export async function readRouting(s: HostSession): Promise<LiveRouting> {
  const { stdout } = await execSequence(
    s,
    [
      ["postconf", ...Object.keys(OWNED_PARAMETERS)],
      sectionMarker,
      ["readlink", CURRENT],
      sectionMarker,
      dumpMap(`${CURRENT}/domains`),
      sectionMarker,
      dumpMap(`${CURRENT}/mailboxes`),
      sectionMarker,
      dumpMap(`${CURRENT}/transport`),
      sectionMarker,
      ["cat", `${CURRENT}/trusted`],
      sectionMarker,
      dumpMap(`${CURRENT}/relay_recipients`),
      sectionMarker,
      ["cat", RELOADED],
      sectionMarker,
      ["cat", ORIGINAL],
      sectionMarker,
      ["postconf", "-xh", "mydestination"],
      sectionMarker,
      ["postconf", "-h", "relayhost"],
      sectionMarker,
      ["cat", `${CURRENT}/tls`],
      sectionMarker,
      ["postconf", ...TLS_PARAMETERS],
      sectionMarker,
      certificatesOf(SECRET_CHAIN),
    ],
    { continueOnError: true },
  );
  const [
    params,
    link,
    domains,
    mailboxes,
    transport,
    trusted,
    relayRecipients,
    reloaded,
    originalText,
    mydestination,
    relayHost,
    tlsText,
    tlsParams,
    secretChain,
  ] = sections(stdout);
  const secretChainCertificate = readCertificate(secretChain ?? "", "", new Date()).facts?.fingerprint;
  const original = parseOriginal(originalText);
  const want = mergedParameters(original ?? {});
  const differing = Object.fromEntries(Object.entries(parseParameters(params)).filter(([k, v]) => v !== want[k]));
  if (!link?.trim())
    return {
      configured: false,
      digest: undefined,
      routing: undefined,
      parameters: differing,
      ...(original ? { original } : {}),
      ...(secretChainCertificate ? { secretChainCertificate } : {}),
    };
  const routing: HostRouting = hostRouting({
    domains: entries(domains).map((e) => e[0]),
    mailboxes: entries(mailboxes).map((e) => e[0]),
    relays: entries(transport).map(([recipient, value]) => ({ recipient, nextHop: value.replace(/^smtp:\[([^\]]+)\](:25)?$/, "$1") })),
    trusted: entries(trusted).map((e) => e[0].replace(/\/32$/, "")),
    relayRecipients: entries(relayRecipients).map((e) => e[0]),
    ...(relayHost?.trim() ? { relayHost: relayHost.trim() } : {}),
    ...(parseTlsLine(tlsText) ? { tls: parseTlsLine(tlsText)! } : {}),
  });
  // The TLS settings are cutover's while the version serves the gateway's identity, the host's own otherwise.
  const tlsWant = tlsParameters(original ?? {}, routing.tls);
  // A setting an older record lacks was never changed by cutover: the host's own, whatever it says.
  for (const [k, v] of Object.entries(parseParameters(tlsParams ?? "")))
    if (k in tlsWant && (routing.tls || (original && k in original)) && (tlsWant[k as keyof typeof tlsWant] ?? "") !== v) differing[k] = v;
  const routed = routedDomains(routing);
  const local = listOf((mydestination ?? "").toLowerCase());
  if (local.some((d) => routed.includes(d))) differing.mydestination = (mydestination ?? "").trim();
  return {
    configured: Object.keys(differing).length === 0,
    digest: routingDigest(routing),
    routing,
    parameters: differing,
    version: link.trim(),
    reloaded: reloaded?.trim() || undefined,
    ...(original ? { original } : {}),
    ...(secretChainCertificate ? { secretChainCertificate } : {}),
  };
}

function parseOriginal(text: string | undefined): OriginalParameters | undefined {
  if (!text?.trim()) return undefined;
  try {
    return JSON.parse(text) as OriginalParameters;
  } catch {
    return undefined;
  }
}

/**
 * The host's own values of the parameters cutover touches: recorded once, before its first change,
 * so that every apply merges with them and delete gives them back exactly. A record from an older
 * cutover that lacks a parameter gets it from main.cf as it is (cutover never changed that one).
 */
async function recordOriginal(s: HostSession, live: LiveRouting): Promise<OriginalParameters> {
  if (live.original && RECORDED.every((k) => k in live.original!)) return live.original;
  const explicit = parseParameters((await s.exec(["postconf", "-n"])).stdout);
  const original = Object.fromEntries(
    RECORDED.map((k) => [k, live.original && k in live.original ? live.original[k] : (explicit[k] ?? null)]),
  );
  await s.exec(["mkdir", "-p", ROUTING_DIR]);
  await s.writeFile(ORIGINAL, `${JSON.stringify(original, null, 2)}\n`);
  return original;
}

/**
 * The commands that make main.cf what cutover wants over the host's own values: every touched
 * parameter merged, and mydestination the host's own without the domains this table routes (the
 * host's own again once it routes none of them).
 */
async function parameterCommands(s: HostSession, live: LiveRouting, table: HostRouting): Promise<string[][]> {
  const original = await recordOriginal(s, live);
  const own = original.mydestination;
  // Postfix's default applies where the host set none; expanded with the host's own names (-o).
  const raw = own ?? (await s.exec(["postconf", "-dh", "mydestination"])).stdout.trim();
  const expanded = (await s.exec(["postconf", "-o", mainCfSetting("mydestination", raw), "-xh", "mydestination"])).stdout.trim();
  const routed = routedDomains(hostRouting(table));
  const local = withoutRoutedDomains(raw, expanded, routed);
  // A lookup table in mydestination cannot be edited from here: a routed domain in it is refused.
  const clashes: string[] = [];
  for (const t of listOf(expanded).filter((x) => /^[a-z]+:\//.test(x))) {
    const probe = 't=$1; shift; for d; do postmap -q "$d" "$t" >/dev/null 2>&1 && echo "$d"; done; true';
    const { stdout } = await s.exec(["sh", "-c", probe, "sh", t, ...routed]);
    clashes.push(
      ...stdout
        .split("\n")
        .filter(Boolean)
        .map((d) => `${t} lists ${d}`),
    );
  }
  if (clashes.length)
    throw new CutoverError(
      `on ${s.target.name}: mydestination's table ${clashes.join(", ")}, a domain cutover routes (postfix would deliver its mail to local accounts): take it out of that table (then postmap it) and run the phase again. Nothing was changed.`,
    );
  // Outbound mail goes where the inventory says: a relay the host used would otherwise be dropped.
  const ownRelay = original.relayhost?.trim();
  if (ownRelay && !table.relayHost)
    throw new CutoverError(
      `on ${s.target.name}: main.cf sends outbound mail through relayhost = ${ownRelay}, and inventory.outboundRelay is not set (direct delivery by MX): set inventory.outboundRelay (host and port) to that relay to keep it, or take relayhost out of main.cf if the host should deliver directly. Nothing was changed.`,
    );
  const set = Object.entries(mergedParameters(original)).map(([k, v]) => mainCfSetting(k, v));
  const unset: string[] = [];
  if (table.tls?.chain) await checkChainFile(s, table.tls);
  const wanted: Record<string, string | null> = {
    mydestination: local ?? own,
    relayhost: table.relayHost ?? original.relayhost ?? null,
    ...tlsParameters(original, table.tls),
  };
  for (const [k, v] of Object.entries(wanted)) {
    if (v === null) unset.push(k);
    else set.push(mainCfSetting(k, v));
  }
  return [setChangedCommand(set), ...(unset.length ? [unsetPresentCommand(unset)] : [])];
}

/** The certificates of a chain file on the host, without its key (which never leaves the host); fails when unreadable. */
const certificatesOf = (path: string) => ["sh", "-c", 'test -r "$1" && sed -n "/-----BEGIN CERTIFICATE-----/,\\$p" "$1"', "sh", path];

/**
 * A chain file on the host, checked before postfix is pointed at it: its certificate is for the
 * key the inventory names, covers the gateway name and is valid. Only its certificates are read
 * (the key never leaves the host).
 */
async function checkChainFile(s: HostSession, tls: GatewayTls): Promise<void> {
  const certs = await s.exec(certificatesOf(tls.chain!), { allowFailure: true });
  const where = `on ${s.target.name}: ${tls.chain}`;
  if (certs.code !== 0)
    throw new CutoverError(
      `${where} cannot be read: put the gateway's chain there (key, certificate, issuers) or fix inventory.gateway.tls. Nothing was changed.`,
    );
  const { facts, problems } = readCertificate(certs.stdout, tls.name, new Date());
  if (problems.length) throw new CutoverError(`${where}: ${problems.join("; ")}. Nothing was changed.`);
  if (facts!.spki !== tls.spki)
    throw new CutoverError(
      `${where}: its key's SPKI sha256 is ${facts!.spki}, and the inventory's spki says ${tls.spki}: set inventory.gateway.tls spki to the key's (its TLSA record changes with it) or put the chain of that key there. Nothing was changed.`,
    );
}

/**
 * Makes the host route as the table says; a no-op when it already does. `live`: a read just made.
 * `chain`: the stack secret's chain, for a table whose TLS identity has no chain file on the host.
 */
export async function applyRouting(s: HostSession, table: HostRouting, live?: LiveRouting, chain?: string): Promise<RoutingApplied> {
  const digest = routingDigest(table);
  live ??= await readRouting(s);
  // A chain from the stack secret is installed again when its certificate changed (a renewal, same key).
  const secretChain = table.tls && !table.tls.chain ? chain : undefined;
  const chainCurrent = !secretChain || readChain(secretChain, "", new Date()).facts?.fingerprint === live.secretChainCertificate;
  if (live.configured && live.digest === digest && live.reloaded === digest && chainCurrent) return { digest, changed: false };
  if (live.configured && live.digest === digest) {
    // The maps are in place but postfix never took them (a reload failed), or the chain was renewed: reload, then record it.
    if (!chainCurrent) await s.writeFile(`${SECRET_CHAIN}.next`, secretChain!, 0o600);
    await execSequence(s, [
      ...(chainCurrent ? [] : [["mv", "-T", `${SECRET_CHAIN}.next`, SECRET_CHAIN]]),
      POSTFIX_RELOAD,
      markReloaded(digest),
    ]);
    return { digest, changed: true };
  }

  // What main.cf must say, worked out (and refused on a conflict) before anything changes.
  const parameters = await parameterCommands(s, live, table);
  // A directory of its own for every apply: the live version is never touched before the swap.
  const name = `${digest.slice(0, 16)}-${randomBytes(3).toString("hex")}`;
  const version = `${ROUTING_DIR}/${name}`;
  const staging = `${version}.staging`;
  await execSequence(s, [
    ["mkdir", "-p", staging],
    ["rm", "-f", RELOADED],
  ]);
  await Promise.all(Object.entries(renderRouting(table)).map(([file, text]) => s.writeFile(`${staging}/${file}`, text)));
  if (table.tls && !table.tls.chain) {
    if (!chain)
      throw new CutoverError(
        `on ${s.target.name}: the gateway's chain comes from the stack secret cutover:gatewayTls, and none was given. Nothing was changed.`,
      );
    await execSequence(s, [["mkdir", "-p", "-m", "700", `${ROUTING_DIR}/tls`]]);
    await s.writeFile(`${SECRET_CHAIN}.next`, chain, 0o600);
  }

  const commit: string[][] = [
    ["postmap", ...HASH_MAPS.map((m) => `hash:${staging}/${m}`)],
    // A complete version appears under its final name in one rename, then becomes current in another.
    ["mv", "-T", staging, version],
    ...(live.version
      ? [
          ["ln", "-sfn", live.version, `${ROUTING_DIR}/previous.next`],
          ["mv", "-T", `${ROUTING_DIR}/previous.next`, `${ROUTING_DIR}/previous`],
        ]
      : []),
    ["ln", "-sfn", name, `${CURRENT}.next`],
    ["mv", "-T", `${CURRENT}.next`, CURRENT],
    ...(table.tls && !table.tls.chain ? [["mv", "-T", `${SECRET_CHAIN}.next`, SECRET_CHAIN]] : []),
  ];
  // Every touched parameter is set from the host's own value merged with cutover's, each apply.
  commit.push(...parameters);
  // Only the current and the previous version are kept (and staging left by a cut connection goes).
  const keep = new Set([name, live.version]);
  const stale = (await s.exec(["ls", "-1", ROUTING_DIR])).stdout
    .split("\n")
    .filter((f) => /^[0-9a-f]{16}(-[0-9a-f]{6})?(\.staging)?$/.test(f) && !keep.has(f) && f !== `${name}.staging`);
  if (stale.length) commit.push(["rm", "-rf", ...stale.map((f) => `${ROUTING_DIR}/${f}`)]);
  // Recorded as applied only once postfix has reloaded it.
  commit.push(POSTFIX_RELOAD, markReloaded(digest));
  await execSequence(s, commit);
  return { digest, changed: true };
}

/** Gives the host back the routing it had before cutover: main.cf's own values exactly, no maps. */
export async function restoreRouting(s: HostSession): Promise<void> {
  const original = parseOriginal(await s.readFile(ORIGINAL));
  if (original) {
    const set = Object.entries(original).filter(([, v]) => v !== null);
    const unset = Object.entries(original)
      .filter(([, v]) => v === null)
      .map(([k]) => k);
    if (set.length) await s.exec(setChangedCommand(set.map(([k, v]) => mainCfSetting(k, v!))));
    if (unset.length) await s.exec(unsetPresentCommand(unset));
  }
  await execSequence(s, [["rm", "-rf", ROUTING_DIR], POSTFIX_RELOAD]);
}
