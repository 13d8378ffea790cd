/**
 * A throw-away lab stack brought to phase 4 with the phase command, destroyed after the file. It
 * starts at phase 4 as a production stack does (forced past the guard that asks a lab stack to walk
 * phases 1-3 first): the files that use it test what happens from phase 4 on, and the walk itself
 * is the pilot's, the rehearsal's and the layouts' test. One update instead of four: ~45 s less per file.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, expect } from "vitest";
import { type LabStackShape, openLabStack, removeLabStack } from "../../lab/lab-stack";
import { obtainEngine } from "../../src/ops/engine";
import { runPhase } from "../../src/ops/phase";
import type { MigrationStack } from "../../src/ops/stack";
import type { TestLab } from "../lab/env";

export const progress = (m: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 23)}] ${m}\n`);

/**
 * Registers the hooks; the returned function gives the stack once beforeAll has run, and its
 * `startLog` what the phase command printed bringing it to phase 4 (its preview included).
 */
export function labStackAtPhase4(
  lab: TestLab,
  prefix: string,
  configure?: (stack: MigrationStack) => Promise<void>,
  backendUrl?: () => Promise<string>,
  shape: LabStackShape["shape"] = "pilot",
): (() => MigrationStack) & { startLog: string[] } {
  let stack: MigrationStack | undefined;
  const startLog: string[] = [];
  beforeAll(async () => {
    const name = `${prefix}-${randomBytes(3).toString("hex")}`;
    stack = await openLabStack(name, lab.description, await obtainEngine(), progress, backendUrl ? await backendUrl() : undefined, {
      shape,
    });
    await configure?.(stack);
    const start = await runPhase(stack, 4, {
      yes: true,
      force: true,
      progress: (m) => {
        startLog.push(m);
        progress(m);
      },
    });
    expect(start).toMatchObject({ status: "done", forced: true });
    expect(start.refusals.map((r) => r.guard)).toEqual(["skip"]);
  }, 240_000);
  afterAll(async () => {
    if (!stack) return;
    await stack.destroy().catch((e) => progress(`destroy: ${e.message}`));
    await removeLabStack(stack).catch(() => undefined);
  }, 120_000);
  return Object.assign(() => stack!, { startLog });
}
