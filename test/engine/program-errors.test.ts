/**
 * Mistakes met under a plain `pulumi up` (the CLI alone, as a user runs it): the program prints
 * what is wrong and how to fix it, with no stack trace, and changes nothing.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openLabStack, removeLabStack } from "../../lab/lab-stack";
import { STACKS_DIR } from "../../src/model/stack-file";
import { type Engine, obtainEngine } from "../../src/ops/engine";
import type { MigrationStack } from "../../src/ops/stack";
import { testLab } from "../lab/env";
import { pulumiCli } from "./pulumi-cli";

const lab = testLab();
let engine: Engine;
let stack: MigrationStack;

beforeAll(async () => {
  engine = await obtainEngine();
  stack = await openLabStack(`lab-errors-${randomBytes(3).toString("hex")}`, lab.description, engine);
  await stack.setPhase(1);
}, 120_000);
afterAll(async () => {
  await removeLabStack(stack).catch(() => undefined);
}, 60_000);

/** `pulumi up --yes` with the CLI alone. */
const cliUp = () => pulumiCli(engine, ["up", "--stack", stack.name, "--yes", "--non-interactive"]);

const STACK_FRAME = /^\s+at \S.*:\d+:\d+\)?$/m;

describe("a plain pulumi up", () => {
  it("given a bad inventory, prints the problem list with no stack trace and creates nothing", async () => {
    await stack.setConfig(
      { "cutover:inventory.gateway.address": { value: "198.51.100.300" }, "cutover:inventory.ttl.records": { value: "5" } },
      true,
    );
    const { code, out } = await cliUp();
    expect(code).not.toBe(0);
    expect(out).toContain("The inventory has 2 problems; nothing was changed:");
    expect(out).toContain('inventory.gateway.address: "198.51.100.300" is not an IPv4 address');
    expect(out).toContain("inventory.ttl.records: 5 s is below the 60 s minimum");
    expect(out).not.toMatch(STACK_FRAME);
    expect(out).not.toMatch(/ts-node|RunError|\.ts:\d+/);
    expect(JSON.parse(await stack.exportCheckpoint()).deployment.resources ?? []).toEqual([]);
  }, 120_000);

  it("given a mailbox file changed behind the phase command's back, names the file and the fix, with no stack trace", async () => {
    const pilot = readFileSync(join(STACKS_DIR, `Pulumi.${stack.name}.yaml`), "utf8");
    await stack.setConfig(
      { "cutover:inventory.gateway.address": { value: "198.51.100.25" }, "cutover:inventory.ttl.records": { value: "300" } },
      true,
    );
    await stack.setConfig({ "cutover:mailboxesDigest": { value: `sha256:${"0".repeat(64)}` } });
    const { code, out } = await cliUp();
    expect(code).not.toBe(0);
    expect(out).toContain("cutover:mailboxesDigest:");
    expect(out).toContain("has changed since the phase command recorded it");
    expect(out).not.toMatch(STACK_FRAME);
    expect(out).not.toMatch(/ts-node|RunError|\.ts:\d+/);
    writeFileSync(join(STACKS_DIR, `Pulumi.${stack.name}.yaml`), pilot);
  }, 120_000);
});
