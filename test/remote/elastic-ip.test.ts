/**
 * Putting the Elastic IP back after a failed move, through EC2's API (AWS cannot be had here): a fake
 * that keeps one address as DescribeAddresses and AssociateAddress do, and records every call.
 */
import { AssociateAddressCommand, DescribeAddressesCommand } from "@aws-sdk/client-ec2";
import { describe, expect, it } from "vitest";
import { type Ec2Api, reassociate } from "../../src/remote/effects/elastic-ip";

const ALLOCATION = "eipalloc-0123456789abcdef0";

function fakeEc2(address: { InstanceId?: string; AssociationId?: string } | undefined) {
  const sent: string[] = [];
  const client = {
    send: async (command: unknown) => {
      if (command instanceof DescribeAddressesCommand) {
        sent.push(`describe ${command.input.AllocationIds?.join(",")}`);
        return { Addresses: address ? [{ AllocationId: ALLOCATION, ...address }] : [] };
      }
      if (command instanceof AssociateAddressCommand) {
        const { AllocationId, InstanceId, AllowReassociation } = command.input;
        sent.push(`associate ${AllocationId} ${InstanceId} reassociation=${AllowReassociation}`);
        if (address?.AssociationId && !AllowReassociation) throw new Error("Resource.AlreadyAssociated");
        Object.assign(address ?? {}, { InstanceId, AssociationId: "eipassoc-0b" });
        return { AssociationId: "eipassoc-0b" };
      }
      throw new Error("unexpected command");
    },
  } as unknown as Ec2Api;
  return { client, sent };
}

describe("the Elastic IP put back on the instance that held it", () => {
  it("associates a free address with it, never taking one from elsewhere", async () => {
    const free = fakeEc2({});
    expect(await reassociate(free.client, ALLOCATION, "i-0legacy")).toBe("associated");
    expect(free.sent).toEqual([`describe ${ALLOCATION}`, `associate ${ALLOCATION} i-0legacy reassociation=false`]);
  });

  it("leaves an address already there, and one another instance holds now, naming it", async () => {
    const there = fakeEc2({ InstanceId: "i-0legacy", AssociationId: "eipassoc-0a" });
    expect(await reassociate(there.client, ALLOCATION, "i-0legacy")).toBe("already there");
    expect(there.sent).toEqual([`describe ${ALLOCATION}`]);
    const taken = fakeEc2({ InstanceId: "i-0other", AssociationId: "eipassoc-0c" });
    await expect(reassociate(taken.client, ALLOCATION, "i-0legacy")).rejects.toThrow(
      `the Elastic IP ${ALLOCATION} is associated with i-0other now: left there, not moved back to i-0legacy`,
    );
    expect(taken.sent).toEqual([`describe ${ALLOCATION}`]);
    await expect(reassociate(fakeEc2(undefined).client, ALLOCATION, "i-0legacy")).rejects.toThrow(/not in this account and region/);
  });
});
