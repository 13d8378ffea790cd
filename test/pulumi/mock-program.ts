/**
 * Runs the program's wiring under Pulumi's mocks: the cloud APIs are the one thing mocked. Records
 * every custom resource the program registers, with its inputs and resource options.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import type { InstanceRoute, SecurityGroupRule } from "../../components/go-live/elastic-ip";
import type { Inventory, Phase } from "../../src/model/inventory";
import type { ArchivedAssignment } from "../../src/model/mailbox-archive";
import { plan } from "../../src/model/plan";
import { deploy, type HostCredentials, stackOutputs } from "../../src/pulumi/program";
import { FIXTURES } from "../helpers";

/**
 * A host key as the phase command makes one for the instance the production stack creates
 * (hosts.new): made once with ssh-keygen, kept as a fixture, used by mocks only.
 */
export const MOCK_INSTANCE_HOST_KEY = {
  privateKey: readFileSync(join(FIXTURES, "instance_host_ed25519"), "utf8"),
  publicKey: readFileSync(join(FIXTURES, "instance_host_ed25519.pub"), "utf8").trim().split(/\s+/).slice(0, 2).join(" "),
};

/** Credentials as a stack has them: pinned host keys (mocks never connect) and the created instance's key. */
export const MOCK_CREDENTIALS: HostCredentials = {
  hostKeys: {
    ...Object.fromEntries(
      ["legacy", "internet", "smartHost", "dnsServer"].map((r) => [
        r,
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
      ]),
    ),
    new: MOCK_INSTANCE_HOST_KEY.publicKey,
  },
  privateKey: "mock-private-key",
  tsigSecret: "mock-tsig-secret",
  instanceHostKeys: { new: MOCK_INSTANCE_HOST_KEY.privateKey },
};

export interface MockResource {
  type: string;
  name: string;
  inputs: Record<string, any>;
  /** Options the program passed, as the SDK saw them (from a stack transformation). */
  options: pulumi.CustomResourceOptions;
  /** Properties as the program passed them (Outputs kept, so secrecy can be checked). */
  props: Record<string, any>;
  /** Set for resources read, not managed (`Instance.get`). */
  readId?: string;
  /** The provider reference ("urn::id") when the resource names one. */
  provider?: string;
}

export interface MockRun {
  resources: MockResource[];
  outputs: Record<string, unknown>;
  /** Every provider function the program invoked: its token and arguments. */
  invokes: { token: string; inputs: Record<string, any> }[];
}

export interface MockOptions {
  /** The stack's credentials (default MOCK_CREDENTIALS). */
  credentials?: HostCredentials;
  assignment?: ArchivedAssignment;
  /** What Route 53 answers for a hosted zone id (its domain); by default the zones the inventory names by id. */
  route53Zones?: Map<string, string>;
  /** Run as the drift check's preview does: list the records of existing cloud zones. */
  listUnmanaged?: boolean;
  /** cutover:legacyDown: the go-live with the legacy gateway dead. */
  legacyDown?: boolean;
  /** By zone id, the records the provider's listing answers, in its own shape (getRecords, getDnsRecords). */
  listings?: Map<string, Record<string, unknown>[]>;
  /** By security group id, its rules (vpc.getSecurityGroupRule); by default each admits tcp 25 from 0.0.0.0/0. */
  securityGroups?: Map<string, SecurityGroupRule[]>;
  /** The subnet an instance the stack reads is in, and whether it was launched with a public address (default: no). */
  readInstance?: { subnetId: string; associatePublicIpAddress: boolean };
  /** By subnet id, its route table's routes (ec2.getRouteTable); by default none. A subnet listed as "main" has no association of its own. */
  routeTables?: Map<string, InstanceRoute[] | "main">;
  /** The routes of the VPC's main route table. */
  mainRoutes?: InstanceRoute[];
  /** The instance the gateway's Elastic IP is associated with now (ec2.getElasticIp); by default none. */
  elasticIpOn?: string;
}

/** The subnet an EC2 instance the stack reads (Instance.get) is in, under mocks. */
export const MOCK_READ_INSTANCE_SUBNET = "subnet-0aaaaaaaaaaaaaaaa";

/** The security group an EC2 instance the stack reads (Instance.get) is in, under mocks. */
export const MOCK_READ_INSTANCE_GROUP = "sg-0aaaaaaaaaaaaaaaa";
const SMTP_FROM_ANYWHERE: SecurityGroupRule[] = [{ isEgress: false, ipProtocol: "tcp", fromPort: 25, toPort: 25, cidrIpv4: "0.0.0.0/0" }];

/**
 * Pulumi 3.248's mock monitor has no RPC to register a resource's hooks with (the engine's
 * RegisterErrorHook, RegisterResourceHook): a program binding one would fail under mocks. Under
 * mocks the engine never runs an operation, so a hook is only ever bound, never called: the
 * registration is acknowledged, and the binding is checked in the resource's options.
 */
for (const rpc of ["registerErrorHook", "registerResourceHook"] as const) {
  const monitor = MockMonitor.prototype as unknown as Record<string, unknown>;
  monitor[rpc] ??= (_request: unknown, done: (err: null, response: object) => void) => done(null, {});
}

export async function runUnderMocks(inv: Inventory, phase: Phase, o: MockOptions = {}): Promise<MockRun> {
  const { assignment } = o;
  const route53Zones =
    o.route53Zones ?? new Map(inv.zones.filter((z) => z.provider === "route53" && z.zoneId).map((z) => [z.zoneId!, z.name]));
  const invokes: MockRun["invokes"] = [];
  const listing = (zoneId: string) => o.listings?.get(zoneId) ?? [];
  const resources: MockResource[] = [];
  const options = new Map<string, { opts: pulumi.CustomResourceOptions; props: Record<string, any> }>();
  await pulumi.runtime.setMocks(
    {
      newResource: (a) => {
        if (a.custom)
          resources.push({
            type: a.type,
            name: a.name,
            inputs: a.inputs,
            options: {},
            props: {},
            ...(a.id ? { readId: a.id } : {}),
            ...(a.provider ? { provider: a.provider } : {}),
          });
        const extra =
          a.type === "aws:route53/zone:Zone"
            ? { zoneId: `Z${a.name.length}MOCK`, nameServers: ["ns-1.awsdns-01.org"] }
            : a.type === "aws:ec2/instance:Instance" && a.id
              ? {
                  vpcSecurityGroupIds: [MOCK_READ_INSTANCE_GROUP],
                  ...(o.readInstance ?? { subnetId: MOCK_READ_INSTANCE_SUBNET, associatePublicIpAddress: false }),
                }
              : {};
        return { id: a.id || `${a.name}-id`, state: { ...a.inputs, ...extra } };
      },
      // Route 53 answers a hosted zone's lookup by id with its name: the zones the inventory names by id.
      // Listings answer with the records given for the zone id.
      call: (a) => {
        invokes.push({ token: a.token, inputs: a.inputs });
        if (a.token === "aws:route53/getZone:getZone")
          return { ...a.inputs, name: `${route53Zones.get(a.inputs.zoneId) ?? "not-this-account.invalid"}.` };
        if (a.token === "aws:route53/getRecords:getRecords") return { ...a.inputs, resourceRecordSets: listing(a.inputs.zoneId) };
        if (a.token === "cloudflare:index/getDnsRecords:getDnsRecords") return { ...a.inputs, results: listing(a.inputs.zoneId) };
        // Security group rules: listed by group (rule id "<group>/<n>"), then read one by one.
        const groupRules = (id: string) => o.securityGroups?.get(id) ?? SMTP_FROM_ANYWHERE;
        if (a.token === "aws:vpc/getSecurityGroupRules:getSecurityGroupRules")
          return {
            ...a.inputs,
            ids: (a.inputs.filters[0].values as string[]).flatMap((g) => groupRules(g).map((_, i) => `${g}/${i}`)),
          };
        if (a.token === "aws:vpc/getSecurityGroupRule:getSecurityGroupRule") {
          const [group, n] = String(a.inputs.securityGroupRuleId).split("/");
          return { ...a.inputs, ...groupRules(group)[Number(n)] };
        }
        if (a.token === "aws:ec2/getRouteTable:getRouteTable") {
          if (a.inputs.vpcId) return { ...a.inputs, routes: o.mainRoutes ?? [] };
          const routes = o.routeTables?.get(a.inputs.subnetId) ?? [];
          if (routes === "main") throw new Error("query returned no results. Please change your search criteria and try again");
          return { ...a.inputs, routes };
        }
        if (a.token === "aws:ec2/getSubnet:getSubnet") return { ...a.inputs, vpcId: "vpc-0aaaaaaaaaaaaaaaa" };
        if (a.token === "aws:ec2/getElasticIp:getElasticIp")
          return { ...a.inputs, ...(o.elasticIpOn ? { instanceId: o.elasticIpOn, associationId: "eipassoc-0aaaaaaaaaaaaaaaa" } : {}) };
        return a.inputs;
      },
    },
    "cutover",
    "test",
    false,
  );
  const outputs = await pulumi.runtime.runInPulumiStack(async () => {
    pulumi.runtime.registerStackTransformation((t) => {
      if (t.type !== "pulumi:pulumi:Stack") options.set(`${t.name}`, { opts: t.opts as pulumi.CustomResourceOptions, props: t.props });
      return undefined;
    });
    const p = plan(inv, phase);
    // Every host is reached by SSH, EC2 instances too.
    return stackOutputs(
      p,
      deploy(inv, p, o.credentials ?? MOCK_CREDENTIALS, {
        ...(assignment ? { assignment } : {}),
        ...(o.listUnmanaged ? { listUnmanaged: true } : {}),
        ...(o.legacyDown ? { legacyDown: true } : {}),
      }),
    );
  });
  // Children register asynchronously; wait for every outstanding registration.
  await pulumi.runtime.disconnect();
  for (const r of resources) {
    const seen = options.get(r.name);
    r.options = seen?.opts ?? {};
    r.props = seen?.props ?? {};
  }
  return {
    resources: resources.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    outputs: (outputs ?? {}) as Record<string, unknown>,
    invokes,
  };
}
