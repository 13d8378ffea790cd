/**
 * A stack configured for the lab: a shape's config file (the pilot's by default) copied under the
 * stack's name and its mailbox file beside it, plus what only the lab knows (pinned host keys, and
 * as secrets the SSH key and the TSIG secret), on the project's local backend or the one
 * PULUMI_BACKEND_URL names.
 */

import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CONFIG } from "../src/model/config-keys";
import { type HostRole, type ParsedInventory, parseStructure } from "../src/model/inventory";
import { loadStack, readStackFile, STACKS_DIR } from "../src/model/stack-file";
import type { Engine, Progress } from "../src/ops/engine";
import { localBackendUrl, MigrationStack } from "../src/ops/stack";
import type { LabDescription } from "./lab";

/** Lab stacks are named lab-...: their config and mailbox files are git-ignored, their state is local. */
export const isLabStack = (name: string) => name.startsWith("lab-");

/** Lab stacks are throw-away: their passphrase is public unless PULUMI_CONFIG_PASSPHRASE says otherwise. */
export const LAB_PASSPHRASE = process.env.PULUMI_CONFIG_PASSPHRASE ?? "cutover-lab";
/** Where lab stacks' passphrase comes from, for the message when it is wrong. */
export const LAB_PASSPHRASE_SOURCE =
  'PULUMI_CONFIG_PASSPHRASE (lab stacks use it when it is set, else the lab\'s own passphrase "cutover-lab")';

/** A lab stack's own copy of the pilot's mailbox file (git-ignored), so waves and rollbacks change only it. */
export const labMailboxFile = (stack: string) => `mailboxes.${stack}.csv`;

/** A lab stack's backend: PULUMI_BACKEND_URL when set (the lab team's PostgreSQL), else the project's local one. */
export const labBackendUrl = () => process.env.PULUMI_BACKEND_URL ?? localBackendUrl();

/**
 * The shapes a lab stack can take, each a starting config and a mailbox file: the pilot's own, the
 * production-shaped stack (production domains such as paradigms.com, starting at phase 4 after a
 * pilot stack), and the two other layouts (post offices with an MX each, a smart host in front).
 */
export const LAB_SHAPES = ["pilot", "production", "post-offices", "smart-host"] as const;
export type LabShape = (typeof LAB_SHAPES)[number];

const SHAPE_FILES: Record<LabShape, { config: string; mailboxes: string }> = {
  pilot: { config: join(STACKS_DIR, "Pulumi.pilot.yaml"), mailboxes: join(STACKS_DIR, "mailboxes.pilot.csv") },
  production: { config: join(__dirname, "production-lab.yaml"), mailboxes: join(STACKS_DIR, "mailboxes.pilot.csv") },
  "post-offices": { config: join(__dirname, "post-offices-lab.yaml"), mailboxes: join(__dirname, "mailboxes.post-offices.csv") },
  "smart-host": { config: join(__dirname, "smart-host-lab.yaml"), mailboxes: join(__dirname, "mailboxes.smart-host.csv") },
};

/** Every shape's checked inventory (without mailboxes): the lab builds the hosts and zones of them all. */
export const labShapeInventories = (): ParsedInventory[] =>
  LAB_SHAPES.map((shape) => parseStructure(readStackFile(SHAPE_FILES[shape].config).inventory, 1).inventory);

/** The mailbox file a fresh stack of the shape starts with. */
function shapeMailboxes(shape: LabShape): string {
  const users = readFileSync(SHAPE_FILES[shape].mailboxes, "utf8");
  if (shape !== "production") return users;
  // The production shape: the pilot's users in the production domain paradigms.com.
  const domain = loadStack("pilot", 1).inventory.addressSpaces[0].domain;
  return users.replaceAll(`@${domain}`, "@paradigms.com");
}

export interface LabStackShape {
  shape?: LabShape;
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
  const configFile = join(STACKS_DIR, `Pulumi.${name}.yaml`);
  const fresh = !existsSync(configFile);
  if (fresh) copyFileSync(SHAPE_FILES[shape].config, configFile);
  const stack = await MigrationStack.open(name, {
    engine,
    backendUrl,
    passphrase: LAB_PASSPHRASE,
    passphraseSource: LAB_PASSPHRASE_SOURCE,
    // The lab is offline by design: its stacks use no cloud provider.
    offline: true,
    ...(progress ? { progress } : {}),
  });
  if (fresh || !existsSync(join(STACKS_DIR, labMailboxFile(name)))) {
    writeFileSync(join(STACKS_DIR, labMailboxFile(name)), shapeMailboxes(shape));
    await stack.setConfig({ [`${CONFIG.inventory}.mailboxes`]: { value: labMailboxFile(name) } }, true);
  }
  if (pilotStack) await stack.setConfig({ [`${CONFIG.inventory}.pilotStack`]: { value: pilotStack } }, true);
  // Only the stack's own hosts: the lab also runs those of the other shapes.
  // A role another role's host plays (lab.aliases) has that host's key.
  const roles = Object.keys(loadStack(name, 1).inventory.hosts) as HostRole[];
  await stack.setConfig(
    Object.fromEntries(roles.map((role) => [`${CONFIG.hostKeys}.${role}`, { value: lab.hosts[lab.aliases?.[role] ?? role]!.hostKey }])),
    true,
  );
  await stack.setSecrets({ [CONFIG.sshPrivateKey]: readFileSync(lab.adminKeyPath, "utf8"), [CONFIG.tsigSecret]: lab.tsig.secret });
  const tls = labGatewayTls(lab);
  if (tls && lab.tls) {
    await stack.setConfig(
      Object.fromEntries(
        (["legacy", "new"] as const).flatMap((role) =>
          Object.entries(tls[role]).map(([k, v]) => [`${CONFIG.inventory}.gateway.tls.${role}.${k}`, { value: String(v) }]),
        ),
      ),
      true,
    );
    await stack.setSecrets({ [`${CONFIG.gatewayTls}.new`]: readFileSync(lab.tls.new.chainFile, "utf8") }, true);
  }
  const sts = labMtaSts(lab);
  // The policies' web server is the model Internet's host, under the role the stack gives it (a
  // production stack lists it as its dnsServer); the enforcing sender is the model Internet's, if listed.
  const policyHost = sts && roles.find((r) => (lab.aliases?.[r] ?? r) === sts.mtaSts.policyHost);
  if (sts && policyHost && loadStack(name, 1).inventory.layout !== "smart-host")
    await stack.setConfig(
      Object.fromEntries([
        ...Object.entries({ ...sts.mtaSts, policyHost }).map(([k, v]) => [`${CONFIG.inventory}.gateway.mtaSts.${k}`, { value: String(v) }]),
        ...(roles.includes("internet") ? [[`${CONFIG.inventory}.internet.mtaStsSender`, { value: sts.sender }]] : []),
      ]),
      true,
    );
  return stack;
}

/**
 * The gateway's TLS identity of every lab stack, as an organisation states it: the legacy
 * gateway's own chain file, and the new server's chain as a stack secret (cutover:gatewayTls.new).
 */
export function labGatewayTls(lab: LabDescription): NonNullable<ParsedInventory["gateway"]["tls"]> | undefined {
  if (!lab.tls) return undefined;
  return {
    legacy: { source: "file", chain: lab.tls.legacy.chain, spki: lab.tls.legacy.spki },
    new: { source: "secret", spki: lab.tls.new.spki },
    expiryWarningDays: 21,
  };
}

/**
 * MTA-STS of every lab stack but the smart host's (whose MX is the smart host): enforced, served
 * by the lab's web server from the directory it serves, with the outside user that enforces it.
 */
export function labMtaSts(lab: LabDescription): { mtaSts: NonNullable<ParsedInventory["gateway"]["mtaSts"]>; sender: string } | undefined {
  if (!lab.mtaSts || !lab.tls) return undefined;
  return {
    mtaSts: {
      mode: "enforce",
      maxAge: 86_400,
      policyHost: lab.mtaSts.policyHost,
      directory: lab.mtaSts.directory,
      address: lab.mtaSts.address,
    },
    sender: lab.mtaSts.sender,
  };
}

/** Removes a lab stack: its state, its config file and its mailbox file. */
export async function removeLabStack(stack: MigrationStack): Promise<void> {
  rmSync(join(STACKS_DIR, labMailboxFile(stack.name)), { force: true });
  await stack.remove();
}
