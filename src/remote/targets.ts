/** How to reach a host of the inventory over SSH, whatever runs it: the one place an endpoint is built. */
import { InputError } from "../model/errors";
import type { HostRole, Inventory } from "../model/inventory";
import type { HostTarget, SshEndpoint } from "./ssh";

/** Pinned SSH host keys by role, "ssh-ed25519 AAAA..." (the stack's cutover:hostKeys). */
export type HostKeys = Partial<Record<HostRole, string>>;

/**
 * The endpoint of a host: its management address (an EC2 instance's sshAddress, else its private
 * address), port, user and pinned host key.
 */
export function sshEndpoint(inv: Pick<Inventory, "hosts">, role: HostRole, hostKeys: HostKeys): SshEndpoint {
  const h = inv.hosts[role];
  if (!h) throw new InputError(`there is no hosts.${role} in the inventory`);
  const hostKey = hostKeys[role];
  if (!hostKey) throw new InputError(`hosts.${role} has no pinned host key: set cutover:hostKeys.${role}`);
  const address = h.kind === "aws" ? (h.sshAddress ?? h.address) : h.address;
  return { name: role, address, port: h.port, user: h.user, hostKey };
}

/** An endpoint with the private key a session logs in with. */
export const hostTarget = (endpoint: SshEndpoint, privateKey: string): HostTarget => ({ ...endpoint, privateKey });
