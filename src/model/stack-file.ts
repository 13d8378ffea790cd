/**
 * Reads a stack's settings straight from stacks/Pulumi.<stack>.yaml, for the commands that work
 * without the engine (plan, offline preview, bench). Under the engine, pulumi.Config is used.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseDocument } from "yaml";
import { loadConfig, type StackConfig } from "./config";
import { CONFIG } from "./config-keys";
import { InputError } from "./errors";
import type { Phase } from "./inventory";
import { type Plan, plan } from "./plan";

export const PROJECT_DIR = join(__dirname, "..", "..");
export const STACKS_DIR = join(PROJECT_DIR, "stacks");

export interface StackFile {
  inventory: unknown;
  phase: unknown;
  hostKeys: unknown;
}

/** A stack file's settings; a YAML or JSON syntax error is bad input that names file, line and column. */
export function readStackFile(path: string): StackFile {
  const size = statSync(path).size;
  if (size > MAX_STACK_FILE_BYTES)
    throw new InputError(
      `${path}: ${size} bytes, more than ${MAX_STACK_FILE_BYTES}: a stack file holds settings; keep the mailboxes in their own file`,
    );
  const doc = parseDocument(readFileSync(path, "utf8"), { prettyErrors: true });
  const syntax = doc.errors[0];
  if (syntax) {
    const at = syntax.linePos?.[0];
    throw new InputError(
      `${path}:${at ? `${at.line}:${at.col}` : "?"}: not valid YAML (${syntax.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "")}): fix the file`,
    );
  }
  const config = (toJS(doc, path) as { config?: Record<string, unknown> } | null)?.config ?? {};
  // `pulumi config set` without --path stores an object as its JSON text.
  const inventory = config[CONFIG.inventory];
  return {
    inventory: typeof inventory === "string" ? parseInventoryJson(inventory, path) : inventory,
    phase: config[CONFIG.phase],
    hostKeys: config[CONFIG.hostKeys],
  };
}

/** The document as plain data; an alias bomb (YAML's "billion laughs") is bad input, not a crash. */
function toJS(doc: ReturnType<typeof parseDocument>, path: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new InputError(`${path}: ${(e as Error).message}: write the settings without YAML aliases`);
  }
}

/** The largest stack file read: an inventory of 200 domains takes about 100 kB. */
export const MAX_STACK_FILE_BYTES = 4 * 1024 * 1024;

/** The inventory stored as JSON text; malformed JSON is bad input naming where it breaks. */
function parseInventoryJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InputError(
      `${path}: ${CONFIG.inventory} is JSON text that does not parse (${(e as Error).message}): fix it, or set it with pulumi config set --path`,
    );
  }
}

/** The checked settings of stacks/Pulumi.<stack>.yaml, at its own phase or at another one. */
export function loadStack(stack: string, phase?: Phase, dir = STACKS_DIR): StackConfig {
  const file = readStackFile(join(dir, `Pulumi.${stack}.yaml`));
  return loadConfig({ inventory: file.inventory, phase: phase ?? file.phase, baseDir: dir });
}

/** The plan of a stack file at its own phase or at another one. */
export function stackPlan(stack: string, phase?: Phase, dir = STACKS_DIR): Plan {
  const config = loadStack(stack, phase, dir);
  return plan(config.inventory, config.phase);
}
