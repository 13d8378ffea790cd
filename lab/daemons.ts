/**
 * The daemons of a lab host and their configuration: sshd, postfix, knot (the model Internet's
 * DNS) and dovecot (its POP3). Each lab-only setting says why it is there.
 */

import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CutoverError } from "../src/model/errors";
import type { Inventory } from "../src/model/inventory";
import { run } from "../src/remote/local";
import { etcDir, hostDir, keysDir, LAB_DIR, type LabDescription, MAIL_UID, type PlannedLabHost } from "./layout";
import { inNamespace, startDaemon } from "./namespaces";

/** Files that `ip netns exec` mounts over /etc for this host's processes only (lab-notes 5, 9). */
export function writeEtc(h: PlannedLabHost, dnsAddress: string): void {
  const etc = etcDir(h.namespace);
  mkdirSync(etc, { recursive: true });
  writeFileSync(join(etc, "resolv.conf"), `nameserver ${dnsAddress}\noptions timeout:1 attempts:2\n`);
  writeFileSync(join(etc, "hosts"), `127.0.0.1 localhost\n${h.address} ${h.role.toLowerCase()}.lab.invalid\n`);
  writeFileSync(join(etc, "hostname"), `${h.role.toLowerCase()}.lab.invalid\n`);
  const postfix = join(etc, "postfix");
  mkdirSync(postfix, { recursive: true });
  for (const f of readdirSync("/etc/postfix"))
    if (!f.startsWith("main.cf")) cpSync(join("/etc/postfix", f), join(postfix, f), { recursive: true, verbatimSymlinks: true });
}

function bareMainCf(h: PlannedLabHost): string {
  const dir = hostDir(h.role);
  return [
    "# A bare lab host: cutover's effects configure the rest over SSH.",
    "compatibility_level = 3.6",
    `myhostname = ${h.role.toLowerCase()}.lab.invalid`,
    "mydestination =",
    "mynetworks = 127.0.0.0/8",
    "inet_interfaces = all",
    "inet_protocols = ipv4",
    "smtpd_banner = $myhostname ESMTP",
    `queue_directory = ${dir}/spool`,
    `data_directory = ${dir}/data`,
    `maillog_file = ${dir}/maillog`,
    `maillog_file_prefixes = ${LAB_DIR}`,
    `virtual_mailbox_base = ${dir}/mail`,
    `virtual_uid_maps = static:${MAIL_UID}`,
    `virtual_gid_maps = static:${MAIL_UID}`,
    "alias_maps =",
    "alias_database =",
    "biff = no",
    "smtp_host_lookup = dns",
    "disable_dns_lookups = no",
    "maximal_queue_lifetime = 1h",
    // Senders in the lab retry a deferred message within seconds, not Debian's 300 s, so that a
    // go-live's refused or cut sessions show as a gap in seconds in the zero-loss runs.
    "queue_run_delay = 1s",
    "minimal_backoff_time = 1s",
    "maximal_backoff_time = 4s",
    "",
  ].join("\n");
}

export async function startSshd(h: PlannedLabHost): Promise<void> {
  const dir = hostDir(h.role);
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      `ListenAddress ${h.address}:22`,
      // The three host keys of a stock Debian sshd, in its order.
      ...["rsa", "ecdsa", "ed25519"].map((type) => `HostKey ${join(keysDir, `${h.role.toLowerCase()}_host_${type}`)}`),
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(keysDir, "authorized_keys")}`,
      "PermitRootLogin prohibit-password",
      "UsePAM no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "StrictModes no",
      "MaxStartups 100:30:200",
      "MaxSessions 50",
      "Subsystem sftp internal-sftp",
      "",
    ].join("\n"),
  );
  // Its own UTS namespace, so the host-name effect renames this host and not the machine.
  await startDaemon(h.namespace, ["/usr/sbin/sshd", "-f", config], { uts: true });
}

export async function startPostfix(h: PlannedLabHost): Promise<void> {
  const dir = hostDir(h.role);
  for (const d of ["spool", "data", "mail"]) mkdirSync(join(dir, d), { recursive: true });
  const postfixUser = passwdEntry("postfix");
  chownSync(join(dir, "data"), postfixUser.uid, postfixUser.gid);
  chownSync(join(dir, "mail"), MAIL_UID, MAIL_UID);
  const etc = join(etcDir(h.namespace), "postfix");
  writeFileSync(join(etc, "main.cf"), bareMainCf(h));
  // No chroot: in a namespace the chroot has no resolv.conf and MX lookups fail (lab-notes 4).
  await run(["postconf", "-c", etc, "-F", "*/*/chroot = n"]);
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
  for (const z of zones) {
    writeFileSync(
      join(storage, `${z}.zone`),
      [
        `$ORIGIN ${z}.`,
        "$TTL 300",
        `@ SOA ${nsName}. hostmaster.${z}. 1 3600 600 86400 60`,
        `@ NS ${nsName}.`,
        ...(nsName.endsWith(`.${z}`) ? [`${nsName}. A ${h.address}`] : []),
        "",
      ].join("\n"),
    );
  }
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
    "zone:",
    ...zones.map((z) => `  - domain: ${z}`),
    "",
  ].join("\n");
  const etc = join(etcDir(h.namespace), "knot");
  mkdirSync(etc, { recursive: true });
  writeFileSync(join(etc, "knot.conf"), conf, { mode: 0o600 });
  await startDaemon(h.namespace, ["/usr/sbin/knotd", "-d", "-c", "/etc/knot/knot.conf"]);
}

export async function startDovecot(h: PlannedLabHost): Promise<void> {
  const dir = hostDir(h.role);
  const runDir = join(dir, "dovecot");
  mkdirSync(runDir, { recursive: true });
  const etc = join(etcDir(h.namespace), "dovecot");
  mkdirSync(etc, { recursive: true });
  // POP3 for the model Internet's users; any password opens a mailbox (a lab, not a service).
  writeFileSync(
    join(etc, "dovecot.conf"),
    [
      "protocols = pop3",
      `listen = ${h.address}, 127.0.0.1`,
      `base_dir = ${runDir}`,
      `log_path = ${join(dir, "dovecot.log")}`,
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
      `  args = uid=${MAIL_UID} gid=${MAIL_UID} home=${join(dir, "mail")}/%d/%n`,
      "}",
      "mail_location = maildir:~",
      "",
    ].join("\n"),
  );
  chmodSync(join(etc, "dovecot.conf"), 0o644);
  await startDaemon(h.namespace, ["/usr/sbin/dovecot", "-c", "/etc/dovecot/dovecot.conf"]);
}

function passwdEntry(user: string): { uid: number; gid: number } {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${user}:`));
  if (!line) throw new CutoverError(`lab: no user ${user} on this machine`);
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}
