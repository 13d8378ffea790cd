/**
 * Gateway routing on a postfix host: split delivery from the plan's routing table. Local users are
 * virtual mailboxes; users (or, in phase 2, whole domains) living on the other system get a
 * transport entry to it; only the organisation's hosts may relay. Each version of the maps lives in
 * a directory of its own, never the live one; a symlink swap makes it current, so a cut connection
 * leaves the previous routing whole, and the previous version stays for rollback. The host records
 * a version as applied only once postfix reloaded it, so a failed reload is retried.
 */
import { randomBytes } from "node:crypto";
import { DOMAIN_NAME, LOCAL_PART } from "../../model/inventory";
import { type HostRouting, hostRouting, routingDigest } from "../../model/routing";
import { refuseControl } from "../../model/text";
import { execSequence, type HostSession, sectionMarker, sections } from "../ssh";

export const ROUTING_DIR = "/etc/postfix/cutover";
const CURRENT = `${ROUTING_DIR}/current`;
/** Holds the digest of the routing postfix last reloaded successfully. */
const RELOADED = `${ROUTING_DIR}/reloaded`;
/** Records `digest` as reloaded: run only after POSTFIX_RELOAD succeeded. */
const markReloaded = (digest: string) => ["sh", "-c", 'echo "$1" > "$2"', "sh", digest, RELOADED];

/** The main.cf parameters this effect owns, all pointing at the current version. */
export const OWNED_PARAMETERS: Record<string, string> = {
  virtual_mailbox_domains: `hash:${CURRENT}/domains`,
  virtual_mailbox_maps: `hash:${CURRENT}/mailboxes, hash:${CURRENT}/relayed`,
  transport_maps: `hash:${CURRENT}/transport`,
  relay_domains: `hash:${CURRENT}/relay_domains`,
  relay_recipient_maps: `hash:${CURRENT}/relay_recipients`,
  mynetworks: `127.0.0.0/8, cidr:${CURRENT}/trusted`,
  smtpd_relay_restrictions: "permit_mynetworks, reject_unauth_destination",
};

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

/** The map files of a routing table, as text. Pure. */
export function renderRouting(t: HostRouting): Record<(typeof HASH_MAPS)[number] | "trusted", string> {
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
    trusted: lines(r.trusted.map((a) => `${key(a)}/32 OK`)),
  };
}

export interface RoutingApplied {
  digest: string;
  /** False when the host already had exactly this routing: nothing was written or reloaded. */
  changed: boolean;
}

export interface LiveRouting {
  /** Whether main.cf points at cutover's maps at all. */
  configured: boolean;
  digest: string | undefined;
  routing: HostRouting | undefined;
  /** Owned parameters whose value differs from cutover's. */
  parameters: Record<string, string>;
  /** Name of the current version directory. */
  version?: string;
  /** Digest of the routing postfix last reloaded successfully. */
  reloaded?: string;
}

/** postfix reload, without waiting for the postsuper it leaves running in the background. */
export const POSTFIX_RELOAD = [
  "sh",
  "-c",
  "postfix reload </dev/null >/dev/null 2>&1 || { postfix status >&2; echo 'postfix reload failed' >&2; exit 1; }",
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
    ],
    { continueOnError: true },
  );
  const [params, link, domains, mailboxes, transport, trusted, relayRecipients, reloaded] = sections(stdout);
  const differing = Object.fromEntries(Object.entries(parseParameters(params)).filter(([k, v]) => v !== OWNED_PARAMETERS[k]));
  if (!link?.trim()) return { configured: false, digest: undefined, routing: undefined, parameters: differing };
  const routing: HostRouting = hostRouting({
    domains: entries(domains).map((e) => e[0]),
    mailboxes: entries(mailboxes).map((e) => e[0]),
    relays: entries(transport).map(([recipient, value]) => ({ recipient, nextHop: value.replace(/^smtp:\[([^\]]+)\](:25)?$/, "$1") })),
    trusted: entries(trusted).map((e) => e[0].replace(/\/32$/, "")),
    relayRecipients: entries(relayRecipients).map((e) => e[0]),
  });
  return {
    configured: Object.keys(differing).length === 0,
    digest: routingDigest(routing),
    routing,
    parameters: differing,
    version: link.trim(),
    reloaded: reloaded?.trim() || undefined,
  };
}

/** Makes the host route as the table says; a no-op when it already does. `live`: a read just made. */
export async function applyRouting(s: HostSession, table: HostRouting, live?: LiveRouting): Promise<RoutingApplied> {
  const digest = routingDigest(table);
  live ??= await readRouting(s);
  if (live.configured && live.digest === digest && live.reloaded === digest) return { digest, changed: false };
  if (live.configured && live.digest === digest) {
    // The maps are in place but postfix never took them (a reload failed): reload, then record it.
    await execSequence(s, [POSTFIX_RELOAD, markReloaded(digest)]);
    return { digest, changed: true };
  }

  // A directory of its own for every apply: the live version is never touched before the swap.
  const name = `${digest.slice(0, 16)}-${randomBytes(3).toString("hex")}`;
  const version = `${ROUTING_DIR}/${name}`;
  const staging = `${version}.staging`;
  await execSequence(s, [
    ["mkdir", "-p", staging],
    ["rm", "-f", RELOADED],
  ]);
  await Promise.all(Object.entries(renderRouting(table)).map(([file, text]) => s.writeFile(`${staging}/${file}`, text)));

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
  ];
  if (Object.keys(live.parameters).length) {
    // The first apply keeps what main.cf said before, so delete can give it back.
    if ((await s.readFile(`${ROUTING_DIR}/original.json`)) === undefined) {
      const explicit = parseParameters((await s.exec(["postconf", "-n"])).stdout);
      const original = Object.fromEntries(Object.keys(OWNED_PARAMETERS).map((k) => [k, explicit[k] ?? null]));
      await s.writeFile(`${ROUTING_DIR}/original.json`, `${JSON.stringify(original, null, 2)}\n`);
    }
    commit.push(["postconf", "-e", ...Object.entries(OWNED_PARAMETERS).map(([k, v]) => mainCfSetting(k, v))]);
  }
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

/** Gives the host back the routing it had before cutover: main.cf's original values, no maps. */
export async function restoreRouting(s: HostSession): Promise<void> {
  const text = await s.readFile(`${ROUTING_DIR}/original.json`);
  if (text !== undefined) {
    const original = JSON.parse(text) as Record<string, string | null>;
    const set = Object.entries(original).filter(([, v]) => v !== null);
    const unset = Object.entries(original)
      .filter(([, v]) => v === null)
      .map(([k]) => k);
    if (set.length) await s.exec(["postconf", "-e", ...set.map(([k, v]) => mainCfSetting(k, v!))]);
    if (unset.length) await s.exec(["postconf", "-X", ...unset]);
  }
  await execSequence(s, [["rm", "-rf", ROUTING_DIR], POSTFIX_RELOAD]);
}
