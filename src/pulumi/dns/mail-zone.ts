import * as aws from "@pulumi/aws";
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import type { PlannedZone } from "../../model/plan";
import { recordsDigest } from "../../model/records";
import { OnPremZone, type SshEndpoint } from "../providers/host-effects";
import { cloudflareRecords, recordResourceName, route53Values } from "./adapters";

export interface MailZoneArgs {
  /** The zone as planned for this phase: name, DNS provider and every record it must hold. */
  zone: PlannedZone;
  /** bind: how to reach the DNS server's host, and the TSIG secret (both Pulumi secrets). */
  onPrem?: { server: SshEndpoint; privateKey: pulumi.Input<string>; tsigSecret: pulumi.Input<string> };
}

/**
 * A DNS zone's mail records on its provider: a Route 53 hosted zone the stack owns with one
 * record set per name and type, or records in an existing Cloudflare zone.
 */
export class MailZone extends pulumi.ComponentResource {
  /** The zone's name, such as example.com. */
  readonly zoneName: string;
  /** Route 53: the hosted zone's name servers, to delegate the domain to. */
  readonly nameServers: pulumi.Output<string[]> | undefined;
  /** How many record sets the zone holds in this phase. */
  readonly recordCount: number;

  constructor(name: string, args: MailZoneArgs, opts?: pulumi.ComponentResourceOptions) {
    super("cutover:dns:MailZone", name, {}, opts);
    const { zone } = args;
    this.zoneName = zone.name;
    this.recordCount = zone.records.length;

    switch (zone.provider) {
      case "route53": {
        const hosted = new aws.route53.Zone(`${name}-zone`, { name: zone.name, comment: "Managed by cutover" }, { parent: this });
        for (const r of zone.records) {
          new aws.route53.Record(
            `${name}-${recordResourceName(r)}`,
            { zoneId: hosted.zoneId, name: r.name, type: r.type, ttl: r.ttl, records: route53Values(r) },
            { parent: this },
          );
        }
        this.nameServers = hosted.nameServers;
        break;
      }
      case "cloudflare": {
        for (const r of zone.records) {
          cloudflareRecords(r).forEach((c, i) => {
            new cloudflare.DnsRecord(
              `${name}-${recordResourceName(r)}${i ? `-${i}` : ""}`,
              {
                zoneId: zone.zoneId!,
                name: c.name,
                type: c.type,
                ttl: c.ttl,
                content: c.content,
                ...(c.priority !== undefined ? { priority: c.priority } : {}),
              },
              { parent: this },
            );
          });
        }
        this.nameServers = undefined;
        break;
      }
      case "bind": {
        const onPrem = args.onPrem!;
        new OnPremZone(
          `${name}-records`,
          {
            server: onPrem.server,
            privateKey: onPrem.privateKey,
            zone: zone.name,
            serverAddress: zone.serverAddress!,
            tsigName: zone.tsigKey!.name,
            tsigAlgorithm: zone.tsigKey!.algorithm,
            tsigSecret: onPrem.tsigSecret,
            records: zone.records,
            digest: recordsDigest(zone.records),
          },
          { parent: this },
        );
        this.nameServers = undefined;
        break;
      }
    }
    this.registerOutputs({ zoneName: this.zoneName, recordCount: this.recordCount, nameServers: this.nameServers });
  }
}
