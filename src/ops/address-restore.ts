/**
 * An interrupted go-live or rollback can leave the gateway's service address on no host: the old
 * holder released it, and the engine died before the other took it. That is an outage, and the
 * engine's own recovery (refresh, preview, up) takes 10-20 s on top. So a rollback after an
 * interruption first puts the identity of the update it goes back to on the hosts, with the same
 * effect the engine runs (applyGatewayIdentity); the engine's run after it then finds the identity
 * as planned and reconciles its state.
 */

import { readdressHosts } from "../../components/go-live/readdress";
import type { Inventory } from "../model/inventory";
import type { Plan } from "../model/plan";
import { applyGatewayIdentity, readIdentity } from "../remote/effects/identity";
import { sshEndpoint } from "../remote/targets";
import type { Progress } from "./engine";
import type { MigrationStack } from "./stack";
import { stackSessions } from "./verification";

/**
 * When no host holds the service address of a readdress go-live, gives the plan's identity to the
 * hosts at once and says so; otherwise (the address held, another strategy, a host out of reach)
 * leaves everything to the engine. Returns whether it moved the address.
 */
export async function restoreLostAddress(stack: MigrationStack, inv: Inventory, p: Plan, progress: Progress): Promise<boolean> {
  const { legacy, new: neu } = inv.hosts;
  if (p.gateway.strategy === "eip" || p.gateway.strategy === "mx" || legacy.kind !== "existing" || neu.kind !== "existing") return false;
  const sessions = await stackSessions(stack, inv);
  try {
    const { session, hostKeys } = sessions;
    if (!session || !hostKeys) return false;
    const hosts = readdressHosts({
      plan: p,
      connections: { legacy: sshEndpoint(inv, "legacy", hostKeys), new: sshEndpoint(inv, "new", hostKeys) },
      interfaces: { legacy: legacy.interface, new: neu.interface },
    });
    const started = Date.now();
    const reached = await Promise.all(
      hosts.map(async (h) => {
        const s = await session(h.host.name as "legacy" | "new");
        return { session: s, identity: h.identity, live: await readIdentity(s, h.identity.service) };
      }),
    ).catch(() => undefined);
    if (!reached || reached.some((h) => h.live.holdsServiceAddress)) return false;
    const holder = p.gateway.service.holder;
    progress(`the gateway's address ${p.gateway.service.address} is on no host: ${holder} takes it back before the engine runs`);
    await applyGatewayIdentity(reached);
    progress(`${holder} holds ${p.gateway.service.address} again (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    return true;
  } finally {
    await sessions.close();
  }
}
