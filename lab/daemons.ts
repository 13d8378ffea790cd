/**
 * The daemons of a lab host and their configuration: sshd, postfix, knot (the model Internet's
 * DNS) and dovecot (its POP3). Each lab-only setting says why it is there.
 */

import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { dsRecord } from "../src/checks/dnssec";
import { CutoverError } from "../src/model/errors";
import type { Inventory } from "../src/model/inventory";
import { run } from "../src/remote/local";
import { etcDir, hostDir, keysDir, LAB_DIR, type LabDescription, MAIL_UID, type PlannedLabHost } from "./layout";
import { stsTransportSettings } from "./mta-sts";
import { inNamespace, startDaemon } from "./namespaces";

/**
 * The host's own network configuration, as Debian's ifupdown reads it at boot (lab/namespaces.ts,
 * bootNetwork): its address, and on the legacy gateway the gateway's service address as a second
 * stanza, as a real gateway has it in its static configuration. Debian's stock /etc/network (its
 * hook directories, postfix's if-up hook among them) is copied beside it.
 */
function writeNetwork(etc: string, h: PlannedLabHost, prefixLength: number, serviceAddress?: string): void {
  const network = join(etc, "network");
  cpSync("/etc/network", network, { recursive: true, verbatimSymlinks: true });
  rmSync(join(network, "interfaces.d"), { recursive: true, force: true });
  mkdirSync(join(network, "interfaces.d"), { recursive: true });
  writeFileSync(
    join(network, "interfaces"),
    [
      "# This file describes the network interfaces available on your system",
      "# and how to activate them. For more information, see interfaces(5).",
      "",
      "source /etc/network/interfaces.d/*",
      "",
      "# The loopback network interface",
      "auto lo",
      "iface lo inet loopback",
      "",
      "# The primary network interface",
      `auto ${h.interface}`,
      `iface ${h.interface} inet static`,
      `    address ${h.address}/${prefixLength}`,
      ...(serviceAddress
        ? ["", "# The mail gateway's service address", `iface ${h.interface} inet static`, `    address ${serviceAddress}/${prefixLength}`]
        : []),
      "",
    ].join("\n"),
  );
}

/** Files that `ip netns exec` mounts over /etc for this host's processes only (lab-notes 5, 9). */
export function writeEtc(h: PlannedLabHost, dnsAddress: string, network: { prefixLength: number; serviceAddress: string }): void {
  const etc = etcDir(h.namespace);
  mkdirSync(etc, { recursive: true });
  writeNetwork(etc, h, network.prefixLength, h.role === "legacy" ? network.serviceAddress : undefined);
  // The outside host asks its own validating resolver, and trusts its AD bit (glibc drops it otherwise).
  writeFileSync(
    join(etc, "resolv.conf"),
    h.role === "internet"
      ? `nameserver ${RESOLVER_ADDRESS}\noptions trust-ad timeout:1 attempts:2\n`
      : `nameserver ${dnsAddress}\noptions timeout:1 attempts:2\n`,
  );
  writeFileSync(join(etc, "hosts"), `127.0.0.1 localhost\n${h.address} ${h.role.toLowerCase()}.lab.invalid\n`);
  writeFileSync(join(etc, "hostname"), `${h.role.toLowerCase()}.lab.invalid\n`);
  const postfix = join(etc, "postfix");
  mkdirSync(postfix, { recursive: true });
  for (const f of readdirSync("/etc/postfix"))
    if (!f.startsWith("main.cf")) cpSync(join("/etc/postfix", f), join(postfix, f), { recursive: true, verbatimSymlinks: true });
}

/** The office subnet in the legacy gateway's own mynetworks, and the office client in it (lab/office.ts). */
export const OFFICE_SUBNET = "198.51.100.64/28";
/** A partner with no MX of its own, reached by the legacy gateway's own transport entry (the model Internet hosts it). */
export const PARTNER_DOMAIN = "partner.test";
export const PARTNER_MAILBOX = `orders@${PARTNER_DOMAIN}`;
/**
 * A mailbox at another provider, which the model Internet also hosts whatever stacks run: the
 * production shape's outside probe (verification.outsideProbe), reached through the ISP's relay.
 */
export const OUTSIDE_PROVIDER_DOMAIN = "outside-provider.test";
export const OUTSIDE_PROBE_MAILBOX = `cutover-probe@${OUTSIDE_PROVIDER_DOMAIN}`;
/**
 * The ISP's relay, through which the legacy gateway sends all outbound mail (as the seed's did): a
 * second SMTP service of the model Internet's host, on a port of its own and under a name of its
 * own, so a message that took it shows "by relay.isp.test" in its Received path. Every lab
 * stack's inventory names it as its outboundRelay. Its name is in the ISP's zone, which the lab's
 * DNS serves and no stack manages.
 */
export const ISP_RELAY = { host: "relay.isp.test", port: 2525 };
export const ISP_ZONE = "isp.test";
/**
 * The lab zones' parents ("test", "com"), as a TLD is a real zone's: each signed on the lab's DNS
 * server, delegating its lab zones and publishing their DS (publishDelegations), so that validating
 * resolvers chain from its key to the lab zones' as from the root to a real organisation's, and a
 * DS missing or wrong strikes as it does on the Internet. Pure.
 */
export function parentZones(zones: string[]): string[] {
  const parents = [...new Set(zones.map(parentOf))].sort();
  const nested = zones.filter((z) => zones.includes(parentOf(z)) || parents.includes(z));
  if (nested.length || parents.includes(""))
    throw new CutoverError(
      `lab: a lab zone's parent must be a zone the lab adds, not a lab zone or the root: ${nested.join(", ") || zones.join(", ")}`,
    );
  return parents;
}

/** The zone a zone is delegated from: its name without the first label. Pure. */
export const parentOf = (zone: string) => zone.split(".").slice(1).join(".");
/** The legacy gateway's own chain for the gateway name (key, certificate, the lab CA's), in its /etc/postfix. */
export const LEGACY_CHAIN = "/etc/postfix/tls/gateway.pem";
/** The header the legacy gateway's own header_checks strip from what it relays. */
export const STRIPPED_HEADER = "X-Office-Internal";

/**
 * main.cf as Debian's postfix package writes it for an "Internet Site" with debconf's defaults
 * (main.cf.debian, main.cf.tls when the snakeoil key exists, then what postinst sets), for a host
 * whose name is `fqdn`.
 */
function debianMainCf(fqdn: string): string[] {
  const domain = fqdn.slice(fqdn.indexOf(".") + 1);
  return [
    readFileSync("/usr/share/postfix/main.cf.debian", "utf8").trimEnd(),
    ...(existsSync("/etc/ssl/private/ssl-cert-snakeoil.key") ? [readFileSync("/usr/share/postfix/main.cf.tls", "utf8").trimEnd()] : []),
    "smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated defer_unauth_destination",
    `myhostname = ${fqdn}`,
    "alias_maps = hash:/etc/aliases",
    "alias_database = hash:/etc/aliases",
    "myorigin = /etc/mailname",
    `mydestination = $myhostname, ${fqdn}, localhost.${domain}, , localhost`,
    "relayhost =",
    "mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128",
    "mailbox_size_limit = 0",
    "recipient_delimiter = +",
    "inet_interfaces = all",
    "inet_protocols = all",
  ];
}

/** A main.cf setting the lab makes, with why: [reason, parameter, value]. */
type LabSetting = [reason: string, name: string, value: string];

/** What only the lab needs, each with its reason: a postfix per namespace, on this one machine. */
function labSettings(h: PlannedLabHost): LabSetting[] {
  const dir = hostDir(h.role);
  const perNamespace = "one postfix per namespace: its own queue and data directories (lab-notes 2)";
  const noSyslog = "no syslog in a namespace: postfix logs to a file of its own (lab-notes 1)";
  const etc =
    "ip netns exec mounts over /etc only files the machine's /etc has (no aliases.db, no mailname): the host's own copies live in its /etc/postfix, mounted whole (lab-notes 5)";
  const store = "the mail store of the lab's mail servers (a real new server has its own: dovecot or the like)";
  const tlsLater =
    "only the outside sender uses STARTTLS (it enforces DANE): between the organisation's hosts mail goes in the clear, so the go-live's zero-loss runs measure the switch, not TLS";
  const retry =
    "senders in the lab retry a deferred message within seconds, not Debian's 300 s, so a go-live's refused or cut sessions show as a gap in seconds in the zero-loss runs";
  return [
    [perNamespace, "queue_directory", `${dir}/spool`],
    [perNamespace, "data_directory", `${dir}/data`],
    [noSyslog, "maillog_file", `${dir}/maillog`],
    [noSyslog, "maillog_file_prefixes", LAB_DIR],
    [etc, "alias_maps", "hash:/etc/postfix/aliases"],
    [etc, "alias_database", "hash:/etc/postfix/aliases"],
    [etc, "myorigin", "/etc/postfix/mailname"],
    [store, "virtual_mailbox_base", `${dir}/mail`],
    [store, "virtual_uid_maps", `static:${MAIL_UID}`],
    [store, "virtual_gid_maps", `static:${MAIL_UID}`],
    ["the lab has no IPv6 route: postfix would try AAAA answers that lead nowhere", "inet_protocols", "ipv4"],
    // With opportunistic STARTTLS between the lab's MTAs, the zero-loss run with the MTA killed
    // failed 2 of 3 times in an earlier stop (mail from outside stuck on the outside host for more
    // than 15 s after the go-live); the senders turn TLS on with DANE, where it is enforced.
    ...(h.role === "internet" ? [] : [[tlsLater, "smtp_tls_security_level", "none"] as LabSetting]),
    [retry, "queue_run_delay", "1s"],
    [
      `${retry}; 2 s, not 1: the queue manager takes a deferred message back up to 1 s before its time, and one it finds still locked by the delivery agent that deferred it waits 60 s (qmgr_active.c); with 1 s it could find it the moment it was deferred (a 59 s delay in a zero-loss run)`,
      "minimal_backoff_time",
      "2s",
    ],
    [retry, "maximal_backoff_time", "4s"],
    ["a message that cannot be delivered bounces within the hour a test run lasts", "maximal_queue_lifetime", "1h"],
    ["a message that cannot be delivered bounces within the hour a test run lasts", "bounce_queue_lifetime", "1h"],
  ];
}

/**
 * The stock lines with the lab's settings in them: a stock setting the lab changes keeps its stock
 * value in a comment above the lab's, with the reason; new ones follow the stock text. Pure.
 */
export function withLabSettings(stock: string[], settings: LabSetting[]): string {
  const lines = stock.join("\n").split("\n");
  const added: string[] = [];
  for (const [reason, name, value] of settings) {
    const at = lines.findIndex((l) => new RegExp(`^${name}\\s*=`).test(l));
    const line = `${name} = ${value}`;
    if (at >= 0) lines.splice(at, 1, `# lab: ${reason}`, `# stock: ${lines[at]}`, line);
    else added.push(`# lab: ${reason}`, line);
  }
  return `${[...lines, ...added].join("\n")}\n`;
}

/**
 * What the lab's legacy gateway has of its own, as a real one does, and must keep through every
 * phase: an office subnet that relays through it, SASL-authenticated submission for a roaming user
 * (dovecot SASL), a transport entry for a partner without MX, and header checks.
 */
function legacyGatewaySettings(): LabSetting[] {
  const own = "the legacy gateway's own, as a real one has";
  return [
    [`${own}: its certificate for the gateway name`, "smtpd_tls_chain_files", LEGACY_CHAIN],
    [`${own}: an office subnet relays through it`, "mynetworks", `127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128 ${OFFICE_SUBNET}`],
    [`${own}: a partner without MX`, "transport_maps", "hash:/etc/postfix/transport"],
    [`${own}: header checks`, "header_checks", "regexp:/etc/postfix/header_checks"],
    // Debian's stock defer_unauth_destination answers a stranger 454 ("try later"), which no check
    // can count as a refusal; an Internet-facing gateway refuses outright, as Postfix's
    // SMTPD_ACCESS_README sets it. Cutover's routing keeps what it finds (and adds the same rule
    // where it is missing: the new server keeps Debian's stock line).
    [
      `${own}: a stranger may not relay (5xx)`,
      "smtpd_relay_restrictions",
      "permit_mynetworks permit_sasl_authenticated reject_unauth_destination",
    ],
    [`${own}: SASL for the submission service`, "smtpd_sasl_type", "dovecot"],
    [`${own}: SASL for the submission service`, "smtpd_sasl_path", "private/auth"],
    [`${own}: all outbound mail through the ISP's relay`, "relayhost", `[${ISP_RELAY.host}]:${ISP_RELAY.port}`],
  ];
}

/**
 * What the organisation set up on the new server before its go-live, as the gateway's clients
 * need it there once the gateway's name is the new server's (the go-live pre-flight checks the
 * services: gateway.services): SASL for the roaming users' submission (dovecot SASL, as on the
 * legacy gateway) and its header checks. Its trust of the office subnet is cutover's
 * (gateway.relayClients); its outbound mail goes through the ISP's relay by cutover's routing.
 */
function newServerSettings(): LabSetting[] {
  const prepared = "the organisation's own, set up on the new server for the gateway's clients before its go-live";
  return [
    [`${prepared}: header checks`, "header_checks", "regexp:/etc/postfix/header_checks"],
    [`${prepared}: SASL for the submission service`, "smtpd_sasl_type", "dovecot"],
    [`${prepared}: SASL for the submission service`, "smtpd_sasl_path", "private/auth"],
  ];
}

/** Submission with SASL, as Debian's master.cf has it commented out, enabled (postfix's config directory `etc`). */
async function enableSubmission(etc: string): Promise<void> {
  await run(["postconf", "-c", etc, "-M", "submission/inet=submission inet n - n - - smtpd"]);
  await run([
    "postconf",
    "-c",
    etc,
    "-P",
    "submission/inet/syslog_name=postfix/submission",
    "submission/inet/smtpd_sasl_auth_enable=yes",
    "submission/inet/smtpd_tls_security_level=encrypt",
    "submission/inet/smtpd_client_restrictions=permit_sasl_authenticated,reject",
  ]);
}

/**
 * The model Internet's MTA sends as a growing share of real senders do: it validates DNSSEC (through
 * the host's validating resolver) and enforces DANE where a TLSA record is published (RFC 7672),
 * opportunistic STARTTLS elsewhere. So every phase's mail from outside proves the gateway's keys.
 */
function outsideSenderSettings(): LabSetting[] {
  const why = "the outside sender enforces DANE, as a growing share of real senders do";
  return [
    [why, "smtp_dns_support_level", "dnssec"],
    [why, "smtp_tls_security_level", "dane"],
    [
      "the outside sender logs how each TLS session was verified (Verified, Untrusted), for the zero-loss runs' count",
      "smtp_tls_loglevel",
      "1",
    ],
  ];
}

/**
 * The model Internet also hosts the partner and another provider's probe mailbox: mailbox domains of
 * its own, beside what cutover gives it.
 */
function partnerSettings(): LabSetting[] {
  const own = "the partner's mail and another provider's, hosted here before cutover came";
  return [
    [own, "virtual_mailbox_domains", `${PARTNER_DOMAIN} ${OUTSIDE_PROVIDER_DOMAIN}`],
    [own, "virtual_mailbox_maps", "hash:/etc/postfix/partner_mailboxes"],
  ];
}

/**
 * sshd as Debian configures it (its stock /etc/ssh/sshd_config, included last: sshd keeps a keyword's
 * first value), with the lab-only settings before it. `kernelHostName`: the host name the host had
 * (a restart keeps it, as a real host's sshd restart does; the UTS namespace is sshd's own, so it
 * goes with the process that is stopped).
 */
export async function startSshd(h: PlannedLabHost, kernelHostName?: string): Promise<void> {
  const dir = hostDir(h.role);
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      "# The host's own host keys (pinned in the inventory), a stock Debian sshd's three in its order:",
      "# /etc/ssh is this machine's, the same for every lab host.",
      ...["rsa", "ecdsa", "ed25519"].map((type) => `HostKey ${join(keysDir, `${h.role.toLowerCase()}_host_${type}`)}`),
      "# The host's own pid file: /run is this machine's.",
      `PidFile ${join(dir, "sshd.pid")}`,
      "Include /etc/ssh/sshd_config",
      "",
    ].join("\n"),
  );
  // Its own UTS namespace, so the host-name effect renames this host and not the machine, named as
  // its boot names it (from its own /etc/hostname) unless a restart keeps the name it had; and
  // root's own home (see rootHome), mounted over /root for sshd and every session it starts.
  const script = `mount --bind "$1" /root && shift && ${kernelHostName ? 'hostname "$1" && shift' : "hostname -F /etc/hostname"} && exec "$@"`;
  const args = [rootHome(h), ...(kernelHostName ? [kernelHostName] : []), "/usr/sbin/sshd", "-f", config];
  await startDaemon(h.namespace, ["sh", "-c", script, "sh", ...args], { uts: true });
}

/**
 * A home for the lab host's root, as a real host's root has: Debian's stock dotfiles (base-files)
 * and the lab's admin key in .ssh/authorized_keys. Without it every command cutover runs over SSH
 * would start its shell with this machine's /root/.bashrc (bash reads it for a command sshd runs),
 * which here runs pyenv's set-up: 100 ms a command, measured, that no gateway has.
 */
function rootHome(h: PlannedLabHost): string {
  const home = join(hostDir(h.role), "root");
  mkdirSync(join(home, ".ssh"), { recursive: true, mode: 0o700 });
  chmodSync(home, 0o700);
  chmodSync(join(home, ".ssh"), 0o700);
  cpSync("/usr/share/base-files/dot.bashrc", join(home, ".bashrc"));
  cpSync("/usr/share/base-files/dot.profile", join(home, ".profile"));
  cpSync(join(keysDir, "authorized_keys"), join(home, ".ssh", "authorized_keys"));
  chmodSync(join(home, ".ssh", "authorized_keys"), 0o600);
  return home;
}

/** `legacyChain`: the legacy gateway's chain for the gateway name (PEM), installed as its own. */
export async function startPostfix(
  h: PlannedLabHost,
  addresses: { internet: string },
  legacyChain?: string,
  stsSender?: { address: string; caFile: string },
): Promise<void> {
  const dir = hostDir(h.role);
  for (const d of ["spool", "data", "mail"]) mkdirSync(join(dir, d), { recursive: true });
  const postfixUser = passwdEntry("postfix");
  chownSync(join(dir, "data"), postfixUser.uid, postfixUser.gid);
  chownSync(join(dir, "mail"), MAIL_UID, MAIL_UID);
  const etc = join(etcDir(h.namespace), "postfix");
  const fqdn = `${h.role.toLowerCase()}.lab.invalid`;
  const sts = h.role === "internet" && stsSender ? stsTransportSettings(stsSender.address, stsSender.caFile) : undefined;
  const own =
    h.role === "legacy"
      ? legacyGatewaySettings()
      : h.role === "new"
        ? newServerSettings()
        : h.role === "internet"
          ? [
              ...partnerSettings(),
              ...outsideSenderSettings(),
              ...(sts
                ? [["one outside user's mail goes through the transport that enforces MTA-STS (lab/mta-sts.ts)", ...sts.main] as LabSetting]
                : []),
            ]
          : [];
  writeFileSync(join(etc, "main.cf"), withLabSettings(debianMainCf(fqdn), [...labSettings(h), ...own]));
  writeFileSync(join(etc, "aliases"), readFileSync("/etc/aliases", "utf8"));
  writeFileSync(join(etc, "mailname"), `${fqdn}\n`);
  const maps: string[] = [];
  if (h.role === "legacy") {
    if (!legacyChain) throw new CutoverError("lab: the legacy gateway needs its chain for the gateway name");
    mkdirSync(join(etc, "tls"), { recursive: true, mode: 0o700 });
    writeFileSync(join(etc, LEGACY_CHAIN.replace("/etc/postfix/", "")), legacyChain, { mode: 0o600 });
    writeFileSync(join(etc, "transport"), `${PARTNER_DOMAIN} smtp:[${addresses.internet}]:25\n`);
    maps.push("transport");
  }
  if (h.role === "legacy" || h.role === "new") {
    writeFileSync(join(etc, "header_checks"), `/^${STRIPPED_HEADER}:/ IGNORE\n`);
    await enableSubmission(etc);
  }
  if (h.role === "internet") {
    writeFileSync(
      join(etc, "partner_mailboxes"),
      `${PARTNER_MAILBOX} ${PARTNER_DOMAIN}/orders/\n${OUTSIDE_PROBE_MAILBOX} ${OUTSIDE_PROVIDER_DOMAIN}/cutover-probe/\n`,
    );
    maps.push("partner_mailboxes");
    // The ISP's relay: relays for the lab's hosts (its customers), for nobody else.
    const relay = `${ISP_RELAY.port}/inet`;
    await run(["postconf", "-c", etc, "-M", `${relay}=${ISP_RELAY.port} inet n - n - - smtpd`]);
    await run([
      "postconf",
      "-c",
      etc,
      "-P",
      `${relay}/syslog_name=postfix/isp-relay`,
      `${relay}/myhostname=${ISP_RELAY.host}`,
      `${relay}/mynetworks=${h.address.split(".").slice(0, 3).join(".")}.0/24`,
      `${relay}/smtpd_relay_restrictions=permit_mynetworks,reject`,
    ]);
    if (sts) {
      // The transport that enforces MTA-STS, for the one outside user routed to it (lab/mta-sts.ts).
      await run(["postconf", "-c", etc, "-M", ...sts.master]);
      await run(["postconf", "-c", etc, "-P", ...sts.params]);
    }
  }
  // Inside the namespace, where /etc/postfix is the host's own.
  await inNamespace(h.namespace, ["postalias", "/etc/postfix/aliases"]);
  for (const m of maps) await inNamespace(h.namespace, ["postmap", `/etc/postfix/${m}`]);
  // No chroot: in a namespace the chroot has no resolv.conf and MX lookups fail (lab-notes 4).
  await run(["postconf", "-c", etc, "-F", "*/*/chroot = n"]);
  await bootPostfix(h);
}

/** Starts the host's postfix with the configuration it has, as its boot does. */
export async function bootPostfix(h: PlannedLabHost): Promise<void> {
  const dir = hostDir(h.role);
  // Under `script`, postfix start reports why it failed; without a terminal it is silent (lab-notes 1).
  try {
    await inNamespace(h.namespace, ["script", "-qec", "postfix start", "/dev/null"], { timeoutMs: 30_000 });
  } catch (e) {
    const log = existsSync(join(dir, "maillog"))
      ? readFileSync(join(dir, "maillog"), "utf8").trim().split("\n").slice(-3).join(" | ")
      : "no maillog";
    throw new CutoverError(`postfix on ${h.role} did not start: ${(e as Error).message}; maillog: ${log}`);
  }
}

export async function startKnot(h: PlannedLabHost, zones: string[], tsig: LabDescription["tsig"], inv: Inventory): Promise<void> {
  const dir = hostDir(h.role);
  const storage = join(dir, "knot");
  mkdirSync(storage, { recursive: true });
  const nsName = `ns.${inv.internet?.domain ?? zones[0]}`;
  const parents = parentZones(zones);
  // A zone file: its SOA and NS, the name server's address when it is inside, then `records`.
  const zoneFile = (z: string, records: string[]) =>
    writeFileSync(
      join(storage, `${z}.zone`),
      [
        `$ORIGIN ${z}.`,
        "$TTL 300",
        `@ SOA ${nsName}. hostmaster.${z}. 1 3600 600 86400 60`,
        `@ NS ${nsName}.`,
        ...(nsName.endsWith(`.${z}`) ? [`${nsName}. A ${h.address}`] : []),
        ...records,
        "",
      ].join("\n"),
    );
  // The ISP's relay runs on the model Internet's host, which serves the DNS too.
  for (const z of zones) zoneFile(z, ISP_RELAY.host.endsWith(`.${z}`) ? [`${ISP_RELAY.host}. A ${h.address}`] : []);
  // Each parent delegates its lab zones to the lab's name server (the glue above); the DS records
  // come once Knot has made each zone's keys.
  for (const parent of parents)
    zoneFile(
      parent,
      zones.filter((z) => parentOf(z) === parent).map((z) => `${z}. NS ${nsName}.`),
    );
  const conf = [
    "server:",
    `    rundir: "${storage}"`,
    "    user: root:root",
    `    listen: [ ${h.address}@53, 127.0.0.1@53 ]`,
    "log:",
    `  - target: ${join(dir, "knot.log")}`,
    "    any: info",
    "database:",
    `    storage: "${storage}"`,
    "key:",
    `  - id: ${tsig.name}`,
    `    algorithm: ${tsig.algorithm}`,
    `    secret: ${tsig.secret}`,
    "acl:",
    "  - id: cutover-update",
    `    key: ${tsig.name}`,
    "    action: [update, transfer]",
    "template:",
    "  - id: default",
    `    storage: "${storage}"`,
    '    file: "%s.zone"',
    "    acl: cutover-update",
    "    zonefile-sync: -1",
    "    journal-content: all",
    // Lab-only: the zone file is never written (zonefile-sync: -1), so the journal holds every change.
    // At Knot's default depth of 20 changesets it merges them into its zone copy, and a restart with
    // zonefile-load: whole then loads the bare zone file without them (measured: a stack's zone after
    // 21 updates came back at serial 1 after knotc stop/start). A lab run makes hundreds of updates.
    "    journal-max-depth: 100000",
    // Signed as an organisation's zones must be for DANE (RFC 7672): Knot's automatic signing with
    // its default policy (ECDSA P-256, a KSK and a ZSK), re-signing every update it takes.
    "    dnssec-signing: on",
    "zone:",
    ...[...parents, ...zones].map((z) => `  - domain: ${z}`),
    "",
  ].join("\n");
  const etc = join(etcDir(h.namespace), "knot");
  mkdirSync(etc, { recursive: true });
  writeFileSync(join(etc, "knot.conf"), conf, { mode: 0o600 });
  await startDaemon(h.namespace, ["/usr/sbin/knotd", "-d", "-c", "/etc/knot/knot.conf"]);
}

/** Where a host's dovecot keeps its config (mounted over /etc/dovecot in its namespace). */
const dovecotEtc = (h: PlannedLabHost) => join(etcDir(h.namespace), "dovecot");

/** Starts a dovecot on the host with these settings; its run directory and log are the host's own. */
async function runDovecot(h: PlannedLabHost, settings: string[]): Promise<void> {
  const dir = hostDir(h.role);
  const runDir = join(dir, "dovecot");
  mkdirSync(runDir, { recursive: true });
  mkdirSync(dovecotEtc(h), { recursive: true });
  const conf = join(dovecotEtc(h), "dovecot.conf");
  writeFileSync(conf, [`base_dir = ${runDir}`, `log_path = ${join(dir, "dovecot.log")}`, ...settings, ""].join("\n"));
  chmodSync(conf, 0o644);
  await startDaemon(h.namespace, ["/usr/sbin/dovecot", "-c", "/etc/dovecot/dovecot.conf"]);
}

/** POP3 for the model Internet's users; any password opens a mailbox (a lab, not a service). */
export function startDovecot(h: PlannedLabHost): Promise<void> {
  return runDovecot(h, [
    "protocols = pop3",
    `listen = ${h.address}, 127.0.0.1`,
    "ssl = no",
    "disable_plaintext_auth = no",
    "auth_mechanisms = plain",
    `first_valid_uid = ${MAIL_UID}`,
    "passdb {",
    "  driver = static",
    "  args = nopassword=y",
    "}",
    "userdb {",
    "  driver = static",
    `  args = uid=${MAIL_UID} gid=${MAIL_UID} home=${join(hostDir(h.role), "mail")}/%d/%n`,
    "}",
    "mail_location = maildir:~",
  ]);
}

/** The roaming user who submits through the gateway with SASL (and TLS, as Debian's submission has it). */
export const ROAMING_USER = { name: "roaming", password: "lab-roaming-password" };

/**
 * A gateway's SASL (the legacy gateway's, and the new server's for the same users): dovecot's auth
 * service on the socket postfix's submission asks (private/auth in its queue directory), one user
 * in a password file. No mail protocol.
 */
export async function startSubmissionSasl(h: PlannedLabHost): Promise<void> {
  const dir = hostDir(h.role);
  mkdirSync(dovecotEtc(h), { recursive: true });
  const users = join(dovecotEtc(h), "users");
  writeFileSync(users, `${ROAMING_USER.name}:{PLAIN}${ROAMING_USER.password}\n`, { mode: 0o640 });
  // Readable by dovecot's auth process only, as a password file should be.
  chownSync(users, 0, passwdEntry("dovecot").gid);
  await runDovecot(h, [
    "protocols =",
    "ssl = no",
    "auth_mechanisms = plain login",
    "passdb {",
    "  driver = passwd-file",
    "  args = /etc/dovecot/users",
    "}",
    "userdb {",
    "  driver = static",
    `  args = uid=${MAIL_UID} gid=${MAIL_UID} home=${join(dir, "mail")}/%u`,
    "}",
    "service auth {",
    `  unix_listener ${join(dir, "spool", "private", "auth")} {`,
    "    mode = 0660",
    "    user = postfix",
    "    group = postfix",
    "  }",
    "}",
  ]);
}

function passwdEntry(user: string): { uid: number; gid: number } {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${user}:`));
  if (!line) throw new CutoverError(`lab: no user ${user} on this machine`);
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

/** A zone's key-signing keys (DNSKEY flags 257) once Knot has signed it, as zone files write them; waits up to 20 s. */
async function signingKeys(namespace: string, zone: string, dnsAddress: string): Promise<string[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { stdout } = await inNamespace(namespace, ["dig", "+short", "+time=1", "DNSKEY", zone, `@${dnsAddress}`], { allowFailure: true });
    const keys = stdout.split("\n").filter((l) => l.startsWith("257 "));
    if (keys.length) return keys;
    if (Date.now() > deadline) throw new CutoverError(`lab: zone ${zone} is not signed after 20 s (no DNSKEY 257)`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Each lab zone's DS records in its parent, once Knot has signed the zone: one transaction per parent. */
export async function publishDelegations(dns: Pick<PlannedLabHost, "namespace" | "address">, zones: string[]): Promise<void> {
  const ds = await Promise.all(zones.map(async (z) => ({ z, keys: await signingKeys(dns.namespace, z, dns.address) })));
  for (const parent of parentZones(zones))
    await registrarChange(
      dns.namespace,
      parent,
      ds
        .filter((x) => parentOf(x.z) === parent)
        .flatMap((x) => x.keys.map((k) => ["zone-set", `${x.z}.`, "300", "DS", ...dsRecord(x.z, k).split(" ")])),
    );
}

/**
 * Changes a parent zone as a registrar does at an organisation's request: one knotc transaction on
 * the lab's DNS server, each change a knotc command without its zone (["zone-unset", "x.test.",
 * "DS"]). Knot signs the change at commit.
 */
export async function registrarChange(namespace: string, parent: string, changes: string[][]): Promise<void> {
  const knotc = (...args: string[]) => inNamespace(namespace, ["knotc", "-c", "/etc/knot/knot.conf", ...args], { timeoutMs: 30_000 });
  await knotc("zone-begin", parent);
  try {
    for (const [command, ...args] of changes) await knotc(command, parent, ...args);
    await knotc("zone-commit", parent);
  } catch (e) {
    await knotc("zone-abort", parent).catch(() => undefined);
    throw e;
  }
}

/** Where the outside host's validating resolver listens: its own loopback address, beside Knot's 127.0.0.1. */
export const RESOLVER_ADDRESS = "127.0.0.54";

/**
 * The outside host's validating resolver (unbound from Debian): the lab's zones and their parents
 * from the lab's DNS server, validated from the parents' keys as trust anchors (the lab has no root
 * to chain to) through each zone's DS. Returns once it answers a lab zone with AD (validated).
 */
export async function startResolver(h: PlannedLabHost, zones: string[], dnsAddress: string): Promise<void> {
  const dir = hostDir(h.role);
  // The parents' key-signing keys are the only anchors: each lab zone validates through its DS.
  const parents = parentZones(zones);
  const anchors = (
    await Promise.all(
      parents.map(async (p) => (await signingKeys(h.namespace, p, dnsAddress)).map((k) => `    trust-anchor: "${p}. DNSKEY ${k}"`)),
    )
  ).flat();
  const conf = join(dir, "unbound.conf");
  writeFileSync(
    conf,
    [
      "server:",
      `    interface: ${RESOLVER_ADDRESS}`,
      "    access-control: 127.0.0.0/8 allow",
      "    do-ip6: no",
      '    chroot: ""',
      '    username: ""',
      `    directory: "${dir}"`,
      `    pidfile: "${join(dir, "unbound.pid")}"`,
      "    use-syslog: no",
      `    logfile: "${join(dir, "unbound.log")}"`,
      "    val-log-level: 2",
      // Lab-only: the tests change the zones within seconds and expect senders to see it at once; a
      // real resolver caches for the TTL, which the plan's TTLs (and the mx strategy's wait) bound.
      "    cache-max-ttl: 0",
      "    cache-max-negative-ttl: 0",
      // Lab-only, likewise: a test stops the DNS server for seconds; unbound's default 900 s would
      // hold it as down long after it is back, and a bogus answer for 60 s.
      "    infra-host-ttl: 1",
      "    val-bogus-ttl: 1",
      // Lab-only: the lab's addresses are documentation ranges, and the lab is its own Internet.
      "    do-not-query-localhost: no",
      // Lab-only: the lab's domains are under .test, which unbound answers itself by default (RFC 6761).
      '    local-zone: "test." nodefault',
      ...anchors,
      ...[...parents, ...zones].flatMap((z) => ["stub-zone:", `    name: "${z}"`, `    stub-addr: ${dnsAddress}`]),
      "",
    ].join("\n"),
  );
  await startDaemon(h.namespace, ["/usr/sbin/unbound", "-c", conf]);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { stdout } = await inNamespace(h.namespace, ["dig", "+time=1", "SOA", zones[0], `@${RESOLVER_ADDRESS}`], { allowFailure: true });
    if (/flags:[^;]*\bad\b/.test(stdout) && /status: NOERROR/.test(stdout)) return;
    if (Date.now() > deadline) {
      const log = join(dir, "unbound.log");
      const tail = existsSync(log) ? readFileSync(log, "utf8").trim().split("\n").slice(-4).join(" | ") : "no log";
      throw new CutoverError(
        `lab: the outside host's resolver does not validate ${zones[0]} after 20 s: ${stdout.split("\n").find((l) => l.includes("status:")) ?? "no answer"}; unbound: ${tail}`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
