/**
 * A stack of the pilot's inventory configured for the lab: the pilot's config file copied under
 * the stack's name, plus what only the lab knows (pinned host keys, and as secrets the SSH key and
 * the TSIG secret), on the project's local backend or the one PULUMI_BACKEND_URL names.
 */

import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CONFIG } from "../src/model/config-keys";
import { loadStack, readStackFile, STACKS_DIR } from "../src/model/stack-file";
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

/** The production-shaped lab stack's starting config (see the file). */
export const PRODUCTION_LAB_TEMPLATE = join(__dirname, "production-lab.yaml");

/** The zones a production-shaped lab stack needs the lab's DNS server to serve. */
export const productionLabZones = (): string[] => {
  const inv = readStackFile(PRODUCTION_LAB_TEMPLATE).inventory as { zones: { name: string; provider: string }[] };
  return inv.zones.filter((z) => z.provider === "bind").map((z) => z.name);
};

export interface LabStackShape {
  /** pilot: the pilot's config. production: production domains (paradigms.com), starting at phase 4 after `pilotStack`. */
  shape?: "pilot" | "production";
  /** production: the stack that rehearsed phases 1-3. */
  pilotStack?: string;
}

export async function openLabStack(
  name: string,
  lab: LabDescription,
  engine: Engine,
  progress?: Progress,
  backendUrl = labBackendUrl(),
  { shape = "pilot", pilotStack }: LabStackShape = {},
): Promise<MigrationStack> {
  const fresh = !existsSync(join(STACKS_DIR, `Pulumi.${name}.yaml`));
  if (fresh && shape === "production") copyFileSync(PRODUCTION_LAB_TEMPLATE, join(STACKS_DIR, `Pulumi.${name}.yaml`));
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
    const pilot = loadStack("pilot", 1).inventory;
    const users = readFileSync(join(STACKS_DIR, pilot.mailboxes), "utf8");
    // The production shape: the pilot's users in the production domain paradigms.com.
    const domain = pilot.addressSpaces[0].domain;
    writeFileSync(
      join(STACKS_DIR, labMailboxFile(name)),
      shape === "production" ? users.replaceAll(`@${domain}`, "@paradigms.com") : users,
    );
    await stack.setConfig({ [`${CONFIG.inventory}.mailboxes`]: { value: labMailboxFile(name) } }, true);
  }
  if (pilotStack) await stack.setConfig({ [`${CONFIG.inventory}.pilotStack`]: { value: pilotStack } }, true);
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
