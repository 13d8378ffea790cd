import { describe, expect, it } from "vitest";
import {
  addressCommands,
  DRAIN_DIR,
  DRAIN_POLICY_FILE,
  drainPolicyCommands,
  drainPolicyRemovalCommands,
  type HostIdentity,
  type LiveIdentity,
  nameCommands,
  persistedDifferences,
  persistenceCommands,
  sessionPorts,
  unpersistable,
} from "../../src/remote/effects/identity";
import { mainCfEdit, POSTFIX_RELOAD } from "../../src/remote/effects/routing";
import type { HostSession } from "../../src/remote/ssh";

const service = { address: "198.51.100.25", prefixLength: 24, interface: "eth0" };
const live = (over: Partial<LiveIdentity> = {}): LiveIdentity => ({
  hostName: "legacy.api.test",
  banner: "legacy.api.test ESMTP",
  ownName: "legacy.api.test",
  kernelHostName: "legacy.api.test",
  holdsServiceAddress: false,
  drainPolicy: true,
  draining: false,
  closedToNewSessions: false,
  dataRestrictions: "",
  persisted: { stack: "ifupdown", detail: "ifupdown: /etc/network/interfaces", address: false, hostnameFile: "legacy.api.test" },
  heloName: "",
  ...over,
});
const want = (holds: boolean, hostName = "legacy.api.test"): HostIdentity => ({
  hostName,
  ownName: "legacy.api.test",
  holdsServiceAddress: holds,
  service,
});
const verbs = (commands: string[][]) => commands.map((c) => (c[0] === "sh" ? `sh ${c[2].split(/\s/)[0]}` : c.slice(0, 3).join(" ")));

describe("moving the service address", () => {
  it.each<[string, LiveIdentity, HostIdentity, string[]]>([
    [
      "taking it: let sessions through, add the address, announce it by gratuitous ARP",
      live(),
      want(true),
      ["sh {", "ip addr add", "sh setsid"],
    ],
    [
      "giving it up: drain first, then reset the sessions left and remove it",
      live({ holdsServiceAddress: true }),
      want(false),
      ["sh a=$1;", "sh for"],
    ],
    [
      "holding it while still marked draining: let sessions through again",
      live({ holdsServiceAddress: true, draining: true }),
      want(true),
      ["sh {"],
    ],
    [
      "holding it, closed to new sessions by a release cut in the middle: open it again",
      live({ holdsServiceAddress: true, closedToNewSessions: true }),
      want(true),
      ["sh {"],
    ],
    ["already right: nothing", live({ holdsServiceAddress: true }), want(true), []],
  ])("%s", (_what, now, id, expected) => {
    expect(verbs(addressCommands(now, id))).toEqual(expected);
  });

  it("with an Elastic IP, opens the host's own address where a drain closed it, and only there", () => {
    const own = {
      hostName: "legacy.api.test",
      ownName: "legacy.api.test",
      holdsServiceAddress: false,
      service: { address: "10.0.0.5", prefixLength: 32 },
    };
    expect(verbs(addressCommands(live({ closedToNewSessions: true }), own))).toEqual(["sh {"]);
    expect(verbs(addressCommands(live({ draining: true }), own))).toEqual(["sh {"]);
    expect(addressCommands(live(), own)).toEqual([]);
  });

  it("passes the address and interface as arguments, never inside the shell text", () => {
    const [, add, arp] = addressCommands(live(), want(true));
    expect(add).toEqual(["ip", "addr", "add", "198.51.100.25/24", "dev", "eth0"]);
    expect(arp.slice(-2)).toEqual(["eth0", "198.51.100.25"]);
    expect(arp[2]).not.toContain("198.51.100.25");
    const [, release] = addressCommands(live({ holdsServiceAddress: true }), want(false));
    expect(release.slice(-3)).toEqual(["198.51.100.25", "24", "eth0"]);
    expect(release[2]).not.toContain("198.51.100.25");
  });

  it("gives it up closed to new sessions: the port closed before the reset, opened again after the removal", () => {
    const [, release] = addressCommands(live({ holdsServiceAddress: true }), want(false));
    const order = ["nft -f -", "ss -K", 'ip addr del "$1/$2" dev "$3"; rc=$?', "nft delete table", "exit $rc"].map((step) =>
      release[2].indexOf(step),
    );
    expect(order.every((at, i) => at >= 0 && (i === 0 || at > order[i - 1]))).toBe(true);
    // The taker opens a port a release cut in the middle left closed, before it adds the address.
    const [open] = addressCommands(live(), want(true));
    expect(open[2]).toMatch(
      /^\{ \[ ! -e \/etc\/postfix\/cutover-drain\/closed-to-new-sessions \] \|\| .*nft delete table ip cutover_release/,
    );
  });

  it("drains, closes and resets the gateway's other services' sessions with port 25's (gateway.services)", () => {
    const withServices = { ...want(false), service: { ...service, ports: [587, 993] } };
    const [drain, release] = addressCommands(live({ holdsServiceAddress: true }), withServices);
    // The drain waits on what smtpd serves (25, submission); mail reading is reset, not waited for.
    expect(drain[2]).toContain('"( ( sport = :25 or sport = :587 ) and src $a )"');
    expect(release[2]).toContain("tcp dport { 25, 587, 993 } tcp flags");
    expect(release[2]).toContain('ss -K -Htn state connected "( ( sport = :25 or sport = :587 or sport = :993 ) and src $1 )"');
    // Without services, port 25 alone, as before.
    const [, plain] = addressCommands(live({ holdsServiceAddress: true }), want(false));
    expect(plain[2]).toContain("tcp dport 25 tcp flags");
    expect(sessionPorts({ ports: [25, 587] })).toEqual([25, 587]);
    // Ports are written into shell and nft text: anything but a port number is refused.
    expect(() => sessionPorts({ ports: ["25; reboot" as unknown as number] })).toThrow(/"25; reboot" is not a TCP port/);
    expect(() => sessionPorts({ ports: [70_000] })).toThrow(/70000 is not a TCP port/);
  });
});

describe("names", () => {
  it("sets the greeting and kernel name, never myhostname to the gateway's name", () => {
    const commands = nameCommands(live(), want(true, "mail.api.test"));
    expect(commands).toContainEqual(["hostname", "mail.api.test"]);
    expect(commands).toContainEqual(mainCfEdit(["-e", "smtpd_banner=mail.api.test ESMTP"]));
    expect(commands.flat().some((a) => a.startsWith("myhostname="))).toBe(false);
  });

  it("changes nothing when the host is already named so", () => {
    expect(nameCommands(live(), want(false))).toEqual([]);
  });

  it("keeps the name the host says in HELO when its myhostname changes, and gives smtp_helo_name back as it was", () => {
    // mx1.example.com said HELO mx1.example.com ($myhostname): it still does once myhostname is legacy.api.test.
    const renamed = nameCommands(live({ ownName: "mx1.example.com" }), want(false));
    expect(renamed).toContainEqual(mainCfEdit(["-e", "myhostname=legacy.api.test", "smtp_helo_name=mx1.example.com"]));
    // A host with a HELO name of its own keeps it untouched.
    expect(nameCommands(live({ ownName: "mx1.example.com", heloName: "out.example.com" }), want(false))).toContainEqual(
      mainCfEdit(["-e", "myhostname=legacy.api.test"]),
    );
    // Restored: unset again (postconf -X), or the value it had.
    const restoreUnset = nameCommands(live({ heloName: "mx1.example.com" }), { ...want(false), heloName: "" });
    expect(restoreUnset).toEqual([mainCfEdit(["-X", "smtp_helo_name"]), POSTFIX_RELOAD]);
    expect(nameCommands(live({ heloName: "mx1.example.com" }), { ...want(false), heloName: "out.example.com" })).toEqual([
      mainCfEdit(["-e", "smtp_helo_name=out.example.com"]),
      POSTFIX_RELOAD,
    ]);
    expect(nameCommands(live({ heloName: "out.example.com" }), { ...want(false), heloName: "out.example.com" })).toEqual([]);
  });
});

describe("the drain policy", () => {
  it("goes in before the host's own DATA restrictions, which are kept", () => {
    const commands = drainPolicyCommands(live({ drainPolicy: false, dataRestrictions: "reject_unauth_pipelining, permit" }));
    expect(commands[0].slice(-2)[0]).toBe(DRAIN_POLICY_FILE);
    expect(commands).toContainEqual(
      mainCfEdit(["-e", "smtpd_data_restrictions=check_policy_service unix:private/cutover-drain, reject_unauth_pipelining permit"]),
    );
  });

  it("is not installed twice", () => {
    expect(drainPolicyCommands(live())).toEqual([]);
  });

  it("leaves postfix's configuration before its directory goes: the reload first, then the policy program removed", () => {
    const commands = drainPolicyRemovalCommands("reject_unauth_pipelining");
    const reload = commands.findIndex((c) => JSON.stringify(c) === JSON.stringify(POSTFIX_RELOAD));
    const removal = commands.findIndex((c) => c.includes(DRAIN_DIR));
    expect(reload).toBeGreaterThanOrEqual(0);
    expect(removal).toBeGreaterThan(reload);
  });
});

describe("making the identity last across a reboot", () => {
  const persisted = (address: boolean, hostnameFile = "legacy.api.test") => ({
    persisted: { stack: "ifupdown" as const, detail: "ifupdown: /etc/network/interfaces", address, hostnameFile },
  });
  const ops = (commands: string[][]) =>
    commands.map((c) => (c[2].includes("persist)") ? `address ${c[4]}` : `hostname ${c[4]} -> ${c[5]}`));
  it("the taker writes the address and the gateway's name; the releaser takes the address out and its own name back", () => {
    expect(
      ops(persistenceCommands(live({ kernelHostName: "new.api.test", ...persisted(false, "new.api.test") }), want(true, "mail.api.test"))),
    ).toEqual(["address persist", "hostname new.api.test -> mail.api.test"]);
    expect(
      ops(
        persistenceCommands(live({ kernelHostName: "mail.api.test", holdsServiceAddress: true, ...persisted(true, "mail.api.test") }), {
          ...want(false),
          kernelHostName: "legacy.api.test",
        }),
      ),
    ).toEqual(["address release", "hostname mail.api.test -> legacy.api.test"]);
  });

  it("writes nothing where the host's configuration already holds what it runs", () => {
    expect(persistenceCommands(live({ holdsServiceAddress: true, ...persisted(true) }), want(true))).toEqual([]);
    // An Elastic IP's address is the cloud's: only the name is the host's to keep.
    expect(
      persistenceCommands(live(persisted(false, "other")), { ...want(true), service: { address: "10.0.0.5", prefixLength: 32 } }).length,
    ).toBe(1);
  });

  it("names how the running host and its configuration differ", () => {
    expect(persistedDifferences(live({ holdsServiceAddress: true, ...persisted(false, "legacy.api.test") }), true)).toEqual([
      "its network configuration (ifupdown: /etc/network/interfaces) does not bring up the service address at boot",
    ]);
    expect(persistedDifferences(live(persisted(false, "old.api.test")), undefined)).toEqual([
      "/etc/hostname says old.api.test, the kernel legacy.api.test",
    ]);
    expect(persistedDifferences(live(persisted(false)), false)).toEqual([]);
  });

  it("refuses a go-live onto a host whose network stack it cannot write, naming what it saw and what it writes", () => {
    const s = { target: { name: "new", address: "198.51.100.20" } } as Pick<HostSession, "target">;
    expect(unpersistable(s, live(persisted(true)))).toBeUndefined();
    expect(
      unpersistable(
        s,
        live({
          persisted: {
            stack: "unknown",
            detail: "no netplan, NetworkManager, systemd-networkd or ifupdown configuration for eth0",
            address: false,
            hostnameFile: "",
          },
        }),
      ),
    ).toMatch(
      /^the network configuration of new \(198\.51\.100\.20\) is not one cutover can write the service address to \(no netplan.*\): a reboot would undo the go-live there/,
    );
  });
});
