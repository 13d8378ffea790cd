import * as pulumi from "@pulumi/pulumi";
import { InputError } from "../../src/model/errors";
import type { PlannedZone } from "../../src/model/plan";
import { recordSetMap, recordsDigest, unmanagedRecordSets } from "../../src/model/records";
import { aws, cloudflare } from "../cloud-sdks";
import { CloudZone, OnPremZone, type SshEndpoint } from "../providers/host-effects";
import { cloudflareListed, recordResourceName, route53Listed, route53Values } from "./adapters";

export interface MailZoneArgs {
  /** The zone as planned for this phase: name, DNS provider and every record it must hold. */
  zone: PlannedZone;
  /** bind: how to reach the DNS server's host, and the TSIG secret (both Pulumi secrets). */
  onPrem?: { server: SshEndpoint; privateKey: pulumi.Input<string>; tsigSecret: pulumi.Input<string> };
  /** cloudflare: the stack's cloudflare:apiToken, when it has one (else CLOUDFLARE_API_TOKEN where the engine runs). */
  cloudflareApiToken?: pulumi.Input<string>;
  /**
   * List the records of an existing Route 53 or Cloudflare zone that the stack does not manage
   * (the drift check's preview asks for it; a phase's update does not spend the API calls).
   */
  listUnmanaged?: boolean;
  /**
   * Resources the records wait for: the MTA-STS policy files, so that a sender that sees a new
   * policy id fetches the new policy, not the old one under the new id (RFC 8461 3.3).
   */
  after?: pulumi.Resource[];
}

/**
 * The id of an existing Route 53 hosted zone, looked up by that id: an id that does not exist, or
 * names another domain, stops the program before any record is written into it.
 */
function existingRoute53Zone(zone: PlannedZone, parent: pulumi.Resource): pulumi.Output<string> {
  return aws()
    .route53.getZoneOutput({ zoneId: zone.zoneId! }, { parent })
    .apply((found) => servedZoneId(zone, found));
}

/** The looked-up hosted zone's id when it serves the planned zone; otherwise bad input naming both. Pure. */
export function servedZoneId(zone: Pick<PlannedZone, "name" | "zoneId">, found: { name: string; zoneId: string }): string {
  const served = found.name.replace(/\.$/, "").toLowerCase();
  if (served !== zone.name)
    throw new InputError(
      `zone ${zone.name}: Route 53 hosted zone ${zone.zoneId} serves ${served}, not ${zone.name}: give zoneId of the hosted zone of ${zone.name} (aws route53 list-hosted-zones-by-name --dns-name ${zone.name})`,
    );
  return found.zoneId;
}

/**
 * Whether the zone already exists with the organisation's records in it (an on-prem zone, an existing
 * Route 53 hosted zone, a Cloudflare zone): its records are adopted and given back by cutover's own
 * zone provider. Only a hosted zone the stack creates starts empty.
 */
export const adoptsRecords = (zone: PlannedZone) => !(zone.provider === "route53" && zone.create);

/**
 * A DNS zone's mail records on its provider. In a zone that exists (on-prem, Route 53, Cloudflare)
 * cutover's zone provider writes them: it reads the names before the first write, keeps what they
 * held (the original), merges a shared TXT name, and gives the original back when a name leaves
 * management or the stack is destroyed (components/providers/runtime.ts, adoptingZone). A hosted
 * zone the stack creates holds nothing of anyone's: aws provider records. Records the stack does
 * not manage are left alone.
 */
export class MailZone extends pulumi.ComponentResource {
  /** The zone's name, such as example.com. */
  readonly zoneName: string;
  /** Route 53: the hosted zone's name servers, to delegate the domain to. */
  readonly nameServers: pulumi.Output<string[]> | undefined;
  /** How many record sets the zone holds in this phase. */
  readonly recordCount: number;
  /** With listUnmanaged, on an existing Route 53 or Cloudflare zone: its records the stack leaves alone. */
  readonly unmanagedRecords: pulumi.Output<string[]> | undefined;

  constructor(name: string, args: MailZoneArgs, opts?: pulumi.ComponentResourceOptions) {
    super("cutover:dns:MailZone", name, {}, opts);
    const { zone } = args;
    const child: pulumi.CustomResourceOptions = { parent: this, ...(args.after?.length ? { dependsOn: args.after } : {}) };
    this.zoneName = zone.name;
    this.recordCount = zone.records.length;

    switch (zone.provider) {
      case "route53": {
        const { route53 } = aws();
        // An existing hosted zone is found by its id and never created or deleted; only create: true makes one.
        const hosted = zone.create
          ? new route53.Zone(`${name}-zone`, { name: zone.name, comment: "Managed by cutover" }, { parent: this })
          : undefined;
        const zoneId = hosted ? hosted.zoneId : existingRoute53Zone(zone, this);
        if (hosted)
          for (const r of zone.records) {
            new route53.Record(
              `${name}-${recordResourceName(r)}`,
              { zoneId, name: r.name, type: r.type, ttl: r.ttl, records: route53Values(r) },
              child,
            );
          }
        else
          new CloudZone(
            `${name}-records`,
            { dnsProvider: "route53", zone: zone.name, zoneId, records: recordSetMap(zone.records), digest: recordsDigest(zone.records) },
            child,
          );
        this.nameServers = hosted?.nameServers;
        this.unmanagedRecords =
          args.listUnmanaged && !hosted
            ? route53
                .getRecordsOutput({ zoneId }, { parent: this })
                .apply((l) => unmanagedRecordSets(zone, l.resourceRecordSets.map(route53Listed)))
            : undefined;
        break;
      }
      case "cloudflare": {
        const sdk = cloudflare();
        new CloudZone(
          `${name}-records`,
          {
            dnsProvider: "cloudflare",
            zone: zone.name,
            zoneId: zone.zoneId!,
            ...(args.cloudflareApiToken ? { apiToken: args.cloudflareApiToken } : {}),
            records: recordSetMap(zone.records),
            digest: recordsDigest(zone.records),
          },
          child,
        );
        this.nameServers = undefined;
        // maxItems: the provider lists 1,000 records unless told otherwise, fewer than a large zone holds.
        this.unmanagedRecords = args.listUnmanaged
          ? sdk
              .getDnsRecordsOutput({ zoneId: zone.zoneId!, maxItems: 100_000 }, { parent: this })
              .apply((l) => unmanagedRecordSets(zone, l.results.map(cloudflareListed)))
          : undefined;
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
            records: recordSetMap(zone.records),
            digest: recordsDigest(zone.records),
          },
          child,
        );
        this.nameServers = undefined;
        // The drift check transfers on-prem zones itself (AXFR over SSH).
        this.unmanagedRecords = undefined;
        break;
      }
    }
    this.registerOutputs({ zoneName: this.zoneName, recordCount: this.recordCount, nameServers: this.nameServers });
  }
}
