import * as pulumi from "@pulumi/pulumi";
import type { HostRole, HostSpec } from "../../src/model/inventory";
import type { RoutingTable } from "../../src/model/plan";
import { compactRouting, routingDigest } from "../../src/model/routing";
import { aws } from "../cloud-sdks";
import { GatewayRouting, type SshEndpoint } from "../providers/host-effects";

export interface GatewayHostArgs {
  /** The host's role in the migration (legacy, new, internet, smartHost). */
  role: HostRole;
  /** How the host is reached: an existing machine over SSH, or an EC2 instance. */
  host: HostSpec;
  /** The host's name in this phase (the gateway's name when it holds the gateway identity). */
  hostName: string;
  /** The host's routing table in this phase, if it routes mail. */
  routing?: RoutingTable;
  /** How the engine reaches the host to configure its routing. */
  ssh?: { connection: SshEndpoint; privateKey: pulumi.Input<string> };
  /** The stack secret's chain for the gateway name, when the routing's TLS identity comes from it. */
  gatewayChain?: pulumi.Input<string>;
  /** The sha256 of that chain's certificate: a renewal changes it (public). */
  chainDigest?: string;
  /** An instance the stack creates: its user data (cloud-config that installs the pinned host key; a secret). */
  userData?: pulumi.Input<string>;
}

/**
 * A mail host. aws: the EC2 instance (created with its fixed private address and pinned host key,
 * or an existing one looked up by id). What lives on it is configured over SSH, whatever runs it.
 */
export class GatewayHost extends pulumi.ComponentResource {
  readonly role: HostRole;
  readonly address: string;
  readonly hostName: string;
  /** The EC2 instance id (aws hosts only). */
  readonly instanceId: pulumi.Output<string> | undefined;
  /** The EC2 instance's security groups (aws hosts only). */
  readonly securityGroupIds: pulumi.Output<string[]> | undefined;
  /**
   * An existing EC2 instance's subnet and whether it was launched with a public address of its own
   * (which AWS gives it again when an Elastic IP leaves it): what its outbound connectivity needs.
   */
  readonly network: { subnetId: pulumi.Output<string>; publicIpOnLaunch: pulumi.Output<boolean> } | undefined;
  /** sha256 of the routing table, so a preview shows when routing changes. */
  readonly routingDigest: string | undefined;

  constructor(name: string, args: GatewayHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("cutover:hosts:GatewayHost", name, {}, opts);
    this.role = args.role;
    this.address = args.host.address;
    this.hostName = args.hostName;
    this.routingDigest = args.routing ? routingDigest(args.routing) : undefined;

    const h = args.host;
    if (h.kind === "aws" && h.instance) {
      const { ec2 } = aws();
      const instance = new ec2.Instance(
        `${name}-instance`,
        {
          ami: h.instance.ami,
          instanceType: h.instance.instanceType,
          subnetId: h.instance.subnetId,
          vpcSecurityGroupIds: h.instance.securityGroupIds,
          privateIp: h.address,
          ...(args.userData ? { userData: args.userData } : {}),
          // IMDSv2 only, one hop: the user data (the instance's SSH host key) is not served to a
          // request without a session token, nor to a container or a forwarded request behind it.
          metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
          // Named by role, not host name: the name moves at the go-live, the instance does not.
          tags: { Name: `cutover-${args.role}`, "cutover:role": args.role },
        },
        // What the provider reads back of the user data stays a secret in the state too.
        { parent: this, additionalSecretOutputs: ["userData", "userDataBase64"] },
      );
      this.instanceId = instance.id;
      this.securityGroupIds = instance.vpcSecurityGroupIds;
      this.network = undefined;
    } else if (h.kind === "aws" && h.instanceId) {
      // The legacy gateway usually predates the stack: read it, never manage (or destroy) it.
      const instance = aws().ec2.Instance.get(`${name}-instance`, h.instanceId, undefined, { parent: this });
      this.instanceId = instance.id;
      this.securityGroupIds = instance.vpcSecurityGroupIds;
      this.network = { subnetId: instance.subnetId, publicIpOnLaunch: instance.associatePublicIpAddress };
    } else {
      this.instanceId = undefined;
      this.securityGroupIds = undefined;
      this.network = undefined;
    }
    if (args.routing && args.ssh) {
      new GatewayRouting(
        `${name}-routing`,
        {
          host: args.ssh.connection,
          privateKey: args.ssh.privateKey,
          routing: compactRouting(args.routing),
          digest: this.routingDigest!,
          ...(args.gatewayChain ? { gatewayChain: args.gatewayChain, chainDigest: args.chainDigest } : {}),
        },
        { parent: this },
      );
    }
    this.registerOutputs({
      role: this.role,
      address: this.address,
      hostName: this.hostName,
      instanceId: this.instanceId,
      routingDigest: this.routingDigest,
    });
  }
}
