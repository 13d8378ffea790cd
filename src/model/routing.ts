import { createHash } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import type { GatewayTls, RoutingTable } from "./plan";

/** What of a routing table can be seen on a host: the plan's table without its role names. */
export interface HostRouting {
  domains: string[];
  mailboxes: string[];
  relays: { recipient: string; nextHop: string }[];
  trusted: string[];
  /** Recipients accepted in the domains relayed whole (relay_recipient_maps); none when absent. */
  relayRecipients?: string[];
  /** postfix's relayhost ("[host]:port"); absent: direct delivery by MX. */
  relayHost?: string;
  /** The gateway's TLS identity the host serves; absent: the host's own TLS settings. */
  tls?: GatewayTls;
}

export const hostRouting = (
  t: RoutingTable | HostRouting,
): Required<Omit<HostRouting, "relayHost" | "tls">> & Pick<HostRouting, "relayHost" | "tls"> => ({
  domains: [...t.domains].sort(),
  mailboxes: [...t.mailboxes].sort(),
  relays: t.relays
    .map((r) => ({ recipient: r.recipient, nextHop: r.nextHop }))
    .sort((a, b) => (a.recipient < b.recipient ? -1 : a.recipient > b.recipient ? 1 : 0)),
  trusted: [...t.trusted].sort(),
  relayRecipients: [...(t.relayRecipients ?? [])].sort(),
  ...(t.relayHost ? { relayHost: t.relayHost } : {}),
  ...(t.tls ? { tls: gatewayTls(t.tls) } : {}),
});

/** The TLS identity with its fields in one order and nothing else. */
const gatewayTls = (t: GatewayTls): GatewayTls => ({
  name: t.name,
  spki: t.spki,
  ...(t.chain ? { chain: t.chain } : {}),
});

/** A TLS identity as one line, "name spki chain" ("-" for a chain from the stack secret): the digest's and the host's form. */
export const tlsLine = (t: GatewayTls) => [t.name, t.spki, t.chain ?? "-"].join(" ");

/** The TLS identity of a line tlsLine wrote, or undefined. Pure. */
export function parseTlsLine(line: string | undefined): GatewayTls | undefined {
  const [name, spki, chain] = (line ?? "").trim().split(" ");
  if (!name || !spki || !chain) return undefined;
  return { name, spki, ...(chain !== "-" ? { chain } : {}) };
}

/** Content digest of the routing a host should have: equal content, equal digest. */
export function routingDigest(t: RoutingTable | HostRouting): string {
  const r = hostRouting(t);
  const h = createHash("sha256");
  h.update(`domains\n${r.domains.join("\n")}\nmailboxes\n${r.mailboxes.join("\n")}\ntrusted\n${r.trusted.join("\n")}\nrelays\n`);
  for (const x of r.relays) h.update(`${x.recipient} ${x.nextHop}\n`);
  // Tables without relay recipients keep the digest they had before the map existed.
  if (r.relayRecipients.length) h.update(`relayRecipients\n${r.relayRecipients.join("\n")}\n`);
  // Likewise the tables that deliver outbound mail directly.
  if (r.relayHost) h.update(`relayHost\n${r.relayHost}\n`);
  if (r.tls) h.update(`tls\n${tlsLine(r.tls)}\n`);
  return h.digest("hex");
}

/**
 * A routing table as four newline-separated strings: how it travels to the engine and sits in the
 * state. 50,000 entries as objects cost the engine's process tree gigabytes; as lines, megabytes.
 */
/**
 * A line set longer than this is kept packed in a CompactRouting: "gzip:", then the gzip of its
 * text in base64 (no line of a routing table starts so: addresses, domains and networks have no
 * colon there). The engine writes its whole state after each resource it creates, and the routing
 * of 50,000 mailboxes lists every one twice (inputs and outputs): 6.3 of 8.4 MiB unpacked, and the
 * scale bench's first up spent 53 of its 68 s writing that state. Packed, 1.87 MB of lines take
 * 0.14 MB; gzip with level 9 writes the same bytes for the same lines, so an unchanged table stays
 * the same string.
 */
const PACK_ABOVE = 64 * 1024;
const PACKED = "gzip:";

/** A line set's text as a CompactRouting keeps it: packed when long. Pure. */
export const packLines = (text: string): string =>
  text.length > PACK_ABOVE ? `${PACKED}${gzipSync(Buffer.from(text, "utf8"), { level: 9 }).toString("base64")}` : text;

/** A CompactRouting line set's text, packed or not (states written before packing hold it plain). Pure. */
export const unpackLines = (value: string): string =>
  value.startsWith(PACKED) ? gunzipSync(Buffer.from(value.slice(PACKED.length), "base64")).toString("utf8") : value;

export const isPackedLines = (value: unknown): value is string => typeof value === "string" && value.startsWith(PACKED);

/** A host's routing as the state keeps it: each line set one text, a long one packed (packLines). */
export interface CompactRouting {
  domains: string;
  mailboxes: string;
  /** "recipient nextHop" per line. */
  relays: string;
  trusted: string;
  /** Absent in states written before relay_recipient_maps. */
  relayRecipients?: string;
  /** Absent: direct delivery (and in states written before outbound relays). */
  relayHost?: string;
  /** The TLS identity as tlsLine writes it; absent: the host's own TLS settings. */
  tls?: string;
}

export function compactRouting(t: RoutingTable | HostRouting): CompactRouting {
  const r = hostRouting(t);
  return {
    domains: packLines(r.domains.join("\n")),
    mailboxes: packLines(r.mailboxes.join("\n")),
    relays: packLines(r.relays.map((x) => `${x.recipient} ${x.nextHop}`).join("\n")),
    trusted: packLines(r.trusted.join("\n")),
    relayRecipients: packLines(r.relayRecipients.join("\n")),
    ...(r.relayHost ? { relayHost: r.relayHost } : {}),
    ...(r.tls ? { tls: tlsLine(r.tls) } : {}),
  };
}

export function expandRouting(c: CompactRouting): HostRouting {
  const lines = (s: string) => unpackLines(s).split("\n").filter(Boolean);
  return hostRouting({
    domains: lines(c.domains),
    mailboxes: lines(c.mailboxes),
    relays: lines(c.relays).map((l) => ({ recipient: l.slice(0, l.indexOf(" ")), nextHop: l.slice(l.indexOf(" ") + 1) })),
    trusted: lines(c.trusted),
    relayRecipients: lines(c.relayRecipients ?? ""),
    ...(c.relayHost ? { relayHost: c.relayHost } : {}),
    ...(parseTlsLine(c.tls) ? { tls: parseTlsLine(c.tls)! } : {}),
  });
}
