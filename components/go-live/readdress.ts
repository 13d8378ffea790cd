import * as pulumi from "@pulumi/pulumi";
import type { MailSystem } from "../../src/model/inventory";
import type { Plan } from "../../src/model/plan";
import { GatewayIdentity, type IdentityHost, identityDigest, type SshEndpoint } from "../providers/host-effects";

export interface ReaddressGoLiveArgs {
  /** The phase's plan: who holds the gateway identity and every host's name. */
  plan: Plan;
  /** SSH connections of the two systems. */
  connections: Record<MailSystem, SshEndpoint>;
  /** Interface of each system that carries the service address. */
  interfaces: Record<MailSystem, string>;
  /** SSH private key (a Pulumi secret). */
  privateKey: pulumi.Input<string>;
  /** The legacy gateway is dead (--legacy-down): left out of the move, not drained. */
  legacyDown?: boolean;
}

/**
 * The gateway identity on hosts reached by SSH: the service address and host name sit on the legacy
 * gateway until the go-live and on the new server after it. One resource for both hosts, so one
 * update orders the move (release before take) in either direction.
 */
export class ReaddressGoLive extends pulumi.ComponentResource {
  readonly holder: MailSystem;
  readonly identity: GatewayIdentity;

  constructor(name: string, args: ReaddressGoLiveArgs, opts?: pulumi.ComponentResourceOptions) {
    super("cutover:golive:ReaddressGoLive", name, {}, opts);
    const hosts = readdressHosts(args);
    this.holder = args.plan.gateway.holder;
    this.identity = new GatewayIdentity(
      `${name}-address`,
      { hosts, privateKey: args.privateKey, holder: this.holder, digest: identityDigest(hosts) },
      { parent: this },
    );
    this.registerOutputs({ holder: this.holder });
  }
}

/** Each system's identity in the plan's phase. With the mx strategy the address never moves. Pure. */
export function readdressHosts(args: Pick<ReaddressGoLiveArgs, "plan" | "connections" | "interfaces" | "legacyDown">): IdentityHost[] {
  const { gateway } = args.plan;
  return (["legacy", "new"] as const).map((role) => ({
    host: args.connections[role],
    identity: {
      hostName: args.plan.hosts.find((h) => h.role === role)!.name,
      ownName: args.plan.hosts.find((h) => h.role === role)!.ownName,
      holdsServiceAddress: role === gateway.service.holder,
      service: {
        address: gateway.service.address,
        prefixLength: gateway.service.prefixLength,
        interface: args.interfaces[role],
        ...(gateway.service.ports ? { ports: gateway.service.ports } : {}),
      },
    },
    ...(role === "legacy" && args.legacyDown ? { down: true } : {}),
  }));
}
