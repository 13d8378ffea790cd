import * as pulumi from "@pulumi/pulumi";
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
      { allocationId: args.allocationId, instanceId: args.instanceId, allowReassociation: false },
      { parent: this, ...ELASTIC_IP_MOVE_OPTIONS, ...(args.after ? { dependsOn: args.after } : {}) },
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
} as const satisfies pulumi.CustomResourceOptions;
