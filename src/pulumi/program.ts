/**
 * The Pulumi program's wiring: one plan in, components out. index.ts calls it with the stack's
 * config; tests call it under mocks with fixtures.
 */

import * as pulumi from "@pulumi/pulumi";
import { aws } from "../../components/cloud-sdks";
import { adoptsRecords, MailZone } from "../../components/dns/mail-zone";
import { ElasticIpGoLive, keepsOutbound, openToSenders } from "../../components/go-live/elastic-ip";
import { ReaddressGoLive, type ReaddressGoLiveArgs } from "../../components/go-live/readdress";
import { GatewayHost } from "../../components/hosts/gateway-host";
import {
  GatewayDrain,
  GatewayIdentity,
  HostEffectsProvider,
  identityDigest,
  MailboxArchive,
  MtaStsPolicies,
} from "../../components/providers/host-effects";
import { readChain } from "../model/certificate";
import { InputError } from "../model/errors";
import type { HostRole, Inventory, MailSystem } from "../model/inventory";
import type { ArchivedAssignment } from "../model/mailbox-archive";
import type { Plan } from "../model/plan";
import { hostKeyUserData } from "../remote/instance-host-key";
import { sshEndpoint } from "../remote/targets";

/** What the engine needs to reach existing hosts and on-prem DNS: pinned keys and stack secrets. */
export interface HostCredentials {
  hostKeys: Partial<Record<HostRole, string>>;
  privateKey: pulumi.Input<string>;
  tsigSecret: pulumi.Input<string> | undefined;
  /** By role, the private SSH host key of each EC2 instance the stack creates (secrets). */
  instanceHostKeys?: Partial<Record<HostRole, pulumi.Input<string>>>;
  /** By system, the chain for the gateway name from the stack secret cutover:gatewayTls (checked by loadConfig). */
  gatewayChains?: Partial<Record<MailSystem, string>>;
  /** The stack's cloudflare:apiToken (a secret), for the records cutover writes into Cloudflare zones itself. */
  cloudflareApiToken?: pulumi.Input<string>;
}

export interface Deployment {
  zones: MailZone[];
  hosts: GatewayHost[];
  goLive: ElasticIpGoLive | ReaddressGoLive | undefined;
  /** The mailbox file this update runs with, archived in the stack for rollbacks. */
  archive: MailboxArchive | undefined;
  /** With gateway.mtaSts: each domain's policy file on the host serving it. */
  mtaSts?: MtaStsPolicies;
}

export interface DeployOptions {
  /** The mailbox file this update runs with, to archive in the stack. */
  assignment?: ArchivedAssignment;
  /** List the records of existing Route 53 and Cloudflare zones that the stack does not manage. */
  listUnmanaged?: boolean;
  /** The legacy gateway is dead: the readdress go-live leaves it out (cutover:legacyDown). */
  legacyDown?: boolean;
  /** The host-effects provider, when the program registered it already (index.ts does, first). */
  hostEffects?: HostEffectsProvider;
}

export function deploy(inv: Inventory, p: Plan, creds?: HostCredentials, o: DeployOptions = {}): Deployment {
  const { assignment } = o;
  const needs = (what: string) => {
    if (!creds) throw new InputError(`${what} is reached by SSH: the program needs cutover:hostKeys and the secret cutover:sshPrivateKey`);
    return creds;
  };
  // Existing cloud zones' records are written by cutover's own provider too (components/dns/mail-zone.ts).
  const hostEffects =
    o.hostEffects ?? (creds || assignment || p.zones.some(adoptsRecords) ? new HostEffectsProvider("host-effects") : undefined);
  const opts: pulumi.ComponentResourceOptions = hostEffects ? { providers: [hostEffects] } : {};
  const archive = assignment && hostEffects ? new MailboxArchive("mailbox-archive", assignment, { provider: hostEffects }) : undefined;
  // The policy files go up before the records announcing their id (see MailZoneArgs.after).
  const mtaSts = p.mtaSts
    ? new MtaStsPolicies(
        "mta-sts-policies",
        {
          host: sshEndpoint(inv, p.mtaSts.policyHost, needs(`hosts.${p.mtaSts.policyHost}, which serves the MTA-STS policy,`).hostKeys),
          privateKey: creds!.privateKey,
          directory: p.mtaSts.directory,
          policies: Object.fromEntries(p.mtaSts.policies.map((x) => [x.domain, x.text])),
        },
        { provider: hostEffects! },
      )
    : undefined;

  const zones = p.zones.map((z) => {
    const onPrem =
      z.provider === "bind"
        ? (() => {
            const c = needs(`the DNS server of zone ${z.name}`);
            if (c.tsigSecret === undefined)
              throw new InputError(
                `zone ${z.name} is on an on-prem DNS server: set the TSIG secret with pulumi config set --secret cutover:tsigSecret ...`,
              );
            return { server: sshEndpoint(inv, z.server!, c.hostKeys), privateKey: c.privateKey, tsigSecret: c.tsigSecret };
          })()
        : undefined;
    return new MailZone(
      `zone-${z.name.replace(/\./g, "-")}`,
      {
        zone: z,
        ...(onPrem ? { onPrem } : {}),
        ...(creds?.cloudflareApiToken && z.provider === "cloudflare" ? { cloudflareApiToken: creds.cloudflareApiToken } : {}),
        ...(o.listUnmanaged ? { listUnmanaged: true } : {}),
        ...(mtaSts ? { after: [mtaSts] } : {}),
      },
      opts,
    );
  });
  const hosts = p.hosts.map((h) => {
    const spec = inv.hosts[h.role]!;
    const routing = p.routing.find((t) => t.host === h.role);
    const gatewayChain = routing?.tls && !routing.tls.chain ? creds?.gatewayChains?.[h.role as MailSystem] : undefined;
    if (routing?.tls && !routing.tls.chain && !gatewayChain)
      throw new InputError(
        `hosts.${h.role} serves the gateway's TLS identity from the stack secret: pulumi config set --secret --path 'gatewayTls.${h.role}' < ${h.role}-gateway.pem`,
      );
    // Every host that routes mail is configured over SSH, whatever runs it (an EC2 instance too).
    const ssh = routing
      ? { connection: sshEndpoint(inv, h.role, needs(`hosts.${h.role}`).hostKeys), privateKey: creds!.privateKey }
      : undefined;
    const userData = spec.kind === "aws" && spec.instance ? instanceUserData(h.role, needs(`hosts.${h.role}`)) : undefined;
    return new GatewayHost(
      h.role,
      {
        role: h.role,
        host: spec,
        hostName: h.name,
        ...(routing ? { routing } : {}),
        ...(ssh ? { ssh } : {}),
        ...(gatewayChain
          ? {
              gatewayChain: pulumi.secret(gatewayChain),
              // A renewed certificate of the same key changes no routing, but must reach the host.
              chainDigest: readChain(gatewayChain, "", new Date()).facts?.fingerprint ?? "unreadable",
            }
          : {}),
        ...(userData ? { userData } : {}),
      },
      opts,
    );
  });

  let goLive: Deployment["goLive"];
  if (p.gateway.strategy === "eip") {
    goLive = elasticIpGoLive(inv, p, hosts, needs("the gateway identity"), hostEffects!);
  } else if (inv.hosts.legacy.kind === "existing" && inv.hosts.new.kind === "existing") {
    goLive = new ReaddressGoLive(
      "gateway-identity",
      { ...readdressArgs(inv, p, needs("the gateway identity")), ...(o.legacyDown ? { legacyDown: true } : {}) },
      opts,
    );
  }
  return { zones, hosts, goLive, archive, ...(mtaSts ? { mtaSts } : {}) };
}

/**
 * The Elastic IP go-live, in the order that cuts no session, enforced with dependsOn: the host
 * giving the address up drains (SSH), the association moves (AWS), then each host takes its name
 * and takes sessions on its own address again (SSH). A rollback is the same three steps with the
 * roles swapped.
 */
function elasticIpGoLive(inv: Inventory, p: Plan, hosts: GatewayHost[], creds: HostCredentials, provider: HostEffectsProvider) {
  const releasing: MailSystem = p.gateway.holder === "new" ? "legacy" : "new";
  const allocationId = inv.gateway.allocationId!;
  const [taker, other] = [p.gateway.holder, p.gateway.holder === "legacy" ? "new" : "legacy"].map(
    (role) => hosts.find((h) => h.role === role)!,
  );
  // Where the address is now: on the releasing instance while a move is due (a drain needed, even
  // when a failed move was undone since the drain last ran); the association may take it from the
  // other gateway (where an undone move left it), from nowhere else.
  const now = pulumi.output(aws().ec2.getElasticIp({ id: allocationId }, { parent: other }));
  const moveDue = pulumi.all([now, other.instanceId!]).apply(([eip, id]) => eip.instanceId === id);
  const fromOtherGateway = pulumi
    .all([now, taker.instanceId!, other.instanceId!])
    .apply(([eip, a, b]) => Boolean(eip.instanceId) && (eip.instanceId === a || eip.instanceId === b));
  const drain = new GatewayDrain(
    "gateway-drain",
    {
      host: sshEndpoint(inv, releasing, creds.hostKeys),
      privateKey: creds.privateKey,
      address: inv.hosts[releasing].address,
      ...(p.gateway.service.ports ? { ports: p.gateway.service.ports } : {}),
      moveDue,
    },
    { provider },
  );
  const goLive = new ElasticIpGoLive("gateway-address", {
    allocationId: inv.gateway.allocationId!,
    holder: p.gateway.holder,
    // Only once the taking instance admits every SMTP sender the other one does, and an existing
    // instance giving the address up keeps its way out without it.
    instanceId: pulumi
      .all([
        openToSenders(
          { role: p.gateway.holder, instanceId: taker.instanceId!, securityGroupIds: taker.securityGroupIds! },
          { role: other.role as MailSystem, securityGroupIds: other.securityGroupIds! },
          taker,
        ),
        other.role === "legacy" && other.network
          ? keepsOutbound({ role: other.role, instanceId: other.instanceId!, network: other.network }, other)
          : undefined,
      ])
      .apply(([id]) => id),
    after: [drain],
    allowReassociation: fromOtherGateway,
  });
  const identityHosts = (["legacy", "new"] as const).map((role) => {
    const planned = p.hosts.find((h) => h.role === role)!;
    return {
      host: sshEndpoint(inv, role, creds.hostKeys),
      identity: {
        hostName: planned.name,
        ownName: planned.ownName,
        holdsServiceAddress: role === p.gateway.holder,
        // No interface: the Elastic IP maps to the host's own private address.
        service: {
          address: inv.hosts[role].address,
          prefixLength: 32,
          ...(p.gateway.service.ports ? { ports: p.gateway.service.ports } : {}),
        },
      },
    };
  });
  goLive.identity = new GatewayIdentity(
    "gateway-identity-names",
    { hosts: identityHosts, privateKey: creds.privateKey, holder: p.gateway.holder, digest: identityDigest(identityHosts) },
    { provider, dependsOn: [goLive.association] },
  );
  goLive.drain = drain;
  return goLive;
}

/**
 * The user data of an instance the stack creates: the host key pinned for it, installed by
 * cloud-init at first boot (a secret). The phase command makes the key. A pinned key without its
 * private half is one the operator's AMI brings: no user data then.
 */
function instanceUserData(role: HostRole, creds: HostCredentials): pulumi.Output<string> | undefined {
  const privateKey = creds.instanceHostKeys?.[role];
  const pinned = creds.hostKeys[role];
  return privateKey && pinned ? pulumi.secret(pulumi.output(privateKey).apply((k) => hostKeyUserData(k, pinned))) : undefined;
}

/** The readdress go-live's arguments for two gateways reached by SSH. */
export function readdressArgs(inv: Inventory, p: Plan, creds: HostCredentials): ReaddressGoLiveArgs {
  const iface = (role: "legacy" | "new") => {
    const h = inv.hosts[role];
    if (h.kind !== "existing") throw new InputError(`hosts.${role} is not reached by SSH`);
    return h.interface;
  };
  return {
    plan: p,
    connections: { legacy: sshEndpoint(inv, "legacy", creds.hostKeys), new: sshEndpoint(inv, "new", creds.hostKeys) },
    interfaces: { legacy: iface("legacy"), new: iface("new") },
    privateKey: creds.privateKey,
  };
}

/** What the stack reports after each update: enough to read the phase's effect in `stack output`. */
export function stackOutputs(p: Plan, d: Deployment): Record<string, pulumi.Input<unknown>> {
  return {
    phase: p.phase,
    stage: p.stage,
    gateway: { holder: p.gateway.holder, hostName: p.gateway.hostName, address: p.gateway.address, strategy: p.gateway.strategy },
    // unmanaged: only when the drift check's preview asks, the records of an existing cloud zone the stack leaves alone.
    zones: Object.fromEntries(
      d.zones.map((z) => [z.zoneName, { records: z.recordCount, ...(z.unmanagedRecords ? { unmanaged: z.unmanagedRecords } : {}) }]),
    ),
    // Hosted zones the stack created: the domain must be delegated to these name servers.
    delegations: Object.fromEntries(d.zones.filter((z) => z.nameServers).map((z) => [z.zoneName, z.nameServers!])),
    routing: Object.fromEntries(d.hosts.filter((h) => h.routingDigest).map((h) => [h.role, h.routingDigest])),
    // Every mailbox of the organisation the phase routes (the probes alone get test mail; every one is routed).
    mailboxes: new Set(p.routing.filter((t) => t.host !== "internet").flatMap((t) => t.mailboxes)).size,
    ...(d.archive ? { mailboxAssignment: d.archive.digest } : {}),
  };
}
