/**
 * The gateway's Elastic IP through EC2's own API, for what the engine's association resource cannot
 * do: put the address back on the instance that held it when the go-live's new association fails
 * (IAM, an instance not running), right after the failed `up`, in the same command
 * (src/ops/address-restore.ts).
 */
import { AssociateAddressCommand, DescribeAddressesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { CutoverError } from "../../model/errors";

export type Ec2Api = Pick<EC2Client, "send">;

/** An EC2 client for the stack's region (aws:region, else the SDK's own lookup: AWS_REGION, the profile). */
export const ec2Client = (region?: string): Ec2Api => new EC2Client(region ? { region } : {});

/** The instance the Elastic IP is associated with now (undefined: none; a network interface's id when not an instance's). */
export async function elasticIpHolder(client: Ec2Api, allocationId: string): Promise<string | undefined> {
  const now = await described(client, allocationId);
  return now.AssociationId ? (now.InstanceId ?? now.NetworkInterfaceId ?? "an unknown holder") : undefined;
}

async function described(client: Ec2Api, allocationId: string) {
  const listed = await client.send(new DescribeAddressesCommand({ AllocationIds: [allocationId] }));
  const now = listed.Addresses?.[0];
  if (!now) throw new CutoverError(`the Elastic IP ${allocationId} is not in this account and region`);
  return now;
}

/**
 * Associates the Elastic IP with `instanceId` again when it is free; nothing when it is there
 * already. Never takes it from another instance (AllowReassociation false): an address someone
 * else associated meanwhile is theirs, and the refusal says so. Returns what it did.
 */
export async function reassociate(client: Ec2Api, allocationId: string, instanceId: string): Promise<"associated" | "already there"> {
  const now = await described(client, allocationId);
  if (now.InstanceId === instanceId) return "already there";
  if (now.AssociationId)
    throw new CutoverError(
      `the Elastic IP ${allocationId} is associated with ${now.InstanceId ?? now.NetworkInterfaceId ?? "something else"} now: left there, not moved back to ${instanceId}`,
    );
  await client.send(new AssociateAddressCommand({ AllocationId: allocationId, InstanceId: instanceId, AllowReassociation: false }));
  return "associated";
}
