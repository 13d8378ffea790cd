import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { hostKeyUserData, newHostKey, publicKeyOf } from "../../src/remote/instance-host-key";

describe("the host key of an instance the stack creates", () => {
  it("is a new ed25519 key each time, whose public half is what its private half says", async () => {
    const [a, b] = [await newHostKey(), await newHostKey()];
    expect(a.publicKey).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43}$/);
    expect(a.publicKey).not.toBe(b.publicKey);
    expect(await publicKeyOf(a.privateKey)).toBe(a.publicKey);
    expect(await publicKeyOf(b.privateKey)).not.toBe(a.publicKey);
  });

  it("every key is whole: 32 bytes of public key, and its private half reads back (ssh2's generator failed 4 in 2,000)", async () => {
    const keys = await Promise.all(Array.from({ length: 300 }, () => newHostKey()));
    expect(keys.filter((k) => !/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43}$/.test(k.publicKey))).toEqual([]);
    const back = await Promise.all(keys.slice(0, 20).map((k) => publicKeyOf(k.privateKey)));
    expect(back).toEqual(keys.slice(0, 20).map((k) => k.publicKey));
  });

  it("a public key, or text that is no key, has no public half to pin", async () => {
    expect(await publicKeyOf((await newHostKey()).publicKey)).toBeUndefined();
    expect(await publicKeyOf("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n")).toBeUndefined();
    expect(await publicKeyOf("")).toBeUndefined();
  });

  it("reaches the instance as cloud-config that installs exactly this key and makes no other", async () => {
    const key = await newHostKey();
    const text = hostKeyUserData(key.privateKey, key.publicKey);
    expect(text.split("\n")[0]).toBe("#cloud-config");
    const doc = parse(text);
    expect(doc).toEqual({
      ssh_deletekeys: true,
      ssh_genkeytypes: [],
      ssh_keys: { ed25519_private: `${key.privateKey.trim()}\n`, ed25519_public: key.publicKey },
    });
    expect(await publicKeyOf(doc.ssh_keys.ed25519_private)).toBe(key.publicKey);
  });
});
