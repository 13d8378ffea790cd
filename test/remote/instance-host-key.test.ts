import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { hostKeyUserData, newHostKey, publicKeyOf } from "../../src/remote/instance-host-key";

describe("the host key of an instance the stack creates", () => {
  it("is a new ed25519 key each time, whose public half is what its private half says", () => {
    const [a, b] = [newHostKey(), newHostKey()];
    expect(a.publicKey).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43}$/);
    expect(a.publicKey).not.toBe(b.publicKey);
    expect(publicKeyOf(a.privateKey)).toBe(a.publicKey);
    expect(publicKeyOf(b.privateKey)).not.toBe(a.publicKey);
  });

  it("a public key, or text that is no key, has no public half to pin", () => {
    expect(publicKeyOf(newHostKey().publicKey)).toBeUndefined();
    expect(publicKeyOf("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n")).toBeUndefined();
    expect(publicKeyOf("")).toBeUndefined();
  });

  it("reaches the instance as cloud-config that installs exactly this key and makes no other", () => {
    const key = newHostKey();
    const text = hostKeyUserData(key.privateKey, key.publicKey);
    expect(text.split("\n")[0]).toBe("#cloud-config");
    const doc = parse(text);
    expect(doc).toEqual({
      ssh_deletekeys: true,
      ssh_genkeytypes: [],
      ssh_keys: { ed25519_private: `${key.privateKey.trim()}\n`, ed25519_public: key.publicKey },
    });
    expect(publicKeyOf(doc.ssh_keys.ed25519_private)).toBe(key.publicKey);
  });
});
