/**
 * The host key of an EC2 instance the stack creates, made by the phase command before the instance
 * exists: pinned in the stack's config, its private half a stack secret, made once, and refused
 * when the two halves do not belong together. Real engine, real config on a lab stack's backend.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openLabStack, removeLabStack } from "../../lab/lab-stack";
import { CONFIG, instanceHostKeySetting } from "../../src/model/config-keys";
import type { Inventory } from "../../src/model/inventory";
import { obtainEngine } from "../../src/ops/engine";
import { provideInstanceHostKeys } from "../../src/ops/phase";
import type { MigrationStack } from "../../src/ops/stack";
import { newHostKey, publicKeyOf } from "../../src/remote/instance-host-key";
import { load } from "../helpers";
import { testLab } from "../lab/env";

const lab = testLab();
let stack: MigrationStack;
/** The production example's inventory: hosts.new is an instance the stack creates. */
const inv: Inventory = load("production", 4);
const setting = instanceHostKeySetting("new");

beforeAll(async () => {
  stack = await openLabStack(`lab-hostkey-${randomBytes(3).toString("hex")}`, lab.description, await obtainEngine());
  // The lab stack pins every lab host: take the pin of "new" away, as for an instance not made yet.
  await stack.stack.removeConfig(`${CONFIG.hostKeys}.new`, true);
}, 120_000);
afterAll(async () => {
  await removeLabStack(stack).catch(() => undefined);
}, 60_000);

const pinned = async () => JSON.parse((await stack.config())[CONFIG.hostKeys].value).new as string | undefined;

describe("the host key of an instance the stack creates", () => {
  it("is made once: pinned in cutover:hostKeys, its private half a secret whose public half is the pin", async () => {
    const said: string[] = [];
    await provideInstanceHostKeys(stack, inv, (l) => said.push(l));
    const config = await stack.config();
    expect(config[setting].secret).toBe(true);
    const pin = await pinned();
    expect(pin).toMatch(/^ssh-ed25519 AAAA/);
    expect(await publicKeyOf(config[setting].value)).toBe(pin);
    expect(said.join("\n")).toContain(
      `hosts.new: the stack creates this instance, so it made its SSH host key: ${pin} pinned in cutover:hostKeys.new`,
    );
    // The stack file holds the secret encrypted, never the key's text.
    expect(readFileSync(stack.stackFile, "utf8")).not.toContain("OPENSSH PRIVATE KEY");
    // Again: nothing new is made.
    const again: string[] = [];
    await provideInstanceHostKeys(stack, inv, (l) => again.push(l));
    expect(again).toEqual([]);
    expect(await pinned()).toBe(pin);
  }, 120_000);

  it("a pin whose private half is not the secret is refused, naming both and the fix", async () => {
    const other = await newHostKey();
    await stack.setConfig({ [`${CONFIG.hostKeys}.new`]: { value: other.publicKey } }, true);
    await expect(provideInstanceHostKeys(stack, inv, () => undefined)).rejects.toThrow(
      /hosts\.new: cutover:hostKeys\.new \(ssh-ed25519 AAAA.*\.\.\.\) is not the public half of cutover:newInstanceHostKey .*: pin ssh-ed25519 AAAA\S+, or remove both to have a new key made/,
    );
  }, 120_000);
});
