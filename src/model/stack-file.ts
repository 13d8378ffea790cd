/**
 * Reads a stack's settings straight from stacks/Pulumi.<stack>.yaml, for the commands that work
 * without the engine (plan, offline preview, bench). Under the engine, pulumi.Config is used.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { loadInventory } from "./config";
import type { Inventory } from "./inventory";

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
  const inventory = config["cutover:inventory"];
  return { inventory: typeof inventory === "string" ? JSON.parse(inventory) : inventory, phase: config["cutover:phase"], hostKeys: config["cutover:hostKeys"] };
}

/** The checked inventory of stacks/Pulumi.<stack>.yaml, optionally at another phase. */
export function loadStack(stack: string, phase?: number, dir = STACKS_DIR): Inventory {
  const file = readStackFile(join(dir, `Pulumi.${stack}.yaml`));
  return loadInventory({ inventory: file.inventory, phase: phase ?? file.phase, baseDir: dir });
}
