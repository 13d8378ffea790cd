/**
 * The edge where stack config becomes a checked Inventory: structure, cross-field rules and the
 * mailbox file, all validated before anything is planned or created.
 */
import { readFileSync, statSync } from "node:fs";
import { z } from "zod";
import { readChain } from "./certificate";
import { CONFIG, configName } from "./config-keys";
import {
  HOST_ROLES,
  type HostRole,
  type Inventory,
  InventoryError,
  type ParsedInventory,
  type Phase,
  type Problem,
  parseStructure,
  probeProblems,
  textProblems,
} from "./inventory";
import { mailboxFilePath } from "./mailbox-archive";
import { MAX_MAILBOX_FILE_BYTES, parseMailboxes } from "./mailboxes";
import { gatewayName, stageOf } from "./names";
import { gatewayTlsNames } from "./plan";
import { checkRules } from "./rules";
import { controlCharacter, shown } from "./text";

export interface StackConfigInput {
  /** The `cutover:inventory` object. */
  inventory: unknown;
  /** The `cutover:phase` value, or the phase the stack is moving to. */
  phase: unknown;
  /** Directory the mailbox path is relative to (the stacks/ directory). */
  baseDir: string;
  /** Reads the mailbox file; defaults to the file system. */
  readText?: (path: string) => string;
  /**
   * The stack's secrets, where the caller has them (the program does; commands that read the stack
   * file do not): each secret chain is checked then. The plan never needs them.
   */
  secrets?: { gatewayTls: unknown };
  /** The time certificates are checked at; defaults to now. */
  now?: Date;
}

/** A stack's checked settings: the inventory, and the phase it is planned at (kept apart: one owner). */
export interface StackConfig {
  inventory: Inventory;
  phase: Phase;
}

/** Reads a mailbox file, refusing one too large to be one before reading it. */
function readBounded(path: string): string {
  const size = statSync(path).size;
  if (size > MAX_MAILBOX_FILE_BYTES) throw new Error(`${size} bytes, more than ${MAX_MAILBOX_FILE_BYTES}: is it the mailbox file?`);
  return readFileSync(path, "utf8");
}

export function loadConfig(input: StackConfigInput): StackConfig {
  const { inventory, phase } = parseStructure(input.inventory, input.phase);
  const problems: Problem[] = checkRules(inventory, phase);

  const file = mailboxFilePath(inventory.mailboxes, input.baseDir);
  let text: string | undefined;
  try {
    text = (input.readText ?? readBounded)(file);
  } catch (e) {
    problems.push({
      path: "inventory.mailboxes",
      message: `cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): the path is relative to ${input.baseDir}`,
    });
  }
  let mailboxList: Inventory["mailboxList"] = [];
  if (text !== undefined) {
    const parsed = parseMailboxes(text, inventory.mailboxes, {
      layout: inventory.layout,
      postOffices: inventory.postOffices.map((p) => p.name),
      domains: inventory.addressSpaces.map((s) => s.domain),
    });
    problems.push(...parsed.problems);
    mailboxList = parsed.mailboxes;
    if (!parsed.problems.length) problems.push(...probeProblems(inventory, mailboxList));
  }
  if (inventory.gateway.tls && input.secrets)
    problems.push(...gatewayChainProblems(inventory, phase, input.secrets.gatewayTls, input.now ?? new Date()));
  if (problems.length) throw new InventoryError(problems);
  return { inventory: { ...inventory, mailboxList }, phase };
}

/**
 * What is wrong with the secret chains for the gateway name: each must be there, hold its key first
 * and matching its certificate, the key the one the inventory's spki names, the certificate covering
 * the phase's gateway name and valid now. A chain in a file on the host is checked there, by each
 * update. Pure.
 */
function gatewayChainProblems(inv: ParsedInventory, phase: Phase, secret: unknown, now: Date): Problem[] {
  const problems: Problem[] = [];
  const tls = inv.gateway.tls!;
  const isMap = secret !== null && typeof secret === "object" && !Array.isArray(secret);
  const given = isMap ? (secret as Record<string, unknown>) : {};
  if (secret !== undefined && !isMap)
    problems.push({
      path: CONFIG.gatewayTls,
      message: "must map legacy and new to PEM chains: pulumi config set --secret --path 'gatewayTls.new' < new-gateway.pem",
    });
  for (const key of Object.keys(given))
    if (key !== "legacy" && key !== "new")
      problems.push({
        path: CONFIG.gatewayTls,
        message: `${shown(key)} is not a mail system: only legacy and new have a chain for the gateway name; remove it`,
      });
  const names = gatewayTlsNames(inv, phase);
  for (const role of ["legacy", "new"] as const) {
    const source = tls[role];
    const name = names[role] ?? gatewayName(inv, stageOf(phase));
    const path = `${CONFIG.gatewayTls}.${role}`;
    if (source.source === "file") {
      if (given[role] !== undefined)
        problems.push({
          path,
          message: `inventory.gateway.tls.${role} reads the chain from ${source.chain} on the host: remove this secret, or set the source to secret`,
        });
      continue;
    }
    const pem = given[role];
    if (typeof pem !== "string" || !pem.trim()) {
      problems.push({
        path,
        message: `inventory.gateway.tls.${role} takes the chain from this secret, and it is not set: pulumi config set --secret --path '${configName(CONFIG.gatewayTls)}.${role}' < ${role}-gateway.pem (the key, its certificate for ${name}, then the issuers)`,
      });
      continue;
    }
    // A system that does not answer as the gateway in this phase needs a usable chain, not the name yet.
    const { facts, problems: wrong } = readChain(pem, names[role] ?? "", now);
    problems.push(...wrong.map((message) => ({ path, message })));
    if (facts && facts.spki !== source.spki)
      problems.push({
        path,
        message: `its key's SPKI sha256 is ${facts.spki}, and inventory.gateway.tls.${role}.spki says ${source.spki}: set the spki to the new key's (its TLSA record changes with it), or set the chain of the key the spki names`,
      });
  }
  return problems;
}

const HOST_KEY = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,3}$/;

/**
 * The pinned SSH host keys of the existing hosts (`cutover:hostKeys`, role -> "type base64").
 * Kept apart from the inventory because the lab writes them for the pilot stack.
 */
export function parseHostKeys(raw: unknown, inv: Inventory): Partial<Record<HostRole, string>> {
  const shape = z.record(z.string(), z.string()).optional().safeParse(raw);
  if (!shape.success)
    throw new InventoryError([
      { path: "hostKeys", message: 'must map host roles to public keys, such as {legacy: "ssh-ed25519 AAAA..."}' },
    ]);
  const keys = shape.data ?? {};
  const problems: Problem[] = textProblems(keys, "hostKeys");
  for (const role of Object.keys(keys)) {
    if (!(HOST_ROLES as readonly string[]).includes(role) || !inv.hosts[role as HostRole])
      problems.push({
        path: "hostKeys",
        message: `no host ${shown(role)} in the inventory: remove the key or fix the role name (${HOST_ROLES.filter((r) => inv.hosts[r]).join(", ")})`,
      });
  }
  for (const role of HOST_ROLES) {
    const h = inv.hosts[role];
    if (!h) continue;
    const key = keys[role]?.trim();
    if (!key) {
      const at = h.kind === "aws" ? (h.sshAddress ?? h.address) : h.address;
      problems.push({
        path: `hostKeys.${role}`,
        message:
          h.kind === "aws"
            ? `EC2 host ${role} (${at}) has no pinned host key: every gateway is configured over SSH. ${h.instanceId ? `Read it from the instance's console output (aws ec2 get-console-output --instance-id ${h.instanceId} --output text | grep ssh-ed25519) or with ssh-keyscan -t ed25519 ${at} from inside the VPC, check it, then` : "npm run phase makes the host key of an instance the stack creates and pins it; if its AMI brings a key of yours instead,"} pulumi config set --path 'hostKeys.${role}' "ssh-ed25519 AAAA..."`
            : `existing host ${role} (${at}) has no pinned host key: pulumi config set --path 'hostKeys.${role}' "$(ssh-keyscan -t ed25519 ${at} | cut -d' ' -f2-)", after checking the fingerprint with the host's administrator (npm run lab -- up does this for the pilot)`,
      });
    } else if (controlCharacter(key)) {
      // Reported by textProblems above.
    } else if (!HOST_KEY.test(key.split(/\s+/).slice(0, 2).join(" "))) {
      problems.push({
        path: `hostKeys.${role}`,
        message: `is not an OpenSSH public key: give "ssh-ed25519 AAAA..." as in known_hosts, without the host name`,
      });
    }
  }
  if (problems.length) throw new InventoryError(problems);
  return Object.fromEntries(Object.entries(keys).map(([r, k]) => [r, k.trim().split(/\s+/).slice(0, 2).join(" ")]));
}
