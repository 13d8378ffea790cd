/**
 * The route check reads a host's lookup tables with the host's own postconf and postmap: here this
 * machine's postfix tools over a configuration directory of the test's (MAIL_CONFIG), written as
 * cutover's routing effect writes a gateway's maps, so the real lookups decide every route.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { liveRoutes, plannedAddresses, plannedRoutes, routeDifferences } from "../../src/checks/routes";
import type { Plan, RoutingTable } from "../../src/model/plan";
import { run } from "../../src/remote/local";
import type { HostSession } from "../../src/remote/ssh";

const dir = mkdtempSync(join(tmpdir(), "cutover-routes-"));

/** A session whose commands run here, with this test's postfix configuration. */
const here: HostSession = {
  target: { name: "legacy", address: "127.0.0.1", port: 22, user: "root", hostKey: "", privateKey: "" } as HostSession["target"],
  exec: async (argv, opts) => {
    const r = await run(argv, { input: opts?.stdin, allowFailure: true, env: { ...process.env, MAIL_CONFIG: dir } });
    if (r.code !== 0 && !opts?.allowFailure) throw new Error(`${argv.join(" ")} exited ${r.code}: ${r.stderr}`);
    return r;
  },
  readFile: async () => undefined,
  writeFile: async () => undefined,
  close: () => undefined,
};

const table: RoutingTable = {
  host: "legacy",
  domains: ["paradigms.test", "partner.test"],
  mailboxes: ["user1@paradigms.test", "user2@paradigms.test"],
  relays: [
    { recipient: "user4@paradigms.test", to: "new", nextHop: "198.51.100.20" },
    { recipient: "partner.test", to: "smartHost", nextHop: "198.51.100.77" },
  ],
  trusted: [],
  relayRecipients: ["bob@partner.test"],
};

beforeAll(async () => {
  writeFileSync(join(dir, "main.cf"), "");
  const map = (name: string, lines: string[]) => {
    writeFileSync(join(dir, name), lines.map((l) => `${l}\n`).join(""));
    return run(["postmap", "-c", dir, `hash:${join(dir, name)}`]);
  };
  await map("domains", ["paradigms.test OK"]);
  // user2's mailbox entry was taken out by hand: the host no longer accepts that user.
  await map("mailboxes", ["user1@paradigms.test paradigms.test/user1/"]);
  await map("relayed", ["user4@paradigms.test relayed"]);
  await map("transport", ["user4@paradigms.test smtp:[198.51.100.20]:25", "partner.test smtp:[198.51.100.77]:25"]);
  await map("relay_domains", ["partner.test OK"]);
  await map("relay_recipients", ["bob@partner.test OK"]);
  // A hand-made alias that sends user3's mail elsewhere, and one that names the address itself (no rewrite).
  await map("aliases", ["user3@paradigms.test someone@elsewhere.test", "user1@paradigms.test user1@paradigms.test"]);
  writeFileSync(
    join(dir, "main.cf"),
    [
      `virtual_alias_maps = hash:${dir}/aliases`,
      `virtual_mailbox_domains = hash:${dir}/domains`,
      `virtual_mailbox_maps = hash:${dir}/mailboxes, hash:${dir}/relayed`,
      `transport_maps = hash:${dir}/transport`,
      `relay_domains = hash:${dir}/relay_domains`,
      `relay_recipient_maps = hash:${dir}/relay_recipients`,
      "",
    ].join("\n"),
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("every user's route, from the host's own lookup tables", () => {
  it("reads each address's route as postfix would take it: mailbox, per-user relay, relayed domain, alias, not accepted", async () => {
    const live = await liveRoutes(here, [
      "user1@paradigms.test",
      "user2@paradigms.test",
      "user3@paradigms.test",
      "User4@Paradigms.test",
      "bob@partner.test",
      "eve@partner.test",
    ]);
    expect(Object.fromEntries(live)).toEqual({
      "user1@paradigms.test": "local",
      "user2@paradigms.test": "not accepted",
      "user3@paradigms.test": "rewritten to someone@elsewhere.test",
      "User4@Paradigms.test": "relay to 198.51.100.20",
      "bob@partner.test": "relay to 198.51.100.77",
      "eve@partner.test": "not accepted",
    });
  });

  it("names each address whose live route differs from the plan's table, and only those", async () => {
    const addresses = plannedAddresses({ routing: [table] } as unknown as Plan);
    expect(addresses).toEqual(["bob@partner.test", "user1@paradigms.test", "user2@paradigms.test", "user4@paradigms.test"]);
    const planned = plannedRoutes(table, addresses);
    expect(routeDifferences("legacy", planned, await liveRoutes(here, [...planned.keys()]))).toEqual([
      "user2@paradigms.test on legacy: not accepted; planned: local",
    ]);
  });

  it("is an error, never a route, when a table cannot be read", async () => {
    writeFileSync(join(dir, "main.cf"), `virtual_mailbox_domains = hash:${dir}/missing\n`);
    await expect(liveRoutes(here, ["user1@paradigms.test"])).rejects.toThrow(
      /postmap -q - hash:.*missing \(virtual_mailbox_domains\) failed/,
    );
  });
});
