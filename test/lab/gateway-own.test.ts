/**
 * Lab gateways start from Debian's stock main.cf, and the legacy one has settings of its own (an
 * office subnet, SASL submission, a partner transport, header checks). The routing effect extends
 * them and gives them back exactly; a stock mydestination that lists the new system's phase-2
 * address space is taken out of the way, not left to bounce its mail.
 */
import { afterAll, describe, expect, it } from "vitest";
import { ISP_RELAY, OFFICE_SUBNET } from "../../lab/daemons";
import { checkGatewayOwnServices } from "../../lab/gateway-own";
import { findInMailbox, newMarker, receivedHeaders, receivedThrough, sendMail, waitFor } from "../../src/checks/mail";
import type { HostRole } from "../../src/model/inventory";
import { plan } from "../../src/model/plan";
import { hostRouting, routingDigest } from "../../src/model/routing";
import { applyRouting, POSTFIX_RELOAD, readRouting, restoreRouting } from "../../src/remote/effects/routing";
import { execSequence, SessionPool } from "../../src/remote/ssh";
import { testLab } from "./env";

const lab = testLab();
const pool = new SessionPool();
const session = (role: HostRole) => pool.session(lab.target(role));
const p2 = plan(lab.inventory(2), 2);
const table = (role: HostRole) => hostRouting(p2.routing.find((t) => t.host === role)!);
const mainCf = async (role: HostRole) => (await (await session(role)).exec(["postconf", "-n"])).stdout;

afterAll(async () => {
  for (const role of ["legacy", "new", "internet"] as const) await restoreRouting(await session(role));
  await pool.closeAll();
});

describe("a stock Debian gateway with settings of its own", () => {
  it("starts as Debian's package writes it for an Internet Site, $myhostname in mydestination, with a gateway's own relay rule", async () => {
    // (The banner and myhostname are the identity effect's; other files' tests may have set them.)
    const legacy = await mainCf("legacy");
    expect(legacy).toContain("smtpd_tls_cert_file = /etc/ssl/certs/ssl-cert-snakeoil.pem");
    expect(legacy).toMatch(/^mydestination = \$myhostname, legacy\.lab\.invalid, localhost\.lab\.invalid, , localhost$/m);
    // The legacy gateway refuses strangers with 5xx, as an Internet-facing one does; the new server
    // keeps Debian's stock line, which defers them with 4xx.
    expect(legacy).toContain("smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated reject_unauth_destination");
    expect(await mainCf("new")).toContain(
      "smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated defer_unauth_destination",
    );
    expect(legacy).toContain(`mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128 ${OFFICE_SUBNET}`);
    expect(await mainCf("new")).toContain("mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128\n");
  });

  it("keeps its own services while cutover routes it, and gets its main.cf back exactly", async () => {
    const before = { legacy: await mainCf("legacy"), internet: await mainCf("internet") };
    const own = await checkGatewayOwnServices(await session("internet"), lab.description.hosts.legacy!.address);
    expect(own.filter((c) => !c.ok)).toEqual([]);

    await applyRouting(await session("internet"), table("internet"));
    const applied = await applyRouting(await session("legacy"), table("legacy"));
    expect(applied.changed).toBe(true);
    const merged = await mainCf("legacy");
    expect(merged).toMatch(
      new RegExp(
        `^mynetworks = 127\\.0\\.0\\.0/8, .*${OFFICE_SUBNET.replace(/\./g, "\\.")}, cidr:/etc/postfix/cutover/current/trusted$`,
        "m",
      ),
    );
    expect(merged).toContain("transport_maps = hash:/etc/postfix/cutover/current/transport, hash:/etc/postfix/transport");
    expect(merged).toContain("smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination");
    expect((await readRouting(await session("legacy"))).configured).toBe(true);
    const during = await checkGatewayOwnServices(await session("internet"), lab.description.hosts.legacy!.address);
    expect(during.filter((c) => !c.ok)).toEqual([]);
    // The gateway's own relay rule, kept as it was: a stranger is refused with 5xx.
    expect(during.find((c) => c.service === "stranger refused")!.detail).toMatch(/5\d\d/);

    for (const role of ["legacy", "internet"] as const) await restoreRouting(await session(role));
    expect({ legacy: await mainCf("legacy"), internet: await mainCf("internet") }).toEqual(before);
    const after = await checkGatewayOwnServices(await session("internet"), lab.description.hosts.legacy!.address);
    expect(after.filter((c) => !c.ok)).toEqual([]);
  }, 120_000);

  it("the new server serves the gateway's clients once cutover trusts them (gateway.relayClients), and the check says so when it does not", async () => {
    const neu = await session("new");
    const at = lab.description.hosts.new!.address;
    // Before cutover routes it: its stock relay rule defers the office client (4xx) and a stranger
    // alike; the roaming user's SASL submission (set up for the gateway's clients) is accepted, but
    // the partner, which has no MX, is reached only through the outbound relay cutover's routing sets.
    const stock = await checkGatewayOwnServices(await session("internet"), at);
    expect(stock.map((c) => [c.service, c.ok])).toEqual([
      ["office relay", false],
      ["SASL submission", false],
      ["stranger refused", false],
    ]);
    expect(stock[0].detail).toMatch(/^not accepted \(exit \d+: <\*\* 454 /);
    expect(stock[1].detail).toMatch(/^accepted but not at orders@partner\.test within/);
    // Routed (phase 2 on): the office subnet trusted as the inventory lists it, strangers refused with 5xx.
    await applyRouting(neu, table("new"));
    try {
      expect(await checkGatewayOwnServices(await session("internet"), at)).toEqual([
        expect.objectContaining({ service: "office relay", ok: true }),
        expect.objectContaining({ service: "SASL submission", ok: true }),
        expect.objectContaining({ service: "stranger refused", ok: true }),
      ]);
    } finally {
      await restoreRouting(neu);
    }
  }, 120_000);

  it("a phase-2 address space named like the host ($myhostname in mydestination) is taken out of mydestination, and its mail is delivered", async () => {
    const neu = await session("new");
    const ownName = p2.hosts.find((h) => h.role === "new")!.ownName;
    const domain = table("new").domains.find((d) => d === ownName)!;
    expect(domain).toBe(ownName);
    const before = await mainCf("new");
    const hostname = (await neu.exec(["postconf", "-h", "myhostname"])).stdout.trim();
    // The host's own name, as the identity effect gives it.
    await execSequence(neu, [["postconf", "-e", `myhostname=${ownName}`], POSTFIX_RELOAD]);
    try {
      expect((await neu.exec(["postconf", "-xh", "mydestination"])).stdout).toContain(ownName);
      await applyRouting(neu, table("new"));
      expect((await neu.exec(["postconf", "-xh", "mydestination"])).stdout.trim()).toBe(
        "new.lab.invalid, localhost.lab.invalid, localhost",
      );
      expect((await readRouting(neu)).configured).toBe(true);
      const user = table("new").mailboxes.find((m) => m.endsWith(`@${domain}`))!;
      const marker = newMarker();
      const sent = await (await session("internet")).exec(
        [
          "swaks",
          "--server",
          lab.description.hosts.new!.address,
          "--from",
          "spyros@aegean.test",
          "--to",
          user,
          "--header",
          `Subject: ${marker}`,
          "--body",
          marker,
        ],
        { allowFailure: true },
      );
      expect(sent.code, sent.stdout).toBe(0);
      const found = await waitFor(
        () => findInMailbox(neu, user, marker),
        (f) => f.length > 0,
      );
      expect(found).toHaveLength(1);
      await restoreRouting(neu);
    } finally {
      await execSequence(neu, [["postconf", "-e", `myhostname=${hostname}`], POSTFIX_RELOAD]);
    }
    expect(await mainCf("new")).toBe(before);
  }, 120_000);

  it("a routed domain in a lookup table of mydestination is refused before anything changes, naming the table and the fix", async () => {
    const neu = await session("new");
    const before = await mainCf("new");
    const routingBefore = await readRouting(neu);
    const domain = table("new").domains[0];
    await execSequence(neu, [
      ["sh", "-c", 'echo "$1 OK" > /etc/postfix/local_domains && postmap /etc/postfix/local_domains', "sh", domain],
      ["postconf", "-e", "mydestination=$myhostname, hash:/etc/postfix/local_domains"],
    ]);
    try {
      await expect(applyRouting(neu, table("new"))).rejects.toThrow(
        new RegExp(
          `on new: mydestination's table hash:/etc/postfix/local_domains lists ${domain.replace(/\./g, "\\.")}, a domain cutover routes .*: take it out of that table \\(then postmap it\\) and run the phase again\\. Nothing was changed\\.`,
        ),
      );
      const after = await readRouting(neu);
      expect([after.configured, after.version, after.digest]).toEqual([
        routingBefore.configured,
        routingBefore.version,
        routingBefore.digest,
      ]);
    } finally {
      // The refused apply recorded the host's values as they were then (the table included): give
      // them back first, then take the table away again.
      await restoreRouting(neu);
      await execSequence(neu, [
        ["postconf", "-e", "mydestination=$myhostname, new.lab.invalid, localhost.lab.invalid, , localhost"],
        ["rm", "-f", "/etc/postfix/local_domains", "/etc/postfix/local_domains.db"],
        POSTFIX_RELOAD,
      ]);
    }
    expect(await mainCf("new")).toBe(before);
  }, 120_000);

  it("outbound mail leaves through the inventory's relay, shown in its Received path; a relayhost changed by hand is seen and struck", async () => {
    const [neu, internet] = [await session("new"), await session("internet")];
    const before = await mainCf("new");
    const relay = lab.inventory(2).outboundRelay!;
    expect(relay).toEqual(ISP_RELAY);
    expect(before).toMatch(/^relayhost =\s*$/m);
    /** A message from the new server to an outside user: the Received lines of its one copy. */
    const sendOutbound = async () => {
      const marker = newMarker();
      await sendMail(neu, { from: "postmaster@new.lab.invalid", to: "spyros@aegean.test", marker });
      const found = await waitFor(
        () => findInMailbox(internet, "spyros@aegean.test", marker),
        (f) => f.length > 0,
      );
      expect(found).toHaveLength(1);
      return (await receivedHeaders(internet, found)).get(found[0])!;
    };
    await applyRouting(internet, table("internet"));
    await applyRouting(neu, table("new"));
    try {
      expect((await neu.exec(["postconf", "-h", "relayhost"])).stdout.trim()).toBe(`[${relay.host}]:${relay.port}`);
      expect((await readRouting(neu)).digest).toBe(routingDigest(table("new")));
      const relayed = await sendOutbound();
      expect(receivedThrough(relayed, relay.host)).toBe(true);

      // By hand: another relay (the outside host's own SMTP service, not the ISP's relay). The read
      // shows it (drift), and the message no longer passes the relay.
      const byHand = `[${lab.description.hosts.internet!.address}]:25`;
      await execSequence(neu, [["postconf", "-e", `relayhost=${byHand}`], POSTFIX_RELOAD]);
      const live = await readRouting(neu);
      expect(live.routing!.relayHost).toBe(byHand);
      expect(live.digest).not.toBe(routingDigest(table("new")));
      const other = await sendOutbound();
      expect(receivedThrough(other, relay.host)).toBe(false);
      // Straight to the outside host's own SMTP service, which names itself by its myhostname.
      const outsideName = (await internet.exec(["postconf", "-h", "myhostname"])).stdout.trim();
      expect(other[0]).toMatch(
        new RegExp(
          `^Received: from \\S+ \\(.*\\[${lab.description.hosts.new!.address.replace(/\./g, "\\.")}\\]\\) by ${outsideName.replace(/\./g, "\\.")} `,
        ),
      );

      // The next apply puts the relay back.
      expect((await applyRouting(neu, table("new"))).changed).toBe(true);
      expect((await neu.exec(["postconf", "-h", "relayhost"])).stdout.trim()).toBe(`[${relay.host}]:${relay.port}`);
    } finally {
      for (const s of [neu, internet]) await restoreRouting(s);
    }
    // Given back exactly: the new server's own (empty) relayhost.
    expect(await mainCf("new")).toBe(before);
  }, 120_000);

  it("a relayhost of the host's own, with no outboundRelay in the inventory, is refused before anything changes", async () => {
    const legacy = await session("legacy");
    const before = await mainCf("legacy");
    expect(before).toContain(`relayhost = [${ISP_RELAY.host}]:${ISP_RELAY.port}`);
    const { relayHost: _, ...direct } = table("legacy");
    try {
      await expect(applyRouting(legacy, direct)).rejects.toThrow(
        /on legacy: main\.cf sends outbound mail through relayhost = \[relay\.isp\.test\]:2525, and inventory\.outboundRelay is not set .*: set inventory\.outboundRelay .* Nothing was changed\./,
      );
      expect((await readRouting(legacy)).version).toBeUndefined();
      expect(await mainCf("legacy")).toBe(before);
    } finally {
      await restoreRouting(legacy);
    }
    expect(await mainCf("legacy")).toBe(before);
  }, 60_000);
});
