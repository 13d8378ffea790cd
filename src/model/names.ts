/**
 * How names are formed from the inventory: one place decides every fully qualified name,
 * so the plan, the rules and the checks agree on them.
 */
import type { HostRole, Phase } from "./inventory";

/**
 * A mailbox's local part as cutover accepts it: letters, digits, and . _ + - = (no leading,
 * trailing or double dot). Narrower than RFC 5322's dot-atom on purpose: the local part becomes a
 * maildir path (so no "/" and no ".."), a postfix map key (so no leading "#", a comment there) and
 * a shell argument; at most 64 octets (RFC 5321 section 4.5.3.1.1). Here, not beside the inventory's
 * schema, because the host effects check names with it too, and this file loads no schema library
 * (the provider's process would load zod for two patterns: 87 ms).
 */
export const LOCAL_PART = /^(?=.{1,64}$)[a-z0-9_+=-]+(\.[a-z0-9_+=-]+)*$/;
export const DOMAIN_NAME = /^(?=.{1,253}$)((?!-)[a-z0-9-]{1,63}(?<!-)\.)+[a-z][a-z0-9-]{0,62}(?<!-)$/;

/** Phases 1-3 rehearse on the pilot's fictitious address spaces; 4-5 use the production ones. */
export type Stage = "pilot" | "production";
export const stageOf = (phase: Phase): Stage => (phase <= 3 ? "pilot" : "production");

export const DEFAULT_LABELS: Record<HostRole, string> = {
  legacy: "legacy",
  new: "new",
  internet: "mx",
  smartHost: "relay",
  dnsServer: "ns",
};

interface Naming {
  addressSpaces: readonly { domain: string; pilotDomain: string }[];
  hosts: Partial<Record<HostRole, { label?: string | undefined }>>;
  gateway: { label: string };
  internet?: { domain: string } | undefined;
}

export const domainOf = (space: { domain: string; pilotDomain: string }, stage: Stage) =>
  stage === "pilot" ? space.pilotDomain : space.domain;

/** The organisation's first address space names its hosts. */
export const primaryDomain = (inv: Naming, stage: Stage) => domainOf(inv.addressSpaces[0], stage);

export const gatewayName = (inv: Naming, stage: Stage) => `${inv.gateway.label}.${primaryDomain(inv, stage)}`;

export function hostName(inv: Naming, role: HostRole, stage: Stage): string {
  const label = inv.hosts[role]?.label ?? DEFAULT_LABELS[role];
  if (role === "internet" && inv.internet) return `${label}.${inv.internet.domain}`;
  return `${label}.${primaryDomain(inv, stage)}`;
}

/** The zone (longest suffix match) that holds a name, or undefined. */
export function zoneFor(name: string, zones: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const z of zones) {
    if ((name === z || name.endsWith(`.${z}`)) && (!best || z.length > best.length)) best = z;
  }
  return best;
}

/** "@" and relative names become fully qualified; full names stay. */
export function qualify(name: string, zone: string): string {
  if (name === "@" || name === zone) return zone;
  if (name.endsWith(`.${zone}`)) return name;
  return `${name}.${zone}`;
}

/** Rewrites a production address into the given stage's address space. */
export function addressInStage(address: string, spaces: readonly { domain: string; pilotDomain: string }[], stage: Stage): string {
  if (stage === "production") return address;
  const at = address.lastIndexOf("@");
  const local = address.slice(0, at);
  const dom = address.slice(at + 1);
  // Nested spaces (uk.example.com inside example.com): the longest suffix decides.
  for (const s of [...spaces].sort((a, b) => b.domain.length - a.domain.length)) {
    if (dom === s.domain) return `${local}@${s.pilotDomain}`;
    if (dom.endsWith(`.${s.domain}`)) return `${local}@${dom.slice(0, -s.domain.length)}${s.pilotDomain}`;
  }
  return address;
}
