/**
 * An interrupted go-live or rollback can leave the gateway's service address on no host: the old
 * holder released it, and the engine died before the other took it. That is an outage, and the
 * engine's own recovery (refresh, preview, up) takes 10-20 s on top. So a rollback after an
 * interruption first puts the identity of the update it goes back to on the hosts, with the same
 * effect the engine runs (applyGatewayIdentity); the engine's run after it then finds the identity
 * as planned and reconciles its state.
 */

import { readdressHosts } from "../../components/go-live/readdress";
import type { Inventory, MailSystem } from "../model/inventory";
import type { Plan } from "../model/plan";
import type { Ec2Api } from "../remote/effects/elastic-ip";
import { applyGatewayIdentity, readIdentity, undrainCommand } from "../remote/effects/identity";
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

/**
 * Putting an Elastic IP move back that failed part-way (the releasing holder drained and closed,
 * its association deleted, the new one refused: IAM, an instance not running): the address would
 * be on no instance and the holder would refuse sessions until someone acted. `reopen` lets the
 * holder take sessions again, `reassociate` puts the address back on it.
 */
export interface FailedMoveUndo {
  /** Which instance the address is on now: the releasing holder, the taker, none, or another. */
  whereNow(): Promise<"releasing" | "taker" | "none" | "elsewhere">;
  reopen(): Promise<void>;
  reassociate(): Promise<string>;
  progress: Progress;
}

/**
 * After a failed up that was to move the Elastic IP: nothing when the move happened (the address
 * on the taker: the failure was elsewhere) or the address is on a third instance; the holder
 * reopened (its drain may have run) when the address is still on it; reopened and the address
 * put back when it is on no instance. Each step is tried whatever the other did, and said.
 * Returns whether it changed anything.
 */
export async function undoFailedMove(undo: FailedMoveUndo): Promise<boolean> {
  const where = await undo.whereNow().catch((e: Error) => {
    undo.progress(`the Elastic IP's association could not be read (${(e as Error).message}): run npm run rollback`);
    return "elsewhere" as const;
  });
  if (where === "taker" || where === "elsewhere") return false;
  const reopened = await undo.reopen().then(
    () => "it takes sessions again",
    (e: Error) => `it could NOT be reopened (${e.message}): run npm run rollback`,
  );
  const back =
    where === "none"
      ? await undo.reassociate().then(
          (what) => `; the Elastic IP is on it again (${what})`,
          (e: Error) => `; the Elastic IP could NOT be put back (${e.message}): run npm run rollback`,
        )
      : "; the Elastic IP never left it";
  undo.progress(`the update failed before the Elastic IP moved: the releasing gateway is back as it was: ${reopened}${back}`);
  return true;
}

/**
 * The undo of a failed Elastic IP move (undoFailedMove) for a stack whose update from `from` to `to`
 * failed: the releasing holder reached over SSH with the stack's key, the address read and put back
 * through EC2's API in the stack's region (aws:region). Nothing for another strategy or no move.
 */
export async function restoreElasticIp(
  stack: MigrationStack,
  inv: Inventory,
  from: Plan,
  to: Plan,
  progress: Progress,
  ec2?: Ec2Api,
): Promise<boolean> {
  const releasing = from.gateway.holder;
  if (to.gateway.strategy !== "eip" || !inv.gateway.allocationId || releasing === to.gateway.holder) return false;
  const allocationId = inv.gateway.allocationId;
  const [state, sessions] = [await stack.state(), await stackSessions(stack, inv)];
  const instanceOf = (role: MailSystem): string | undefined => {
    const h = inv.hosts[role];
    if (h.kind === "aws" && h.instanceId) return h.instanceId;
    const made = state
      .outputsOf("aws:ec2/instance:Instance")
      .find((o) => (o.tags as Record<string, string> | undefined)?.["cutover:role"] === role);
    return made?.id as string | undefined;
  };
  const [releasingInstance, takerInstance] = [instanceOf(releasing), instanceOf(to.gateway.holder)];
  // The EC2 SDK is loaded only here, for a failed move.
  const effects = await import("../remote/effects/elastic-ip");
  const client = ec2 ?? effects.ec2Client(sessions.config["aws:region"]?.value);
  try {
    return await undoFailedMove({
      whereNow: async () => {
        const on = await effects.elasticIpHolder(client, allocationId);
        return !on ? "none" : on === releasingInstance ? "releasing" : on === takerInstance ? "taker" : "elsewhere";
      },
      reopen: async () => {
        if (!sessions.session) throw new Error(sessions.unavailable ?? "no SSH key");
        await (await sessions.session(releasing)).exec(undrainCommand(inv.hosts[releasing].address));
      },
      reassociate: async () => {
        if (!releasingInstance) throw new Error(`the instance of hosts.${releasing} is not known`);
        return effects.reassociate(client, allocationId, releasingInstance);
      },
      progress,
    });
  } finally {
    await sessions.close();
  }
}

/** restoreElasticIp after a failed up, never throwing over the up's own error: what it could not do, it says. */
export async function undoElasticIpMove(stack: MigrationStack, inv: Inventory, from: Plan, to: Plan, progress: Progress): Promise<void> {
  await restoreElasticIp(stack, inv, from, to, progress).catch((e: Error) =>
    progress(`the failed Elastic IP move could not be undone (${e.message}): run npm run rollback`),
  );
}
