/**
 * A stack of the pilot's inventory configured for the lab: the pilot's config file copied under
 * the stack's name, plus what only the lab knows (pinned host keys, and as secrets the SSH key and
 * the TSIG secret), on the project's local backend.
 */
import { readFileSync } from "node:fs";
import type { LabDescription } from "../lab/lab";
import type { Engine, Progress } from "./obtain";
import { localBackendUrl, MigrationStack } from "./stack";

/** Lab stacks are throw-away: their passphrase is public unless PULUMI_CONFIG_PASSPHRASE says otherwise. */
export const LAB_PASSPHRASE = process.env.PULUMI_CONFIG_PASSPHRASE ?? "cutover-lab";

export async function openLabStack(name: string, lab: LabDescription, engine: Engine, progress?: Progress): Promise<MigrationStack> {
  const stack = await MigrationStack.open(name, { engine, backendUrl: localBackendUrl(), passphrase: LAB_PASSPHRASE, template: "pilot", ...(progress ? { progress } : {}) });
  await stack.setConfig(Object.fromEntries(Object.entries(lab.hosts).map(([role, h]) => [`cutover:hostKeys.${role}`, { value: h!.hostKey }])), true);
  await stack.setConfig({
    "cutover:sshPrivateKey": { value: readFileSync(lab.adminKeyPath, "utf8"), secret: true },
    "cutover:tsigSecret": { value: lab.tsig.secret, secret: true },
  });
  return stack;
}
