/**
 * Host identity: the name a host greets SMTP clients with, and whether it carries the gateway's
 * service address. The go-live moves both from the legacy gateway to the new server; rollback moves
 * them back.
 */
import { CutoverError } from "../../model/errors";
import { refuseControl } from "../../model/text";
import { detached, execSequence, type HostSession, sectionMarker, sections } from "../ssh";
import { type PersistedIdentity, parsePersisted, persistenceCommand, persistHostNameCommand } from "./persistence";
import { mainCfEdit, mainCfSetting, POSTFIX_RELOAD } from "./routing";

export interface ServiceAddress {
  address: string;
  prefixLength: number;
  /**
   * Interface that carries it. None with an Elastic IP: the address is the cloud's, mapped to the
   * host's own private address, so `address` is that private address, drained and let through
   * again around the association's move; nothing is added to or removed from an interface.
   */
  interface?: string;
  /**
   * The ports the gateway offers on the address beyond 25 (gateway.services: submission, mail
   * reading): a release drains, closes and resets their sessions as it does port 25's.
   */
  ports?: number[];
}

/**
 * The TCP ports whose sessions move with the address: 25 and the gateway's other services, each
 * checked to be a port number (they are written into shell and nft text). Pure.
 */
export function sessionPorts(service: Pick<ServiceAddress, "ports">): number[] {
  const ports = [...new Set([25, ...(service.ports ?? [])])];
  for (const p of ports) if (!Number.isInteger(p) || p < 1 || p > 65_535) throw new CutoverError(`${JSON.stringify(p)} is not a TCP port`);
  return ports;
}

/** The ports of `ports` that smtpd serves (25, submission 587, smtps 465): those the drain waits on. */
const smtpPorts = (ports: number[]) => ports.filter((p) => [25, 465, 587].includes(p));

/** An ss filter for sessions on any of `ports` at the address in shell variable `address`. Pure. */
const sessionsAt = (ports: number[], address = "$1") => `"( ( ${ports.map((p) => `sport = :${p}`).join(" or ")} ) and src ${address} )"`;

export interface HostIdentity {
  /** The name the host presents: its SMTP greeting and kernel host name (the gateway's, when it holds it). */
  hostName: string;
  /**
   * postfix myhostname: the host's own name, never shared. Postfix bounces mail to a server that
   * greets with its own myhostname ("loops back to myself"), so two hosts must never have the same
   * one, not even for the moment of a go-live; the gateway's name lives in the greeting instead.
   */
  ownName: string;
  /** Present on the host that holds the gateway identity. */
  holdsServiceAddress: boolean;
  service: ServiceAddress;
  /** Restoring a host as it was: the exact smtpd_banner and kernel name to put back. */
  banner?: string;
  kernelHostName?: string;
  /** Restoring a host as it was: smtp_helo_name as main.cf had it set ("": not set, HELO followed myhostname). */
  heloName?: string;
}

export interface LiveIdentity {
  /** The name in the SMTP greeting. */
  hostName: string;
  /** smtpd_banner as main.cf has it. */
  banner: string;
  ownName: string;
  kernelHostName: string;
  holdsServiceAddress: boolean;
  /** Whether postfix asks the drain policy before DATA (see DRAIN_POLICY). */
  drainPolicy: boolean;
  /** Whether sessions to the service address are being turned away (the host is giving it up). */
  draining: boolean;
  /**
   * Whether a release guard (closeToNewSessions) drops new SMTP connections to the service
   * address: one left by a release cut between closing the port and opening it again keeps every new
   * sender out while the host holds the address.
   */
  closedToNewSessions: boolean;
  /** smtpd_data_restrictions as main.cf has it. */
  dataRestrictions: string;
  /** What the host's own configuration brings back at its next boot (persistence.ts). */
  persisted: PersistedIdentity;
  /** smtp_helo_name as main.cf sets it, "" when it does not (the host says $myhostname in HELO). */
  heloName: string;
}

/** Where the drain policy lives, and the file that switches it on for the addresses it lists. */
export const DRAIN_DIR = "/etc/postfix/cutover-drain";
export const DRAIN_POLICY_FILE = `${DRAIN_DIR}/policy`;
export const DRAIN_FLAG_FILE = `${DRAIN_DIR}/draining`;
export const DRAIN_SERVICE = "cutover-drain";
const DRAIN_RESTRICTION = `check_policy_service unix:private/${DRAIN_SERVICE}`;

/**
 * A postfix policy service (SMTPD_POLICY_README) asked at the DATA command of every transaction:
 * while the flag file lists the session's server address, it answers 421, and smtpd sends that and
 * disconnects. A transaction is thus refused before its message is sent, never cut between the
 * end of DATA and the reply (RFC 1047's duplicate), and the sender retries at the new server.
 */
export const DRAIN_POLICY = `#!/bin/sh
# cutover: while ${DRAIN_FLAG_FILE} lists this session's server address, refuse DATA with 421.
while :; do
  addr=
  while IFS= read -r line || exit 0; do
    [ -z "$line" ] && break
    case "$line" in server_address=*) addr=\${line#server_address=} ;; esac
  done
  if [ -n "$addr" ] && grep -qxF -- "$addr" ${DRAIN_FLAG_FILE} 2>/dev/null; then
    printf 'action=421 4.3.2 This address is moving to another server: try again in a moment\n\n'
  else
    printf 'action=DUNNO\n\n'
  fi
done
`;

/** How long a host giving up the address waits for its sessions to end, at most. */
export const DRAIN_TIMEOUT_SECONDS = 10;

/** What the identity read's ip command prints when it fails, before its exit code. */
const IP_FAILED = "cutover-ip-failed:";

export async function readIdentity(s: HostSession, service: ServiceAddress): Promise<LiveIdentity> {
  const { stdout } = await execSequence(
    s,
    [
      ["postconf", "-h", "smtpd_banner"],
      sectionMarker,
      ["postconf", "-xh", "smtpd_banner"],
      sectionMarker,
      ["postconf", "-h", "myhostname"],
      sectionMarker,
      ["hostname"],
      sectionMarker,
      // An ip that fails (no such interface) is an error, never "the address is not here".
      service.interface ? ["sh", "-c", `ip -o -4 addr show dev "$1" 2>&1 || echo "${IP_FAILED} $?"`, "sh", service.interface] : ["true"],
      sectionMarker,
      ["postconf", "-h", "smtpd_data_restrictions"],
      sectionMarker,
      ["postconf", "-M", `${DRAIN_SERVICE}/unix`],
      sectionMarker,
      ["cat", DRAIN_POLICY_FILE],
      sectionMarker,
      ["cat", DRAIN_FLAG_FILE],
      sectionMarker,
      // The table is looked for only where the mark says a release may have left it (as OPEN_TO_NEW_SESSIONS does).
      ["sh", "-c", `[ -e ${RELEASE_GUARD_MARK} ] && nft list table ip ${RELEASE_GUARD}`],
      sectionMarker,
      persistenceCommand("read", service.interface ?? "", service.address, service.prefixLength),
      sectionMarker,
      ["sh", "-c", "postconf -nh smtp_helo_name 2>/dev/null || true"],
    ],
    { continueOnError: true },
  );
  const [banner, expanded, own, kernel, addrs, dataRestrictions, drainService, policy, flag, guard, persisted, helo] = sections(stdout).map(
    (x) => (x ?? "").trim(),
  );
  if (addrs.includes(IP_FAILED))
    throw new Error(`reading the addresses of ${service.interface} failed: ${addrs.replace(IP_FAILED, "ip exited").replace(/\s+/g, " ")}`);
  return {
    hostName: expanded.split(/\s+/)[0] ?? "",
    banner,
    ownName: own,
    kernelHostName: kernel,
    holdsServiceAddress: addrs.split("\n").some((l) => l.includes(` ${service.address}/`)),
    drainPolicy: dataRestrictions.includes(DRAIN_RESTRICTION) && drainService.startsWith(DRAIN_SERVICE) && policy === DRAIN_POLICY.trim(),
    draining: flag.split("\n").includes(service.address),
    closedToNewSessions: guard.includes(`ip daddr ${service.address} tcp dport `),
    dataRestrictions,
    persisted: parsePersisted(persisted),
    heloName: helo,
  };
}

/**
 * What makes the host come back from a reboot as the identity has it now: the service address
 * written to its network configuration on the holder and taken out of it elsewhere (an interface's
 * address only: an Elastic IP is the cloud's), and its kernel name to /etc/hostname. Pure.
 */
export function persistenceCommands(live: LiveIdentity, id: HostIdentity): string[][] {
  const { address, prefixLength, interface: dev } = id.service;
  const kernel = id.kernelHostName ?? id.hostName;
  return [
    ...(dev && id.holdsServiceAddress !== live.persisted.address
      ? [persistenceCommand(id.holdsServiceAddress ? "persist" : "release", dev, address, prefixLength)]
      : []),
    ...(live.persisted.hostnameFile !== kernel
      ? [persistHostNameCommand(live.persisted.hostnameFile || live.kernelHostName, refuseControl("the host name", kernel))]
      : []),
  ];
}

/** How a host's persisted configuration differs from what it runs with, one phrase each; empty when they agree. Pure. */
export function persistedDifferences(live: LiveIdentity, holdsAddress: boolean | undefined): string[] {
  const p = live.persisted;
  return [
    ...(holdsAddress !== undefined && p.address !== holdsAddress
      ? [`its network configuration (${p.detail || p.stack}) ${p.address ? "brings up" : "does not bring up"} the service address at boot`]
      : []),
    ...(p.hostnameFile !== live.kernelHostName
      ? [`/etc/hostname says ${p.hostnameFile || "nothing"}, the kernel ${live.kernelHostName}`]
      : []),
  ];
}

/** Installs the drain policy where it is missing, keeping the host's own DATA restrictions after it. Pure. */
export function drainPolicyCommands(live: LiveIdentity): string[][] {
  if (live.drainPolicy) return [];
  const rest = live.dataRestrictions
    .split(/[\s,]+/)
    .filter(Boolean)
    .join(" ")
    .replace(DRAIN_RESTRICTION, "")
    .trim();
  return [
    [
      "sh",
      "-c",
      'mkdir -p "$(dirname "$1")" && printf "%s" "$2" > "$1.tmp" && chmod 755 "$1.tmp" && mv "$1.tmp" "$1"',
      "sh",
      DRAIN_POLICY_FILE,
      DRAIN_POLICY,
    ],
    ["postconf", "-M", `${DRAIN_SERVICE}/unix=${DRAIN_SERVICE} unix - n n - 0 spawn user=nobody argv=${DRAIN_POLICY_FILE}`],
    mainCfEdit(["-e", mainCfSetting("smtpd_data_restrictions", [DRAIN_RESTRICTION, rest].filter(Boolean).join(", "))]),
    POSTFIX_RELOAD,
  ];
}

/** Takes the drain policy out again and puts the host's own DATA restrictions back (delete). Pure. */
export function drainPolicyRemovalCommands(dataRestrictions: string): string[][] {
  return [
    ["postconf", "-MX", `${DRAIN_SERVICE}/unix`],
    dataRestrictions
      ? mainCfEdit(["-e", mainCfSetting("smtpd_data_restrictions", dataRestrictions)])
      : mainCfEdit(["-X", "smtpd_data_restrictions"]),
    // The reload first: until it has taken effect a session may still ask the policy, and a missing
    // policy program answers DATA with a temporary failure (451) instead of letting it through.
    POSTFIX_RELOAD,
    // A release guard a cut release left (closeToNewSessions) goes with the drain's directory, its mark in it.
    ["sh", "-c", `${OPEN_TO_NEW_SESSIONS}; rm -rf "$1"`, "sh", DRAIN_DIR],
  ];
}

/**
 * Turns sessions to the service address away at their next DATA, then waits until every session
 * that was open when it did so has ended (at most DRAIN_TIMEOUT_SECONDS: a sender's idle cached
 * connection ends within seconds). Only those can be inside a transaction past DATA; a session
 * opened later is refused at DATA, so cutting it loses and duplicates nothing. Waiting for no
 * session at all never ends on a busy gateway: senders reconnect all the time, and with STARTTLS
 * each session lasts long enough that some always overlap (measured on the stock lab: the drain
 * ran into its 10 s limit at 25 messages a second).
 */
export const drainCommand = (address: string, ports: number[] = [25]): string[] => [
  "sh",
  "-c",
  [
    'a=$1; f=$2; grep -qxF -- "$a" "$f" 2>/dev/null || printf "%s\\n" "$a" >> "$f"',
    `peers() { ss -Htn state established ${sessionsAt(smtpPorts(sessionPorts({ ports })), "$a")} | awk '{print $4}'; }`,
    // Bounded by the clock, not by a count of rounds: on a loaded host a round takes far longer than its sleep.
    "left=$(peers); end=$(( $(date +%s) + $3 ))",
    'while [ -n "$left" ] && [ "$(date +%s)" -lt "$end" ]; do sleep 0.1; now=" $(peers | tr \'\\n\' \' \') "; still=; for p in $left; do case "$now" in *" $p "*) still="$still $p" ;; esac; done; left=$still; done',
  ].join("\n"),
  "sh",
  address,
  DRAIN_FLAG_FILE,
  String(DRAIN_TIMEOUT_SECONDS),
];

/**
 * Lets sessions to the service address through again (on the host taking it), a release guard
 * (closeToNewSessions) left behind by a release cut in the middle included.
 */
export const undrainCommand = (address: string): string[] => [
  "sh",
  "-c",
  `${OPEN_TO_NEW_SESSIONS}; [ -f "$2" ] || exit 0; grep -vxF -- "$1" "$2" > "$2.tmp"; mv "$2.tmp" "$2"`,
  "sh",
  address,
  DRAIN_FLAG_FILE,
];

/**
 * The commands that add the service address (announced by gratuitous ARP, so neighbours stop
 * sending to the old holder at once instead of when their ARP entry expires: 47 s in the lab,
 * hours on real routers) or remove it. Pure.
 */
export function addressCommands(live: LiveIdentity, id: HostIdentity): string[][] {
  const { address, prefixLength, interface: dev } = id.service;
  if (dev && id.holdsServiceAddress && !live.holdsServiceAddress)
    return [
      undrainCommand(address),
      ["ip", "addr", "add", `${address}/${prefixLength}`, "dev", dev],
      detached(`setsid -f ${ANNOUNCE}`, dev, address),
    ];
  // Sessions let through, and the port opened, where a drain or a cut release left them turned away
  // (with an Elastic IP, after the move, on every host's own address).
  if (takesSessions(id) && (live.draining || live.closedToNewSessions)) return [undrainCommand(address)];
  // Drained first, so that no session is cut mid-transaction when the address goes.
  if (dev && !id.holdsServiceAddress && live.holdsServiceAddress)
    return [drainCommand(address, sessionPorts(id.service)), releaseCommand(address, prefixLength, dev, sessionPorts(id.service))];
  return [];
}

/**
 * Whether a host is to take SMTP sessions on the address its identity names: the holder of the
 * service address, or with an Elastic IP every host, on its own address. Pure.
 */
export const takesSessions = (id: Pick<HostIdentity, "holdsServiceAddress" | "service">): boolean =>
  id.holdsServiceAddress || !id.service.interface;

/**
 * Resets the SMTP sessions still open to the address. After a drain, those are sessions opened
 * during it, each refused at DATA, so none holds a message. Moving the address under them (removing
 * it here, or an Elastic IP's association) leaves each one silent: the host can no longer send from
 * the address, not even the reply it has written, and the sender waits for that reply until its own
 * timeout (Postfix: 120-300 s), one of its connections to the gateway taken for as long. Measured on
 * the lab at 25 messages a second: 20 sender sessions hung that way after a go-live, the sender's
 * whole concurrency for the gateway, and mail from outside stopped for over 45 s. Reset while the
 * address still works, each sender sees the session end at once and tries again (at the new
 * holder). `ss -K` needs the kernel's socket-destroy support (CONFIG_INET_DIAG_DESTROY, on in
 * Debian's kernels); without it nothing is reset and the address moves as before.
 */
const resetSessions = (ports: number[]) => `ss -K -Htn state connected ${sessionsAt(ports)} >/dev/null 2>&1`;

/** The gratuitous ARP a host taking the address sends: three announcements, a second apart ($1 the interface, $2 the address). */
const ANNOUNCE = 'arping -q -U -c 3 -I "$1" "$2"';

/**
 * Stops this host's announcement of address $1 on interface $3 if it is still going: a host that
 * gives the address up within 2 s of taking it (a rollback right after a go-live, an undone move)
 * would otherwise go on telling its neighbours the address is here, after it has gone; the next
 * holder's check for a host still claiming the address would see it too. Only processes in the
 * shell's own network namespace: a container's neighbour is another host.
 */
const STOP_ANNOUNCING =
  'for p in $(pgrep -x -f "arping -q -U -c 3 -I $3 $1"); do [ "$(readlink /proc/$p/ns/net)" = "$(readlink /proc/$$/ns/net)" ] && kill "$p"; done 2>/dev/null';

/**
 * The table of cutover's own that, for the few milliseconds of a release, drops new SMTP
 * connections to address $1 (a SYN without ACK to port 25; sessions already open are untouched):
 * between the reset of the sessions and the address's removal the host would otherwise still
 * accept one, and that session is stranded as resetSessions describes, the sender waiting for a
 * greeting the host can no longer send. Measured on the lab at 25 messages a second: a sender's
 * connection made 22 ms before the taker's announcement got its greeting 26 s later, when the
 * address came back, and in a ten-cycle run such sessions held the sender's mail to the gateway
 * for four minutes (Postfix's queue manager gives a destination it has throttled no more
 * connections than are busy). A dropped SYN is sent again after a second, to the taker. Needs
 * nftables (Debian installs it: priority important); without nft the release runs as before.
 * A mark beside the drain flag says the table may be there, so that a taker runs nft only then
 * (the shell's own test: nothing on the go-live's path when there is none).
 */
const RELEASE_GUARD = "cutover_release";
const RELEASE_GUARD_MARK = `${DRAIN_DIR}/closed-to-new-sessions`;
const closeToNewSessions = (ports: number[]) =>
  `{ true > ${RELEASE_GUARD_MARK}; } 2>/dev/null; command -v nft >/dev/null 2>&1 && printf 'table ip ${RELEASE_GUARD} { chain input { type filter hook input priority -300; policy accept; ip daddr %s tcp dport ${ports.length > 1 ? `{ ${ports.join(", ")} }` : ports[0]} tcp flags & (syn | ack) == syn drop; }; }\\n' "$1" | nft -f - 2>/dev/null`;
const OPEN_TO_NEW_SESSIONS = `{ [ ! -e ${RELEASE_GUARD_MARK} ] || { command -v nft >/dev/null 2>&1 && nft delete table ip ${RELEASE_GUARD} 2>/dev/null; rm -f ${RELEASE_GUARD_MARK}; }; }`;

/**
 * Closes the address to new SMTP sessions (closeToNewSessions), then resets the open ones
 * (resetSessions): what a release does before the address goes; it stays closed until the next
 * OPEN_TO_NEW_SESSIONS (undrainCommand).
 */
export const closeAndResetCommand = (address: string, ports: number[] = [25]): string[] => [
  "sh",
  "-c",
  `${closeToNewSessions(sessionPorts({ ports }))}; ${resetSessions(sessionPorts({ ports }))}`,
  "sh",
  address,
];

/**
 * Stops announcing the address, closes it to new sessions (closeToNewSessions), resets the
 * sessions left (see resetSessions), removes it and opens the port again, that last in the
 * background (an nft run, 10-20 ms, the taker need not wait for): one shell, a few milliseconds
 * apart. Its exit status is the removal's.
 */
export const releaseCommand = (address: string, prefixLength: number, dev: string, ports: number[] = [25]): string[] => [
  "sh",
  "-c",
  `${STOP_ANNOUNCING}; ${closeToNewSessions(sessionPorts({ ports }))}; ${resetSessions(sessionPorts({ ports }))}; ip addr del "$1/$2" dev "$3"; rc=$?; ${OPEN_TO_NEW_SESSIONS} </dev/null >/dev/null 2>&1 & exit $rc`,
  "sh",
  address,
  String(prefixLength),
  dev,
];

/**
 * The commands that set the greeting, postfix's own name and the kernel's host name; `background`
 * lets the reload finish after the command returns. Pure.
 */
export function nameCommands(live: LiveIdentity, id: HostIdentity, background = false): string[][] {
  const commands: string[][] = [];
  const kernel = id.kernelHostName ?? id.hostName;
  const banner = id.banner ?? `${id.hostName} ESMTP`;
  if (live.kernelHostName !== kernel) commands.push(["hostname", refuseControl("the host name", kernel)]);
  // The name the host says in HELO to every receiver stays its own: where myhostname changes and HELO
  // followed it, smtp_helo_name keeps the old name (receivers' reputation and forward-confirmed
  // reverse DNS are tied to it). A restore puts smtp_helo_name back as it was, unset included.
  const keepHelo = id.heloName === undefined && live.ownName !== id.ownName && live.heloName === "" && live.ownName !== "";
  const restoreHelo = id.heloName !== undefined && live.heloName !== id.heloName;
  const settings = [
    ...(live.banner !== banner ? [mainCfSetting("smtpd_banner", banner)] : []),
    ...(live.ownName !== id.ownName ? [mainCfSetting("myhostname", id.ownName)] : []),
    ...(keepHelo ? [mainCfSetting("smtp_helo_name", live.ownName)] : []),
    ...(restoreHelo && id.heloName ? [mainCfSetting("smtp_helo_name", id.heloName)] : []),
  ];
  if (settings.length) commands.push(mainCfEdit(["-e", ...settings]));
  if (restoreHelo && !id.heloName) commands.push(mainCfEdit(["-X", "smtp_helo_name"]));
  if (settings.length || restoreHelo) commands.push(background ? detached("setsid -f postfix reload") : POSTFIX_RELOAD);
  return commands;
}

export const identityCommands = (live: LiveIdentity, id: HostIdentity) => [
  ...drainPolicyCommands(live),
  ...addressCommands(live, id),
  ...nameCommands(live, id),
  ...persistenceCommands(live, id),
];

export interface GoLiveHooks {
  /** Called when the hosts giving the address up have released it, before the holder takes it. */
  afterRelease?: () => Promise<void>;
}

/**
 * Whether another host on the link still answers for the address, asked by ARP duplicate address
 * detection (iputils arping -D: exit 0 when no reply came in 2 s, 1 when one did): "free", "in use"
 * (with arping's words), or "could not check" (no arping, no such interface), which is never free.
 * A host announcing the address by gratuitous ARP in those 2 s ("Broadcast request from") claims it
 * as much as one answering.
 */
export async function addressOnLink(
  s: HostSession,
  address: string,
  dev: string,
): Promise<{ verdict: "free" | "in use" | "could not check"; detail: string }> {
  const r = await s.exec(["arping", "-D", "-c", "2", "-w", "2", "-I", dev, address], { allowFailure: true });
  const said = `${r.stdout}${r.stderr}`.trim().split("\n").filter(Boolean);
  if (r.code === 0) return { verdict: "free", detail: `no host answered ARP for ${address} on ${dev} in 2 s` };
  const claim = said.find((l) => /(reply|request) from/i.test(l));
  if (r.code === 1 && claim) return { verdict: "in use", detail: claim.trim() };
  return { verdict: "could not check", detail: `arping -D on ${dev} ended with exit ${r.code}${said.length ? `: ${said.at(-1)}` : ""}` };
}

/**
 * Why `taker` cannot take `address` from hosts left out of the move (declared down, or lost in the
 * middle of it), or undefined when it can: its postfix must serve (cannotServe), and no host may
 * still answer ARP for the address. Two hosts with one address would each get part of the mail and
 * the sessions; a host that answers ARP is not down. The phase command's guard and the identity
 * effect both ask this.
 */
export async function takeOverFault(
  taker: HostSession,
  address: string,
  dev: string,
  leftOut: string[],
  context: "declared down" | "lost mid-move" = "declared down",
): Promise<string | undefined> {
  // Side by side: the ARP question waits 2 s for an answer that should not come.
  const [fault, onLink] = await Promise.all([cannotServe(taker), addressOnLink(taker, address, dev)]);
  if (fault) return fault;
  const hosts = leftOut.join(", ");
  if (onLink.verdict === "in use")
    return context === "declared down"
      ? `${hosts} was declared down, but a host still answers ARP for ${address} (${onLink.detail}); power it off or take the address off its interface, or run the go-live without --legacy-down so that it is drained`
      : `${hosts} could not be read, and a host answers ARP for ${address} (${onLink.detail}), so it stays there; run the phase again once ${hosts} can be reached`;
  if (onLink.verdict === "could not check")
    return `whether a host still answers for ${address} could not be checked from ${taker.target.name} (${taker.target.address}) (${onLink.detail}); install iputils-arping there`;
  return undefined;
}

/**
 * What a host giving the address up lacks to close it to new sessions for its release
 * (closeToNewSessions runs nft): without, the release runs as before, and a sender that connects
 * in its last milliseconds waits for its own timeout before it tries again. A note for the operator,
 * not a refusal: nothing is lost.
 */
export async function releaseGuardMissing(s: HostSession): Promise<string | undefined> {
  const r = await s.exec(
    ["sh", "-c", 'command -v nft >/dev/null || { echo "nft: not installed" >&2; exit 127; }; nft list tables >/dev/null'],
    {
      allowFailure: true,
    },
  );
  if (r.code === 0) return undefined;
  const why = `${r.stderr}${r.stdout}`.trim().split("\n")[0] || `exit ${r.code}`;
  return `${s.target.name} (${s.target.address}) cannot close port 25 to new connections for its release (${why}): a sender that connects in the milliseconds before the address goes waits for its own timeout (Postfix: 2 to 5 minutes) before it tries the new holder; install nftables there (Debian: apt install nftables) to close that window`;
}

/** takeOverFault, thrown, before the identity effect moves anything. */
async function takeOverPreflight(
  taker: { session: HostSession; identity: HostIdentity },
  leftOut: string[],
  context: "declared down" | "lost mid-move" = "declared down",
): Promise<void> {
  const { address, interface: dev } = taker.identity.service;
  if (!dev) throw new CutoverError("a host declared down is skipped only by the readdress go-live (an address on an interface)");
  const fault = await takeOverFault(taker.session, address, dev, leftOut, context);
  if (fault)
    throw new CutoverError(
      `${context === "declared down" ? "the go-live was refused before anything changed" : `${taker.session.target.name} did not take the address back`}: ${fault}`,
    );
}

/**
 * Moves the gateway identity among hosts in the order that keeps the outage short and cuts no
 * session: the drain policy goes in where missing; the holder takes the gateway's name (its reload
 * takes a moment, and it still answers only on its own address then); the others drain their
 * sessions to the address and give it up; the holder takes it; and only then do the others take
 * their own names. Every step reads nothing it did not read first, so
 * running it again after an interruption finishes the move. `downHosts` names the hosts left out
 * because they are dead (the go-live with --legacy-down): the taker then checks first that no host
 * still answers for the address. Returns what each host had before.
 */
export async function applyGatewayIdentity(
  hosts: { session: HostSession; identity: HostIdentity }[],
  hooks: GoLiveHooks = {},
  downHosts: string[] = [],
): Promise<LiveIdentity[]> {
  const live = await Promise.all(hosts.map((h) => readIdentity(h.session, h.identity.service)));
  await goLivePreflight(hosts, live);
  // A host declared down is not among `hosts`: nothing releases the address, so the taker checks that no one holds it.
  const taker = hosts.find((h, i) => h.identity.holdsServiceAddress && !live[i].holdsServiceAddress && h.identity.service.interface);
  if (downHosts.length && taker) await takeOverPreflight(taker, downHosts);
  try {
    await runIdentitySteps(hosts, live, hooks);
  } catch (e) {
    const undo = await undoMove(hosts, live).then(
      () => "what it had changed was put back",
      (u: Error) => `putting back what it had changed failed too: ${u.message.split("\n")[0]}`,
    );
    throw new CutoverError(`the gateway identity move failed: ${(e as Error).message.split("\n")[0]}; ${undo}`);
  }
  return live;
}

/**
 * All or nothing: what a failed move had changed goes back, so the old holder serves as before, on
 * every host that can still be read. A host lost in the middle of the move (its SSH cut, say) is
 * left out, as one declared down is: the old holder takes the address back only once no host
 * answers ARP for it, so that if the lost host did take it, it keeps it. Measured on the lab, with
 * the SSH to the new server cut after the legacy gateway released the address: the address was
 * back on the legacy gateway about 3 s after the cut, where before mail waited for the phase to be
 * run again (about 20 s).
 */
async function undoMove(hosts: { session: HostSession; identity: HostIdentity }[], live: LiveIdentity[]): Promise<void> {
  const now = await Promise.allSettled(hosts.map((h) => readIdentity(h.session, h.identity.service)));
  const reachable = hosts.flatMap((h, i) => {
    const read = now[i];
    return read.status === "fulfilled" ? [{ session: h.session, identity: identityOf(live[i], h.identity), now: read.value }] : [];
  });
  const lost = hosts.filter((_, i) => now[i].status === "rejected").map((h) => h.session.target.name);
  if (!reachable.length) throw new CutoverError(`no host can be read: ${lost.join(", ")}`);
  const taker = reachable.find((h) => h.identity.holdsServiceAddress && !h.now.holdsServiceAddress && h.identity.service.interface);
  if (lost.length && taker) await takeOverPreflight(taker, lost, "lost mid-move");
  await runIdentitySteps(
    reachable,
    reachable.map((h) => h.now),
    {},
  );
}

/** A host's identity as it was read: what undoing a move puts back. Pure. */
const identityOf = (live: LiveIdentity, wanted: HostIdentity): HostIdentity => ({
  ...wanted,
  hostName: live.hostName,
  ownName: live.ownName,
  holdsServiceAddress: live.holdsServiceAddress,
  banner: live.banner,
  kernelHostName: live.kernelHostName,
});

/**
 * Why a host cannot take the gateway's address now, or undefined when it can: its postfix must run
 * (`postfix status`) and its configuration be valid (`postfix check`). Names the host, its address
 * and the fix.
 */
export async function cannotServe(s: HostSession): Promise<string | undefined> {
  const where = `${s.target.name} (${s.target.address})`;
  for (const [argv, fault, fix] of [
    [["postfix", "status"], "is not running", "start it (postfix start)"],
    [["postfix", "check"], "has a configuration error", "fix what postfix check reports"],
  ] as const) {
    const r = await s.exec([...argv], { allowFailure: true });
    if (r.code !== 0)
      return `postfix on ${where}, which is to take the gateway's address, ${fault} (${argv.join(" ")}: ${`${r.stderr}${r.stdout}`.trim().split("\n")[0] || `exit ${r.code}`}); ${fix}, then run the phase again`;
  }
  return undefined;
}

/**
 * Before a host takes the gateway's address from another, nothing is released unless the taking
 * host can serve (see cannotServe). SSH to every host was opened before this, so a host that
 * cannot be reached stops the move before it starts.
 */
async function goLivePreflight(hosts: { session: HostSession; identity: HostIdentity }[], live: LiveIdentity[]): Promise<void> {
  const moving = hosts.some((h, i) => live[i].holdsServiceAddress && !h.identity.holdsServiceAddress);
  const takers = hosts.filter((h, i) => h.identity.holdsServiceAddress && !live[i].holdsServiceAddress);
  if (!moving) return;
  hosts.forEach((h, i) => {
    const fault = h.identity.service.interface ? unpersistable(h.session, live[i]) : undefined;
    if (fault) throw new CutoverError(`the go-live was refused before anything changed: ${fault}`);
  });
  for (const t of takers) {
    const fault = await cannotServe(t.session);
    if (fault) throw new CutoverError(`the go-live was refused before anything changed: ${fault}`);
  }
}

/**
 * What a host taking the gateway's address over a link needs before anything moves, checked in one
 * round trip, each missing one a line naming the cause and the fix: arping (its gratuitous ARP
 * tells routers at once; without, they keep the old holder's MAC until their ARP entry expires),
 * postfix listening on every address (`inet_interfaces`), the address on no other interface, the
 * releasing host's own address answering ARP on the interface (the same link: an address cannot
 * move between links), and a firewall (nftables, iptables, ufw, firewalld) that admits port 25 and
 * the gateway's other services' ports. $1 the address, $2 the interface, $3 the releasing host's
 * own address (may be empty), $4 the ports.
 */
const TAKER_PREREQUISITES = String.raw`a=$1 dev=$2 rel=$3 ports=$4
command -v arping >/dev/null 2>&1 || echo "arping is not installed (Debian: apt install iputils-arping): without its gratuitous ARP, routers go on sending the gateway's mail to the old holder until their ARP entry expires (minutes to hours)"
ii=$(postconf -h inet_interfaces 2>/dev/null)
case " $(printf '%s' "$ii" | tr ',' ' ') " in *" all "*|*" $a "*) ;; *) echo "postfix listens on inet_interfaces = $ii only, not on $a: set inet_interfaces = all (postconf -e inet_interfaces=all, then postfix stop and start)" ;; esac
other=$(ip -o -4 addr show to "$a/32" 2>/dev/null | awk -v d="$dev" '$2 != d { print $2 }' | sort -u | tr '\n' ' ')
[ -z "$other" ] || echo "$a is already on $other: take it off there first"
if [ -n "$rel" ] && command -v arping >/dev/null 2>&1; then arping -q -c 2 -w 3 -I "$dev" "$rel" >/dev/null 2>&1 || echo "the releasing host's own address $rel does not answer ARP on $dev: it is not on this link, and the address cannot move between links"; fi
for p in $ports; do
case $p in 25) n=smtp u='Postfix|SMTP' ;; 587) n=submission u='Postfix Submission' ;; 465) n=submissions u='Postfix SMTPS' ;; 143) n=imap u='Dovecot IMAP' ;; 993) n=imaps u='Dovecot Secure IMAP' ;; 110) n=pop3 u='Dovecot POP3' ;; 995) n=pop3s u='Dovecot Secure POP3' ;; *) n=$p u=$p ;; esac
f=$n; [ "$p" != 465 ] || f=smtps
if command -v nft >/dev/null 2>&1 && nft list ruleset 2>/dev/null | grep -Eq 'hook input .*policy drop'; then nft list ruleset | grep -Eq "dport ($p|$n|\{[^}]*\b($p|$n)\b[^}]*\})[^;]* accept" || echo "nftables drops incoming connections by policy and no rule accepts tcp port $p: accept it (for $a at least)"; fi
if command -v iptables >/dev/null 2>&1 && iptables -S INPUT 2>/dev/null | grep -q '^-P INPUT DROP'; then iptables -S INPUT | grep -Eq -- "--dports? ([0-9,:]*,)?($p|$n)(,[0-9,:]*)?( |$).*-j ACCEPT" || echo "iptables drops incoming connections by policy and no rule accepts tcp port $p: add one (iptables -A INPUT -p tcp --dport $p -j ACCEPT)"; fi
if command -v ufw >/dev/null 2>&1 && ufw status 2>/dev/null | grep -q 'Status: active'; then ufw status | grep -Eq "^($p(/tcp)?|$u)[[:space:]]{2,}.*ALLOW" || echo "ufw is active and does not allow port $p: ufw allow $p/tcp"; fi
if command -v firewall-cmd >/dev/null 2>&1 && firewall-cmd --state >/dev/null 2>&1; then { firewall-cmd --list-services; firewall-cmd --list-ports; } | grep -Eqw "$f|$p/tcp" || echo "firewalld does not admit port $p: firewall-cmd --permanent --add-port=$p/tcp and firewall-cmd --reload"; fi
done
exit 0`;

/** What the taking host lacks to take the address (see TAKER_PREREQUISITES), one line each, naming the host. */
export async function takerMissing(s: HostSession, service: ServiceAddress, releaser?: string): Promise<string[]> {
  if (!service.interface) return [];
  const ports = sessionPorts(service).join(" ");
  const { stdout } = await s.exec(["sh", "-c", TAKER_PREREQUISITES, "sh", service.address, service.interface, releaser ?? "", ports], {
    timeoutMs: 20_000,
  });
  return linesOf(stdout).map((l) => `${s.target.name} (${s.target.address}), which is to take the gateway's address: ${l}`);
}

/** A check script's findings: its non-empty output lines. Pure. */
const linesOf = (stdout: string) =>
  stdout
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);

/**
 * Which of the gateway's services (inventory gateway.services) a host does not offer, one line each
 * with what is missing: submission needs postfix's submission service with SASL, smtps its
 * wrapper-mode service on 465, and mail reading a listener on its port. $@: the services.
 */
const SERVICE_GAPS = `for svc in "$@"; do
  case $svc in
  submission)
    if [ -z "$(postconf -M submission/inet 2>/dev/null)" ]; then echo "submission: postfix has no submission service (587) in master.cf"
    elif [ "$(postconf -h smtpd_sasl_auth_enable 2>/dev/null)" != yes ] && ! postconf -P 2>/dev/null | grep -q '^submission/inet/smtpd_sasl_auth_enable = yes$'; then echo "submission: the submission service (587) does not authenticate with SASL (smtpd_sasl_auth_enable = yes)"; fi ;;
  smtps) { postconf -M smtps/inet; postconf -M submissions/inet; } 2>/dev/null | grep -q . || echo "smtps: postfix has no smtps (465) service in master.cf" ;;
  *)
    case $svc in imap) p=143 ;; imaps) p=993 ;; pop3) p=110 ;; pop3s) p=995 ;; esac
    [ -n "$(ss -Hltn "( sport = :$p )" 2>/dev/null)" ] || echo "$svc: nothing listens on port $p" ;;
  esac
done`;

/** The gateway's services `s` does not offer, each naming the host and the gap. */
export async function serviceGaps(s: HostSession, services: readonly string[]): Promise<string[]> {
  if (!services.length) return [];
  const { stdout } = await s.exec(["sh", "-c", SERVICE_GAPS, "sh", ...services]);
  return linesOf(stdout).map(
    (l) =>
      `${s.target.name} (${s.target.address}), which is to take the gateway's name, does not offer what the gateway offers its clients (gateway.services): ${l}; set it up there first, or the clients that use it stop working at the go-live`,
  );
}

/**
 * Why the move could not be written to a host's network configuration (its stack not recognised),
 * naming the host, what was seen and the fix; undefined when it can. Pure over the read.
 */
export function unpersistable(s: Pick<HostSession, "target">, live: LiveIdentity): string | undefined {
  // A host giving the address up whose own stanza for it carries more (its default route, its DNS).
  if (live.holdsServiceAddress && live.persisted.problem)
    return `${s.target.name} (${s.target.address}) cannot give the service address up for good: ${live.persisted.problem}`;
  if (live.persisted.stack !== "unknown") return undefined;
  return `the network configuration of ${s.target.name} (${s.target.address}) is not one cutover can write the service address to (${live.persisted.detail}): a reboot would undo the go-live there; cutover writes netplan, NetworkManager, systemd-networkd and ifupdown configuration`;
}

/** The move itself, step by step (see applyGatewayIdentity). */
async function runIdentitySteps(
  hosts: { session: HostSession; identity: HostIdentity }[],
  live: LiveIdentity[],
  hooks: GoLiveHooks,
): Promise<void> {
  const steps: { session: HostSession; commands: string[][] }[][] = [[], [], [], [], [], []];
  hosts.forEach((h, i) => {
    // The hosts that give the gateway up rename last, when nothing waits on them any more.
    const [rename, move] = [nameCommands(live[i], h.identity, !h.identity.holdsServiceAddress), addressCommands(live[i], h.identity)];
    const [renameStep, moveStep] = h.identity.holdsServiceAddress ? [1, 3] : [4, 2];
    steps[0].push({ session: h.session, commands: drainPolicyCommands(live[i]) });
    steps[renameStep].push({ session: h.session, commands: rename });
    steps[moveStep].push({ session: h.session, commands: move });
    // Written to the hosts' own configuration once the move is done: nothing on its path waits for it.
    steps[5].push({ session: h.session, commands: persistenceCommands(live[i], h.identity) });
  });
  for (const [i, step] of steps.entries()) {
    if (i === 3 && steps[2].some((x) => x.commands.length)) await hooks.afterRelease?.();
    await Promise.all(step.filter((x) => x.commands.length).map((x) => execSequence(x.session, x.commands)));
  }
}

/**
 * Drains a host before the address it answers on moves away from it outside the host (an Elastic
 * IP's association): the drain policy goes in where missing, sessions to `address` are refused at
 * their next DATA, and this returns once none that was open when the drain began is left (at most
 * DRAIN_TIMEOUT_SECONDS), with the sessions opened since reset (resetSessions: the association
 * that follows would strand them) and the address closed to new ones (closeToNewSessions). The
 * identity that follows the move lets sessions through again and opens it.
 */
export async function drainHost(s: HostSession, address: string, ports: number[] = [25]): Promise<void> {
  const live = await readIdentity(s, { address, prefixLength: 32 });
  // Closed until the identity after the move opens it: the association's move takes seconds, and a
  // session opened meanwhile would be stranded by it.
  await execSequence(s, [...drainPolicyCommands(live), drainCommand(address, ports), closeAndResetCommand(address, ports)]);
}

/** Makes one host's identity what it should be, in one round trip after reading it. Returns whether anything changed. */
export async function applyIdentity(s: HostSession, id: HostIdentity): Promise<boolean> {
  const commands = identityCommands(await readIdentity(s, id.service), id);
  if (commands.length) await execSequence(s, commands);
  return commands.length > 0;
}
