/**
 * Reads a stack's settings straight from stacks/Pulumi.<stack>.yaml, for the commands that work
 * without the engine (plan, offline preview, bench). Under the engine, pulumi.Config is used.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { loadConfig, type StackConfig } from "./config";
import { CONFIG } from "./config-keys";
import type { Phase } from "./inventory";
import { type Plan, plan } from "./plan";

export const PROJECT_DIR = join(__dirname, "..", "..");
export const STACKS_DIR = join(PROJECT_DIR, "stacks");

export interface StackFile {
  inventory: unknown;
  phase: unknown;
  hostKeys: unknown;
}

export function readStackFile(path: string): StackFile {
  const doc = parse(readFileSync(path, "utf8")) as { config?: Record<string, unknown> } | null;
  const config = doc?.config ?? {};
  // `pulumi config set` without --path stores an object as its JSON text.
  const inventory = config[CONFIG.inventory];
  return {
    inventory: typeof inventory === "string" ? JSON.parse(inventory) : inventory,
    phase: config[CONFIG.phase],
    hostKeys: config[CONFIG.hostKeys],
  };
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
