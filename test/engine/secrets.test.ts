/**
 * The lab stack's secrets (the SSH private key, the TSIG secret) never appear on a command line,
 * where every user of the machine sees them, nor in the error of a failed call: set up against the
 * real engine, once working and once failing, while every process's argv is watched.
 */
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LAB_PASSPHRASE_SOURCE, labBackendUrl, openLabStack, removeLabStack } from "../../lab/lab-stack";
import { exitCodeOf } from "../../scripts/cli";
import { STACKS_DIR } from "../../src/model/stack-file";
import { type Engine, obtainEngine } from "../../src/ops/engine";
import { WrongPassphraseError } from "../../src/ops/errors";
import { MigrationStack } from "../../src/ops/stack";
import { testLab } from "../lab/env";

const lab = testLab();
let engine: Engine;
let stack: MigrationStack | undefined;
const name = `lab-secrets-${randomBytes(3).toString("hex")}`;

/** Pieces of each secret a leak would show: the TSIG secret, and a line from inside the private key. */
const secrets = () => {
  const keyLines = readFileSync(lab.description.adminKeyPath, "utf8").trim().split("\n");
  return [lab.description.tsig.secret, keyLines[Math.floor(keyLines.length / 2)]];
};

/** Every process's argv, read from /proc the way ps does. */
function commandLines(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      out.push(readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " "));
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return out;
}

/** Runs work while sampling every process's argv every 5 ms; returns the outcome and what was seen. */
async function watchingArgv<T>(work: () => Promise<T>): Promise<{ result?: T; error?: Error; seen: string[]; samples: number }> {
  const seen = new Set<string>();
  let samples = 0;
  let done = false;
  const sampler = (async () => {
    while (!done) {
      for (const line of commandLines()) if (line.includes("pulumi")) seen.add(line);
      samples++;
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  try {
    return { result: await work(), seen: [...seen], samples };
  } catch (e) {
    return { error: e as Error, seen: [...seen], samples };
  } finally {
    done = true;
    await sampler;
  }
}

beforeAll(async () => {
  engine = await obtainEngine();
}, 300_000);
afterAll(async () => {
  if (stack) await removeLabStack(stack).catch(() => undefined);
}, 60_000);

describe("the lab stack's secrets", () => {
  it("are set through standard input: no process's argv holds them, and the stack does", async () => {
    const watched = await watchingArgv(() => openLabStack(name, lab.description, engine));
    expect(watched.error).toBeUndefined();
    stack = watched.result;
    // The watch saw the engine's config calls, so it could have seen a secret among them.
    expect(watched.seen.some((l) => / config set .*--secret/.test(l))).toBe(true);
    for (const secret of secrets()) expect(watched.seen.filter((l) => l.includes(secret))).toEqual([]);
    const config = await stack!.config();
    expect(config["cutover:tsigSecret"]).toEqual({ value: lab.description.tsig.secret, secret: true });
    expect(config["cutover:sshPrivateKey"].value).toBe(readFileSync(lab.description.adminKeyPath, "utf8"));
    const file = readFileSync(join(STACKS_DIR, `Pulumi.${name}.yaml`), "utf8");
    for (const secret of secrets()) expect(file).not.toContain(secret);
  }, 120_000);

  it("are in neither the argv nor the error when the engine fails", async () => {
    // The fault: the stack's encryption salt is corrupted, so the engine cannot encrypt the secrets.
    const path = join(STACKS_DIR, `Pulumi.${name}.yaml`);
    const text = readFileSync(path, "utf8");
    const salt = /^encryptionsalt: (\S+)$/m.exec(text)![1];
    writeFileSync(path, text.replace(salt, `v1:${Buffer.from("not the salt").toString("base64")}:${salt.split(":").at(-1)}`));
    try {
      const watched = await watchingArgv(() => openLabStack(name, lab.description, engine));
      expect(watched.error, "the corrupted salt did not make the engine fail").toBeDefined();
      expect(watched.error!.message).toMatch(/secret|passphrase|decrypt/i);
      for (const secret of secrets()) {
        expect(watched.error!.message).not.toContain(secret);
        expect(watched.error!.stack ?? "").not.toContain(secret);
        expect(watched.seen.filter((l) => l.includes(secret))).toEqual([]);
      }
    } finally {
      writeFileSync(path, text);
    }
  }, 120_000);

  it("a wrong passphrase is one line naming where it came from, exit 2, and nothing changed", async () => {
    const wrong = await MigrationStack.open(name, {
      engine,
      backendUrl: labBackendUrl(),
      passphrase: "not the lab's passphrase",
      passphraseSource: LAB_PASSPHRASE_SOURCE,
      offline: true,
    });
    const before = readFileSync(join(STACKS_DIR, `Pulumi.${name}.yaml`), "utf8");
    for (const call of [() => wrong.config(), () => wrong.preview(), () => wrong.setSecrets({ "cutover:unused": "x" })]) {
      const error = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(WrongPassphraseError);
      expect(exitCodeOf(error)).toBe(2);
      expect((error as Error).message).toBe(
        `the passphrase for the secrets of stack ${name} is wrong: nothing was changed. It came from ${LAB_PASSPHRASE_SOURCE}; give the right one and run the command again.`,
      );
    }
    expect(readFileSync(join(STACKS_DIR, `Pulumi.${name}.yaml`), "utf8")).toBe(before);
  }, 120_000);
});
