import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { servedZoneId } from "../../components/dns/mail-zone";
import {
  ELASTIC_IP_MOVE_OPTIONS,
  type InstanceRoute,
  outboundLostWithElasticIp,
  type SecurityGroupRule,
  smtpClosedToSenders,
} from "../../components/go-live/elastic-ip";
import { loadConfig, parseHostKeys } from "../../src/model/config";
import type { Phase } from "../../src/model/inventory";
import { assignmentDigest, packAssignment, unpackAssignment } from "../../src/model/mailbox-archive";
import { plan } from "../../src/model/plan";
import { publicKeyOf } from "../../src/remote/instance-host-key";
import { load, rawStack } from "../helpers";
import {
  MOCK_CREDENTIALS,
  MOCK_INSTANCE_HOST_KEY,
  MOCK_READ_INSTANCE_GROUP,
  MOCK_READ_INSTANCE_SUBNET,
  type MockResource,
  runUnderMocks,
} from "./mock-program";

const run = (stack: string, phase: Phase) => runUnderMocks(load(stack, phase), phase);
const summary = (rs: MockResource[]) => rs.map((r) => `${r.type} ${r.name}`);
const byName = (rs: MockResource[]) => new Map(rs.map((r) => [`${r.type} ${r.name}`, r]));

/** Resources added, removed and changed (by inputs) from one run to the next. */
function difference(before: MockResource[], after: MockResource[]) {
  const [b, a] = [byName(before), byName(after)];
  return {
    added: [...a.keys()].filter((k) => !b.has(k)),
    removed: [...b.keys()].filter((k) => !a.has(k)),
    changed: [...a.keys()].filter((k) => b.has(k) && JSON.stringify(a.get(k)!.inputs) !== JSON.stringify(b.get(k)!.inputs)),
  };
}

describe("the program under mocks: production stack", () => {
  it("phase 4 writes record sets into the existing Route 53 zone, the Cloudflare records, the new instance and the gateway address", async () => {
    const { resources } = await run("production", 4);
    expect(summary(resources)).toEqual([
      "aws:ec2/eipAssociation:EipAssociation gateway-address-association",
      // The EC2 gateways are configured over SSH like any other: drain, names, routing.
      "pulumi-nodejs:dynamic/cutover:GatewayDrain gateway-drain",
      "pulumi-nodejs:dynamic/cutover:GatewayIdentity gateway-identity-names",
      "pulumi:providers:pulumi-nodejs host-effects",
      "aws:ec2/instance:Instance legacy-instance",
      "pulumi-nodejs:dynamic/cutover:GatewayRouting legacy-routing",
      "aws:ec2/instance:Instance new-instance",
      "pulumi-nodejs:dynamic/cutover:GatewayRouting new-routing",
      // The existing zones' records are adopted by cutover's zone provider, one resource per zone.
      "pulumi-nodejs:dynamic/cutover:CloudZone zone-example-com-records",
      "pulumi-nodejs:dynamic/cutover:CloudZone zone-example-org-records",
      // The pilot's own hosted zone, created by the stack in phase 1, stays; example.com's is never created.
      "aws:route53/zone:Zone zone-example-pilot-com-zone",
    ]);
    const r = byName(resources);
    expect(r.get("aws:ec2/instance:Instance legacy-instance")!.readId).toBe("i-0a1b2c3d4e5f60718");
    expect(r.get("aws:ec2/instance:Instance new-instance")!.inputs).toMatchObject({
      ami: "ami-0123456789abcdef0",
      privateIp: "203.0.113.20",
      tags: { "cutover:role": "new" },
    });
    const route53 = r.get("pulumi-nodejs:dynamic/cutover:CloudZone zone-example-com-records")!;
    expect(route53.inputs).toMatchObject({ dnsProvider: "route53", zone: "example.com", zoneId: "Z0123456789EXAMPLECOM" });
    expect(route53.inputs.records["example.com TXT"]).toEqual({
      ttl: 3600,
      values: ["v=spf1 ip4:203.0.113.25 ip4:198.51.100.110 ip4:198.51.100.120 -all"],
    });
    expect(Object.keys(route53.inputs.records)).toEqual([
      "example.com MX",
      "example.com TXT",
      "legacy.example.com A",
      "mail.example.com A",
      "new.example.com A",
      "www.example.com CNAME",
    ]);
    expect(r.get("pulumi-nodejs:dynamic/cutover:CloudZone zone-example-org-records")!.inputs).toMatchObject({
      dnsProvider: "cloudflare",
      zoneId: "0123456789abcdef0123456789abcdef",
      records: { "example.org MX": { ttl: 3600, values: ["10 mail.example.com"] } },
    });
    expect(r.get("aws:ec2/eipAssociation:EipAssociation gateway-address-association")!.inputs).toEqual({
      allocationId: "eipalloc-0123456789abcdef0",
      instanceId: "i-0a1b2c3d4e5f60718",
      allowReassociation: false,
    });
  });

  it("gives the instance it creates the host key pinned for it, by cloud-init user data kept secret", async () => {
    const { resources } = await run("production", 4);
    const instance = byName(resources).get("aws:ec2/instance:Instance new-instance")!;
    expect(await pulumi.isSecret(instance.props.userData)).toBe(true);
    // Its metadata service answers IMDSv2 sessions only, one hop away; what is read back of the user data is secret too.
    expect(instance.inputs.metadataOptions).toEqual({ httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 });
    expect(instance.options.additionalSecretOutputs).toEqual(["userData", "userDataBase64"]);
    // Under mocks a secret input arrives wrapped: {<secret signature>, value}.
    const userData = parse(instance.inputs.userData.value);
    expect(userData.ssh_keys.ed25519_public).toBe(MOCK_INSTANCE_HOST_KEY.publicKey);
    expect(await publicKeyOf(userData.ssh_keys.ed25519_private)).toBe(MOCK_CREDENTIALS.hostKeys.new);
    // The legacy instance is only read: it keeps its own key, pinned by the operator.
    expect(byName(resources).get("aws:ec2/instance:Instance legacy-instance")!.inputs.userData).toBeUndefined();
  });

  it("an instance whose AMI brings a pinned key gets no user data; one with no pinned key is refused, naming the command", async () => {
    const amiKey = { ...MOCK_CREDENTIALS, instanceHostKeys: {} };
    const { resources } = await runUnderMocks(load("production", 4), 4, { credentials: amiKey });
    expect(byName(resources).get("aws:ec2/instance:Instance new-instance")!.inputs.userData).toBeUndefined();
    const { new: _made, ...pinned } = MOCK_CREDENTIALS.hostKeys;
    expect(() => parseHostKeys(pinned, load("production", 4))).toThrow(
      /hostKeys\.new: EC2 host new \(203\.0\.113\.20\) has no pinned host key: every gateway is configured over SSH\. npm run phase makes the host key of an instance the stack creates and pins it/,
    );
  });

  it("from phase 4 to 5 only the go-live's three steps change (drain, Elastic IP, names), and 5 to 4 moves them back", async () => {
    const [p4, p5] = [await run("production", 4), await run("production", 5)];
    const goLive = {
      added: [],
      removed: [],
      changed: [
        "aws:ec2/eipAssociation:EipAssociation gateway-address-association",
        "pulumi-nodejs:dynamic/cutover:GatewayDrain gateway-drain",
        "pulumi-nodejs:dynamic/cutover:GatewayIdentity gateway-identity-names",
      ],
    };
    expect(difference(p4.resources, p5.resources)).toEqual(goLive);
    expect(difference(p5.resources, p4.resources)).toEqual(goLive);
    const drained = (rs: MockResource[]) => byName(rs).get("pulumi-nodejs:dynamic/cutover:GatewayDrain gateway-drain")!.inputs;
    // The go-live drains the legacy gateway; its rollback drains the new server.
    expect(drained(p5.resources)).toMatchObject({ host: { name: "legacy", address: "203.0.113.10" }, address: "203.0.113.10" });
    expect(drained(p4.resources)).toMatchObject({ host: { name: "new", address: "203.0.113.20" }, address: "203.0.113.20" });
    const names = (rs: MockResource[]) =>
      byName(rs)
        .get("pulumi-nodejs:dynamic/cutover:GatewayIdentity gateway-identity-names")!
        .inputs.hosts.map((h: { host: { name: string }; identity: { hostName: string } }) => `${h.host.name} ${h.identity.hostName}`);
    expect(names(p5.resources)).toEqual(["legacy legacy.example.com", "new mail.example.com"]);
    expect(names(p4.resources)).toEqual(["legacy mail.example.com", "new new.example.com"]);
    const instance = (rs: MockResource[]) =>
      byName(rs).get("aws:ec2/eipAssociation:EipAssociation gateway-address-association")!.inputs.instanceId;
    expect(instance(p4.resources)).toBe("i-0a1b2c3d4e5f60718");
    expect(instance(p5.resources)).toBe("new-instance-id");
  });

  it("orders the go-live with dependsOn: drain over SSH, then the Elastic IP, then the names over SSH", async () => {
    for (const phase of [4, 5] as Phase[]) {
      const { resources } = await run("production", phase);
      const r = byName(resources);
      const dependsOn = (key: string) =>
        ((r.get(key)!.options.dependsOn ?? []) as pulumi.Resource[]).map((d) => (d as unknown as { __name: string }).__name);
      expect(dependsOn("aws:ec2/eipAssociation:EipAssociation gateway-address-association")).toEqual(["gateway-drain"]);
      expect(dependsOn("pulumi-nodejs:dynamic/cutover:GatewayIdentity gateway-identity-names")).toEqual(["gateway-address-association"]);
      // The SSH steps run through the explicit provider, as the lab's do.
      expect(r.get("pulumi-nodejs:dynamic/cutover:GatewayDrain gateway-drain")!.provider).toContain("host-effects");
    }
  });

  it("with MTA-STS, writes each domain's policy on the host serving it before any record announces its id", async () => {
    const raw = rawStack("production");
    raw.inventory.gateway.tls = {
      legacy: { source: "file", chain: "/etc/ssl/private/mail.pem", spki: "a".repeat(64) },
      new: { source: "file", chain: "/etc/ssl/private/mail.pem", spki: "b".repeat(64) },
    };
    raw.inventory.gateway.mtaSts = { mode: "enforce", policyHost: "legacy", address: "203.0.113.80" };
    const inv = loadConfig({ inventory: raw.inventory, phase: 4, baseDir: raw.baseDir }).inventory;
    const { resources } = await runUnderMocks(inv, 4);
    const policies = resources.find((r) => r.type === "pulumi-nodejs:dynamic/cutover:MtaStsPolicies")!;
    expect(policies.inputs).toMatchObject({ host: { name: "legacy", address: "203.0.113.10" }, directory: "/var/www/mta-sts" });
    expect(Object.keys(policies.inputs.policies)).toEqual(["example.com", "example.org"]);
    expect(policies.inputs.policies["example.com"]).toBe(plan(inv, 4).mtaSts!.policies[0].text);
    expect(pulumi.Output.isInstance(policies.props.privateKey)).toBe(true);
    // Every record of every zone waits for the policy files (a new id must find its new policy).
    const records = resources.filter((r) => r.type === "pulumi-nodejs:dynamic/cutover:CloudZone");
    expect(records.length).toBeGreaterThan(0);
    for (const r of records)
      expect(
        ((r.options.dependsOn ?? []) as pulumi.Resource[]).map((d) => (d as unknown as { __name: string }).__name),
        r.name,
      ).toEqual(["mta-sts-policies"]);
    // Without MTA-STS there is no such resource, and the records wait for nothing.
    const plain = (await run("production", 4)).resources;
    expect(plain.some((r) => r.type.endsWith("MtaStsPolicies"))).toBe(false);
    expect(plain.filter((r) => r.type === "pulumi-nodejs:dynamic/cutover:CloudZone").every((r) => !r.options.dependsOn)).toBe(true);
  });

  it("moves the Elastic IP by deleting the old association before creating the new one", async () => {
    const { resources } = await run("production", 5);
    const association = byName(resources).get("aws:ec2/eipAssociation:EipAssociation gateway-address-association")!;
    expect(association.options.deleteBeforeReplace).toBe(true);
    expect(association.options.replaceOnChanges).toEqual(["instanceId"]);
    expect(ELASTIC_IP_MOVE_OPTIONS).toEqual({
      deleteBeforeReplace: true,
      replaceOnChanges: ["instanceId"],
      ignoreChanges: ["allowReassociation"],
    });
  });

  it("from phase 3 to 4 the pilot records go and the production ones come", async () => {
    const d = difference((await run("production", 3)).resources, (await run("production", 4)).resources);
    // Only the pilot zones' records: the pilot domains have zones of their own.
    expect(d.removed).toEqual([
      "aws:route53/record:Record zone-example-pilot-com-a-legacy",
      "aws:route53/record:Record zone-example-pilot-com-a-mail",
      "aws:route53/record:Record zone-example-pilot-com-a-new",
      "aws:route53/record:Record zone-example-pilot-com-mx-apex",
      "aws:route53/record:Record zone-example-pilot-com-txt-apex",
      "pulumi-nodejs:dynamic/cutover:CloudZone zone-example-pilot-org-records",
    ]);
    expect(d.added).toContain("pulumi-nodejs:dynamic/cutover:CloudZone zone-example-org-records");
    expect(d.added).toContain("pulumi-nodejs:dynamic/cutover:CloudZone zone-example-com-records");
  });

  it("reports the phase, the gateway and the routing digests as stack outputs", async () => {
    const { outputs } = await run("production", 5);
    expect(outputs).toMatchObject({ phase: 5, stage: "production", gateway: { holder: "new", strategy: "eip" }, mailboxes: 42 });
    expect(Object.keys(outputs.routing as object).sort()).toEqual(["legacy", "new"]);
  });
});

describe("existing zones under mocks", () => {
  it("finds a Route 53 hosted zone by its id and creates none; the zone it creates prints its delegation", async () => {
    const { resources, outputs } = await run("production", 3);
    const lookups = resources.filter((r) => r.type === "aws:route53/zone:Zone");
    expect(lookups.map((r) => r.name)).toEqual(["zone-example-pilot-com-zone"]);
    expect(outputs.delegations).toEqual({ "example-pilot.com": ["ns-1.awsdns-01.org"] });
    const records = resources.filter((r) => r.name.startsWith("zone-example-com"));
    expect(records).toEqual([]);
    const p4 = await run("production", 4);
    const zone = p4.resources.find((r) => r.name === "zone-example-com-records")!;
    expect(zone.inputs.zoneId).toBe("Z0123456789EXAMPLECOM");
    // The zone the stack created holds only its records: the aws provider's, one per set.
    expect((await run("production", 3)).resources.filter((r) => r.type === "aws:route53/record:Record").length).toBe(5);
  });

  it("the drift check's preview lists the records of existing zones the stack leaves alone: Route 53 and Cloudflare listings", async () => {
    const listings = new Map<string, Record<string, unknown>[]>([
      [
        "Z0123456789EXAMPLECOM",
        [
          { name: "example.com.", type: "NS", ttl: 172800, resourceRecords: [{ value: "ns-1.awsdns-01.org." }] },
          { name: "example.com.", type: "MX", ttl: 300, resourceRecords: [{ value: "10 mail.example.com." }] },
          { name: "intranet.example.com.", type: "A", ttl: 300, resourceRecords: [{ value: "10.0.0.5" }] },
        ],
      ],
      ["0123456789abcdef0123456789abcdef", [{ name: "shop.example.org", type: "CNAME", ttl: 1, content: "shops.example.net" }]],
    ]);
    const { invokes, outputs } = await runUnderMocks(load("production", 4), 4, { listUnmanaged: true, listings });
    const lists = invokes.filter((i) => /getRecords|getDnsRecords/.test(i.token)).map((i) => `${i.token} ${i.inputs.zoneId}`);
    // Existing zones of the phase only: the hosted zone the stack creates is its own, whole.
    expect(lists.sort()).toEqual([
      "aws:route53/getRecords:getRecords Z0123456789EXAMPLECOM",
      "cloudflare:index/getDnsRecords:getDnsRecords 0123456789abcdef0123456789abcdef",
    ]);
    expect(invokes.find((i) => i.token.includes("getDnsRecords"))!.inputs.maxItems).toBe(100_000);
    // The apex MX is the plan's at phase 4, so only the organisation's own records are listed.
    expect(outputs.zones).toEqual({
      "example.com": { records: 6, unmanaged: ["intranet.example.com A 300 10.0.0.5"] },
      "example.org": { records: 2, unmanaged: ["shop.example.org CNAME 1 shops.example.net"] },
      // The zone the stack made is its own: nothing in it is left alone.
      "example-pilot.com": { records: 0 },
    });
  });

  it("a phase's update spends no API call on listings", async () => {
    expect((await run("production", 4)).invokes.filter((i) => /getRecords|getDnsRecords/.test(i.token))).toEqual([]);
  });

  it("refuses a hosted zone whose id serves another domain, naming both", () => {
    expect(servedZoneId({ name: "example.com", zoneId: "Z0A" }, { name: "example.com.", zoneId: "Z0A" })).toBe("Z0A");
    expect(() => servedZoneId({ name: "example.com", zoneId: "Z0A" }, { name: "Example.NET.", zoneId: "Z0A" })).toThrow(
      /zone example.com: Route 53 hosted zone Z0A serves example.net, not example.com: give zoneId of the hosted zone of example.com/,
    );
  });
});

describe("the program under mocks: pilot stack and layouts", () => {
  it("configures the pilot through dynamic resources only: on-prem zones, routing per host, one gateway identity", async () => {
    const names = async (phase: Phase) => (await run("pilot", phase)).resources.map((r) => `${r.type} ${r.name}`);
    expect(await names(1)).toEqual([
      "pulumi-nodejs:dynamic/cutover:GatewayIdentity gateway-identity-address",
      "pulumi:providers:pulumi-nodejs host-effects",
      "pulumi-nodejs:dynamic/cutover:GatewayRouting internet-routing",
      "pulumi-nodejs:dynamic/cutover:OnPremZone zone-aegean-test-records",
    ]);
    expect(await names(3)).toEqual([
      "pulumi-nodejs:dynamic/cutover:GatewayIdentity gateway-identity-address",
      "pulumi:providers:pulumi-nodejs host-effects",
      "pulumi-nodejs:dynamic/cutover:GatewayRouting internet-routing",
      "pulumi-nodejs:dynamic/cutover:GatewayRouting legacy-routing",
      "pulumi-nodejs:dynamic/cutover:GatewayRouting new-routing",
      "pulumi-nodejs:dynamic/cutover:OnPremZone zone-aegean-test-records",
      "pulumi-nodejs:dynamic/cutover:OnPremZone zone-api-test-records",
    ]);
  });

  it("pilot from phase 4 to 5 changes only the gateway identity: the address and names swap", async () => {
    const [p4, p5] = [await run("pilot", 4), await run("pilot", 5)];
    expect(difference(p4.resources, p5.resources)).toEqual({
      added: [],
      removed: [],
      changed: ["pulumi-nodejs:dynamic/cutover:GatewayIdentity gateway-identity-address"],
    });
    const identity = (rs: MockResource[]) =>
      byName(rs)
        .get("pulumi-nodejs:dynamic/cutover:GatewayIdentity gateway-identity-address")!
        .inputs.hosts.map((h: any) => [h.host.name, h.identity.hostName, h.identity.holdsServiceAddress]);
    expect(identity(p4.resources)).toEqual([
      ["legacy", "mail.paradigms.test", true],
      ["new", "new.paradigms.test", false],
    ]);
    expect(identity(p5.resources)).toEqual([
      ["legacy", "legacy.paradigms.test", false],
      ["new", "mail.paradigms.test", true],
    ]);
  });

  it("with the legacy gateway declared down, the go-live marks it down in the identity: it changes only that, and so does the next run without it", async () => {
    const [p5, down] = [await run("pilot", 5), await runUnderMocks(load("pilot", 5), 5, { legacyDown: true })];
    const identity = "pulumi-nodejs:dynamic/cutover:GatewayIdentity gateway-identity-address";
    // Only the identity differs (its digest names the host down), so the run after it, without the flag, updates it again.
    expect(difference(p5.resources, down.resources)).toEqual({ added: [], removed: [], changed: [identity] });
    const hosts = byName(down.resources).get(identity)!.inputs.hosts;
    expect(hosts.map((h: any) => [h.host.name, h.down ?? false, h.identity.holdsServiceAddress])).toEqual([
      ["legacy", true, false],
      ["new", false, true],
    ]);
  });

  it("passes SSH keys and the TSIG secret to the engine as secrets", async () => {
    const { resources } = await run("pilot", 3);
    for (const r of resources.filter((x) => x.type.startsWith("pulumi-nodejs:"))) {
      // Through the explicit provider, which is given no config (so no secret) as inputs.
      expect(r.provider, r.name).toMatch(/pulumi:providers:pulumi-nodejs::host-effects::/);
      expect(r.options.additionalSecretOutputs, r.name).toContain("privateKey");
      expect(await pulumi.isSecret(r.props.privateKey), r.name).toBe(true);
      if (r.name.startsWith("zone-")) expect(await pulumi.isSecret(r.props.tsigSecret), r.name).toBe(true);
      // The serialized provider that goes into the state holds no key.
      expect(String(r.inputs.__provider), r.name).not.toMatch(/mock-private-key|mock-tsig-secret/);
    }
  });

  it("mx strategy on Route 53: phase 4 to 5 changes only the MX record set and the host names", async () => {
    const d = difference((await run("mx", 4)).resources, (await run("mx", 5)).resources);
    expect(d).toEqual({
      added: [],
      removed: [],
      changed: [
        "pulumi-nodejs:dynamic/cutover:GatewayIdentity gateway-identity-address",
        "pulumi-nodejs:dynamic/cutover:CloudZone zone-example-com-records",
      ],
    });
    const records = (phase: Phase) =>
      runUnderMocks(load("mx", phase), phase).then((r) => r.resources.find((x) => x.name === "zone-example-com-records")!.inputs.records);
    const [before, after] = [await records(4), await records(5)];
    // Of the zone's record sets, only the MX.
    expect(Object.keys(after).filter((k) => JSON.stringify(after[k]) !== JSON.stringify(before[k]))).toEqual(["example.com MX"]);
  });

  it("archives the mailbox file in the stack: its digest as an output, its content a secret, through the explicit provider", async () => {
    const { mailboxText } = rawStack("production");
    const assignment = { digest: assignmentDigest(mailboxText), packed: packAssignment(mailboxText) };
    const { resources, outputs } = await runUnderMocks(load("production", 4), 4, { assignment });
    const archive = byName(resources).get("pulumi-nodejs:dynamic/cutover:MailboxArchive mailbox-archive")!;
    expect(archive.inputs.digest).toBe(assignment.digest);
    // Under mocks a secret input arrives wrapped: {<secret signature>, value}.
    expect(unpackAssignment(archive.inputs.packed.value)).toBe(mailboxText);
    expect(await pulumi.isSecret(archive.props.packed)).toBe(true);
    expect(archive.options.additionalSecretOutputs).toEqual(["packed", "entries"]);
    expect(archive.provider).toMatch(/pulumi:providers:pulumi-nodejs::host-effects::/);
    expect(outputs.mailboxAssignment).toBe(assignment.digest);
  });
});

describe("the legacy instance's way out once the Elastic IP leaves it", () => {
  const legacy = { role: "legacy" as const, instanceId: "i-0aaaaaaaaaaaaaaaa", subnetId: "subnet-0a" };
  it("names an instance whose only public address is the Elastic IP behind an Internet gateway, and the fix", () => {
    expect(
      outboundLostWithElasticIp({ ...legacy, publicIpOnLaunch: false, routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: "igw-0123" }] }),
    ).toBe(
      "hosts.legacy: instance i-0aaaaaaaaaaaaaaaa reaches the Internet through igw-0123 (subnet subnet-0a) with the Elastic IP as its only public address: once the go-live moves the address away it can send nothing (its deferred queue, its bounces); give it a way out first: a NAT gateway route for its subnet, or an Elastic IP of its own",
    );
    // Launched with a public address (AWS gives it one again), behind NAT or a transit gateway, or with no way out at all: kept.
    for (const [publicIpOnLaunch, routes] of [
      [true, [{ cidrBlock: "0.0.0.0/0", gatewayId: "igw-0123" }]],
      [false, [{ cidrBlock: "0.0.0.0/0", natGatewayId: "nat-0123" }]],
      [false, [{ cidrBlock: "0.0.0.0/0", transitGatewayId: "tgw-0123" }]],
      [false, [{ cidrBlock: "10.0.0.0/16", gatewayId: "local" }]],
    ] as [boolean, InstanceRoute[]][])
      expect(outboundLostWithElasticIp({ ...legacy, publicIpOnLaunch, routes })).toBeUndefined();
  });

  it("reads the legacy instance's subnet routes (its VPC's main table when it has none of its own) before the go-live moves the address", async () => {
    const routeTableReads = (r: Awaited<ReturnType<typeof runUnderMocks>>) =>
      r.invokes.filter((i) => i.token === "aws:ec2/getRouteTable:getRouteTable").map((i) => i.inputs);
    const own = await runUnderMocks(load("production", 5), 5);
    expect(routeTableReads(own)).toEqual([{ subnetId: MOCK_READ_INSTANCE_SUBNET }]);
    const main = await runUnderMocks(load("production", 5), 5, { routeTables: new Map([[MOCK_READ_INSTANCE_SUBNET, "main"]]) });
    expect(routeTableReads(main)).toEqual([
      { subnetId: MOCK_READ_INSTANCE_SUBNET },
      { vpcId: "vpc-0aaaaaaaaaaaaaaaa", filters: [{ name: "association.main", values: ["true"] }] },
    ]);
    // Before the go-live the legacy instance keeps the address: nothing to read.
    expect(routeTableReads(await runUnderMocks(load("production", 4), 4))).toEqual([]);
  });
});

describe("an Elastic IP move that a failed one may have left half-done", () => {
  it("the association may take the address only from the stack's other gateway, and the drain runs whenever a move is due", async () => {
    const { resources } = await runUnderMocks(load("production", 5), 5);
    const association = resources.find((r) => r.type === "aws:ec2/eipAssociation:EipAssociation")!;
    expect(association.options.ignoreChanges).toEqual(["allowReassociation"]);
    // The address on no instance: a new association takes it as before, stealing nothing.
    expect(association.inputs.allowReassociation).toBe(false);
    expect(resources.find((r) => r.name === "gateway-drain")!.inputs.moveDue).toBe(false);
    // On the legacy instance (the go-live due, or a failed one undone): drained, and taken from it.
    const due = await runUnderMocks(load("production", 5), 5, { elasticIpOn: "i-0a1b2c3d4e5f60718" });
    expect(due.resources.find((r) => r.type === "aws:ec2/eipAssociation:EipAssociation")!.inputs.allowReassociation).toBe(true);
    expect(due.resources.find((r) => r.name === "gateway-drain")!.inputs.moveDue).toBe(true);
    // On a third instance: never taken.
    const elsewhere = await runUnderMocks(load("production", 5), 5, { elasticIpOn: "i-0fffffffffffffff0" });
    expect(elsewhere.resources.find((r) => r.type === "aws:ec2/eipAssociation:EipAssociation")!.inputs.allowReassociation).toBe(false);
  });
});

describe("the Elastic IP's taker open to every SMTP sender", () => {
  const rule = (source: Partial<SecurityGroupRule>): SecurityGroupRule => ({
    isEgress: false,
    ipProtocol: "tcp",
    fromPort: 25,
    toPort: 25,
    ...source,
  });
  it("names the sources the other gateway admits and the taker does not", () => {
    const legacy = {
      role: "legacy" as const,
      groups: ["sg-0aaaaaaaaaaaaaaaa"],
      rules: [rule({ cidrIpv4: "0.0.0.0/0" }), rule({ cidrIpv6: "::/0" })],
    };
    expect(smtpClosedToSenders({ role: "new", groups: ["sg-0123456789abcdef0"], rules: [rule({ cidrIpv4: "10.0.0.0/8" })] }, legacy)).toBe(
      "hosts.new: its security groups (sg-0123456789abcdef0) do not admit SMTP (tcp 25) from 0.0.0.0/0, ::/0, which legacy's (sg-0aaaaaaaaaaaaaaaa) admit: the go-live would move the Elastic IP to an instance those senders cannot reach; add an inbound rule for tcp 25 from 0.0.0.0/0, ::/0 to one of them (hosts.new.instance.securityGroupIds)",
    );
    // A filtering service's prefix list on the legacy side: the Internet on the taker covers it; a port range and all-traffic rules count.
    const filtered = { role: "legacy" as const, groups: ["sg-0aaaaaaaaaaaaaaaa"], rules: [rule({ prefixListId: "pl-0123456789abcdef0" })] };
    expect(
      smtpClosedToSenders({ role: "new", groups: ["sg-1"], rules: [rule({ fromPort: 0, toPort: 1024, cidrIpv4: "0.0.0.0/0" })] }, filtered),
    ).toBeUndefined();
    expect(
      smtpClosedToSenders(
        {
          role: "new",
          groups: ["sg-1"],
          rules: [rule({ ipProtocol: "-1", fromPort: 0, toPort: 0, prefixListId: "pl-0123456789abcdef0" })],
        },
        filtered,
      ),
    ).toBeUndefined();
    // Port 587 only, or an egress rule, admits nothing on 25.
    expect(
      smtpClosedToSenders(
        {
          role: "new",
          groups: ["sg-1"],
          rules: [rule({ fromPort: 587, toPort: 587, cidrIpv4: "0.0.0.0/0" }), rule({ isEgress: true, cidrIpv4: "0.0.0.0/0" })],
        },
        filtered,
      ),
    ).toMatch(/do not admit SMTP \(tcp 25\) from pl-0123456789abcdef0/);
  });

  it("reads both instances' security group rules before the association moves, and gives the new instance its groups", async () => {
    const { resources, invokes } = await runUnderMocks(load("production", 5), 5);
    const listed = invokes
      .filter((i) => i.token === "aws:vpc/getSecurityGroupRules:getSecurityGroupRules")
      .map((i) => i.inputs.filters[0].values);
    expect(listed).toEqual(expect.arrayContaining([["sg-0123456789abcdef0"], [MOCK_READ_INSTANCE_GROUP]]));
    expect(invokes.filter((i) => i.token === "aws:vpc/getSecurityGroupRule:getSecurityGroupRule").length).toBe(2);
    expect(resources.find((r) => r.type === "aws:ec2/eipAssociation:EipAssociation")!.inputs.instanceId).toBe("new-instance-id");
    expect(resources.find((r) => r.name === "new-instance")!.inputs.vpcSecurityGroupIds).toEqual(["sg-0123456789abcdef0"]);
  });
});
