import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../src/model/config";
import type { Inventory, Phase } from "../src/model/inventory";
import { readStackFile, STACKS_DIR } from "../src/model/stack-file";

export const FIXTURES = join(__dirname, "fixtures");

/** Stacks and fixtures by name: the two real stacks and one fixture per layout or strategy. */
export const STACK_FILES: Record<string, string> = {
  pilot: join(STACKS_DIR, "Pulumi.pilot.yaml"),
  production: join(STACKS_DIR, "Pulumi.production.yaml"),
  "post-offices": join(FIXTURES, "post-offices.yaml"),
  "smart-host": join(FIXTURES, "smart-host.yaml"),
  mx: join(FIXTURES, "mx.yaml"),
};

export function load(name: string, phase: Phase): Inventory {
  const file = STACK_FILES[name];
  const { inventory } = readStackFile(file);
  return loadConfig({ inventory, phase, baseDir: join(file, "..") }).inventory;
}

/** A deep copy of a stack's raw inventory and its mailbox text, for tests that break them. */
export function rawStack(name: string): { inventory: Record<string, any>; mailboxText: string; baseDir: string } {
  const file = STACK_FILES[name];
  const { inventory } = readStackFile(file);
  const inv = structuredClone(inventory) as Record<string, any>;
  const baseDir = join(file, "..");
  return { inventory: inv, mailboxText: readFileSync(join(baseDir, inv.mailboxes), "utf8"), baseDir };
}
