/**
 * How a production stack begins: the pilot rehearses phases 1-3, and a fresh stack whose
 * inventory names it as its pilotStack starts at phase 4 once the pilot's phase-3 verification
 * passed; not before. The real engine, the phase command's own function, the lab.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openLabStack, removeLabStack } from "../../lab/lab-stack";
import type { Phase } from "../../src/model/inventory";
import { obtainEngine } from "../../src/ops/engine";
import { TAGS } from "../../src/ops/guards";
import { runPhase } from "../../src/ops/phase";
import type { MigrationStack } from "../../src/ops/stack";
import { testLab } from "../lab/env";
import { progress } from "./phase-4-stack";

const lab = testLab();
const id = randomBytes(3).toString("hex");
let pilot: MigrationStack;
let production: MigrationStack;

beforeAll(async () => {
  const engine = await obtainEngine();
  pilot = await openLabStack(`lab-pilot-${id}`, lab.description, engine, progress);
  production = await openLabStack(`lab-production-${id}`, lab.description, engine, progress);
  await production.setConfig({ "cutover:inventory.pilotStack": { value: pilot.name } }, true);
}, 120_000);
afterAll(async () => {
  for (const s of [production, pilot]) {
    if (!s) continue;
    await s.destroy().catch((e) => progress(`destroy: ${e.message}`));
    await removeLabStack(s).catch(() => undefined);
  }
}, 180_000);

describe("a fresh production stack", () => {
  it("is refused phase 4 while its pilot has not passed phase 3, and changes nothing", async () => {
    for (const phase of [1, 2] as Phase[]) expect((await runPhase(pilot, phase, { yes: true, progress })).status).toBe("done");
    const early = await runPhase(production, 4, { yes: true, progress });
    expect(early.status).toBe("refused");
    expect(early.refusals.map((r) => r.message).join("\n")).toMatch(
      new RegExp(`finish the pilot: stack ${pilot.name} \\(inventory.pilotStack\\) has passed the verification of phase 2 only`),
    );
    expect(await production.history()).toEqual([]);
  }, 240_000);

  it("starts at phase 4 once the pilot's phase-3 verification passed, verified with real mail", async () => {
    expect((await runPhase(pilot, 3, { yes: true, progress })).status).toBe("done");
    expect((await pilot.tags())[TAGS.verified]).toMatch(/^phase=3 /);
    const first = await runPhase(production, 4, { yes: true, progress });
    expect(first.status, first.refusals.map((r) => r.message).join("\n")).toBe("done");
    const history = await production.history();
    expect(history).toHaveLength(1);
    expect(history[0].config["cutover:phase"].value).toBe("4");
    // From there, one phase at a time as any stack.
    expect((await production.tags())[TAGS.verified]).toMatch(/^phase=4 /);
  }, 240_000);
});
