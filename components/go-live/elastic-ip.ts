import * as pulumi from "@pulumi/pulumi";
import { InputError } from "../../src/model/errors";
import type { MailSystem } from "../../src/model/inventory";
import { type Aws, aws } from "../cloud-sdks";

export interface ElasticIpGoLiveArgs {
  /** Allocation id of the gateway's Elastic IP: allocated outside the stack, never released by it. */
  allocationId: string;
  /** Which system holds the gateway identity in this phase. */
  holder: MailSystem;
  /** The holder's EC2 instance. */
  instanceId: pulumi.Input<string>;
  /** What must be done before the address moves (the releasing host's drain). */
  after?: pulumi.Resource[];
  /**
   * Whether the new association may take the address from where it is: only from the other
   * gateway of the stack (an undone failed move left it there, outside the state), never from a
   * third instance. Applies to a new association only (an existing one keeps what it was made with).
   */
  allowReassociation?: pulumi.Input<boolean>;
}

/**
 * The eip go-live: one association of the gateway's Elastic IP, to the legacy instance before the
 * go-live and to the new one after. Moving it is one `pulumi up`, and so is moving it back.
 */
export class ElasticIpGoLive extends pulumi.ComponentResource {
  readonly holder: MailSystem;
  readonly associationId: pulumi.Output<string>;
  readonly association: Aws.ec2.EipAssociation;
  /** The steps around the move over SSH (set by the program when the gateways are reached by SSH). */
  drain?: pulumi.Resource;
  identity?: pulumi.Resource;

  constructor(name: string, args: ElasticIpGoLiveArgs, opts?: pulumi.ComponentResourceOptions) {
    super("cutover:golive:ElasticIpGoLive", name, {}, opts);
    this.holder = args.holder;
    const { ec2 } = aws();
    const association = new ec2.EipAssociation(
      `${name}-association`,
      // allowReassociation false: the address is free when we associate it (see the options),
      // so an association held by anything else is an error to stop on, not an address to steal.
      { allocationId: args.allocationId, instanceId: args.instanceId, allowReassociation: args.allowReassociation ?? false },
      {
        parent: this,
        ...ELASTIC_IP_MOVE_OPTIONS,
        ...(args.after ? { dependsOn: args.after } : {}),
      },
    );
    this.association = association;
    this.associationId = association.id;
    this.registerOutputs({ holder: this.holder, associationId: this.associationId });
  }
}

/**
 * Changing the instance replaces the association. Pulumi's default replacement creates the new
 * association first: it steals the address, and deleting the old one then fails or strips the
 * address from the new instance (pulumi-aws#1483, terraform-provider-aws#2689). Deleting first
 * makes both directions succeed, at the cost of a moment with no association; senders retry.
 */
export const ELASTIC_IP_MOVE_OPTIONS = {
  deleteBeforeReplace: true,
  replaceOnChanges: ["instanceId"],
  // Computed from where the address is at each run (ElasticIpGoLiveArgs): a change alone must never
  // replace (and so disassociate) an association in place.
  ignoreChanges: ["allowReassociation"],
} as const satisfies pulumi.CustomResourceOptions;

/** A security group rule as the aws provider's vpc.getSecurityGroupRule gives it (the fields cutover reads). */
export interface SecurityGroupRule {
  isEgress: boolean;
  /** "tcp", "6", or "-1" for every protocol. */
  ipProtocol: string;
  fromPort: number;
  toPort: number;
  cidrIpv4?: string;
  cidrIpv6?: string;
  prefixListId?: string;
  referencedSecurityGroupId?: string;
}

/** The sources a set of security group rules admits SMTP (tcp 25) from: CIDRs, prefix lists, groups. Pure. */
export function smtpSources(rules: SecurityGroupRule[]): Set<string> {
  const smtp = (r: SecurityGroupRule) =>
    !r.isEgress && (r.ipProtocol === "-1" || ((r.ipProtocol === "tcp" || r.ipProtocol === "6") && r.fromPort <= 25 && r.toPort >= 25));
  return new Set(
    rules
      .filter(smtp)
      .flatMap((r) => [r.cidrIpv4, r.cidrIpv6, r.prefixListId, r.referencedSecurityGroupId])
      .filter((x): x is string => Boolean(x)),
  );
}

/**
 * Why the instance taking the Elastic IP would not be reached by the senders the other gateway is
 * reached by: the SMTP sources its security groups admit, against the other's (0.0.0.0/0 covers
 * every IPv4 network, ::/0 every IPv6 one). Undefined when every one is admitted. Pure.
 */
export function smtpClosedToSenders(
  taker: { role: MailSystem; groups: string[]; rules: SecurityGroupRule[] },
  other: { role: MailSystem; groups: string[]; rules: SecurityGroupRule[] },
): string | undefined {
  const [admits, needed] = [smtpSources(taker.rules), smtpSources(other.rules)];
  const covered = (source: string) =>
    // 0.0.0.0/0 covers every IPv4 source (a network, a prefix list's, a group's), ::/0 every IPv6 one.
    admits.has(source) || (admits.has("0.0.0.0/0") && !source.includes(":")) || (admits.has("::/0") && source.includes(":"));
  // The other gateway admitting nothing (an empty rule set read) asks for at least the Internet.
  const missing = needed.size ? [...needed].filter((s) => !covered(s)) : admits.has("0.0.0.0/0") ? [] : ["0.0.0.0/0"];
  if (!missing.length) return undefined;
  return `hosts.${taker.role}: its security groups (${taker.groups.join(", ")}) do not admit SMTP (tcp 25) from ${missing.join(", ")}, which ${other.role}'s (${other.groups.join(", ")}) ${needed.size ? "admit" : "must"}: the go-live would move the Elastic IP to an instance those senders cannot reach; add an inbound rule for tcp 25 from ${missing.join(", ")} to one of them (hosts.${taker.role}.instance.securityGroupIds)`;
}

/** A route as the aws provider's ec2.getRouteTable gives it (the fields cutover reads). */
export interface InstanceRoute {
  cidrBlock?: string;
  /** An Internet gateway (igw-...), or a virtual private gateway (vgw-...). */
  gatewayId?: string;
  natGatewayId?: string;
  transitGatewayId?: string;
  networkInterfaceId?: string;
  vpcPeeringConnectionId?: string;
}

/**
 * Why the instance giving the Elastic IP up would lose its way to the Internet with it: its
 * subnet's default route goes to an Internet gateway and the Elastic IP is its only public address
 * (it was launched without one of its own, which AWS would give it again). Its deferred queue, its
 * bounces and its own connections would then go nowhere. Undefined when its default route goes
 * through NAT, a transit or another gateway, when it has none, or when it gets a public address
 * back. Pure.
 */
export function outboundLostWithElasticIp(releasing: {
  role: MailSystem;
  instanceId: string;
  subnetId: string;
  publicIpOnLaunch: boolean;
  routes: InstanceRoute[];
}): string | undefined {
  const internet = releasing.routes.find((r) => r.cidrBlock === "0.0.0.0/0")?.gatewayId;
  if (!internet?.startsWith("igw-") || releasing.publicIpOnLaunch) return undefined;
  return `hosts.${releasing.role}: instance ${releasing.instanceId} reaches the Internet through ${internet} (subnet ${releasing.subnetId}) with the Elastic IP as its only public address: once the go-live moves the address away it can send nothing (its deferred queue, its bounces); give it a way out first: a NAT gateway route for its subnet, or an Elastic IP of its own`;
}

/**
 * The route table of a subnet: its own association, else its VPC's main table (a subnet without
 * one uses it).
 */
async function subnetRoutes(subnetId: string, parent: pulumi.Resource): Promise<InstanceRoute[]> {
  const { ec2 } = aws();
  try {
    return (await ec2.getRouteTable({ subnetId }, { parent })).routes;
  } catch {
    const { vpcId } = await ec2.getSubnet({ id: subnetId }, { parent });
    return (await ec2.getRouteTable({ vpcId, filters: [{ name: "association.main", values: ["true"] }] }, { parent })).routes;
  }
}

/**
 * Nothing, once the instance giving the Elastic IP up is known to keep its way to the Internet
 * without it (outboundLostWithElasticIp); the program stops naming the fix otherwise, before the
 * association moves.
 */
export function keepsOutbound(
  releasing: {
    role: MailSystem;
    instanceId: pulumi.Input<string>;
    network: { subnetId: pulumi.Input<string>; publicIpOnLaunch: pulumi.Input<boolean> };
  },
  parent: pulumi.Resource,
): pulumi.Output<void> {
  return pulumi
    .all([releasing.instanceId, releasing.network.subnetId, releasing.network.publicIpOnLaunch])
    .apply(async ([instanceId, subnetId, publicIpOnLaunch]) => {
      const why = outboundLostWithElasticIp({
        role: releasing.role,
        instanceId,
        subnetId,
        publicIpOnLaunch: Boolean(publicIpOnLaunch),
        routes: await subnetRoutes(subnetId, parent),
      });
      if (why) throw new InputError(why);
    });
}

/**
 * The taking instance's id once its security groups are known to admit every SMTP sender the other
 * gateway admits (smtpClosedToSenders); the program stops naming the gap otherwise, before the
 * association moves.
 */
export function openToSenders(
  taker: { role: MailSystem; instanceId: pulumi.Input<string>; securityGroupIds: pulumi.Input<string[]> },
  other: { role: MailSystem; securityGroupIds: pulumi.Input<string[]> },
  parent: pulumi.Resource,
): pulumi.Output<string> {
  const { vpc } = aws();
  const rules = async (ids: string[]): Promise<SecurityGroupRule[]> => {
    const listed = await vpc.getSecurityGroupRules({ filters: [{ name: "group-id", values: ids }] }, { parent });
    return Promise.all(listed.ids.map((securityGroupRuleId) => vpc.getSecurityGroupRule({ securityGroupRuleId }, { parent })));
  };
  return pulumi.all([taker.instanceId, taker.securityGroupIds, other.securityGroupIds]).apply(async ([id, takerGroups, otherGroups]) => {
    const why = smtpClosedToSenders(
      { role: taker.role, groups: takerGroups, rules: await rules(takerGroups) },
      { role: other.role, groups: otherGroups, rules: await rules(otherGroups) },
    );
    if (why) throw new InputError(why);
    return id;
  });
}
