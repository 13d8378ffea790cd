import type { HostRole, Inventory } from "../model/inventory";
import type { HostTarget } from "./ssh";

/** How to reach an existing host over SSH, from the inventory, its pinned key and the private key. */
export function hostTarget(inv: Inventory, role: HostRole, hostKey: string, privateKey: string): HostTarget {
  const h = inv.hosts[role];
  if (!h || h.kind !== "existing") throw new Error(`hosts.${role} is not an existing host reached by SSH`);
  return { name: role, address: h.address, port: h.port, user: h.user, hostKey, privateKey };
}
