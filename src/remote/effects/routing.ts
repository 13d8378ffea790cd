/**
 * Gateway routing on a postfix host: split delivery from the plan's routing table. Local users are
 * virtual mailboxes; users (or, in phase 2, whole domains) living on the other system get a
 * transport entry to it; only the organisation's hosts may relay. Each version of the maps lives in
 * a directory named by its digest; a symlink swap makes a version current, so a cut connection
 * leaves the previous routing whole, and the previous version stays for rollback.
 */
import { type HostRouting, hostRouting, routingDigest } from "../../model/routing";
import { execSequence, type HostSession, sectionMarker, sections } from "../ssh";

export const ROUTING_DIR = "/etc/postfix/cutover";
const CURRENT = `${ROUTING_DIR}/current`;

/** The main.cf parameters this effect owns, all pointing at the current version. */
export const OWNED_PARAMETERS: Record<string, string> = {
  virtual_mailbox_domains: `hash:${CURRENT}/domains`,
  virtual_mailbox_maps: `hash:${CURRENT}/mailboxes, hash:${CURRENT}/relayed`,
  transport_maps: `hash:${CURRENT}/transport`,
  relay_domains: `hash:${CURRENT}/relay_domains`,
  mynetworks: `127.0.0.0/8, cidr:${CURRENT}/trusted`,
  smtpd_relay_restrictions: "permit_mynetworks, reject_unauth_destination",
};

const HASH_MAPS = ["domains", "mailboxes", "relayed", "transport", "relay_domains"] as const;

/** The map files of a routing table, as text. Pure. */
export function renderRouting(t: HostRouting): Record<(typeof HASH_MAPS)[number] | "trusted", string> {
  const r = hostRouting(t);
  const userRelays = r.relays.filter((x) => x.recipient.includes("@"));
  const domainRelays = r.relays.filter((x) => !x.recipient.includes("@"));
  const lines = (xs: string[]) => (xs.length ? `${xs.join("\n")}\n` : "");
  return {
    domains: lines(r.domains.map((d) => `${d} OK`)),
    mailboxes: lines(r.mailboxes.map((a) => `${a} ${a.slice(a.indexOf("@") + 1)}/${a.slice(0, a.indexOf("@"))}/`)),
    // Known here (so accepted), delivered there: the alternative delivery route.
    relayed: lines(userRelays.map((x) => `${x.recipient} relayed`)),
    transport: lines(r.relays.map((x) => `${x.recipient} smtp:[${x.nextHop}]:25`)),
    relay_domains: lines(domainRelays.map((x) => `${x.recipient} OK`)),
    trusted: lines(r.trusted.map((a) => `${a}/32 OK`)),
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
    ],
    { continueOnError: true },
  );
  const [params, link, domains, mailboxes, transport, trusted] = sections(stdout);
  const differing = Object.fromEntries(Object.entries(parseParameters(params)).filter(([k, v]) => v !== OWNED_PARAMETERS[k]));
  if (!link?.trim()) return { configured: false, digest: undefined, routing: undefined, parameters: differing };
  const routing: HostRouting = hostRouting({
    domains: entries(domains).map((e) => e[0]),
    mailboxes: entries(mailboxes).map((e) => e[0]),
    relays: entries(transport).map(([recipient, value]) => ({ recipient, nextHop: value.replace(/^smtp:\[([^\]]+)\](:25)?$/, "$1") })),
    trusted: entries(trusted).map((e) => e[0].replace(/\/32$/, "")),
  });
  return {
    configured: Object.keys(differing).length === 0,
    digest: routingDigest(routing),
    routing,
    parameters: differing,
    version: link.trim(),
  };
}

/** Makes the host route as the table says; a no-op when it already does. `live`: a read just made. */
export async function applyRouting(s: HostSession, table: HostRouting, live?: LiveRouting): Promise<RoutingApplied> {
  const digest = routingDigest(table);
  live ??= await readRouting(s);
  if (live.configured && live.digest === digest) return { digest, changed: false };

  const name = digest.slice(0, 16);
  const version = `${ROUTING_DIR}/${name}`;
  const staging = `${version}.staging`;
  await execSequence(s, [
    ["rm", "-rf", staging],
    ["mkdir", "-p", staging],
  ]);
  await Promise.all(Object.entries(renderRouting(table)).map(([file, text]) => s.writeFile(`${staging}/${file}`, text)));

  const commit: string[][] = [
    ["postmap", ...HASH_MAPS.map((m) => `hash:${staging}/${m}`)],
    // A complete version appears under its final name in one rename, then becomes current in another.
    ["rm", "-rf", version],
    ["mv", "-T", staging, version],
    ["ln", "-sfn", name, `${CURRENT}.next`],
    ["mv", "-T", `${CURRENT}.next`, CURRENT],
  ];
  if (live.version && live.version !== name)
    commit.push(
      ["ln", "-sfn", live.version, `${ROUTING_DIR}/previous.next`],
      ["mv", "-T", `${ROUTING_DIR}/previous.next`, `${ROUTING_DIR}/previous`],
    );
  if (Object.keys(live.parameters).length) {
    // The first apply keeps what main.cf said before, so delete can give it back.
    if ((await s.readFile(`${ROUTING_DIR}/original.json`)) === undefined) {
      const explicit = parseParameters((await s.exec(["postconf", "-n"])).stdout);
      const original = Object.fromEntries(Object.keys(OWNED_PARAMETERS).map((k) => [k, explicit[k] ?? null]));
      await s.writeFile(`${ROUTING_DIR}/original.json`, `${JSON.stringify(original, null, 2)}\n`);
    }
    commit.push(["postconf", "-e", ...Object.entries(OWNED_PARAMETERS).map(([k, v]) => `${k}=${v}`)]);
  }
  // Only the current and the previous version are kept.
  const keep = new Set([name, live.version]);
  const stale = (await s.exec(["ls", "-1", ROUTING_DIR])).stdout.split("\n").filter((f) => /^[0-9a-f]{16}$/.test(f) && !keep.has(f));
  if (stale.length) commit.push(["rm", "-rf", ...stale.map((f) => `${ROUTING_DIR}/${f}`)]);
  commit.push(POSTFIX_RELOAD);
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
    if (set.length) await s.exec(["postconf", "-e", ...set.map(([k, v]) => `${k}=${v}`)]);
    if (unset.length) await s.exec(["postconf", "-X", ...unset]);
  }
  await execSequence(s, [["rm", "-rf", ROUTING_DIR], POSTFIX_RELOAD]);
}
