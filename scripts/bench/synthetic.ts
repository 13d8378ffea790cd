/**
 * A synthetic organisation for the benchmarks: N mailboxes spread over D domains, each in an
 * existing Route 53 zone of its own, and their pilot domains in one pilot zone (a pilot domain
 * never lies in a production zone).
 */
import type { RawInventory } from "../../src/model/inventory";

export function syntheticInventory(domains: number): RawInventory {
  const names = Array.from({ length: domains }, (_, i) => `org${String(i).padStart(3, "0")}.example`);
  return {
    organisation: "Benchmark",
    layout: "single-post-office",
    addressSpaces: names.map((d) => ({ domain: d, pilotDomain: `${d.replace(/\.example$/, "")}.pilot.example` })),
    postOffices: [{ name: "hq" }],
    zones: [
      ...names.map((d, i) => ({ name: d, provider: "route53" as const, zoneId: `Z${String(i).padStart(20, "0")}` })),
      { name: "pilot.example", provider: "route53" as const, zoneId: "ZPILOT0000000000000000" },
    ],
    hosts: {
      legacy: { kind: "aws" as const, address: "203.0.113.10", instanceId: "i-0a1b2c3d4e5f60718" },
      new: {
        kind: "aws" as const,
        address: "203.0.113.20",
        instance: {
          ami: "ami-0123456789abcdef0",
          instanceType: "t3.medium",
          subnetId: "subnet-0123456789abcdef0",
          securityGroupIds: ["sg-0123456789abcdef0"],
        },
      },
    },
    gateway: { address: "203.0.113.25", allocationId: "eipalloc-0123456789abcdef0" },
    goLive: { strategy: "eip" as const },
    mailboxes: "synthetic.csv",
  };
}

/** The mailbox file's text: a quarter of the users already on the new system. */
export function syntheticMailboxes(mailboxes: number, domains: number): string {
  const lines = ["address,home,postOffice"];
  for (let i = 0; i < mailboxes; i++)
    lines.push(`user${i}@org${String(i % domains).padStart(3, "0")}.example,${i % 4 === 0 ? "new" : "legacy"},hq`);
  return `${lines.join("\n")}\n`;
}
