/**
 * Runs the program's wiring under Pulumi's mocks: the cloud APIs are the one thing mocked. Records
 * every custom resource the program registers, with its inputs and resource options.
 */
import * as pulumi from "@pulumi/pulumi";
import type { Inventory, Phase } from "../../src/model/inventory";
import type { ArchivedAssignment } from "../../src/model/mailbox-archive";
import { plan } from "../../src/model/plan";
import { deploy, type HostCredentials, stackOutputs } from "../../src/pulumi/program";

/** Credentials for stacks with existing hosts: keys the lab would pin; mocks never connect. */
export const MOCK_CREDENTIALS: HostCredentials = {
  hostKeys: Object.fromEntries(
    ["legacy", "new", "internet", "smartHost", "dnsServer"].map((r) => [
      r,
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
    ]),
  ),
  privateKey: "mock-private-key",
  tsigSecret: "mock-tsig-secret",
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
}

/**
 * `route53Zones`: what Route 53 answers for a hosted zone id (its domain); by default the zones the
 * inventory names by id.
 */
export async function runUnderMocks(
  inv: Inventory,
  phase: Phase,
  assignment?: ArchivedAssignment,
  route53Zones = new Map(inv.zones.filter((z) => z.provider === "route53" && z.zoneId).map((z) => [z.zoneId!, z.name])),
): Promise<MockRun> {
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
        const extra = a.type === "aws:route53/zone:Zone" ? { zoneId: `Z${a.name.length}MOCK`, nameServers: ["ns-1.awsdns-01.org"] } : {};
        return { id: a.id || `${a.name}-id`, state: { ...a.inputs, ...extra } };
      },
      // Route 53 answers a hosted zone's lookup by id with its name: the zones the inventory names by id.
      call: (a) =>
        a.token === "aws:route53/getZone:getZone"
          ? { ...a.inputs, name: `${route53Zones.get(a.inputs.zoneId) ?? "not-this-account.invalid"}.` }
          : a.inputs,
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
    return stackOutputs(p, deploy(inv, p, MOCK_CREDENTIALS, assignment));
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
  };
}
