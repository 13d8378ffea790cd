/**
 * The SSH host key of an EC2 instance the stack creates. Nobody can read a key from a machine that
 * does not exist yet, so the phase command makes one (ed25519), pins its public half like any other
 * host's and keeps its private half as a stack secret; cloud-init installs it when the instance
 * first boots. The first SSH connection is then as pinned as every later one.
 */
import { utils } from "ssh2";

/** A new ed25519 host key: OpenSSH private key text and the public key as pinned ("ssh-ed25519 AAAA..."). */
export function newHostKey(): { privateKey: string; publicKey: string } {
  const pair = utils.generateKeyPairSync("ed25519");
  return { privateKey: pair.private, publicKey: pair.public.trim().split(/\s+/).slice(0, 2).join(" ") };
}

/** The public key of an OpenSSH private key, as pinned; undefined when the text is not a private key. Pure. */
export function publicKeyOf(privateKey: string): string | undefined {
  const parsed = utils.parseKey(privateKey);
  if (parsed instanceof Error || Array.isArray(parsed) || !parsed.isPrivateKey()) return undefined;
  return `${parsed.type} ${parsed.getPublicSSH().toString("base64")}`;
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
