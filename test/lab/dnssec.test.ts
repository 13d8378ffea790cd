/**
 * A TLSA record counts only in a signed zone (RFC 7672 2.2): the DNS query that the drift check
 * uses sees whether a record set comes with its signature. Asked of a Knot of its own (the same
 * package as the lab's DNS server) serving one zone signed by Knot's automatic signing and one not,
 * on the loopback of the operator's namespace.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { queryRecord } from "../../src/checks/dns-query";
import { waitFor } from "../../src/checks/mail";
import { run } from "../../src/remote/local";

const PORT = 5399;
const KEY = "3 1 1 aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899";
const dir = mkdtempSync(join(tmpdir(), "cutover-dnssec-"));
const conf = join(dir, "knot.conf");

const ZONE_FILE = [`$TTL 60`, `@ SOA ns hostmaster 1 60 60 600 60`, `@ NS ns`, `ns A 127.0.0.1`, `_25._tcp.mail TLSA ${KEY}`, ""].join(
  "\n",
);

beforeAll(async () => {
  mkdirSync(join(dir, "db"));
  for (const zone of ["signed.test", "plain.test"]) writeFileSync(join(dir, "db", `${zone}.zone`), ZONE_FILE);
  writeFileSync(
    conf,
    [
      "server:",
      `    rundir: "${dir}"`,
      `    listen: 127.0.0.1@${PORT}`,
      "database:",
      `    storage: "${join(dir, "db")}"`,
      "template:",
      "  - id: default",
      `    storage: "${join(dir, "db")}"`,
      '    file: "%s.zone"',
      "    zonefile-sync: -1",
      "zone:",
      "  - domain: signed.test",
      "    dnssec-signing: on",
      "  - domain: plain.test",
      "",
    ].join("\n"),
  );
  await run(["/usr/sbin/knotd", "-d", "-c", conf]);
});

/** Whether the process of that id still runs (signal 0 only asks). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

afterAll(async () => {
  // `knotc stop` returns before knotd has closed its databases: removing the directory then raced
  // knotd's last writes into it (ENOTEMPTY in CI). Wait for the daemon to be gone first.
  const pid = Number(readFileSync(join(dir, "knot.pid"), "utf8").trim());
  await run(["knotc", "-c", conf, "stop"], { allowFailure: true });
  const gone = await waitFor(
    async () => !running(pid),
    (g) => g,
    10_000,
    50,
  );
  if (!gone) process.kill(pid, "SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

describe("a TLSA record's signature, as the drift check asks for it", () => {
  it("comes with the record of a signed zone, and not with the same record of an unsigned one", async () => {
    const ask = (zone: string) => queryRecord("127.0.0.1", `_25._tcp.mail.${zone}`, "TLSA", 2000, { port: PORT, dnssec: true });
    // Knot signs the zone within a moment of loading it.
    const signed = await waitFor(
      () => ask("signed.test").catch(() => undefined),
      (a) => a?.signed === true,
      10_000,
      100,
    );
    expect(signed).toMatchObject({ status: "answer", values: [KEY], signed: true });
    expect(await ask("plain.test")).toMatchObject({ status: "answer", values: [KEY], signed: false });
    // Asked without DNSSEC, an answer says nothing either way.
    const plain = await queryRecord("127.0.0.1", `_25._tcp.mail.signed.test`, "TLSA", 2000, { port: PORT });
    expect(plain.values).toEqual([KEY]);
    expect(plain.signed).toBeUndefined();
  });
});
