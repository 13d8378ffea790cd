/**
 * The Pulumi program's wiring: one plan in, components out. index.ts calls it with the stack's
 * config; tests call it under mocks with fixtures.
 */
import type * as pulumi from "@pulumi/pulumi";
import { MailZone } from "./dns/mail-zone";
import { ElasticIpGoLive } from "./go-live/elastic-ip";
import { GatewayHost } from "./hosts/gateway-host";
import type { Inventory } from "./inventory";
import type { Plan } from "./plan";

export interface Deployment {
  zones: MailZone[];
  hosts: GatewayHost[];
  goLive: ElasticIpGoLive | undefined;
}

export function deploy(inv: Inventory, p: Plan): Deployment {
  const zones = p.zones.map((z) => new MailZone(`zone-${z.name.replace(/\./g, "-")}`, { zone: z }));
  const hosts = p.hosts.map(
    (h) =>
      new GatewayHost(h.role, {
        role: h.role,
        host: inv.hosts[h.role]!,
        hostName: h.name,
        ...withRouting(p, h.role),
      }),
  );
  let goLive: ElasticIpGoLive | undefined;
  if (p.gateway.strategy === "eip") {
    const holder = hosts.find((h) => h.role === p.gateway.holder)!;
    goLive = new ElasticIpGoLive("gateway-address", {
      allocationId: inv.gateway.allocationId!,
      holder: p.gateway.holder,
      instanceId: holder.instanceId!,
    });
  }
  return { zones, hosts, goLive };
}

const withRouting = (p: Plan, role: string) => {
  const routing = p.routing.find((t) => t.host === role);
  return routing ? { routing } : {};
};

/** What the stack reports after each update: enough to read the phase's effect in `stack output`. */
export function stackOutputs(p: Plan, d: Deployment): Record<string, pulumi.Input<unknown>> {
  return {
    phase: p.phase,
    stage: p.stage,
    gateway: { holder: p.gateway.holder, hostName: p.gateway.hostName, address: p.gateway.address, strategy: p.gateway.strategy },
    zones: Object.fromEntries(d.zones.map((z) => [z.zoneName, { records: z.recordCount }])),
    routing: Object.fromEntries(d.hosts.filter((h) => h.routingDigest).map((h) => [h.role, h.routingDigest])),
    mailboxes: new Set(p.flows.filter((f) => f.from === "outside").map((f) => f.recipient)).size,
  };
}
