/**
 * Stacks whose state was written while the providers' code lived elsewhere. A state written before
 * the layout moved to src/ (by commit eb3b6c1, at phase 1 of a lab stack: its mailbox archive and the
 * dynamic provider) carries provider code that loads ./components/providers/runtime.ts when the
 * engine refreshes or deletes; one written while the components lived in src/pulumi/ loads
 * src/pulumi/providers/runtime.ts (the same recording with that path, as such a state names it).
 * Both paths must keep resolving.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { obtainEngine } from "../../src/ops/engine";
import { localBackendUrl, MigrationStack } from "../../src/ops/stack";
import { FIXTURES } from "../helpers";

const recorded = readFileSync(join(FIXTURES, "state-before-layout-move.json"), "utf8");
const OLD_PATH = "./components/providers/runtime.ts";
const stacks: MigrationStack[] = [];

afterAll(async () => {
  for (const s of stacks) await s.remove().catch(() => undefined);
}, 60_000);

describe.each([
  ["before the move to src/", OLD_PATH],
  ["while the components lived in src/pulumi/", "./src/pulumi/providers/runtime.ts"],
])("a state recorded %s", (_when, runtimePath) => {
  const state = recorded.replaceAll(OLD_PATH, runtimePath);

  it("holds provider code that loads that runtime path", () => {
    const archive = JSON.parse(state).deployment.resources.find((r: { type: string }) => r.type.endsWith("MailboxArchive"));
    expect(archive.inputs.__provider).toContain(JSON.stringify(runtimePath));
  });

  it("refreshes and destroys through that path", async () => {
    const name = `lab-oldstate-${randomBytes(3).toString("hex")}`;
    const stack = await MigrationStack.open(name, {
      engine: await obtainEngine(),
      backendUrl: localBackendUrl(),
      offline: true,
      passphrase: "cutover-lab",
    });
    stacks.push(stack);
    // The recording's stack was lab-oldstate; its URNs name it.
    await stack.stack.importStack(JSON.parse(state.replaceAll("urn:pulumi:lab-oldstate::", `urn:pulumi:${name}::`)));
    const refreshed = await stack.refresh();
    expect(refreshed.steps.map((s) => `${s.op} ${s.name}`)).toContain("refresh mailbox-archive");
    const destroyed = await stack.destroy();
    expect(destroyed.steps.map((s) => `${s.op} ${s.name}`)).toContain("delete mailbox-archive");
    expect(JSON.parse(await stack.exportCheckpoint()).deployment.resources ?? []).toEqual([]);
  }, 180_000);
});
