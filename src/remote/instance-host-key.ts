/**
 * The SSH host key of an EC2 instance the stack creates. Nobody can read a key from a machine that
 * does not exist yet, so the phase command makes one (ed25519), pins its public half like any other
 * host's and keeps its private half as a stack secret; cloud-init installs it when the instance
 * first boots. The first SSH connection is then as pinned as every later one.
 *
 * OpenSSH's own ssh-keygen makes and reads the keys: ssh2's generator drops a public key's leading
 * zero byte (ssh2 1.17.0: 4 keys of 2,000 came out 31 bytes long, "AAAAH..." where "AAAAI..." is
 * right, and ssh2 could not read those private keys back).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "./local";

/** The public key as pinned: type and base64, no comment. Pure. */
const pinned = (line: string) => line.trim().split(/\s+/).slice(0, 2).join(" ");

/** Runs `work` with a private directory (0700) that is removed afterwards. */
async function inPrivateDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "cutover-hostkey-"));
  try {
    return await work(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A new ed25519 host key: OpenSSH private key text and the public key as pinned ("ssh-ed25519 AAAA..."). */
export function newHostKey(): Promise<{ privateKey: string; publicKey: string }> {
  return inPrivateDir(async (dir) => {
    const path = join(dir, "key");
    await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "cutover instance host key", "-f", path]);
    return { privateKey: readFileSync(path, "utf8"), publicKey: pinned(readFileSync(`${path}.pub`, "utf8")) };
  });
}

/** The public key of an OpenSSH private key, as pinned; undefined when the text is not a private key. */
export function publicKeyOf(privateKey: string): Promise<string | undefined> {
  return inPrivateDir(async (dir) => {
    const path = join(dir, "key");
    writeFileSync(path, privateKey.endsWith("\n") ? privateKey : `${privateKey}\n`, { mode: 0o600 });
    const r = await run(["ssh-keygen", "-y", "-P", "", "-f", path], { allowFailure: true });
    return r.code === 0 && r.stdout.trim() ? pinned(r.stdout) : undefined;
  });
}

/**
 * The instance's user data: cloud-init's cloud-config that installs this host key and makes no
 * other (`ssh_genkeytypes: []`), so the key SSH presents is the pinned one. Pure.
 */
export function hostKeyUserData(privateKey: string, publicKey: string): string {
  const indented = privateKey
    .trim()
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n");
  return [
    "#cloud-config",
    "# cutover: the SSH host key pinned in the stack (cutover:hostKeys)",
    "ssh_deletekeys: true",
    "ssh_genkeytypes: []",
    "ssh_keys:",
    "  ed25519_private: |",
    indented,
    `  ed25519_public: ${publicKey}`,
    "",
  ].join("\n");
}
