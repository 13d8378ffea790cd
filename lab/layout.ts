/**
 * Where the lab's pieces live: its names (every one prefixed), its addresses (RFC 5737 only), its
 * directories, and where each pilot host goes, derived from the pilot stack's inventory.
 */

import { join } from "node:path";
import { InputError } from "../src/model/errors";
import type { HostRole, Inventory } from "../src/model/inventory";

export const LAB_PREFIX = "cutover";
export const LAB_DIR = process.env.CUTOVER_LAB_DIR ?? "/var/lib/cutover-lab";
export const SWITCH_NS = `${LAB_PREFIX}-sw`;
/**
 * The operator's workstation: tests, the rehearsal and the engine run here, so no lab client ever
 * runs in the root namespace (whose routes lead off the machine).
 */
export const OPERATOR_NS = `${LAB_PREFIX}-operator`;
export const OPERATOR_ADDRESS = "198.51.100.2";
export const BRIDGE = `${LAB_PREFIX}-br`;
/**
 * An office client of the legacy gateway: in the office subnet the gateway's own mynetworks lists,
 * it relays outbound mail through the gateway, as a site's workstations and printers do.
 */
export const OFFICE_NS = `${LAB_PREFIX}-office`;
export const OFFICE_ADDRESS = "198.51.100.70";
/** Mailbox files are owned by this uid on every lab host (postfix virtual delivery, dovecot). */
export const MAIL_UID = 5000;
const RFC5737 = [/^192\.0\.2\./, /^198\.51\.100\./, /^203\.0\.113\./];

export type Progress = (message: string) => void;

export interface LabHost {
  role: HostRole;
  namespace: string;
  address: string;
  /** The host's interface, as the inventory names it. */
  interface: string;
  /** Public host key, "ssh-ed25519 AAAA...". */
  hostKey: string;
  /** Host directory: spool, mailboxes, logs. */
  dir: string;
}

export interface LabDescription {
  hosts: Partial<Record<HostRole, LabHost>>;
  /**
   * Roles a shape gives to a host of another role (the same address): the production shape's
   * dnsServer is the model Internet's host, whose Knot serves every lab zone.
   */
  aliases?: Partial<Record<HostRole, HostRole>>;
  /** Namespace where lab clients (tests, rehearsal, engine) run. */
  operatorNamespace: string;
  /** Private key (OpenSSH format) that the lab's sshd accepts for root. */
  adminKeyPath: string;
  tsig: { name: string; algorithm: string; secret: string };
  serviceAddress: string;
  prefixLength: number;
  /** Zones served by the model Internet's DNS server. */
  zones: string[];
  dnsServer: string;
  /** The team's state backend and the two operators' workstations, when the lab was built with them. */
  /**
   * `otherRoleUrl`: the same database as another role of the organisation's (a reporting tool) that
   * may connect and has no privilege on cutover's tables.
   */
  team?: { backendUrl: string; operators: [string, string]; otherRoleUrl: string };
  /**
   * The gateway's TLS identity in the lab (lab/certificates.ts): the CA's certificate (the senders'
   * trust anchor), the legacy gateway's own chain file on it, and the new server's chain (a stack
   * secret of every lab stack), each with its key's SPKI sha256.
   */
  tls?: { caFile: string; legacy: { chain: string; spki: string }; new: { chainFile: string; spki: string } };
  /**
   * MTA-STS in the lab (lab/mta-sts.ts): the host whose nginx serves the policies, its address,
   * the directory cutover writes them into, and the outside user whose mail enforces them.
   */
  mtaSts?: { policyHost: HostRole; address: string; directory: string; sender: string };
}

export interface PlannedLabHost {
  role: HostRole;
  namespace: string;
  address: string;
  interface: string;
  link: string;
}

/**
 * Where each host lives in the lab: pure, from the inventories of the lab stacks' shapes (the
 * pilot's first). A role has one address in all of them; the lab runs every shape's hosts and
 * serves every shape's bind zones, so any shape's stack can run on one lab.
 */
export function labLayout(shapes: LabInventory[]): {
  hosts: PlannedLabHost[];
  zones: string[];
  dnsRole: HostRole;
  aliases: Partial<Record<HostRole, HostRole>>;
} {
  const hosts: PlannedLabHost[] = [];
  const aliases: Partial<Record<HostRole, HostRole>> = {};
  const [pilot] = shapes;
  for (const inv of shapes) {
    if (inv.gateway.address !== pilot.gateway.address)
      throw new InputError(`lab: every lab stack's gateway.address must be ${pilot.gateway.address}, found ${inv.gateway.address}`);
    for (const role of ["legacy", "new", "internet", "smartHost", "dnsServer"] as const) {
      const h = inv.hosts[role];
      if (!h) continue;
      if (h.kind !== "existing")
        throw new InputError(`lab: hosts.${role} of a lab stack is kind ${h.kind}; the lab builds only existing hosts`);
      const known = hosts.find((x) => x.role === (aliases[role] ?? role));
      if (known) {
        if (known.address !== h.address || known.interface !== h.interface)
          throw new InputError(`lab: hosts.${role} is ${h.address} (${h.interface}) in one lab stack and ${known.address} in another`);
        continue;
      }
      // Another role's address: the same lab host under a second role (one namespace, one sshd).
      const same = hosts.find((x) => x.address === h.address);
      if (same) {
        if (same.interface !== h.interface)
          throw new InputError(
            `lab: hosts.${role} is ${h.address} (${h.interface}), the address of hosts.${same.role} (${same.interface})`,
          );
        aliases[role] = same.role;
        continue;
      }
      if (!RFC5737.some((r) => r.test(h.address)))
        throw new InputError(`lab: hosts.${role}.address ${h.address} is outside the RFC 5737 documentation ranges the lab may use`);
      hosts.push({
        role,
        namespace: `${LAB_PREFIX}-${role.toLowerCase()}`,
        address: h.address,
        interface: h.interface,
        link: `${LAB_PREFIX}-${role.slice(0, 3).toLowerCase()}`,
      });
    }
  }
  if (!RFC5737.some((r) => r.test(pilot.gateway.address)))
    throw new InputError(`lab: gateway.address ${pilot.gateway.address} is outside the RFC 5737 ranges`);
  if ([pilot.gateway.address, ...hosts.map((h) => h.address)].includes(OPERATOR_ADDRESS))
    throw new InputError(`lab: ${OPERATOR_ADDRESS} is the operator's address in the lab; give the pilot's hosts other addresses`);
  const bind = shapes.flatMap((inv) => inv.zones.filter((z) => z.provider === "bind"));
  const servers = new Set(bind.map((z) => aliases[z.server!] ?? z.server!));
  if (servers.size > 1) throw new InputError(`lab: the lab stacks' bind zones must share one DNS server, found ${[...servers].join(", ")}`);
  return { hosts, zones: [...new Set(bind.map((z) => z.name))], dnsRole: [...servers][0] ?? "internet", aliases };
}

/** What the lab reads of a lab stack's inventory. */
export type LabInventory = Pick<Inventory, "hosts" | "gateway" | "zones">;

/** A lab host's own directory (spool, maildirs, pid files, logs). */
export const hostDir = (role: HostRole) => join(LAB_DIR, "hosts", role.toLowerCase());
/** Files here are mounted over /etc by `ip netns exec` for that namespace's processes only (lab-notes 5, 9). */
export const etcDir = (ns: string) => join("/etc/netns", ns);
/** Host keys, the admin key and the TSIG secret: kept across `down` and `up`. */
export const keysDir = join(LAB_DIR, "keys");
export const descriptionPath = join(LAB_DIR, "lab.json");
/** The lab CA's certificate: what the lab's senders, and every lab client, trust. */
export const LAB_CA_FILE = join(keysDir, "ca", "ca.pem");
