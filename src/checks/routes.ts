/**
 * Every user's route, checked without a message: for each address of the plan, where a host's live
 * postfix would deliver it, read from the host's own lookup tables in postfix's order (virtual
 * aliases first, then the maps main.cf names, several in one parameter searched first-match as
 * postfix does), every address of one host in one batched postmap per parameter. Compared with the plan's routing table
 * of that host: one line per address whose live route differs.
 */
import type { HostRole } from "../model/inventory";
import type { Plan, RoutingTable } from "../model/plan";
import type { HostSession } from "../remote/ssh";

/** Where a host sends mail for an address: "local" (a mailbox there), "relay to <next hop>", "relay by MX", "rewritten to <addresses>", or "not accepted". */
export type Route = string;

/** The parameters whose maps decide a recipient's route, in the order postfix consults them for it. */
const PARAMETERS = [
  "virtual_alias_maps",
  "virtual_mailbox_domains",
  "virtual_mailbox_maps",
  "relay_domains",
  "relay_recipient_maps",
  "transport_maps",
] as const;
type Parameter = (typeof PARAMETERS)[number];

/** A parameter's value as postfix reads it: "type:name" maps, searched in order, and bare domain names. Pure. */
function lookups(value: string): { maps: string[]; names: string[] } {
  const tokens = value.split(/[\s,]+/).filter(Boolean);
  return {
    maps: tokens.filter((t) => /^[a-z0-9_]+:/.test(t)),
    names: tokens.filter((t) => !/^[a-z0-9_]+:/.test(t)).map((t) => t.toLowerCase()),
  };
}

/** postmap -q - output ("key<TAB>value" per key found) as a map. Pure. */
function found(output: string): Map<string, string> {
  return new Map(
    output
      .split("\n")
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf("\t")).toLowerCase(), l.slice(l.indexOf("\t") + 1).trim()] as const),
  );
}

const domainOf = (address: string) => address.slice(address.indexOf("@") + 1).toLowerCase();

/** "smtp:[198.51.100.20]:25" -> "198.51.100.20"; "smtp:mail.example.com" -> "mail.example.com". Pure. */
const nextHopOf = (transport: string) =>
  transport
    .replace(/^[^:]*:/, "")
    .replace(/^\[([^\]]*)\].*$/, "$1")
    .replace(/:\d+$/, "");

/**
 * The route of each address by the host's live postfix: a virtual alias rewrites it to somewhere
 * else (named as such: where the rewritten address goes is not followed); else its domain must be
 * a virtual mailbox domain (and the address in virtual_mailbox_maps) or a relay domain (and, when relay_recipient_maps is
 * set, the address in it), else it is not accepted; an accepted address goes where transport_maps
 * sends it (the address's entry, else its domain's), else to its mailbox (a virtual domain) or by
 * MX (a relay domain). Every lookup is one postmap over all the addresses.
 */
export async function liveRoutes(s: HostSession, addresses: string[]): Promise<Map<string, Route>> {
  const values = (await s.exec(["postconf", "-hx", ...PARAMETERS])).stdout.split("\n");
  const setting = new Map(PARAMETERS.map((p, i) => [p, lookups(values[i] ?? "")] as const));
  const keys = [
    ...new Set([...addresses.map((a) => a.toLowerCase()), ...addresses.map(domainOf), ...addresses.map((a) => `@${domainOf(a)}`)]),
  ];
  const ask = async (p: Parameter): Promise<Map<string, string>> => {
    const { maps, names } = setting.get(p)!;
    const answers = new Map<string, string>(names.map((n) => [n, "listed"]));
    if (!maps.length) return answers;
    const r = await s.exec(["postmap", "-q", "-", ...maps], { stdin: `${keys.join("\n")}\n`, allowFailure: true });
    // Exit 1 with nothing said: none found. A warning or fatal line: a map that could not be read.
    if (r.code !== 0 && (r.code !== 1 || r.stderr.trim()))
      throw new Error(
        `on ${s.target.name}: postmap -q - ${maps.join(" ")} (${p}) failed: ${r.stderr.trim().split("\n").at(-1) || `exit ${r.code}`}`,
      );
    for (const [k, v] of found(r.stdout)) answers.set(k, v);
    return answers;
  };
  const [aliases, virtualDomains, mailboxes, relayDomains, relayRecipients, transports] = await Promise.all(PARAMETERS.map(ask));
  const checksRelayRecipients = setting.get("relay_recipient_maps")!.maps.length > 0;
  return new Map(
    addresses.map((address) => {
      const a = address.toLowerCase();
      const d = domainOf(a);
      // A virtual alias rewrites the recipient before anything else (the address's entry, else its domain's catch-all).
      const alias = aliases.get(a) ?? aliases.get(`@${d}`);
      if (alias !== undefined && alias.toLowerCase() !== a) return [address, `rewritten to ${alias}`] as const;
      const virtual = virtualDomains.has(d);
      const accepted = virtual ? mailboxes.has(a) : relayDomains.has(d) && (!checksRelayRecipients || relayRecipients.has(a));
      if (!accepted) return [address, "not accepted"] as const;
      const transport = transports.get(a) ?? transports.get(d);
      if (transport) return [address, `relay to ${nextHopOf(transport)}`] as const;
      return [address, virtual ? "local" : "relay by MX"] as const;
    }),
  );
}

/**
 * Where the plan's routing table sends each address a host serves: its mailboxes local, its per-user
 * and per-domain relays to their next hop, any other address of its domains not accepted; an address
 * of a domain the host does not serve is not its to judge (absent). Pure.
 */
export function plannedRoutes(t: RoutingTable, addresses: string[]): Map<string, Route> {
  const mailboxes = new Set(t.mailboxes.map((a) => a.toLowerCase()));
  const relays = new Map(t.relays.map((r) => [r.recipient.toLowerCase(), r.nextHop] as const));
  const domains = new Set(t.domains.map((d) => d.toLowerCase()));
  const out = new Map<string, Route>();
  for (const address of addresses) {
    const a = address.toLowerCase();
    const d = domainOf(a);
    const hop = relays.get(a) ?? relays.get(d);
    if (mailboxes.has(a)) out.set(address, "local");
    else if (hop) out.set(address, `relay to ${hop}`);
    else if (domains.has(d)) out.set(address, "not accepted");
  }
  return out;
}

/** Every address the plan routes anywhere: each table's mailboxes, per-user relays and relay recipients. Pure. */
export const plannedAddresses = (p: Plan): string[] =>
  [
    ...new Set(
      p.routing.flatMap((t) => [...t.mailboxes, ...t.relays.map((r) => r.recipient).filter((r) => r.includes("@")), ...t.relayRecipients]),
    ),
  ].sort();

/** One host's route check: how many addresses it judged, and a line per address whose live route differs from the plan. */
export interface RouteCheck {
  host: HostRole;
  checked: number;
  differing: string[];
}

/** The route check of every host with a routing table in the plan, side by side. */
export async function checkRoutes(p: Plan, session: (role: HostRole) => Promise<HostSession>): Promise<RouteCheck[]> {
  const addresses = plannedAddresses(p);
  return Promise.all(
    p.routing.map(async (t): Promise<RouteCheck> => {
      const planned = plannedRoutes(t, addresses);
      const live = await liveRoutes(await session(t.host), [...planned.keys()]);
      return { host: t.host, checked: planned.size, differing: routeDifferences(t.host, planned, live) };
    }),
  );
}

/** "user7@example.com on legacy: relay to 198.51.100.20; planned: local", one per address that differs. Pure. */
export function routeDifferences(host: HostRole, planned: Map<string, Route>, live: Map<string, Route>): string[] {
  return [...planned]
    .filter(([a, route]) => live.get(a) !== route)
    .map(([a, route]) => `${a} on ${host}: ${live.get(a) ?? "not read"}; planned: ${route}`);
}
