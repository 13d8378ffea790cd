/**
 * The drift check of one stack: its phase's plan against the live world, with the stack's own
 * credentials (pinned host keys, SSH key, TSIG secret) and the engine's refresh preview.
 */

import { checkDrift, type DriftReport } from "../checks/drift";
import { verifyPhase } from "../checks/verify";
import { CONFIG } from "../model/config-keys";
import type { Phase } from "../model/inventory";
import { plan } from "../model/plan";
import { loadStack } from "../model/stack-file";
import type { PostfixBaseline } from "../remote/effects/postfix-baseline";
import type { SshEndpoint } from "../remote/ssh";
import type { MigrationStack } from "./stack";
import { stackSessions } from "./verification";

export interface StackDriftOptions {
  /** Skip the engine's refresh preview (live checks only). */
  skipEngine?: boolean;
  resolvers?: string[];
  concurrency?: number;
  timeoutMs?: number;
  /** Send the verification's probe messages too (they are delivered to the plan's mailboxes). */
  flows?: boolean;
}

export async function stackDrift(stack: MigrationStack, o: StackDriftOptions = {}): Promise<DriftReport> {
  const config = await stack.config();
  const phase = Number(config[CONFIG.phase]?.value) as Phase;
  const inv = loadStack(stack.name, phase).inventory;
  const p = plan(inv, phase);
  const sessions = await stackSessions(stack, inv);
  const session = sessions.session;
  const tsigSecret = config[CONFIG.tsigSecret]?.value;
  const key = p.zones.find((z) => z.tsigKey)?.tsigKey;
  try {
    return await checkDrift({
      stack: stack.name,
      plan: p,
      inventory: inv,
      ...(sessions.session ? { session: sessions.session } : { sessionUnavailable: sessions.unavailable }),
      baselines: async () => {
        const routing = await stack.resourcesOutputs("pulumi-nodejs:dynamic/cutover:GatewayRouting");
        return Object.fromEntries(routing.map((r) => [(r.host as SshEndpoint).name, r.baseline as PostfixBaseline | undefined]));
      },
      ...(tsigSecret && key ? { tsig: { ...key, secret: tsigSecret } } : {}),
      ...(o.skipEngine
        ? {}
        : {
            engine: async () => {
              const r = await stack.refresh({ previewOnly: true });
              return {
                changed: r.steps
                  .filter((s) => s.refreshChanged || !["same", "read", "refresh"].includes(s.op))
                  .map((s) => ({ name: s.name, properties: s.changes.map((c) => c.path) })),
              };
            },
            // The program lists existing cloud zones with the providers' own credentials and listings
            // (an engine preview, about 4 s: only when the plan has such a zone).
            ...(p.zones.some((z) => z.provider === "cloudflare" || (z.provider === "route53" && !z.create))
              ? {
                  cloudListing: async () => {
                    const r = await stack.preview({ config: { [CONFIG.listUnmanaged]: true } });
                    const zones = (r.outputs?.zones ?? {}) as Record<string, { unmanaged?: string[] }>;
                    return Object.fromEntries(Object.entries(zones).flatMap(([zone, z]) => (z.unmanaged ? [[zone, z.unmanaged]] : [])));
                  },
                }
              : {}),
          }),
      ...(o.flows ? { flows: () => (session ? verifyPhase(p, { session }) : Promise.reject(new Error(sessions.unavailable))) } : {}),
      ...(o.resolvers ? { resolvers: o.resolvers } : {}),
      ...(inv.gateway.starttls ? { starttls: true } : {}),
      ...(o.concurrency ? { concurrency: o.concurrency } : {}),
      ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
    });
  } finally {
    await sessions.close();
  }
}
