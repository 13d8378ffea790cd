/**
 * The host effects against the real lab: postfix, sshd, knot and dovecot in network namespaces.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostDir, keysDir } from "../../lab/layout";
import { findAnywhere, findInMailbox, newMarker, queuedWith, relayTest, sendMail, waitFor } from "../../src/checks/mail";
import { SmtpDialogue } from "../../src/checks/smtp-dialogue";
import { tlsTest } from "../../src/checks/tls";
import type { HostRole } from "../../src/model/inventory";
import { type Plan, plan } from "../../src/model/plan";
import { hostRouting, routingDigest } from "../../src/model/routing";
import { factsProblem, readHostFacts } from "../../src/remote/effects/host-facts";
import {
  addressOnLink,
  applyGatewayIdentity,
  applyIdentity,
  closeAndResetCommand,
  drainHost,
  drainPolicyRemovalCommands,
  readIdentity,
  releaseCommand,
  releaseGuardMissing,
  type ServiceAddress,
  takerMissing,
  undrainCommand,
} from "../../src/remote/effects/identity";
import {
  applyRouting,
  mainCfEdit,
  POSTFIX_RELOAD,
  ROUTING_DIR,
  readRouting,
  restoreRouting,
  SECRET_CHAIN,
} from "../../src/remote/effects/routing";
import { applyZone, readZone, type ZoneTarget } from "../../src/remote/effects/zone";
import { run as runLocal } from "../../src/remote/local";
import { connect, detached, execSequence, fingerprintOf, HostKeyMismatchError, type HostSession, SessionPool } from "../../src/remote/ssh";
import { digValues, testLab } from "./env";

const lab = testLab();
/** postfix start over SSH, with no inherited stdio (the master would keep the channel open). */
const POSTFIX_START = ["sh", "-c", "postfix start </dev/null >/dev/null 2>&1"];
const pool = new SessionPool();
const session = (role: HostRole) => pool.session(lab.target(role));
const p3 = plan(lab.inventory(3), 3);
const service = (role: HostRole): ServiceAddress => ({
  address: p3.gateway.address,
  prefixLength: p3.gateway.prefixLength,
  interface: lab.description.hosts[role]!.interface,
});
const zoneTarget = (zone: string): ZoneTarget => ({ zone, server: "127.0.0.1", tsig: lab.description.tsig });

async function applyPlan(p: Plan) {
  const dns = await session("internet");
  for (const z of p.zones) await applyZone(dns, zoneTarget(z.name), z.records);
  for (const h of p.hosts)
    await applyIdentity(await session(h.role), {
      hostName: h.name,
      ownName: h.ownName,
      holdsServiceAddress: h.role === p.gateway.holder,
      service: service(h.role),
    });
  for (const t of p.routing) await applyRouting(await session(t.host), hostRouting(t));
}

/** Sends from a host's own MTA and waits for the message in the recipient's mailbox on `expected`. */
async function deliver(from: HostRole, sender: string, to: string, expected: HostRole) {
  const marker = newMarker();
  await sendMail(await session(from), { from: sender, to, marker });
  const found = await waitFor(
    () => session(expected).then((s) => findInMailbox(s, to, marker)),
    (f) => f.length > 0,
  );
  return { marker, found };
}

const zonesBefore = new Map<string, Awaited<ReturnType<typeof readZone>>>();

beforeAll(async () => {
  for (const z of p3.zones) zonesBefore.set(z.name, await readZone(await session("internet"), zoneTarget(z.name)));
  await applyPlan(p3);
});

afterAll(async () => {
  // Leave the lab as this file found it: other files' tests start from there.
  for (const role of ["legacy", "new", "internet"] as const) {
    await restoreRouting(await session(role));
    await execSequence(await session(role), drainPolicyRemovalCommands(""));
  }
  for (const z of p3.zones) await applyZone(await session("internet"), zoneTarget(z.name), zonesBefore.get(z.name)!, z.records);
  await pool.closeAll();
});

describe("on-prem zone effect", () => {
  it("serves exactly the plan's records, as dig inside the lab sees them", async () => {
    for (const z of p3.zones) {
      for (const r of z.records) {
        const answer = await lab.inHost("legacy", ["dig", "+short", r.type, r.name]);
        expect(digValues(answer, r.type), `${r.name} ${r.type}`).toEqual(r.values);
      }
      const planned = new Set(z.records.map((r) => `${r.name} ${r.type}`));
      const live = await readZone(await session("internet"), zoneTarget(z.name));
      // In any order: a zone transfer lists names in DNS's canonical order, the plan in code-point order.
      const byKey = (a: { name: string; type: string }, b: { name: string; type: string }) =>
        `${a.name} ${a.type}` < `${b.name} ${b.type}` ? -1 : 1;
      expect(live.filter((r) => planned.has(`${r.name} ${r.type}`)).sort(byKey)).toEqual([...z.records].sort(byKey));
    }
  });

  it("answers with the plan's TTL and changes only what differs", async () => {
    const dns = await session("internet");
    expect(await applyZone(dns, zoneTarget("api.test"), p3.zones.find((z) => z.name === "api.test")!.records)).toBe(false);
    const answer = await lab.inHost("new", ["dig", "+noall", "+answer", "MX", "api.test"]);
    expect(answer).toMatch(/^api\.test\.\s+300\s+IN\s+MX\s+10 mail\.api\.test\.$/m);
  });
});

describe("main.cf as cutover writes it", () => {
  // biff is set in Debian's stock main.cf; writing its own value again changes nothing but the file.
  const reread = async (s: HostSession) => (await s.exec(["sh", "-c", "postconf -vv -n biff 2>&1"])).stdout;
  const age = async (s: HostSession) =>
    Number((await s.exec(["sh", "-c", 'echo $(( $(date +%s) - $(stat -c %Y "$(postconf -h config_directory)/main.cf") ))'])).stdout);

  it("is read at once by the next postfix program, where a plain postconf -e makes it read twice", async () => {
    const s = await session("new");
    const biff = (await s.exec(["postconf", "-h", "biff"])).stdout.trim();
    expect(biff).toMatch(/^(yes|no)$/);
    // The fault this guards against: postfix reads a main.cf written a moment ago again, 300 ms later.
    await s.exec(["postconf", "-e", `biff=${biff}`]);
    expect(await reread(s)).toMatch(/pausing to let \S*main\.cf cool down/);
    await s.exec(mainCfEdit(["-e", `biff=${biff}`]));
    expect(await age(s)).toBeGreaterThanOrEqual(2);
    const after = await reread(s);
    expect(after).toContain(`biff = ${biff}`);
    expect(after).not.toMatch(/pausing to let/);
  });

  it("is in force once the reload returns: no process of the old configuration that decides routing is left", async () => {
    const s = await session("new");
    const children =
      'm=$(sed -n "1s/ //gp" "$(postconf -h queue_directory)/pid/master.pid"); pgrep -P "$m" -d " " -x "qmgr|pickup|cleanup|trivial-rewrite"';
    // A message out and one in start the delivery processes, which stay a while when idle.
    await s.exec(["sh", "-c", "echo reload test | sendmail spyros@aegean.test"]);
    const old = await waitFor(
      async () => (await s.exec(["sh", "-c", children], { allowFailure: true })).stdout.trim().split(" ").filter(Boolean),
      (pids) => pids.length >= 3,
    );
    expect(old.length).toBeGreaterThanOrEqual(3);
    // Asked in the reload's own shell, the moment it returns (an SSH round trip later they are gone anyway).
    const reloadThenAsk = `${POSTFIX_RELOAD[2]}\nfor p in ${old.join(" ")}; do kill -0 "$p" 2>/dev/null && echo "$p"; done; :`;
    expect((await s.exec(["sh", "-c", reloadThenAsk])).stdout.trim()).toBe("");
  });

  it("is left alone when the write failed", async () => {
    const s = await session("new");
    const before = (await s.exec(["sh", "-c", 'stat -c %Y "$(postconf -h config_directory)/main.cf"'])).stdout;
    const r = await s.exec(mainCfEdit(["-e", "not a setting"]), { allowFailure: true });
    expect(r.code).not.toBe(0);
    expect((await s.exec(["sh", "-c", 'stat -c %Y "$(postconf -h config_directory)/main.cf"'])).stdout).toBe(before);
  });
});

describe("gateway routing effect", () => {
  it("delivers mail from outside to the one right mailbox on each system", async () => {
    for (const [to, home, other] of [
      ["user1@api.test", "legacy", "new"],
      ["user4@api.test", "new", "legacy"],
    ] as const) {
      const { marker, found } = await deliver("internet", "spyros@aegean.test", to, home);
      expect(found, `${to} on ${home}`).toHaveLength(1);
      expect(await findAnywhere(await session(other), marker)).toEqual([]);
    }
  });

  it("routes between the systems by split delivery, and from inside to outside", async () => {
    expect((await deliver("legacy", "user1@api.test", "user5@api.test", "new")).found).toHaveLength(1);
    expect((await deliver("new", "user4@api.test", "user2@api.test", "legacy")).found).toHaveLength(1);
    expect((await deliver("new", "user4@api.test", "jillr@aegean.test", "internet")).found).toHaveLength(1);
  });

  it("never relays for an outside recipient from an outside client", async () => {
    const outside = await session("internet");
    expect(await relayTest(outside, p3.gateway.address)).toMatchObject({
      verdict: "refused",
      detail: expect.stringMatching(/^554 /),
    });
    expect((await relayTest(outside, lab.description.hosts.new!.address)).verdict).toBe("refused");
    expect((await relayTest(outside, p3.gateway.address, { to: "user4@api.test" })).verdict).toBe("open");
  });

  it("sees a message of ours waiting in a queue while the next hop is down, and not once it is delivered", async () => {
    const [legacy, neu] = [await session("legacy"), await session("new")];
    await neu.exec(["postfix", "stop"]);
    const marker = newMarker();
    try {
      // user4 lives on new: the legacy gateway relays to it, and holds the message while new is down.
      await sendMail(await session("legacy"), { from: "user1@api.test", to: "user4@api.test", marker });
      expect(
        await waitFor(
          () => queuedWith(legacy, [marker]),
          (n) => n === 1,
          10_000,
          200,
        ),
      ).toBe(1);
      expect(await queuedWith(legacy, ["no-such-marker"])).toBe(0);
    } finally {
      await neu.exec(POSTFIX_START);
    }
    await legacy.exec(["postqueue", "-f"]);
    expect(
      await waitFor(
        () => queuedWith(legacy, [marker]),
        (n) => n === 0,
        30_000,
        500,
      ),
    ).toBe(0);
    expect(
      await waitFor(
        () => findInMailbox(neu, "user4@api.test", marker),
        (f) => f.length === 1,
        10_000,
        200,
      ),
    ).toHaveLength(1);
  }, 60_000);

  it("does not count a delivered message whose queue file a postfix reload mid-delivery left behind", async () => {
    const [legacy, neu] = [await session("legacy"), await session("new")];
    const next = lab.description.hosts.new!.address;
    const queueFiles = async (text: string) =>
      (
        await legacy.exec([
          "sh",
          "-c",
          'cd "$(postconf -h queue_directory)" && grep -rlF -e "$1" incoming active deferred | wc -l',
          "sh",
          text,
        ])
      ).stdout.trim();
    await neu.exec(["postfix", "stop"]);
    // The next hop answers DATA only after 3 s (postfix's own smtp-sink): the reload lands mid-delivery.
    const sink = (
      await neu.exec(["sh", "-c", `smtp-sink -u postfix -w 3 ${next}:25 10 </dev/null >/dev/null 2>&1 & echo $!`])
    ).stdout.trim();
    const marker = newMarker();
    try {
      await sendMail(legacy, { from: "user1@api.test", to: "user4@api.test", marker });
      const connected = await waitFor(
        () => legacy.exec(["ss", "-Htn", "state", "established", `( dport = :25 and dst ${next} )`]).then((r) => r.stdout.trim()),
        (out) => out !== "",
        10_000,
        100,
      );
      expect(connected).not.toBe("");
      await legacy.exec(POSTFIX_RELOAD);
      // On its way while the next hop has not answered...
      expect(await queuedWith(legacy, [marker])).toBe(1);
      // ...then delivered (the sink said 250), and no longer counted...
      expect(
        await waitFor(
          () => queuedWith(legacy, [marker]),
          (n) => n === 0,
          15_000,
          200,
        ),
      ).toBe(0);
      // ...although its queue file is still there: the new queue manager found it locked, put it
      // back in the incoming queue for 60 s, and removes it only then. The fault struck.
      expect(await queueFiles(marker)).toBe("1");
    } finally {
      await neu.exec(["sh", "-c", 'kill "$1" 2>/dev/null; while kill -0 "$1" 2>/dev/null; do sleep 0.05; done', "sh", sink]);
      await neu.exec(POSTFIX_START);
    }
  }, 60_000);

  it.each([
    ["rejects the testing host's HELO", "smtpd_helo_restrictions", "check_helo_access", "504 5.5.2 need fully-qualified hostname"],
    ["rejects its sender", "smtpd_sender_restrictions", "check_sender_access", "550 5.1.8 Sender address rejected: Domain not found"],
    [
      "lists the testing host in a blocklist",
      "smtpd_client_restrictions",
      "check_client_access",
      "554 5.7.1 Service unavailable; Client host blocked using zen.spamhaus.org",
    ],
  ])(
    "calls a gateway that %s 'could not check', never 'refuses to relay': Postfix delays that rejection to RCPT",
    async (_, setting, check, reply) => {
      const [outside, neu] = [await session("internet"), await session("new")];
      const address = lab.description.hosts.new!.address;
      // A mailbox the new server takes from outside, asked first in the same session.
      const control = "user4@api.test";
      const refused = await relayTest(outside, address, { control });
      expect(refused, "before: the control is taken and the outside recipient refused").toMatchObject({
        verdict: "refused",
        controlReply: expect.stringMatching(/^250 /),
      });
      const before = (await neu.exec(["postconf", "-h", setting])).stdout.trim();
      await neu.exec(["sh", "-c", 'printf "/./ %s\\n" "$1" > /etc/postfix/lab-reject', "sh", reply]);
      await neu.exec(["postconf", "-e", `${setting}=${check} regexp:/etc/postfix/lab-reject`]);
      await neu.exec(POSTFIX_RELOAD);
      try {
        const v = await waitFor(
          () => relayTest(outside, address, { control }),
          (x) => x.verdict !== "refused",
          10_000,
          500,
        );
        // The rejection struck: the outside recipient got it, and so did the control.
        expect(v.verdict).toBe("unknown");
        // Postfix puts the client, HELO name or sender before an access table's text.
        const [code, , ...text] = reply.split(" ");
        expect(v.detail).toMatch(new RegExp(`^RCPT refused with ${code} `));
        expect(v.detail).toContain(text.join(" "));
        expect(v.controlReply).toMatch(new RegExp(`^${code} `));
      } finally {
        await neu.exec(["postconf", "-e", `${setting}=${before}`]);
        await neu.exec(["rm", "-f", "/etc/postfix/lab-reject"]);
        await neu.exec(POSTFIX_RELOAD);
      }
      await waitFor(
        () => relayTest(outside, address, { control }),
        (v) => v.verdict === "refused",
        15_000,
        500,
      );
    },
    60_000,
  );

  it("calls a server that defers (4xx at RCPT) or does not answer 'could not check', never 'refuses'", async () => {
    const [outside, neu] = [await session("internet"), await session("new")];
    const address = lab.description.hosts.new!.address;
    const before = (await neu.exec(["postconf", "-h", "smtpd_relay_restrictions"])).stdout.trim();
    await neu.exec(["postconf", "-e", "smtpd_relay_restrictions=permit_mynetworks, defer_unauth_destination"]);
    await neu.exec(POSTFIX_RELOAD);
    try {
      await waitFor(
        () => relayTest(outside, address),
        (v) => v.verdict !== "refused",
        10_000,
        500,
      );
      expect(await relayTest(outside, address)).toMatchObject({
        verdict: "unknown",
        detail: expect.stringMatching(/^RCPT answered 4\d\d /),
      });
    } finally {
      await neu.exec(["postconf", "-e", `smtpd_relay_restrictions=${before}`]);
      await neu.exec(POSTFIX_RELOAD);
    }
    await neu.exec(["postfix", "stop"]);
    try {
      expect(await relayTest(outside, address)).toMatchObject({
        verdict: "unknown",
        detail: expect.stringMatching(/^no greeting: /),
      });
      // A server that takes the connection and never greets: the dialogue's time limit, not an error.
      const silent = spawn("ip", [
        "netns",
        "exec",
        lab.description.hosts.new!.namespace,
        process.execPath,
        "-e",
        `require("node:net").createServer(() => {}).listen(25, "${address}", () => console.log("listening"))`,
      ]);
      try {
        await new Promise((resolve) => silent.stdout.once("data", resolve));
        expect(await relayTest(outside, address, {}, 3000)).toEqual({
          verdict: "unknown",
          detail: "no answer: the SMTP dialogue did not end within 3 s",
        });
      } finally {
        silent.kill();
      }
    } finally {
      await neu.exec(POSTFIX_START);
    }
    await waitFor(
      () => relayTest(outside, address),
      (v) => v.verdict === "refused",
      15_000,
      500,
    );
  }, 60_000);

  it("reads back the routing it applied, and applying again touches nothing", async () => {
    const legacy = await session("legacy");
    const table = p3.routing.find((t) => t.host === "legacy")!;
    const live = await readRouting(legacy);
    expect(live).toMatchObject({ configured: true, digest: routingDigest(table), routing: hostRouting(table) });
    const stamp = async () =>
      (
        await legacy.exec([
          "stat",
          "-L",
          "-c",
          "%n %Y.%y",
          `${ROUTING_DIR}/current/transport.db`,
          `${ROUTING_DIR}/current/mailboxes`,
          "/etc/postfix/main.cf",
        ])
      ).stdout;
    const before = await stamp();
    expect(await applyRouting(legacy, hostRouting(table))).toEqual({ digest: routingDigest(table), changed: false });
    expect(await stamp()).toBe(before);
  });

  it("shows a hand edit of a map in read, and the next apply repairs it", async () => {
    const legacy = await session("legacy");
    const table = p3.routing.find((t) => t.host === "legacy")!;
    await legacy.exec(["sed", "-i", "s/^user4@api.test .*/user4@api.test smtp:[192.0.2.99]:25/", `${ROUTING_DIR}/current/transport`]);
    await legacy.exec(["postmap", `hash:${ROUTING_DIR}/current/transport`]);
    const drifted = await readRouting(legacy);
    expect(drifted.digest).not.toBe(routingDigest(table));
    expect(drifted.routing!.relays).toContainEqual({ recipient: "user4@api.test", nextHop: "192.0.2.99" });
    expect((await applyRouting(legacy, hostRouting(table))).changed).toBe(true);
    expect((await readRouting(legacy)).digest).toBe(routingDigest(table));
  });

  it("keeps the previous routing working when the SSH connection is cut in the middle of an apply", async () => {
    const table = p3.routing.find((t) => t.host === "legacy")!;
    const moved = {
      ...hostRouting(table),
      mailboxes: table.mailboxes.filter((a) => a !== "user1@api.test"),
      relays: [...hostRouting(table).relays, { recipient: "user1@api.test", nextHop: lab.description.hosts.new!.address }],
    };
    const own = await connect(lab.target("legacy"));
    const cutting: HostSession = {
      target: own.target,
      readFile: (p) => own.readFile(p),
      writeFile: (p, c, m) => own.writeFile(p, c, m),
      close: () => own.close(),
      exec: (argv, o) => {
        if (argv.join(" ").includes("postmap")) own.close();
        return own.exec(argv, o);
      },
    };
    await expect(applyRouting(cutting, moved)).rejects.toThrow(/legacy/);
    const legacy = await session("legacy");
    expect((await readRouting(legacy)).digest).toBe(routingDigest(table));
    expect((await deliver("internet", "spyros@aegean.test", "user1@api.test", "legacy")).found).toHaveLength(1);
    // Re-running completes it.
    expect((await applyRouting(legacy, moved)).changed).toBe(true);
    expect((await readRouting(legacy)).digest).toBe(routingDigest(moved));
    expect((await legacy.exec(["readlink", `${ROUTING_DIR}/previous`])).stdout.trim()).toMatch(
      new RegExp(`^${routingDigest(table).slice(0, 16)}-`),
    );
    await applyRouting(legacy, hostRouting(table));
  });

  it("re-applies the same routing without ever leaving current dangling, and keeps previous", async () => {
    const legacy = await session("legacy");
    const table = p3.routing.find((t) => t.host === "legacy")!;
    const before = await readRouting(legacy);
    // A hand edit of an owned parameter: same maps, so the same digest is applied again.
    await legacy.exec(["postconf", "-e", "relay_domains="]);
    expect((await readRouting(legacy)).configured).toBe(false);
    expect((await applyRouting(legacy, hostRouting(table))).changed).toBe(true);
    const after = await readRouting(legacy);
    expect(after).toMatchObject({ configured: true, digest: routingDigest(table), reloaded: routingDigest(table) });
    expect(after.version).not.toBe(before.version);
    expect((await legacy.exec(["readlink", "-e", `${ROUTING_DIR}/previous`])).stdout.trim()).toBe(`${ROUTING_DIR}/${before.version}`);
    expect((await legacy.exec(["readlink", "-e", `${ROUTING_DIR}/current`])).stdout.trim()).toBe(`${ROUTING_DIR}/${after.version}`);
  });

  it("writes main.cf only where a parameter differs: a change of the maps alone leaves it as it was, a hand edit is put right", async () => {
    const legacy = await session("legacy");
    const table = p3.routing.find((t) => t.host === "legacy")!;
    await applyRouting(legacy, hostRouting(table));
    const mainCf = async () =>
      (await legacy.exec(["sh", "-c", 'stat -c %Y.%y "$(postconf -h config_directory)/main.cf"; postconf -n'])).stdout;
    const before = await mainCf();
    // A second's wait, so that a rewrite would show in the modification time.
    await new Promise((r) => setTimeout(r, 1100));
    const moved = { ...hostRouting(table), mailboxes: [...table.mailboxes, "extra@api.test"] };
    expect((await applyRouting(legacy, moved)).changed).toBe(true);
    expect((await readRouting(legacy)).reloaded).toBe(routingDigest(moved));
    expect(await mainCf()).toBe(before);
    // An owned parameter edited by hand is still written back.
    await legacy.exec(["postconf", "-e", "relay_domains="]);
    await applyRouting(legacy, hostRouting(table));
    expect((await readRouting(legacy)).configured).toBe(true);
    expect((await mainCf()).split("\n").slice(1).join("\n")).toBe(before.split("\n").slice(1).join("\n"));
  });

  it("records routing as applied only once postfix reloaded it, and retries a failed reload", async () => {
    const legacy = await session("legacy");
    const table = p3.routing.find((t) => t.host === "legacy")!;
    const moved = { ...hostRouting(table), mailboxes: [...table.mailboxes, "extra@api.test"] };
    await legacy.exec(["postfix", "stop"]);
    try {
      // The fault: postfix reload fails on a stopped postfix, after the maps were swapped.
      await expect(applyRouting(legacy, moved)).rejects.toThrow(/postfix reload failed/);
    } finally {
      await legacy.exec(POSTFIX_START);
    }
    const swapped = await readRouting(legacy);
    expect(swapped.digest).toBe(routingDigest(moved));
    expect(swapped.reloaded).toBeUndefined();
    expect((await applyRouting(legacy, moved)).changed).toBe(true);
    expect((await readRouting(legacy)).reloaded).toBe(routingDigest(moved));
    expect((await applyRouting(legacy, moved)).changed).toBe(false);
    await applyRouting(legacy, hostRouting(table));
  });

  it("refuses at RCPT an unknown recipient in a domain the connector relays whole: no backscatter", async () => {
    const legacy = await session("legacy");
    const p2 = plan(lab.inventory(2), 2);
    await applyRouting(legacy, hostRouting(p2.routing.find((t) => t.host === "legacy")!));
    try {
      const outside = await session("internet");
      const known = await relayTest(outside, lab.description.hosts.legacy!.address, { to: "user4@new.api.test" });
      const unknown = await relayTest(outside, lab.description.hosts.legacy!.address, {
        control: "user4@new.api.test",
        to: "nobody@new.api.test",
      });
      expect(known.verdict, known.detail).not.toBe("refused");
      expect(unknown.verdict, unknown.detail).toBe("refused");
      expect(unknown.detail).toMatch(/5\d\d.*(Recipient address rejected|User unknown)/i);
    } finally {
      await applyRouting(legacy, hostRouting(p3.routing.find((t) => t.host === "legacy")!));
    }
  });

  it("serves the gateway's chain from the stack secret with STARTTLS, refuses a chain file whose key is not the inventory's, and gives the host's own TLS settings back", async () => {
    const neu = await session("new");
    const outside = await session("internet");
    const address = lab.description.hosts.new!.address;
    const tls = lab.description.tls!;
    const table = plan(lab.inventory(4), 4).routing.find((t) => t.host === "new")!;
    const chain = readFileSync(tls.new.chainFile, "utf8");
    try {
      await expect(applyRouting(neu, hostRouting(table))).rejects.toThrow(/none was given\. Nothing was changed/);
      expect((await applyRouting(neu, hostRouting(table), undefined, chain)).changed).toBe(true);
      expect((await neu.exec(["stat", "-c", "%a %U", SECRET_CHAIN])).stdout.trim()).toBe("600 root");
      expect(await tlsTest(outside, address, [tls.new.spki])).toMatchObject({ verdict: "verified", served: tls.new.spki });
      // The legacy gateway's key is published too, but the new server does not serve it: the test fails, naming the served key.
      expect(await tlsTest(outside, address, [tls.legacy.spki])).toMatchObject({ verdict: "mismatch", served: tls.new.spki });
      // A chain file whose key is not the one the inventory states: refused, main.cf untouched.
      const before = (await neu.exec(["postconf", "-n"])).stdout;
      const wrong = { ...hostRouting(table), tls: { ...table.tls!, chain: SECRET_CHAIN, spki: tls.legacy.spki } };
      await expect(applyRouting(neu, wrong)).rejects.toThrow(
        new RegExp(`its key's SPKI sha256 is ${tls.new.spki}, and the inventory's spki says ${tls.legacy.spki}.*Nothing was changed`),
      );
      expect((await neu.exec(["postconf", "-n"])).stdout).toBe(before);
    } finally {
      await applyRouting(neu, hostRouting(p3.routing.find((t) => t.host === "new")!));
    }
    // Phase 3: the new server does not answer as the gateway; its own TLS settings (Debian's snakeoil) are back.
    expect((await neu.exec(["postconf", "smtpd_tls_chain_files", "smtpd_tls_cert_file"])).stdout.trim().split("\n")).toEqual([
      "smtpd_tls_chain_files =",
      "smtpd_tls_cert_file = /etc/ssl/certs/ssl-cert-snakeoil.pem",
    ]);
    expect((await tlsTest(outside, address, [tls.new.spki])).verdict).toBe("mismatch");
  });

  it("the outside sender enforces DANE: mail to a gateway serving a key its TLSA record does not publish waits, and goes once the key is right", async () => {
    const legacy = await session("legacy");
    const snakeoil = "/etc/ssl/private/ssl-cert-snakeoil.key, /etc/ssl/certs/ssl-cert-snakeoil.pem";
    const log = join(lab.description.hosts.internet!.dir, "maillog");
    const from = readFileSync(log).length;
    await execSequence(legacy, [["postconf", "-e", `smtpd_tls_chain_files=${snakeoil}`], POSTFIX_RELOAD]);
    const marker = newMarker();
    try {
      await sendMail(await session("internet"), { from: "spyros@aegean.test", to: "user1@api.test", marker });
      const deferred = await waitFor(
        async () => readFileSync(log).subarray(from).toString("utf8"),
        (l) => /user1@api\.test.*status=deferred/.test(l),
        15_000,
        200,
      );
      expect(deferred).toMatch(/to=<user1@api\.test>.*status=deferred \(Server certificate not verified\)/);
      expect(await findInMailbox(legacy, "user1@api.test", marker)).toEqual([]);
    } finally {
      await applyRouting(legacy, hostRouting(p3.routing.find((t) => t.host === "legacy")!));
    }
    // The key the TLSA record publishes again: the deferred message goes, verified.
    const found = await waitFor(
      () => findInMailbox(legacy, "user1@api.test", marker),
      (f) => f.length > 0,
      30_000,
      200,
    );
    expect(found).toHaveLength(1);
    expect(readFileSync(log).subarray(from).toString("utf8")).toMatch(/Verified TLS connection established to mail\.api\.test\[/);
  });

  it("restores the host's own main.cf when removed, and can be applied afresh", async () => {
    const neu = await session("new");
    const table = p3.routing.find((t) => t.host === "new")!;
    await restoreRouting(neu);
    expect(await readRouting(neu)).toMatchObject({ configured: false, routing: undefined });
    expect((await neu.exec(["postconf", "-h", "mynetworks"])).stdout.trim()).toBe("127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128");
    expect((await neu.exec(["test", "-e", ROUTING_DIR], { allowFailure: true })).code).not.toBe(0);
    expect((await applyRouting(neu, hostRouting(table))).changed).toBe(true);
  });
});

/**
 * A second sshd in a lab host's namespace, on port 2222 with the host's own keys: Debian's stock
 * configuration after the `settings` given, started in a mount namespace of its own after `prepare`
 * (shell text run as root there, before sshd). A session to it, and what stops it.
 */
async function secondSshd(role: HostRole, settings: string[], prepare = ":"): Promise<{ session: HostSession; stop(): void }> {
  const h = lab.description.hosts[role]!;
  const dir = `/tmp/cutover-sshd-2-${Date.now()}`;
  mkdirSync(dir, { recursive: true });
  const config = [
    "Port 2222",
    ...["rsa", "ecdsa", "ed25519"].map((t) => `HostKey ${join(keysDir, `${role}_host_${t}`)}`),
    `PidFile ${dir}/sshd.pid`,
    ...settings,
    "Include /etc/ssh/sshd_config",
    "",
  ].join("\n");
  writeFileSync(`${dir}/sshd_config`, config);
  await runLocal([
    "ip",
    "netns",
    "exec",
    h.namespace,
    "sh",
    "-c",
    `mount --bind "$1" /root && ${prepare} && exec /usr/sbin/sshd -f "$2"`,
    "sh",
    join(hostDir(role), "root"),
    `${dir}/sshd_config`,
  ]);
  const stop = () => {
    process.kill(Number(readFileSync(`${dir}/sshd.pid`, "utf8")));
    rmSync(dir, { recursive: true, force: true });
  };
  const second = await connect({ ...lab.target(role), port: 2222 }, { attempts: 3 }).catch((e) => {
    stop();
    throw e;
  });
  return {
    session: second,
    stop() {
      second.close();
      stop();
    },
  };
}

describe("host identity effect", () => {
  const banner = async () =>
    (
      await (
        await session("internet")
      ).exec(["swaks", "--server", p3.gateway.address, "--quit-after", "BANNER", "--timeout", "10"], { allowFailure: true })
    ).stdout;

  /** A new SMTP connection from outside to `address`, given 2 s: the greeting's first three bytes, or nothing. */
  const greets = async (address: string) =>
    (
      await (
        await session("internet")
      ).exec(["timeout", "2", "bash", "-c", 'exec 3<>"/dev/tcp/$1/25" && head -c 3 <&3', "bash", address], { allowFailure: true })
    ).stdout;

  it("Elastic IP go-live steps: drains a host on its own address, then lets sessions through and renames it", async () => {
    const legacy = await session("legacy");
    const own = lab.description.hosts.legacy!.address;
    const before = await readIdentity(legacy, { address: own, prefixLength: 32 });
    // A sender whose session stays open through the drain's whole wait (10 s): reset at its end, so
    // that the association's move cannot leave it waiting for a reply no host sends.
    const lingering = await SmtpDialogue.open(own);
    await lingering.command("EHLO lingering.test");
    const drained = drainHost(legacy, own);
    // While it waits for that session: a new transaction to the host's own address is refused before its message.
    await waitFor(
      () => readIdentity(legacy, { address: own, prefixLength: 32 }),
      (l) => l.draining,
      10_000,
      50,
    );
    const refused = await SmtpDialogue.open(own);
    for (const c of ["EHLO drain.test", "MAIL FROM:<spyros@aegean.test>", "RCPT TO:<user2@api.test>"]) await refused.command(c);
    expect((await refused.command("DATA")).lines.at(-1)).toMatch(/^421 4\.3\.2 .*moving to another server/);
    await drained;
    expect(
      await waitFor(
        async () => lingering.ended,
        (e) => e,
        5_000,
        50,
      ),
    ).toBe(true);
    // Drained: for the association's move the address takes no new session at all (a connection gets no answer).
    expect(await greets(own)).toBe("");
    // After the association moved: the identity without an interface lets sessions in again and names the host.
    const identity = (hostName: string) => ({
      hostName,
      ownName: before.ownName,
      holdsServiceAddress: false,
      service: { address: own, prefixLength: 32 },
    });
    await applyGatewayIdentity([{ session: legacy, identity: identity("legacy.api.test") }]);
    expect(await readIdentity(legacy, { address: own, prefixLength: 32 })).toMatchObject({ draining: false, hostName: "legacy.api.test" });
    expect(await greets(own)).toBe("220");
    const accepted = await SmtpDialogue.open(own);
    for (const c of ["EHLO drain.test", "MAIL FROM:<spyros@aegean.test>", "RCPT TO:<user2@api.test>"]) await accepted.command(c);
    expect((await accepted.command("DATA")).code).toBe("354");
    // Cut before the message ends: nothing is delivered.
    await accepted.close();
    await refused.close();
    // Back as it was, reloaded before the next test greets.
    await applyIdentity(legacy, identity(before.hostName));
  }, 60_000);

  it("moves the service address and the SMTP name to the new server, and back", async () => {
    const p5 = { ...p3, gateway: { ...p3.gateway, holder: "new" as const } };
    const legacy = await session("legacy");
    const neu = await session("new");
    expect(await banner()).toMatch(/220 mail\.api\.test ESMTP/);
    // The name the new server says in HELO now, which it keeps whatever its myhostname becomes.
    const newBefore = await readIdentity(neu, service("new"));
    const helo = newBefore.heloName || (newBefore.ownName !== "new.api.test" ? newBefore.ownName : "");
    // Phase 3 publishes only the legacy gateway's key, and the outside sender enforces DANE: the new
    // server takes the gateway's chain with its name (the key moves with the identity).
    const newTable = hostRouting(p3.routing.find((t) => t.host === "new")!);
    await applyRouting(
      neu,
      { ...newTable, tls: { name: p3.gateway.hostName, spki: lab.description.tls!.legacy.spki } },
      undefined,
      readFileSync(join(keysDir, "legacy-gateway.pem"), "utf8"),
    );

    expect(
      (
        await applyGatewayIdentity([
          {
            session: legacy,
            identity: { hostName: "legacy.api.test", ownName: "legacy.api.test", holdsServiceAddress: false, service: service("legacy") },
          },
          {
            session: neu,
            identity: { hostName: p5.gateway.hostName, ownName: "new.api.test", holdsServiceAddress: true, service: service("new") },
          },
        ])
      ).map((l) => l.holdsServiceAddress),
    ).toEqual([true, false]);
    const legacyNow = await waitFor(
      () => readIdentity(legacy, service("legacy")),
      (i) => i.hostName === "legacy.api.test",
    );
    expect(legacyNow).toMatchObject({ hostName: "legacy.api.test", ownName: "legacy.api.test", holdsServiceAddress: false });
    expect(await readIdentity(neu, service("new"))).toEqual({
      hostName: "mail.api.test",
      banner: "mail.api.test ESMTP",
      ownName: "new.api.test",
      kernelHostName: "mail.api.test",
      holdsServiceAddress: true,
      drainPolicy: true,
      draining: false,
      closedToNewSessions: false,
      dataRestrictions: "check_policy_service unix:private/cutover-drain",
      heloName: helo,
      // Written to its own configuration, for its next boot; the legacy gateway's taken out of its own.
      persisted: { stack: "ifupdown", detail: "ifupdown: /etc/network/interfaces", address: true, hostnameFile: "mail.api.test" },
    });
    expect((await readIdentity(legacy, service("legacy"))).persisted).toMatchObject({ address: false, hostnameFile: "legacy.api.test" });
    expect(await waitFor(banner, (b) => /220 mail\.api\.test ESMTP/.test(b))).toMatch(/220 mail\.api\.test/);
    // Mail to the gateway address now lands through the new server's routing, on the right system.
    expect((await deliver("internet", "spyros@aegean.test", "user2@api.test", "legacy")).found).toHaveLength(1);

    const back = [
      {
        session: neu,
        identity: { hostName: "new.api.test", ownName: "new.api.test", holdsServiceAddress: false, service: service("new") },
      },
      {
        session: legacy,
        identity: { hostName: "mail.api.test", ownName: "legacy.api.test", holdsServiceAddress: true, service: service("legacy") },
      },
    ];
    expect((await applyGatewayIdentity(back)).map((l) => l.holdsServiceAddress)).toEqual([true, false]);
    expect((await applyGatewayIdentity(back)).map((l) => l.holdsServiceAddress)).toEqual([false, true]);
    expect(await readIdentity(legacy, service("legacy"))).toMatchObject({
      hostName: "mail.api.test",
      holdsServiceAddress: true,
      persisted: { address: true, hostnameFile: "mail.api.test" },
    });
    expect(await readIdentity(neu, service("new"))).toMatchObject({ holdsServiceAddress: false, persisted: { address: false } });
    await applyRouting(neu, newTable);
  });

  it("takes the address from a legacy gateway declared down only once no host answers ARP for it, changing nothing before", async () => {
    const legacy = await session("legacy");
    const neu = await session("new");
    const { address, prefixLength } = p3.gateway;
    const taking = [
      {
        session: neu,
        identity: { hostName: p3.gateway.hostName, ownName: "new.api.test", holdsServiceAddress: true, service: service("new") },
      },
    ];
    const before = await readIdentity(neu, service("new"));
    // The legacy gateway still holds the address, so its kernel answers ARP: refused, nothing changed.
    await expect(applyGatewayIdentity(taking, {}, ["legacy"])).rejects.toThrow(
      new RegExp(`legacy was declared down, but a host still answers ARP for ${address.replace(/\./g, "\\.")} \\(Unicast reply from`),
    );
    expect(await readIdentity(neu, service("new"))).toEqual(before);
    // No such interface: arping cannot ask, which is never "free"; nor can the identity's read say the address is not there.
    expect((await addressOnLink(neu, address, "nosuch0")).verdict).toBe("could not check");
    await expect(readIdentity(neu, { ...service("new"), interface: "nosuch0" })).rejects.toThrow(
      /reading the addresses of nosuch0 failed: Device "nosuch0" does not exist\. ip exited 1/,
    );
    // A host announcing the address claims it as much as one answering: the legacy gateway announces
    // it by gratuitous ARP (as a go-live's taker does) while it takes the address off.
    const dev = service("legacy").interface!;
    await legacy.exec(detached('setsid -f arping -q -U -c 3 -I "$1" "$2"', dev, address));
    await legacy.exec(["ip", "addr", "del", `${address}/${prefixLength}`, "dev", dev]);
    try {
      const announced = await addressOnLink(neu, address, service("new").interface!);
      expect(announced.verdict, announced.detail).toBe("in use");
      expect(announced.detail).toMatch(/request from/i);
      // The legacy gateway gone from the link (its address off and silent, as after a power loss): the new server takes it.
      const onLink = await waitFor(
        () => addressOnLink(neu, address, service("new").interface!),
        (a) => a.verdict === "free",
      );
      expect(onLink.verdict, onLink.detail).toBe("free");
      await applyGatewayIdentity(taking, {}, ["legacy"]);
      expect(await readIdentity(neu, service("new"))).toMatchObject({ holdsServiceAddress: true, hostName: p3.gateway.hostName });
      // The outside host reaches it at once: the taker announced the address by gratuitous ARP.
      expect(await waitFor(banner, (b) => /220 mail\.api\.test ESMTP/.test(b), 10_000)).toMatch(/220 mail\.api\.test ESMTP/);
    } finally {
      // Back as it was: the new server gives the address up, the legacy gateway takes it and its name.
      await applyGatewayIdentity([
        {
          session: neu,
          identity: { hostName: "new.api.test", ownName: "new.api.test", holdsServiceAddress: false, service: service("new") },
        },
        {
          session: legacy,
          identity: { hostName: p3.gateway.hostName, ownName: "legacy.api.test", holdsServiceAddress: true, service: service("legacy") },
        },
      ]);
    }
    expect(await readIdentity(legacy, service("legacy"))).toMatchObject({ holdsServiceAddress: true });
    expect(await readIdentity(neu, service("new"))).toMatchObject({ holdsServiceAddress: false });
  }, 60_000);

  it("keeps the name a host says in HELO when it gets its own name, shown at the receiver, and gives smtp_helo_name back as it was", async () => {
    const [legacy, internet] = [await session("legacy"), await session("internet")];
    const mainCf = async () => (await legacy.exec(["postconf", "-n"])).stdout;
    const before = await readIdentity(legacy, service("legacy"));
    const original = await mainCf();
    // As a gateway named mx1.lab.invalid before cutover, saying so in HELO ($myhostname).
    await execSequence(legacy, [mainCfEdit(["-e", "myhostname=mx1.lab.invalid"]), mainCfEdit(["-X", "smtp_helo_name"]), POSTFIX_RELOAD]);
    try {
      const renamed = {
        hostName: before.hostName,
        ownName: "legacy.api.test",
        holdsServiceAddress: before.holdsServiceAddress,
        service: service("legacy"),
      };
      expect(await applyIdentity(legacy, renamed)).toBe(true);
      expect(await readIdentity(legacy, service("legacy"))).toMatchObject({ ownName: "legacy.api.test", heloName: "mx1.lab.invalid" });
      // A message from the gateway reaches the outside host (through the ISP's relay) saying HELO mx1.lab.invalid.
      const marker = newMarker();
      await sendMail(legacy, { from: "postmaster@api.test", to: "cutover-probe@outside-provider.test", marker });
      const found = await waitFor(
        () => findAnywhere(internet, marker),
        (f) => f.length > 0,
      );
      const text = (await internet.exec(["cat", found[0]])).stdout;
      expect(text).toMatch(/^Received: from mx1\.lab\.invalid \(/m);
      expect(text).not.toMatch(/^Received: from legacy\.api\.test/m);
      // Given back as it was: unset, HELO following myhostname again.
      await applyIdentity(legacy, { ...renamed, ownName: "mx1.lab.invalid", heloName: "" });
      expect(await readIdentity(legacy, service("legacy"))).toMatchObject({ ownName: "mx1.lab.invalid", heloName: "" });
    } finally {
      await execSequence(legacy, [mainCfEdit(["-e", `myhostname=${before.ownName}`]), POSTFIX_RELOAD]);
      if (before.heloName) await execSequence(legacy, [mainCfEdit(["-e", `smtp_helo_name=${before.heloName}`]), POSTFIX_RELOAD]);
    }
    expect(await mainCf()).toBe(original);
  }, 60_000);

  it("stops announcing the address when it gives it up, so that no neighbour is sent back to it", async () => {
    const [legacy, neu] = [await session("legacy"), await session("new")];
    const { address, prefixLength } = p3.gateway;
    const dev = service("legacy").interface!;
    expect(await readIdentity(legacy, service("legacy"))).toMatchObject({ holdsServiceAddress: true });
    // As right after it took the address: its three announcements, a second apart, have begun.
    await legacy.exec(detached('setsid -f arping -q -U -c 3 -I "$1" "$2"', dev, address));
    await legacy.exec(releaseCommand(address, prefixLength, dev));
    try {
      // arping -D listens 2 s: an announcement still going would be a claim ("in use").
      const onLink = await addressOnLink(neu, address, service("new").interface!);
      expect(onLink.verdict, onLink.detail).toBe("free");
      // The port it closed for the release is open again: no table of cutover's is left.
      expect((await legacy.exec(["nft", "list", "tables"])).stdout).not.toContain("cutover_release");
    } finally {
      await legacy.exec(["ip", "addr", "add", `${address}/${prefixLength}`, "dev", dev]);
    }
  });

  it("closes the address to new SMTP sessions for a release, and the next taker opens it again; left closed on the holder, it is read so and its identity opens it", async () => {
    const legacy = await session("legacy");
    const { address } = p3.gateway;
    expect(await readIdentity(legacy, service("legacy"))).toMatchObject({ holdsServiceAddress: true });
    expect(await greets(address)).toBe("220");
    // Closed as a release leaves it when it is cut between closing the port and opening it again.
    await legacy.exec(closeAndResetCommand(address));
    try {
      expect(await greets(address)).toBe("");
    } finally {
      // A taker's first command (it lets sessions through again) opens it.
      await legacy.exec(undrainCommand(address));
    }
    expect(await greets(address)).toBe("220");
    // Left closed on the host that holds the address: read so, and its identity applied again opens it.
    const now = await readIdentity(legacy, service("legacy"));
    expect(now.closedToNewSessions).toBe(false);
    await legacy.exec(closeAndResetCommand(address));
    try {
      expect(await readIdentity(legacy, service("legacy"))).toMatchObject({ holdsServiceAddress: true, closedToNewSessions: true });
      const same = { ...now, holdsServiceAddress: true, service: service("legacy") };
      expect(await applyIdentity(legacy, same)).toBe(true);
      expect(await greets(address)).toBe("220");
      expect(await readIdentity(legacy, service("legacy"))).toMatchObject({ closedToNewSessions: false, hostName: now.hostName });
    } finally {
      await legacy.exec(undrainCommand(address));
    }
  });

  it("closes and resets the gateway's other services with port 25 (gateway.services), and asks the taker's firewall for each", async () => {
    const [legacy, internet, neu] = [await session("legacy"), await session("internet"), await session("new")];
    const { address } = p3.gateway;
    /** A new connection from outside to `address`:`port`, given 2 s: the greeting's first three bytes, or nothing. */
    const greetsOn = async (port: number) =>
      (
        await internet.exec(["timeout", "2", "bash", "-c", 'exec 3<>"/dev/tcp/$1/$2" && head -c 3 <&3', "bash", address, String(port)], {
          allowFailure: true,
        })
      ).stdout;
    expect(await greetsOn(587)).toBe("220");
    // A roaming user's idle submission session, open when the release comes: it waits for its server until it ends.
    const idle = internet.exec(
      ["timeout", "30", "bash", "-c", 'exec 3<>"/dev/tcp/$1/587" && head -c 3 <&3 && cat <&3 >/dev/null; echo " ended"', "bash", address],
      { allowFailure: true },
    );
    const open = () =>
      legacy.exec(["ss", "-Htn", "state", "established", `( sport = :587 and src ${address} )`]).then((r) => r.stdout.trim());
    expect(await waitFor(open, (x) => x !== "", 10_000)).not.toBe("");
    await legacy.exec(closeAndResetCommand(address, [25, 587]));
    try {
      // Reset, not left to postfix's 300 s timeout (the 30 s `timeout` would have ended it with 124).
      const ended = await idle;
      expect(ended.code).not.toBe(124);
      expect(ended.stdout).toBe("220 ended\n");
      // Both ports closed to new sessions while the release runs.
      expect([await greetsOn(25), await greetsOn(587)]).toEqual(["", ""]);
    } finally {
      await legacy.exec(undrainCommand(address));
    }
    expect([await greetsOn(25), await greetsOn(587)]).toEqual(["220", "220"]);

    // The taker's firewall must admit each port: nftables dropping by policy, port 25 (and SSH) admitted, 587 not.
    const taking = { ...service("new"), ports: [587] };
    expect(await takerMissing(neu, taking, lab.description.hosts.legacy!.address)).toEqual([]);
    await neu.exec([
      "sh",
      "-c",
      "printf 'table inet labfw { chain input { type filter hook input priority 0; policy drop; ct state established,related accept; iif lo accept; tcp dport { 22, 25 } accept; }; }\\n' | nft -f -",
    ]);
    try {
      expect(await takerMissing(neu, taking)).toEqual([
        "new (198.51.100.20), which is to take the gateway's address: nftables drops incoming connections by policy and no rule accepts tcp port 587: accept it (for 198.51.100.25 at least)",
      ]);
    } finally {
      await neu.exec(["nft", "delete", "table", "inet", "labfw"]);
    }
  });

  it("reads a gateway host's facts at first contact: Debian's postfix driven; a host without postfix refused in one line", async () => {
    const facts = await readHostFacts(await session("legacy"));
    expect(facts.mta.name).toBe("postfix");
    expect(facts.mta.version).toMatch(/^3\.\d+\.\d+$/);
    expect(facts.system).toMatch(/^Debian GNU\/Linux/);
    expect(factsProblem("legacy", facts)).toBeUndefined();
    // The legacy gateway as a host without postfix: a second sshd that finds no postconf to run.
    const second = await secondSshd(
      "legacy",
      [],
      'touch /tmp/no-postconf && chmod 644 /tmp/no-postconf && mount --bind /tmp/no-postconf "$(command -v postconf)"',
    );
    try {
      const without = await readHostFacts(second.session);
      expect(without.mta).toEqual({ name: "none" });
      expect(factsProblem("legacy (198.51.100.10)", without)).toMatch(
        /^legacy \(198\.51\.100\.10\) \(Debian GNU\/Linux [^)]*\)\) has no postfix \(no postconf on its PATH\)/,
      );
    } finally {
      second.stop();
    }
  });

  it("notes a host that cannot close the address for its release: none where nftables is installed, the cause where nft is missing", async () => {
    expect(await releaseGuardMissing(await session("legacy"))).toBeUndefined();
    // The legacy gateway as a host without nftables: a second sshd that finds no nft to run.
    const second = await secondSshd(
      "legacy",
      [],
      'touch /tmp/no-nft && chmod 644 /tmp/no-nft && mount --bind /tmp/no-nft "$(command -v nft)"',
    );
    try {
      expect(await releaseGuardMissing(second.session)).toMatch(
        /^legacy \(198\.51\.100\.10\) cannot close port 25 to new connections for its release \(nft: not installed\): .*apt install nftables/,
      );
    } finally {
      second.stop();
    }
  });

  it("puts the address back on the legacy gateway when the new server is lost between the release and the take", async () => {
    const legacy = await session("legacy");
    // A connection of its own, cut in the middle of the move (the pool's stays for the tests after).
    const neu = await connect(lab.target("new"));
    const move = applyGatewayIdentity(
      [
        {
          session: legacy,
          identity: { hostName: "legacy.api.test", ownName: "legacy.api.test", holdsServiceAddress: false, service: service("legacy") },
        },
        {
          session: neu,
          identity: { hostName: p3.gateway.hostName, ownName: "new.api.test", holdsServiceAddress: true, service: service("new") },
        },
      ],
      { afterRelease: async () => neu.close() },
    );
    await expect(move).rejects.toThrow(/the gateway identity move failed: .*; what it had changed was put back/);
    // The legacy gateway holds the address and the gateway's name again; the new server never took the address.
    expect(await readIdentity(legacy, service("legacy"))).toMatchObject({ holdsServiceAddress: true, hostName: p3.gateway.hostName });
    const pooled = await session("new");
    expect(await readIdentity(pooled, service("new"))).toMatchObject({ holdsServiceAddress: false });
    expect(await waitFor(banner, (b) => /220 mail\.api\.test ESMTP/.test(b), 10_000)).toMatch(/220 mail\.api\.test ESMTP/);
    // The new server had taken the gateway's name before it was lost: that is the next run's to undo.
    await applyIdentity(pooled, { hostName: "new.api.test", ownName: "new.api.test", holdsServiceAddress: false, service: service("new") });
  }, 60_000);

  it("drains the host giving the address up: a message in flight completes, a new one is refused at DATA, then the address moves", async () => {
    const legacy = await session("legacy");
    const neu = await session("new");
    const [toLegacy, toNew] = [
      {
        session: legacy,
        identity: { hostName: "mail.api.test", ownName: "legacy.api.test", holdsServiceAddress: true, service: service("legacy") },
      },
      {
        session: neu,
        identity: { hostName: "new.api.test", ownName: "new.api.test", holdsServiceAddress: false, service: service("new") },
      },
    ];
    await applyGatewayIdentity([toLegacy, toNew]);
    const inFlight = await SmtpDialogue.open(p3.gateway.address);
    const marker = newMarker();
    for (const c of ["EHLO operator.test", "MAIL FROM:<spyros@aegean.test>", "RCPT TO:<user2@api.test>", "DATA"]) await inFlight.command(c);
    await inFlight.write(`Subject: ${marker}\r\n\r\nfirst half\r\n`);

    let moved = false;
    const goLive = applyGatewayIdentity([
      { ...toLegacy, identity: { ...toLegacy.identity, hostName: "legacy.api.test", holdsServiceAddress: false } },
      { ...toNew, identity: { ...toNew.identity, hostName: "mail.api.test", holdsServiceAddress: true } },
    ]).then(() => (moved = true));
    await waitFor(
      () => readIdentity(legacy, service("legacy")),
      (i) => i.draining,
      10_000,
      50,
    );
    // While it drains, a new transaction to the address is refused before its message is sent.
    const late = await SmtpDialogue.open(p3.gateway.address);
    for (const c of ["EHLO late.test", "MAIL FROM:<spyros@aegean.test>", "RCPT TO:<user2@api.test>"]) await late.command(c);
    expect((await late.command("DATA")).lines.at(-1)).toMatch(/^421 4\.3\.2 .*moving to another server/);
    // A sender that opened a session during the drain and waits for a reply when the address goes.
    const waiting = await SmtpDialogue.open(p3.gateway.address);
    await waiting.command("EHLO waiting.test");
    expect(moved).toBe(false);

    expect((await inFlight.command(`${marker} second half\r\n.`)).code).toBe("250");
    await inFlight.command("QUIT");
    await goLive;
    expect(await readIdentity(neu, service("new"))).toMatchObject({ holdsServiceAddress: true, draining: false });
    expect(await readIdentity(legacy, service("legacy"))).toMatchObject({ holdsServiceAddress: false, draining: true });
    // Its session was reset before the address went: it ends, instead of waiting for a reply no
    // host can send any more (the sender's own timeout, minutes). It has sent nothing since EHLO.
    expect(
      await waitFor(
        async () => waiting.ended,
        (e) => e,
        5_000,
        50,
      ),
    ).toBe(true);
    const found = await waitFor(
      () => findInMailbox(legacy, "user2@api.test", marker),
      (f) => f.length > 0,
    );
    expect(found).toHaveLength(1);

    // Back: the legacy gateway takes the address and lets sessions through again.
    await applyGatewayIdentity([toLegacy, toNew]);
    expect(await readIdentity(legacy, service("legacy"))).toMatchObject({ holdsServiceAddress: true, draining: false });
  });

  it("never bounces mail between the systems as a loop, even while both greet with the gateway's name", async () => {
    const legacy = await session("legacy");
    const neu = await session("new");
    // The moment of a go-live: both hosts greet as the gateway; their own names stay apart.
    await applyIdentity(neu, { hostName: "mail.api.test", ownName: "new.api.test", holdsServiceAddress: false, service: service("new") });
    expect((await deliver("new", "user4@api.test", "user2@api.test", "legacy")).found).toHaveLength(1);
    expect((await deliver("legacy", "user1@api.test", "user5@api.test", "new")).found).toHaveLength(1);
    await applyIdentity(neu, { hostName: "new.api.test", ownName: "new.api.test", holdsServiceAddress: false, service: service("new") });
    expect((await readIdentity(legacy, service("legacy"))).ownName).not.toBe((await readIdentity(neu, service("new"))).ownName);
  });
});

describe("SSH helper", () => {
  it("refuses a host whose key is not the pinned one, naming host and both fingerprints", async () => {
    const wrong = { ...lab.target("legacy"), hostKey: lab.description.hosts.new!.hostKey };
    const error = await connect(wrong, { attempts: 1 }).catch((e) => e);
    expect(error).toBeInstanceOf(HostKeyMismatchError);
    expect(error.message).toContain("legacy (198.51.100.10:22)");
    expect(error.message).toContain(fingerprintOf(lab.description.hosts.legacy!.hostKey));
    expect(error.message).toContain(fingerprintOf(lab.description.hosts.new!.hostKey));
  });

  it.each(["rsa", "ecdsa", "ed25519"])("pins a %s host key on a server that offers all three, and refuses a changed one", async (type) => {
    const keyOf = (role: string) =>
      readFileSync(join(keysDir, `${role}_host_${type}.pub`), "utf8")
        .trim()
        .split(/\s+/)
        .slice(0, 2)
        .join(" ");
    const right = await connect({ ...lab.target("legacy"), hostKey: keyOf("legacy") }, { attempts: 1 });
    try {
      expect((await right.exec(["echo", "pinned"])).stdout.trim()).toBe("pinned");
    } finally {
      right.close();
    }
    const changed = await connect({ ...lab.target("legacy"), hostKey: keyOf("new") }, { attempts: 1 }).catch((e) => e);
    expect(changed).toBeInstanceOf(HostKeyMismatchError);
    expect(changed.message).toContain(fingerprintOf(keyOf("legacy")));
    expect(changed.message).toContain(fingerprintOf(keyOf("new")));
  });

  it("names the host it cannot reach after retrying", async () => {
    const nowhere = { ...lab.target("legacy"), address: "198.51.100.99" };
    await expect(connect(nowhere, { attempts: 2, timeoutMs: 1500 })).rejects.toThrow(
      /cannot reach legacy at 198\.51\.100\.99:22 over SSH after 2 attempts/,
    );
  });

  /** Runs `n` commands of 1 s at once on `s`; returns how many ran and how many overlapped at most. */
  async function overlap(s: HostSession, n: number): Promise<{ ran: number; most: number }> {
    const log = `/tmp/cutover-channels-${Date.now()}`;
    // Each command marks its start and its end in one file; the marks' order shows how many overlapped.
    await Promise.all(Array.from({ length: n }, () => s.exec(["sh", "-c", 'echo + >> "$1"; sleep 1; echo - >> "$1"', "sh", log])));
    const marks = (await s.exec(["cat", log])).stdout.trim().split("\n");
    await s.exec(["rm", "-f", log]);
    let now = 0;
    let most = 0;
    for (const m of marks) {
      now += m === "+" ? 1 : -1;
      most = Math.max(most, now);
    }
    return { ran: marks.filter((m) => m === "+").length, most };
  }

  it("runs at most 5 commands at once on one connection (a stock sshd refuses the 11th session, and frees one late), and every one of them", async () => {
    expect(await overlap(await session("internet"), 20)).toEqual({ ran: 20, most: 5 });
  });

  it("runs every command on a host whose sshd allows 2 sessions per connection, 2 at once once the host refused a third", async () => {
    // A second sshd on the outside host: Debian's stock configuration, but MaxSessions 2.
    const second = await secondSshd("internet", ["MaxSessions 2"]);
    try {
      expect(await overlap(second.session, 6)).toEqual({ ran: 6, most: 2 });
    } finally {
      second.stop();
    }
  });

  it("passes arguments to the host exactly, whatever they contain", async () => {
    const s = await session("legacy");
    const tricky = ["a b", "it's", "$(touch /tmp/pwned)", "; rm -rf /", '"q"', "*"];
    const { stdout } = await s.exec(["printf", "%s\\n", ...tricky]);
    expect(stdout.split("\n").slice(0, -1)).toEqual(tricky);
  });
});
