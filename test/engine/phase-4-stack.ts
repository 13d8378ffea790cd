/** A throw-away lab stack brought to phase 4 with the phase command, destroyed after the file. */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, expect } from "vitest";
import { openLabStack, removeLabStack } from "../../lab/lab-stack";
import type { Phase } from "../../src/model/inventory";
import { obtainEngine } from "../../src/ops/engine";
import { runPhase } from "../../src/ops/phase";
import type { MigrationStack } from "../../src/ops/stack";
import type { TestLab } from "../lab/env";

export const progress = (m: string) => process.stderr.write(`${m}\n`);

/** Registers the hooks; the returned function gives the stack once beforeAll has run. */
export function labStackAtPhase4(
  lab: TestLab,
  prefix: string,
  configure?: (stack: MigrationStack) => Promise<void>,
  backendUrl?: () => Promise<string>,
): () => MigrationStack {
  let stack: MigrationStack | undefined;
  beforeAll(async () => {
    const name = `${prefix}-${randomBytes(3).toString("hex")}`;
    stack = await openLabStack(name, lab.description, await obtainEngine(), progress, ...(backendUrl ? [await backendUrl()] : []));
    await configure?.(stack);
    for (const phase of [1, 2, 3, 4] as Phase[]) expect((await runPhase(stack, phase, { yes: true, progress })).status).toBe("done");
  }, 240_000);
  afterAll(async () => {
    if (!stack) return;
    await stack.destroy().catch((e) => progress(`destroy: ${e.message}`));
    await removeLabStack(stack).catch(() => undefined);
  }, 120_000);
  return () => stack!;
}
