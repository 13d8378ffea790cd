import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/model/config";
import type { InventoryError, Phase } from "../../src/model/inventory";
import { mxMatches, parsePolicy, policyId, policyText } from "../../src/model/mta-sts";
import { plan } from "../../src/model/plan";
import { rawStack } from "../helpers";

const KEY = (c: string) => c.repeat(64);
const TLS = {
  legacy: { source: "file", chain: "/etc/ssl/private/mail.pem", spki: KEY("a") },
  new: { source: "file", chain: "/etc/ssl/private/new.pem", spki: KEY("b") },
};
const STS = { mode: "enforce", maxAge: 604_800, policyHost: "new", address: "203.0.113.80", reportTo: "mailto:TLS-Reports@example.com" };

function stack(name: string, change: (inv: Record<string, any>) => void = () => {}) {
  const raw = rawStack(name);
  raw.inventory.gateway.tls = structuredClone(TLS);
  raw.inventory.gateway.mtaSts = structuredClone(STS);
  change(raw.inventory);
  return raw;
}
const planOf = (name: string, phase: Phase, change?: (inv: Record<string, any>) => void) => {
  const raw = stack(name, change);
  return plan(loadConfig({ inventory: raw.inventory, phase, baseDir: raw.baseDir }).inventory, phase);
};
const problems = (name: string, change: (inv: Record<string, any>) => void) => {
  const raw = stack(name, change);
  try {
    loadConfig({ inventory: raw.inventory, phase: 4, baseDir: raw.baseDir });
    return [];
  } catch (e) {
    return (e as InventoryError).problems.map((p) => `${p.path}: ${p.message}`);
  }
};
const records = (name: string, phase: Phase) =>
  planOf(name, phase)
    .zones.flatMap((z) => z.records)
    .filter((r) => /^(mta-sts|_mta-sts|_smtp\._tls)\./.test(r.name))
    .map((r) => `${r.name} ${r.type} ${r.values.join(", ")}`);

describe("the MTA-STS policy file", () => {
  it("is version, mode, one mx line per name and max_age, each line ending in CRLF (RFC 8461 3.2)", () => {
    expect(policyText({ mode: "enforce", mx: ["mail.example.com", "new.example.com"], maxAge: 86_400 })).toBe(
      "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: new.example.com\r\nmax_age: 86400\r\n",
    );
  });

  it("reads back as senders read it, and names what is wrong with a bad one", () => {
    const text = policyText({ mode: "testing", mx: ["*.example.com"], maxAge: 86_400 });
    expect(parsePolicy(text)).toEqual({ mode: "testing", mx: ["*.example.com"], maxAge: 86_400 });
    expect(parsePolicy(`${text}extension: ignored\n`)).toEqual({ mode: "testing", mx: ["*.example.com"], maxAge: 86_400 });
    expect(parsePolicy("version: STSv1\nmode: enforce\nmax_age: 86400\n")).toEqual({ error: "no mx line" });
    expect(parsePolicy("version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n")).toEqual({ error: 'version is "STSv2", not STSv1' });
    expect(parsePolicy("version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n")).toEqual({ error: 'mode is "strict"' });
    expect(parsePolicy("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n")).toMatchObject({
      error: /^max_age is "31557601"/,
    });
    expect(parsePolicy("<html>not found</html>")).toMatchObject({ error: /^a line that is not/ });
  });

  it("matches an mx pattern as RFC 8461 4.1 says: the name itself, or one label under a wildcard", () => {
    expect(mxMatches("mail.example.com", "MAIL.example.com.")).toBe(true);
    expect(mxMatches("*.example.com", "mail.example.com")).toBe(true);
    expect(mxMatches("*.example.com", "a.mail.example.com")).toBe(false);
    expect(mxMatches("*.example.com", "example.com")).toBe(false);
    expect(mxMatches("mail.example.com", "mail.example.org")).toBe(false);
  });
});

describe("MTA-STS in the plan", () => {
  it("publishes per domain the policy host's address, the policy id and the TLS reporting address, from phase 2", () => {
    expect(records("production", 1)).toEqual([]);
    const p4 = planOf("production", 4);
    const id = (domain: string) => policyId(p4.mtaSts!.policies.find((p) => p.domain === domain)!.text);
    expect(records("production", 4).sort()).toEqual(
      [
        "mta-sts.example.com A 203.0.113.80",
        `_mta-sts.example.com TXT v=STSv1; id=${id("example.com")}`,
        "_smtp._tls.example.com TXT v=TLSRPTv1; rua=mailto:tls-reports@example.com",
        "mta-sts.example.org A 203.0.113.80",
        `_mta-sts.example.org TXT v=STSv1; id=${id("example.org")}`,
        "_smtp._tls.example.org TXT v=TLSRPTv1; rua=mailto:tls-reports@example.com",
      ].sort(),
    );
    expect(p4.mtaSts).toMatchObject({ policyHost: "new", directory: "/var/www/mta-sts" });
    expect(p4.mtaSts!.policies.map((p) => [p.domain, p.mode, p.mx])).toEqual([
      ["example.com", "enforce", ["mail.example.com"]],
      ["example.org", "enforce", ["mail.example.com"]],
    ]);
    // The pilot's phases publish the pilot domains' policies.
    expect(planOf("production", 3).mtaSts!.policies.map((p) => p.domain)).toEqual(["example-pilot.com", "example-pilot.org"]);
  });

  it("names every MX a phase may use, so the id changes with the MX list: with the mx strategy the new server's name from phase 4", () => {
    const policy = (phase: Phase) => planOf("mx", phase).mtaSts!.policies[0];
    expect(policy(3).mx).toEqual(["mail.example-pilot.com"]);
    expect(policy(4).mx).toEqual(["mail.example.com", "new.example.com"]);
    // The go-live moves the MX to the new server's name, which the policy named a phase before; a rollback finds both still there.
    expect(policy(5).mx).toEqual(policy(4).mx);
    expect(policyId(policy(4).text)).not.toBe(policyId(planOf("mx", 4, (inv) => (inv.goLive = undefined)).mtaSts!.policies[0].text));
    // The mode and the max age are in the policy, so in its id too.
    expect(policyId(planOf("mx", 4, (inv) => (inv.gateway.mtaSts.mode = "testing")).mtaSts!.policies[0].text)).not.toBe(
      policyId(policy(4).text),
    );
  });

  it("verifies each domain with one message from the outside sender that enforces it, when the inventory names one", () => {
    const withSender = (inv: Record<string, any>) => {
      inv.gateway.mtaSts.policyHost = "internet";
      inv.internet.mtaStsSender = "STS-Probe";
    };
    const enforced = (phase: Phase) => planOf("pilot", phase, withSender).flows.filter((f) => f.enforcing);
    expect(enforced(1)).toEqual([]);
    const p4 = planOf("pilot", 4, withSender);
    const first = p4.flows.find((f) => f.from === "outside" && f.recipient.endsWith("@paradigms.test"))!;
    expect(enforced(4)).toEqual([{ ...first, sender: "sts-probe@aegean.test", enforcing: "mta-sts" }]);
    expect(enforced(2).map((f) => f.recipient.split("@")[1])).toEqual(["api.test"]);
    // No sender named: no such message (the policy is still published and checked by the drift check).
    expect(planOf("pilot", 4, (inv) => (inv.gateway.mtaSts.policyHost = "internet")).flows.some((f) => f.enforcing)).toBe(false);
  });

  it("is refused without gateway.tls, with a smart host as the MX, or served by a host the inventory lacks", () => {
    expect(problems("production", (inv) => delete inv.gateway.tls)).toEqual([
      "inventory.gateway.mtaSts: an MTA-STS policy makes senders require a certificate that verifies for the MX name, and cutover serves the gateway's only with gateway.tls: add gateway.tls, or remove gateway.mtaSts",
    ]);
    expect(problems("smart-host", () => {})).toContainEqual(
      "inventory.gateway.mtaSts: with layout smart-host the MX is the smart host, whose certificate cutover does not serve: publish its MTA-STS policy where the smart host is run, and remove gateway.mtaSts",
    );
    expect(problems("production", (inv) => (inv.gateway.mtaSts.policyHost = "dnsServer"))).toEqual([
      "inventory.gateway.mtaSts.policyHost: the policy is served by hosts.dnsServer, which the inventory does not list: add hosts.dnsServer, or name a listed host",
    ]);
    expect(problems("production", (inv) => (inv.gateway.mtaSts.maxAge = 60))).toEqual([
      "inventory.gateway.mtaSts.maxAge: below a day: RFC 8461 advises weeks; use 604800 (a week) or more",
    ]);
  });
});
