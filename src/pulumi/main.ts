/**
 * The cutover program proper (index.ts loads it once the host-effects provider is registered):
 * stack config -> checked inventory -> plan of the phase -> resources and stack outputs.
 */

import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { HostEffectsProvider } from "../../components/providers/host-effects";
import { loadConfig, parseHostKeys } from "../model/config";
import { CONFIG, CONFIG_NAMESPACE, configName, instanceHostKeySetting } from "../model/config-keys";
import { CutoverError, InputError } from "../model/errors";
import { HOST_ROLES, type MailSystem } from "../model/inventory";
import { assignmentDigest, digestMismatch, packAssignment, readMailboxFile } from "../model/mailbox-archive";
import { plan } from "../model/plan";
import { deploy, type HostCredentials, stackOutputs } from "./program";

const STACKS = join(__dirname, "..", "..", "stacks");

function program(hostEffects: HostEffectsProvider) {
  const config = new pulumi.Config(CONFIG_NAMESPACE);
  // Read as plain text to be checked here; it reaches the hosts as a secret (deploy).
  const gatewayTls = config.getObject<Partial<Record<MailSystem, string>>>(configName(CONFIG.gatewayTls));
  const { inventory, phase } = loadConfig({
    inventory: config.requireObject(configName(CONFIG.inventory)),
    phase: config.require(configName(CONFIG.phase)),
    baseDir: STACKS,
    secrets: { gatewayTls },
  });
  // Every gateway is reached by SSH, whatever runs it: EC2 instances too.
  const credentials: HostCredentials = {
    hostKeys: parseHostKeys(config.getObject(configName(CONFIG.hostKeys)), inventory),
    privateKey: config.requireSecret(configName(CONFIG.sshPrivateKey)),
    tsigSecret: config.getSecret(configName(CONFIG.tsigSecret)),
    ...(gatewayTls ? { gatewayChains: gatewayTls } : {}),
    cloudflareApiToken: new pulumi.Config("cloudflare").getSecret("apiToken"),
    instanceHostKeys: Object.fromEntries(
      HOST_ROLES.flatMap((role) => {
        const key = config.getSecret(configName(instanceHostKeySetting(role)));
        return key ? [[role, key]] : [];
      }),
    ),
  };
  // The mailbox file this update runs with: its digest must be the one the phase command recorded in
  // the config (so the update history names it), and its content goes to the stack's archive.
  const mailboxFile = readMailboxFile(inventory.mailboxes, STACKS);
  const digest = assignmentDigest(mailboxFile.content);
  const recorded = config.get(configName(CONFIG.mailboxesDigest));
  if (recorded && recorded !== digest) throw new InputError(digestMismatch(mailboxFile.path, recorded, digest));

  const desired = plan(inventory, phase);
  return stackOutputs(
    desired,
    deploy(inventory, desired, credentials, {
      assignment: { digest, packed: packAssignment(mailboxFile.content) },
      listUnmanaged: config.getBoolean(configName(CONFIG.listUnmanaged)) ?? false,
      legacyDown: config.getBoolean(configName(CONFIG.legacyDown)) ?? false,
      hostEffects,
    }),
  );
}

/** Errors meant for the user reach the CLI as RunErrors: it prints their message, not a trace. */
function withoutTrace<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof CutoverError) throw new pulumi.RunError(e.message);
    throw e;
  }
}

/** The program's stack outputs, with the host-effects provider index.ts registered. */
export const cutoverProgram = (hostEffects: HostEffectsProvider) => withoutTrace(() => program(hostEffects));
