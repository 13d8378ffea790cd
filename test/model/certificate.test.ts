import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureCa, issueChain } from "../../lab/certificates";
import { readChain, tlsaValue } from "../../src/model/certificate";
import { loadConfig } from "../../src/model/config";
import { InventoryError, type Phase } from "../../src/model/inventory";
import { plan } from "../../src/model/plan";
import { run } from "../../src/remote/local";
import { rawStack } from "../helpers";

const dir = mkdtempSync(join(tmpdir(), "cutover-ca-"));
let legacyChain: string;
let newChain: string;
let otherChain: string;
/** Taken once the chains exist: a certificate is not valid before the second it was issued in. */
let NOW: Date;

/** The SPKI sha256 as openssl computes it: the reference the model's digest must equal. */
async function opensslSpki(chain: string): Promise<string> {
  const { stdout } = await run(["sh", "-c", "openssl pkey -pubout -outform DER | sha256sum"], { input: chain });
  return stdout.split(" ")[0];
}

beforeAll(async () => {
  const ca = await ensureCa(dir);
  [legacyChain, newChain, otherChain] = await Promise.all([
    issueChain(ca, ["mail.example.com", "mail.api.test"], 30),
    issueChain(ca, ["mail.example.com", "mail.api.test", "new.example.com"], 90),
    issueChain(ca, ["www.example.com"], 90),
  ]);
  NOW = new Date();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("a gateway chain", () => {
  it("gives the key's SPKI digest as openssl computes it, the names it covers and the days it has left", async () => {
    const { facts, problems } = readChain(newChain, "mail.example.com", NOW);
    expect(problems).toEqual([]);
    expect(facts!.spki).toBe(await opensslSpki(newChain));
    expect(facts!.names).toEqual(["mail.example.com", "mail.api.test", "new.example.com"]);
    expect(facts!.daysLeft).toBe(89);
    expect(tlsaValue(facts!.spki)).toMatch(/^3 1 1 [0-9a-f]{64}$/);
  });

  it("is refused when it misses the name, has expired, has a foreign key or is out of order, each with its fix", () => {
    expect(readChain(otherChain, "mail.example.com", NOW).problems).toEqual([
      "its certificate does not cover mail.example.com (it covers www.example.com): use a certificate whose subjectAltName lists mail.example.com",
    ]);
    const later = new Date(NOW.getTime() + 31 * 86_400_000);
    expect(readChain(legacyChain, "mail.example.com", later).problems[0]).toMatch(/^its certificate expired on \d{4}-\d\d-\d\d: renew it/);
    const [newKey] = newChain.split(/(?<=-----END PRIVATE KEY-----\n)/);
    const [, legacyCerts] = legacyChain.split(/(?<=-----END PRIVATE KEY-----\n)/);
    expect(readChain(newKey + legacyCerts, "mail.example.com", NOW).problems).toEqual([
      "its private key does not match its certificate: pair the certificate with the key it was issued for",
    ]);
    expect(readChain(legacyCerts + newKey, "mail.example.com", NOW).problems[0]).toMatch(
      /^does not start with a private key \(its first block is CERTIFICATE\)/,
    );
    expect(readChain("not a chain", "mail.example.com", NOW).problems[0]).toMatch(/^holds no PEM block/);
  });
});

describe("the gateway's TLS identity in the config and the plan", () => {
  const withTls = (tls: Record<string, unknown>) => {
    const raw = rawStack("production");
    raw.inventory.gateway.tls = tls;
    return raw;
  };
  const load = (tls: Record<string, unknown>, secret: unknown, phase: Phase) => {
    const raw = withTls(tls);
    return loadConfig({ inventory: raw.inventory, phase, baseDir: raw.baseDir, secrets: { gatewayTls: secret }, now: NOW }).inventory;
  };
  const problems = (tls: Record<string, unknown>, secret: unknown) => {
    try {
      load(tls, secret, 4);
      return [];
    } catch (e) {
      return (e as InventoryError).problems.map((p) => `${p.path}: ${p.message}`);
    }
  };

  it("publishes the legacy key from phase 2 and both keys from phase 4, so neither the switch nor a rollback breaks DANE", async () => {
    const spki = await opensslSpki(legacyChain);
    const newSpki = await opensslSpki(newChain);
    const tls = { legacy: { source: "file", chain: "/etc/ssl/private/mail.pem", spki }, new: { source: "secret", spki: newSpki } };
    const tlsa = (phase: Phase) => {
      const p = plan(load(tls, { new: newChain }, phase), phase);
      return p.zones.flatMap((z) => z.records).filter((r) => r.type === "TLSA");
    };
    // Phases 2-3 (the pilot's names): only the legacy gateway answers as the gateway.
    expect(tlsa(3).map((r) => [r.name, r.values])).toEqual([["_25._tcp.mail.example-pilot.com", [tlsaValue(spki)]]]);
    expect(tlsa(4)).toEqual([
      {
        zone: "example.com",
        name: "_25._tcp.mail.example.com",
        type: "TLSA",
        ttl: 3600,
        values: [tlsaValue(spki), tlsaValue(newSpki)].sort(),
      },
    ]);
    expect(tlsa(5)).toEqual(tlsa(4));
    const p5 = plan(load(tls, { new: newChain }, 5), 5);
    expect(p5.gateway.tls).toEqual({
      legacy: { source: "file", chain: "/etc/ssl/private/mail.pem", spki },
      new: { source: "secret", spki: newSpki },
    });
    // Commands that read the stack file have no secrets: the same plan, from the stated digests.
    const raw = withTls(tls);
    const unsealed = loadConfig({ inventory: raw.inventory, phase: 5, baseDir: raw.baseDir }).inventory;
    expect(plan(unsealed, 5)).toEqual(p5);
  });

  it("names the missing secret, a secret beside a file source, and a bad chain, with the command that fixes each", async () => {
    const spki = await opensslSpki(legacyChain);
    const newSpki = await opensslSpki(newChain);
    const file = { source: "file", chain: "/etc/ssl/private/mail.pem", spki };
    const secret = { source: "secret", spki: newSpki };
    expect(problems({ legacy: file, new: secret }, undefined)).toEqual([
      "cutover:gatewayTls.new: inventory.gateway.tls.new takes the chain from this secret, and it is not set: pulumi config set --secret --path 'gatewayTls.new' < new-gateway.pem (the key, its certificate for mail.example.com, then the issuers)",
    ]);
    expect(problems({ legacy: file, new: secret }, { legacy: legacyChain, new: otherChain })).toEqual([
      "cutover:gatewayTls.legacy: inventory.gateway.tls.legacy reads the chain from /etc/ssl/private/mail.pem on the host: remove this secret, or set the source to secret",
      "cutover:gatewayTls.new: its certificate does not cover mail.example.com (it covers www.example.com): use a certificate whose subjectAltName lists mail.example.com",
      `cutover:gatewayTls.new: its key's SPKI sha256 is ${await opensslSpki(otherChain)}, and inventory.gateway.tls.new.spki says ${newSpki}: set the spki to the new key's (its TLSA record changes with it), or set the chain of the key the spki names`,
    ]);
    // A new key in the secret without the inventory's digest changed: the TLSA record would not match it.
    expect(problems({ legacy: file, new: { source: "secret", spki } }, { new: newChain })).toEqual([
      `cutover:gatewayTls.new: its key's SPKI sha256 is ${newSpki}, and inventory.gateway.tls.new.spki says ${spki}: set the spki to the new key's (its TLSA record changes with it), or set the chain of the key the spki names`,
    ]);
  });

  it("refuses a source it does not know, a relative or spaced path and a digest that is not sha256 hex", () => {
    expect(() => load({ legacy: { source: "vault" }, new: { source: "file", chain: "etc/mail.pem", spki: "abc" } }, {}, 4)).toThrow(
      InventoryError,
    );
    const raw = withTls({ legacy: { source: "vault" }, new: { source: "file", chain: "/etc/my mail.pem", spki: "abc" } });
    try {
      loadConfig({ inventory: raw.inventory, phase: 4, baseDir: raw.baseDir });
      expect.unreachable();
    } catch (e) {
      const listed = (e as InventoryError).problems.map((p) => p.path);
      expect(listed).toEqual(["inventory.gateway.tls.legacy.source", "inventory.gateway.tls.new.chain", "inventory.gateway.tls.new.spki"]);
    }
  });
});
