/** How to reach an existing host of the inventory over SSH: the one place an endpoint is built. */
import { InputError } from "../model/errors";
import type { HostRole, Inventory } from "../model/inventory";
import type { HostTarget, SshEndpoint } from "./ssh";

/** Pinned SSH host keys by role, "ssh-ed25519 AAAA..." (the stack's cutover:hostKeys). */
export type HostKeys = Partial<Record<HostRole, string>>;

/** The endpoint of an existing host: its management address, port, user and pinned host key. */
export function sshEndpoint(inv: Pick<Inventory, "hosts">, role: HostRole, hostKeys: HostKeys): SshEndpoint {
  const h = inv.hosts[role];
  if (h?.kind !== "existing") throw new InputError(`hosts.${role} is not an existing host reached by SSH`);
  const hostKey = hostKeys[role];
  if (!hostKey) throw new InputError(`hosts.${role} has no pinned host key: set cutover:hostKeys.${role}`);
  return { name: role, address: h.address, port: h.port, user: h.user, hostKey };
}

/** An endpoint with the private key a session logs in with. */
export const hostTarget = (endpoint: SshEndpoint, privateKey: string): HostTarget => ({ ...endpoint, privateKey });
