import { createHash } from "node:crypto";
import type { RoutingTable } from "./plan";

/** What of a routing table can be seen on a host: the plan's table without its role names. */
export interface HostRouting {
  domains: string[];
  mailboxes: string[];
  relays: { recipient: string; nextHop: string }[];
  trusted: string[];
}

export const hostRouting = (t: RoutingTable | HostRouting): HostRouting => ({
  domains: [...t.domains].sort(),
  mailboxes: [...t.mailboxes].sort(),
  relays: t.relays
    .map((r) => ({ recipient: r.recipient, nextHop: r.nextHop }))
    .sort((a, b) => (a.recipient < b.recipient ? -1 : a.recipient > b.recipient ? 1 : 0)),
  trusted: [...t.trusted].sort(),
});

/** Content digest of the routing a host should have: equal content, equal digest. */
export function routingDigest(t: RoutingTable | HostRouting): string {
  const r = hostRouting(t);
  const h = createHash("sha256");
  h.update(`domains\n${r.domains.join("\n")}\nmailboxes\n${r.mailboxes.join("\n")}\ntrusted\n${r.trusted.join("\n")}\nrelays\n`);
  for (const x of r.relays) h.update(`${x.recipient} ${x.nextHop}\n`);
  return h.digest("hex");
}

/**
 * A routing table as four newline-separated strings: how it travels to the engine and sits in the
 * state. 50,000 entries as objects cost the engine's process tree gigabytes; as lines, megabytes.
 */
export interface CompactRouting {
  domains: string;
  mailboxes: string;
  /** "recipient nextHop" per line. */
  relays: string;
  trusted: string;
}

export function compactRouting(t: RoutingTable | HostRouting): CompactRouting {
  const r = hostRouting(t);
  return {
    domains: r.domains.join("\n"),
    mailboxes: r.mailboxes.join("\n"),
    relays: r.relays.map((x) => `${x.recipient} ${x.nextHop}`).join("\n"),
    trusted: r.trusted.join("\n"),
  };
}

export function expandRouting(c: CompactRouting): HostRouting {
  const lines = (s: string) => s.split("\n").filter(Boolean);
  return hostRouting({
    domains: lines(c.domains),
    mailboxes: lines(c.mailboxes),
    relays: lines(c.relays).map((l) => ({ recipient: l.slice(0, l.indexOf(" ")), nextHop: l.slice(l.indexOf(" ") + 1) })),
    trusted: lines(c.trusted),
  });
}
