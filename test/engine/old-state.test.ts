/**
 * A stack whose state was written before the layout moved to src/ (by commit eb3b6c1, at phase 1 of
 * a lab stack: its mailbox archive and the dynamic provider): the provider code in such a state
 * loads ./components/providers/runtime.ts when the engine refreshes or deletes, so that path must
 * keep resolving.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { obtainEngine } from "../../src/ops/engine";
import { localBackendUrl, MigrationStack } from "../../src/ops/stack";
import { FIXTURES } from "../helpers";

const recorded = readFileSync(join(FIXTURES, "state-before-layout-move.json"), "utf8");
const name = `lab-oldstate-${randomBytes(3).toString("hex")}`;
let stack: MigrationStack;

beforeAll(async () => {
  stack = await MigrationStack.open(name, {
    engine: await obtainEngine(),
    backendUrl: localBackendUrl(),
    offline: true,
    passphrase: "cutover-lab",
  });
  // The recording's stack was lab-oldstate; its URNs name it.
  await stack.stack.importStack(JSON.parse(recorded.replaceAll("urn:pulumi:lab-oldstate::", `urn:pulumi:${name}::`)));
}, 120_000);
afterAll(async () => {
  await stack?.remove().catch(() => undefined);
}, 60_000);

describe("a state recorded before the move to src/", () => {
  it("holds provider code that loads the old runtime path", () => {
    const archive = JSON.parse(recorded).deployment.resources.find((r: { type: string }) => r.type.endsWith("MailboxArchive"));
    expect(archive.inputs.__provider).toContain('"./components/providers/runtime.ts"');
  });

  it("refreshes and destroys through that path", async () => {
    const refreshed = await stack.refresh();
    expect(refreshed.steps.map((s) => `${s.op} ${s.name}`)).toContain("refresh mailbox-archive");
    const destroyed = await stack.destroy();
    expect(destroyed.steps.map((s) => `${s.op} ${s.name}`)).toContain("delete mailbox-archive");
    expect(JSON.parse(await stack.exportCheckpoint()).deployment.resources ?? []).toEqual([]);
  }, 120_000);
});
