/**
 * The organisation's records, adopted as they are (issue 39): a production-shaped stack on the lab
 * whose zone already holds the organisation's MX, the gateway's A, its SPF beside a site
 * verification at the apex, DMARC and a DKIM key. Through the real engine and the lab's Knot: the
 * phases keep every value that is not cutover's, one SPF results, and rollback and destroy give the
 * zone back exactly.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { CONFIG } from "../../src/model/config-keys";
import type { HostRole } from "../../src/model/inventory";
import type { DnsRecord } from "../../src/model/records";
import { STACKS_DIR } from "../../src/model/stack-file";
import { stackDrift } from "../../src/ops/drift";
import { runPhase } from "../../src/ops/phase";
import { runRollback } from "../../src/ops/rollback";
import { applyZone, readZone } from "../../src/remote/effects/zone";
import { SessionPool } from "../../src/remote/ssh";
import { testLab } from "../lab/env";
import { labStackAtPhase4, progress } from "./phase-4-stack";

const lab = testLab();
const pool = new SessionPool();
afterAll(() => pool.closeAll());
const dns = () => pool.session(lab.target("internet" as HostRole));
const zone = "paradigms.com";
const target = { zone, server: "127.0.0.1", tsig: lab.description.tsig };
const set = (name: string, type: DnsRecord["type"], values: string[], ttl = 3600): DnsRecord => ({ zone, name, type, ttl, values });

const orgSpf = "v=spf1 mx include:_spf.partner.example -all";
const token = "google-site-verification=Vx1aZ0o8mGk3Qp7Tc2hY5sR9wLbN4dEfJuK6iMqWyXs";
const dmarc = set("_dmarc.paradigms.com", "TXT", ["v=DMARC1; p=quarantine; rua=mailto:dmarc@paradigms.com"]);
const dkim = set("sel1._domainkey.paradigms.com", "TXT", [
  "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW/VDL5AaWTg0nLVkjRo9z+40RQzuVaE8AkAFmxZzow3x+VJYKdjykkJ0iT9wCS0DRTXu269V264Vf/3jvredZiKRkgwlL9xNAwxXFg0x/XFw005UWVRIkdgcKWTjpBP2dPwVZ4WWC+9aGVd+Gyn1o0CLelf4rEjGoXbAAEgAqeGUxrcIlbjXfbcmwIDAQAB",
]);
const organisation = [
  // As the plan has them (its TTL too): adopted without a write.
  set(zone, "MX", ["10 mail.paradigms.com"], 300),
  set("mail.paradigms.com", "A", ["198.51.100.25"], 300),
  set(zone, "TXT", [orgSpf, token]),
  dmarc,
  dkim,
];
let before: DnsRecord[] = [];

const current = labStackAtPhase4(
  lab,
  "lab-adopt",
  async () => {
    const s = await dns();
    await applyZone(s, target, organisation);
    before = await readZone(s, target);
    expect(before).toEqual(expect.arrayContaining(organisation.map((r) => ({ ...r, values: [...r.values].sort() }))));
  },
  undefined,
  "production",
);
afterAll(async () => {
  // Whatever the tests left: the organisation's records out of the shared lab zone.
  await applyZone(await dns(), target, [], organisation).catch(() => undefined);
});

const live = async () => readZone(await dns(), target);
const at = (records: DnsRecord[], name: string, type: DnsRecord["type"]) => records.find((r) => r.name === name && r.type === type);

/** What must hold after any phase: the organisation's values byte for byte, one SPF with the partner and the gateways. */
function expectAdopted(records: DnsRecord[]) {
  expect(at(records, dmarc.name, "TXT")).toEqual(dmarc);
  expect(at(records, dkim.name, "TXT")).toEqual(dkim);
  const apex = at(records, zone, "TXT")!.values;
  expect(apex).toContain(token);
  const spf = apex.filter((v) => v.startsWith("v=spf1"));
  expect(spf).toHaveLength(1);
  expect(spf[0].split(" ")).toEqual(
    expect.arrayContaining(["mx", "include:_spf.partner.example", "ip4:198.51.100.25", "ip4:198.51.100.10", "ip4:198.51.100.20", "-all"]),
  );
}

describe("the organisation's records in an on-prem zone, adopted as they are", () => {
  it("the preview of phase 4 said what its first write does to each of the organisation's sets", () => {
    const preview = current.startLog.find((l) => l.startsWith("preview of phase 4"))!;
    const said = preview
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => /^(adopt|replace|merge):/.test(l));
    expect(said).toHaveLength(3);
    expect(said).toEqual(
      expect.arrayContaining([
        `adopt: ${zone} MX 10 mail.paradigms.com (as it is)`,
        "adopt: mail.paradigms.com A 198.51.100.25 (as it is)",
        expect.stringMatching(
          new RegExp(
            `^merge: ${zone} TXT "${orgSpf}" -> "v=spf1 mx include:_spf\\.partner\\.example ip4:.* -all"; 1 other value kept; TTL 3600 -> 300 \\(the original is kept for rollback\\)$`,
          ),
        ),
      ]),
    );
    // Sets the zone did not hold are plain creations: no line. DMARC and DKIM are not cutover's: no line.
    expect(said.filter((l) => l.includes("_dmarc") || l.includes("_domainkey"))).toEqual([]);
  });

  it("phase 4 keeps the site verification, DMARC and DKIM as they were and merges one SPF; the drift check calls it clean, the others' value a note", async () => {
    expectAdopted(await live());
    const r = await stackDrift(current(), { skipEngine: true });
    const apex = r.findings.filter((f) => f.subject.startsWith(`${zone} @`) && f.check.startsWith(`${zone} TXT`));
    expect(apex.map((f) => `${f.status} ${f.check}`)).toEqual([`ok ${zone} TXT`, `note ${zone} TXT beside the plan's`]);
    expect(apex[1].actual).toBe(`kept as others set them: ${token}`);
    expect(r.findings.filter((f) => f.status === "drift")).toEqual([]);
  }, 120_000);

  it("a phase that rewrites every set (a new TTL) and the go-live keep them, and a value the organisation adds at the apex afterwards", async () => {
    const added = "ms=ms12345678";
    const apex = at(await live(), zone, "TXT")!;
    await applyZone(await dns(), target, [{ ...apex, values: [...apex.values, added] }]);
    // A new TTL for the records: the go-live then rewrites each managed set (the update path).
    const file = join(STACKS_DIR, `Pulumi.${current().name}.yaml`);
    const doc = parse(readFileSync(file, "utf8"));
    doc.config[CONFIG.inventory].ttl.records = 600;
    writeFileSync(file, stringify(doc));
    // Every record changes its TTL: the large-change guard asks for --force, as it would an operator.
    expect((await runPhase(current(), 4, { yes: true, force: true, progress })).status).toBe("done");
    expect(at(await live(), zone, "TXT")).toMatchObject({ ttl: 600, values: expect.arrayContaining([added, token]) });
    expect((await runPhase(current(), 5, { yes: true, progress })).status).toBe("done");
    const after = await live();
    expectAdopted(after);
    expect(at(after, zone, "TXT")).toMatchObject({ ttl: 600, values: expect.arrayContaining([added, token]) });
    // Taken out again by its owner: the rest of the test compares with the zone before phase 4.
    const now = at(after, zone, "TXT")!;
    await applyZone(await dns(), target, [{ ...now, values: now.values.filter((v) => v !== added) }]);
  }, 240_000);

  it("a rollback to the first update keeps them; a destroy gives the zone back exactly as it was before phase 4", async () => {
    const back = await runRollback(current(), { yes: true, progress, to: 1 });
    expect(back.status).toBe("done");
    expectAdopted(await live());
    await current().destroy();
    expect(await live()).toEqual(before);
  }, 240_000);
});
