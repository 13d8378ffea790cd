/**
 * A stack of the pilot's inventory configured for the lab: the pilot's config file copied under
 * the stack's name, plus what only the lab knows (pinned host keys, and as secrets the SSH key and
 * the TSIG secret), on the project's local backend or the one PULUMI_BACKEND_URL names.
 */

import { copyFileSync, existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { CONFIG } from "../src/model/config-keys";
import { loadStack, STACKS_DIR } from "../src/model/stack-file";
import type { Engine, Progress } from "../src/ops/engine";
import { localBackendUrl, MigrationStack } from "../src/ops/stack";
import type { LabDescription } from "./lab";

/** Lab stacks are named lab-...: their config and mailbox files are git-ignored, their state is local. */
export const isLabStack = (name: string) => name.startsWith("lab-");

/** Lab stacks are throw-away: their passphrase is public unless PULUMI_CONFIG_PASSPHRASE says otherwise. */
export const LAB_PASSPHRASE = process.env.PULUMI_CONFIG_PASSPHRASE ?? "cutover-lab";

/** A lab stack's own copy of the pilot's mailbox file (git-ignored), so waves and rollbacks change only it. */
export const labMailboxFile = (stack: string) => `mailboxes.${stack}.csv`;

/** A lab stack's backend: PULUMI_BACKEND_URL when set (the lab team's PostgreSQL), else the project's local one. */
export const labBackendUrl = () => process.env.PULUMI_BACKEND_URL ?? localBackendUrl();

export async function openLabStack(
  name: string,
  lab: LabDescription,
  engine: Engine,
  progress?: Progress,
  backendUrl = labBackendUrl(),
): Promise<MigrationStack> {
  const fresh = !existsSync(join(STACKS_DIR, `Pulumi.${name}.yaml`));
  const stack = await MigrationStack.open(name, {
    engine,
    backendUrl,
    passphrase: LAB_PASSPHRASE,
    // The lab is offline by design: its stacks use no cloud provider.
    offline: true,
    template: "pilot",
    ...(progress ? { progress } : {}),
  });
  if (fresh || !existsSync(join(STACKS_DIR, labMailboxFile(name)))) {
    copyFileSync(join(STACKS_DIR, loadStack("pilot", 1).inventory.mailboxes), join(STACKS_DIR, labMailboxFile(name)));
    await stack.setConfig({ [`${CONFIG.inventory}.mailboxes`]: { value: labMailboxFile(name) } }, true);
  }
  await stack.setConfig(
    Object.fromEntries(Object.entries(lab.hosts).map(([role, h]) => [`${CONFIG.hostKeys}.${role}`, { value: h!.hostKey }])),
    true,
  );
  await stack.setSecrets({ [CONFIG.sshPrivateKey]: readFileSync(lab.adminKeyPath, "utf8"), [CONFIG.tsigSecret]: lab.tsig.secret });
  return stack;
}

/** Removes a lab stack: its state, its config file and its mailbox file. */
export async function removeLabStack(stack: MigrationStack): Promise<void> {
  rmSync(join(STACKS_DIR, labMailboxFile(stack.name)), { force: true });
  await stack.remove();
}
