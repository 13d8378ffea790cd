/**
 * Runs the program's wiring under Pulumi's mocks: the cloud APIs are the one thing mocked. Records
 * every custom resource the program registers, with its inputs and resource options.
 */
import * as pulumi from "@pulumi/pulumi";
import type { Inventory, Phase } from "../components/inventory";
import { plan } from "../components/plan";
import { deploy, stackOutputs } from "../components/program";

export interface MockResource {
  type: string;
  name: string;
  inputs: Record<string, any>;
  /** Options the program passed, as the SDK saw them (from a stack transformation). */
  options: pulumi.CustomResourceOptions;
  /** Set for resources read, not managed (`Instance.get`). */
  readId?: string;
}

export interface MockRun {
  resources: MockResource[];
  outputs: Record<string, unknown>;
}

export async function runUnderMocks(inv: Inventory, phase: Phase): Promise<MockRun> {
  const resources: MockResource[] = [];
  const options = new Map<string, pulumi.CustomResourceOptions>();
  await pulumi.runtime.setMocks(
    {
      newResource: (a) => {
        if (a.custom) resources.push({ type: a.type, name: a.name, inputs: a.inputs, options: {}, ...(a.id ? { readId: a.id } : {}) });
        const extra = a.type === "aws:route53/zone:Zone" ? { zoneId: `Z${a.name.length}MOCK`, nameServers: ["ns-1.awsdns-01.org"] } : {};
        return { id: a.id || `${a.name}-id`, state: { ...a.inputs, ...extra } };
      },
      call: (a) => a.inputs,
    },
    "cutover",
    "test",
    false,
  );
  const outputs = await pulumi.runtime.runInPulumiStack(async () => {
    pulumi.runtime.registerStackTransformation((t) => {
      if (t.type !== "pulumi:pulumi:Stack") options.set(`${t.type}::${t.name}`, t.opts as pulumi.CustomResourceOptions);
      return undefined;
    });
    const p = plan(inv, phase);
    return stackOutputs(p, deploy(inv, p));
  });
  // Children register asynchronously; wait for every outstanding registration.
  await pulumi.runtime.disconnect();
  for (const r of resources) r.options = options.get(`${r.type}::${r.name}`) ?? {};
  return { resources: resources.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)), outputs: (outputs ?? {}) as Record<string, unknown> };
}
