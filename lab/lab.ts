/**
 * The lab: the pilot stack's hosts as network namespaces on this machine, joined by a bridge in a
 * namespace of its own, on RFC 5737 addresses only. It boots bare hosts (sshd, postfix, and on the
 * model-Internet host knot and dovecot); everything the product configures it configures over SSH.
 * Its layout comes from the pilot stack's inventory, so the lab and the stack cannot disagree.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { HostRole, Inventory } from "../src/model/inventory";
import { loadStack } from "../src/model/stack-file";
import { inNamespace, run, startDaemon } from "../src/remote/local";
import type { HostKeys } from "../src/remote/targets";

export const LAB_PREFIX = "cutover";
export const LAB_DIR = process.env.CUTOVER_LAB_DIR ?? "/var/lib/cutover-lab";
const SWITCH_NS = `${LAB_PREFIX}-sw`;
/**
 * The operator's workstation: tests, the rehearsal and the engine run here, so no lab client ever
 * runs in the root namespace (whose routes lead off the machine).
 */
export const OPERATOR_NS = `${LAB_PREFIX}-operator`;
export const OPERATOR_ADDRESS = "198.51.100.2";
const BRIDGE = `${LAB_PREFIX}-br`;
/** Mailbox files are owned by this uid on every lab host (postfix virtual delivery, dovecot). */
export const MAIL_UID = 5000;
const RFC5737 = [/^192\.0\.2\./, /^198\.51\.100\./, /^203\.0\.113\./];

export type Progress = (message: string) => void;

export interface LabHost {
  role: HostRole;
  namespace: string;
  address: string;
  /** The host's interface, as the inventory names it. */
  interface: string;
  /** Public host key, "ssh-ed25519 AAAA...". */
  hostKey: string;
  /** Host directory: spool, mailboxes, logs. */
  dir: string;
}

export interface LabDescription {
  hosts: Partial<Record<HostRole, LabHost>>;
  /** Namespace where lab clients (tests, rehearsal, engine) run. */
  operatorNamespace: string;
  /** Private key (OpenSSH format) that the lab's sshd accepts for root. */
  adminKeyPath: string;
  tsig: { name: string; algorithm: string; secret: string };
  serviceAddress: string;
  prefixLength: number;
  /** Zones served by the model Internet's DNS server. */
  zones: string[];
  dnsServer: string;
}

interface PlannedLabHost {
  role: HostRole;
  namespace: string;
  address: string;
  interface: string;
  link: string;
}

/** Where each pilot host lives in the lab: pure, from the inventory. */
export function labLayout(inv: Inventory): { hosts: PlannedLabHost[]; zones: string[]; dnsRole: HostRole } {
  const hosts: PlannedLabHost[] = [];
  for (const role of ["legacy", "new", "internet", "smartHost", "dnsServer"] as const) {
    const h = inv.hosts[role];
    if (!h) continue;
    if (h.kind !== "existing")
      throw new Error(`lab: hosts.${role} of the pilot stack is kind ${h.kind}; the lab builds only existing hosts`);
    if (!RFC5737.some((r) => r.test(h.address)))
      throw new Error(`lab: hosts.${role}.address ${h.address} is outside the RFC 5737 documentation ranges the lab may use`);
    hosts.push({
      role,
      namespace: `${LAB_PREFIX}-${role.toLowerCase()}`,
      address: h.address,
      interface: h.interface,
      link: `${LAB_PREFIX}-${role.slice(0, 3).toLowerCase()}`,
    });
  }
  if (!RFC5737.some((r) => r.test(inv.gateway.address)))
    throw new Error(`lab: gateway.address ${inv.gateway.address} is outside the RFC 5737 ranges`);
  if ([inv.gateway.address, ...hosts.map((h) => h.address)].includes(OPERATOR_ADDRESS))
    throw new Error(`lab: ${OPERATOR_ADDRESS} is the operator's address in the lab; give the pilot's hosts other addresses`);
  const bind = inv.zones.filter((z) => z.provider === "bind");
  const servers = new Set(bind.map((z) => z.server!));
  if (servers.size > 1) throw new Error(`lab: the pilot's bind zones must share one DNS server, found ${[...servers].join(", ")}`);
  return { hosts, zones: bind.map((z) => z.name), dnsRole: [...servers][0] ?? "internet" };
}

/** A lab host's own directory (spool, maildirs, pid files, logs). */
export const hostDir = (role: HostRole) => join(LAB_DIR, "hosts", role.toLowerCase());
const etcDir = (ns: string) => join("/etc/netns", ns);
const keysDir = join(LAB_DIR, "keys");
const descriptionPath = join(LAB_DIR, "lab.json");

export async function labNamespaces(): Promise<string[]> {
  const { stdout } = await run(["ip", "netns", "list"]);
  return stdout
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((n) => n?.startsWith(`${LAB_PREFIX}-`));
}

/** Stops every process in the lab's namespaces (and only those), deletes the namespaces and host state. */
export async function labDown(progress: Progress = () => {}): Promise<void> {
  const namespaces = await labNamespaces();
  for (const ns of namespaces) await killNamespace(ns);
  for (const ns of namespaces) {
    await run(["ip", "netns", "del", ns], { allowFailure: true });
    rmSync(etcDir(ns), { recursive: true, force: true });
  }
  rmSync(join(LAB_DIR, "hosts"), { recursive: true, force: true });
  rmSync(descriptionPath, { force: true });
  if (namespaces.length) progress(`lab down: removed ${namespaces.join(", ")}`);
}

async function killNamespace(ns: string): Promise<void> {
  const pids = async () => (await run(["ip", "netns", "pids", ns], { allowFailure: true })).stdout.split(/\s+/).filter(Boolean).map(Number);
  for (const [signal, waitMs] of [
    ["SIGTERM", 1500],
    ["SIGKILL", 1000],
  ] as const) {
    const list = await pids();
    if (!list.length) return;
    for (const pid of list) {
      try {
        process.kill(pid, signal);
      } catch {
        /* already gone */
      }
    }
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline && (await pids()).length) await sleep(50);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const REQUIRED: [binary: string, pkg: string][] = [
  ["/usr/sbin/sshd", "openssh-server"],
  ["/usr/bin/ssh-keygen", "openssh-client"],
  ["/usr/sbin/postfix", "postfix"],
  ["/usr/sbin/dovecot", "dovecot-pop3d"],
  ["/usr/lib/dovecot/pop3", "dovecot-pop3d"],
  ["/usr/bin/swaks", "swaks"],
  ["/usr/bin/dig", "bind9-dnsutils"],
  ["/usr/bin/nsupdate", "bind9-dnsutils"],
  ["/usr/bin/arping", "iputils-arping"],
  ["/usr/sbin/knotd", "knot"],
  ["/usr/sbin/ip", "iproute2"],
];

/** Installs the Debian packages the lab needs, if any is missing; daemons are kept from starting in the root namespace. */
export async function ensurePackages(progress: Progress): Promise<void> {
  const missing = [...new Set(REQUIRED.filter(([bin]) => !existsSync(bin)).map(([, pkg]) => pkg))];
  if (!missing.length) return;
  progress(`lab: installing ${missing.join(" ")} (apt-get, about 40 s)`);
  const policy = "/usr/sbin/policy-rc.d";
  const hadPolicy = existsSync(policy);
  if (!hadPolicy) writeFileSync(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  try {
    await run(["debconf-set-selections"], { input: "postfix postfix/main_mailer_type select No configuration\n" });
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    await run(["apt-get", "update"], { env, timeoutMs: 300_000 });
    await run(["apt-get", "install", "-y", "--no-install-recommends", ...missing], { env, timeoutMs: 600_000 });
  } finally {
    if (!hadPolicy) rmSync(policy, { force: true });
  }
}

async function ensureKey(path: string, comment: string): Promise<string> {
  if (!existsSync(path)) await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path]);
  return readFileSync(`${path}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
}

function ensureTsig(): LabDescription["tsig"] {
  const path = join(keysDir, "tsig.json");
  if (!existsSync(path))
    writeFileSync(path, JSON.stringify({ name: "cutover-lab", algorithm: "hmac-sha256", secret: randomBytes(32).toString("base64") }), {
      mode: 0o600,
    });
  return JSON.parse(readFileSync(path, "utf8"));
}

export async function labUp(progress: Progress = () => {}): Promise<LabDescription> {
  const started = Date.now();
  const inv = loadStack("pilot", 1).inventory;
  const layout = labLayout(inv);
  await ensurePackages(progress);
  if ((await labNamespaces()).length) {
    progress("lab: removing a stale lab of this prefix first");
    await labDown(progress);
  }
  try {
    mkdirSync(LAB_DIR, { recursive: true, mode: 0o755 });
    chmodSync(LAB_DIR, 0o755);
    mkdirSync(keysDir, { recursive: true, mode: 0o700 });
    const adminPublicKey = await ensureKey(join(keysDir, "admin_ed25519"), "cutover-lab-admin");
    writeFileSync(join(keysDir, "authorized_keys"), `${adminPublicKey}\n`, { mode: 0o600 });
    const tsig = ensureTsig();

    progress(`lab: network ${SWITCH_NS} with ${layout.hosts.map((h) => h.namespace).join(", ")}`);
    await buildNetwork(layout.hosts, inv.gateway.address, inv.gateway.prefixLength);

    const hosts: Partial<Record<HostRole, LabHost>> = {};
    for (const h of layout.hosts) {
      const dir = hostDir(h.role);
      mkdirSync(dir, { recursive: true });
      hosts[h.role] = {
        role: h.role,
        namespace: h.namespace,
        address: h.address,
        interface: h.interface,
        hostKey: await ensureKey(join(keysDir, `${h.role.toLowerCase()}_host_ed25519`), `cutover-lab-${h.role}`),
        dir,
      };
      writeEtc(h, layout.hosts.find((x) => x.role === layout.dnsRole)?.address ?? h.address);
    }
    const dns = hosts[layout.dnsRole]!;
    const operatorEtc = etcDir(OPERATOR_NS);
    mkdirSync(operatorEtc, { recursive: true });
    writeFileSync(join(operatorEtc, "resolv.conf"), `nameserver ${dns.address}\noptions timeout:1 attempts:2\n`);
    progress("lab: starting sshd, postfix, knot and dovecot");
    await Promise.all(
      layout.hosts.map(async (h) => {
        await startSshd(h);
        await startPostfix(h);
        if (h.role === layout.dnsRole) await startKnot(h, layout.zones, tsig, inv);
        if (h.role === "internet") await startDovecot(h);
      }),
    );
    await Promise.all(
      layout.hosts.map((h) =>
        waitListening(h.namespace, [22, 25, ...(h.role === layout.dnsRole ? [53] : []), ...(h.role === "internet" ? [110] : [])]),
      ),
    );
    const description: LabDescription = {
      hosts,
      operatorNamespace: OPERATOR_NS,
      adminKeyPath: join(keysDir, "admin_ed25519"),
      tsig,
      serviceAddress: inv.gateway.address,
      prefixLength: inv.gateway.prefixLength,
      zones: layout.zones,
      dnsServer: dns.address,
    };
    writeFileSync(descriptionPath, JSON.stringify(description, null, 2), { mode: 0o600 });
    progress(`lab up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return description;
  } catch (e) {
    progress(`lab: setup failed (${(e as Error).message}); tearing down`);
    await labDown();
    throw e;
  }
}

async function buildNetwork(hosts: PlannedLabHost[], serviceAddress: string, prefixLength: number): Promise<void> {
  await run(["ip", "netns", "add", SWITCH_NS]);
  await run(["ip", "-n", SWITCH_NS, "link", "add", BRIDGE, "type", "bridge"]);
  await run(["ip", "-n", SWITCH_NS, "link", "set", BRIDGE, "up"]);
  for (const h of hosts) {
    await run(["ip", "netns", "add", h.namespace]);
    // Both ends are made inside namespaces: nothing is added to the root namespace.
    await run(["ip", "-n", SWITCH_NS, "link", "add", h.link, "type", "veth", "peer", "name", h.interface, "netns", h.namespace]);
    await run(["ip", "-n", SWITCH_NS, "link", "set", h.link, "master", BRIDGE, "up"]);
    await run(["ip", "-n", h.namespace, "link", "set", "lo", "up"]);
    // Deleting a primary address deletes its secondaries unless they are promoted (lab-notes 7).
    for (const key of ["net.ipv4.conf.all.promote_secondaries=1", `net.ipv4.conf.${h.interface}.promote_secondaries=1`])
      await inNamespace(h.namespace, ["sysctl", "-q", "-w", key]);
    await run(["ip", "-n", h.namespace, "addr", "add", `${h.address}/${prefixLength}`, "dev", h.interface]);
    await run(["ip", "-n", h.namespace, "link", "set", h.interface, "up"]);
  }
  await run(["ip", "netns", "add", OPERATOR_NS]);
  await run([
    "ip",
    "-n",
    SWITCH_NS,
    "link",
    "add",
    `${LAB_PREFIX}-op`,
    "type",
    "veth",
    "peer",
    "name",
    `${LAB_PREFIX}0`,
    "netns",
    OPERATOR_NS,
  ]);
  await run(["ip", "-n", SWITCH_NS, "link", "set", `${LAB_PREFIX}-op`, "master", BRIDGE, "up"]);
  await run(["ip", "-n", OPERATOR_NS, "link", "set", "lo", "up"]);
  await run(["ip", "-n", OPERATOR_NS, "addr", "add", `${OPERATOR_ADDRESS}/${prefixLength}`, "dev", `${LAB_PREFIX}0`]);
  await run(["ip", "-n", OPERATOR_NS, "link", "set", `${LAB_PREFIX}0`, "up"]);
  // The gateway's service address starts on the legacy gateway, as in the world before the go-live.
  const legacy = hosts.find((h) => h.role === "legacy")!;
  await run(["ip", "-n", legacy.namespace, "addr", "add", `${serviceAddress}/${prefixLength}`, "dev", legacy.interface]);
}

/** Files that `ip netns exec` mounts over /etc for this host's processes only (lab-notes 5, 9). */
function writeEtc(h: PlannedLabHost, dnsAddress: string): void {
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

async function startSshd(h: PlannedLabHost): Promise<void> {
  const dir = hostDir(h.role);
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      `ListenAddress ${h.address}:22`,
      `HostKey ${join(keysDir, `${h.role.toLowerCase()}_host_ed25519`)}`,
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

async function startPostfix(h: PlannedLabHost): Promise<void> {
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
    throw new Error(`postfix on ${h.role} did not start: ${(e as Error).message}; maillog: ${log}`);
  }
}

async function startKnot(h: PlannedLabHost, zones: string[], tsig: LabDescription["tsig"], inv: Inventory): Promise<void> {
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

async function startDovecot(h: PlannedLabHost): Promise<void> {
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
  if (!line) throw new Error(`lab: no user ${user} on this machine`);
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

/** Waits until every port listens inside the namespace. */
async function waitListening(ns: string, ports: number[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { stdout } = await inNamespace(ns, ["ss", "-Hltn"], { allowFailure: true });
    const open = new Set([...stdout.matchAll(/:(\d+)\s/g)].map((m) => Number(m[1])));
    const missing = ports.filter((p) => !open.has(p));
    if (!missing.length) return;
    if (Date.now() > deadline) throw new Error(`lab: ${ns} does not listen on port ${missing.join(", ")} after ${timeoutMs / 1000} s`);
    await sleep(100);
  }
}

/** Stops or starts a lab host's sshd (to make it unreachable for a while, as a failed host is). */
export async function setSshd(role: HostRole, running: boolean): Promise<void> {
  const inv = loadStack("pilot", 1).inventory;
  const h = labLayout(inv).hosts.find((x) => x.role === role);
  if (!h) throw new Error(`lab: no host ${role}`);
  const pidFile = join(hostDir(role), "sshd.pid");
  if (!running) {
    if (!existsSync(pidFile)) return;
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      /* already gone */
    }
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && existsSync(`/proc/${pid}`)) await sleep(50);
    rmSync(pidFile, { force: true });
  } else {
    if (existsSync(pidFile)) return;
    await startSshd(h);
    await waitListening(h.namespace, [22]);
  }
}

/** Whether a lab is up and every host answers: what the rehearsal can reuse instead of rebuilding. */
export async function labHealthy(): Promise<boolean> {
  if (!existsSync(descriptionPath)) return false;
  const lab = readLabDescription();
  const namespaces = new Set(await labNamespaces());
  const hosts = Object.values(lab.hosts);
  if (!hosts.every((h) => namespaces.has(h!.namespace)) || !namespaces.has(OPERATOR_NS)) return false;
  try {
    await Promise.all(hosts.map((h) => waitListening(h!.namespace, [22, 25], 1000)));
    return true;
  } catch {
    return false;
  }
}

/** The pinned host key of every lab host, by role. */
export const labHostKeys = (lab: LabDescription): HostKeys =>
  Object.fromEntries(Object.entries(lab.hosts).map(([role, h]) => [role, h!.hostKey]));

export function readLabDescription(): LabDescription {
  if (!existsSync(descriptionPath)) throw new Error(`no lab is up (no ${descriptionPath}): run npm run lab -- up`);
  return JSON.parse(readFileSync(descriptionPath, "utf8"));
}

export interface LabStatus {
  up: boolean;
  namespaces: { name: string; processes: number }[];
}

export async function labStatus(): Promise<LabStatus> {
  const namespaces = await labNamespaces();
  const out = [];
  for (const name of namespaces) {
    const { stdout } = await run(["ip", "netns", "pids", name], { allowFailure: true });
    out.push({ name, processes: stdout.split(/\s+/).filter(Boolean).length });
  }
  return { up: existsSync(descriptionPath) && namespaces.length > 0, namespaces: out };
}

/**
 * Extra zones on the lab's DNS server, for the drift bench: zone files written with their records
 * and added to knot's zone list, then `knotc reload`. Replaces the extra zones of an earlier call;
 * with an empty list, removes them.
 */
export async function serveExtraZones(
  zones: { name: string; records: { name: string; type: string; ttl: number; values: string[] }[] }[],
): Promise<void> {
  const lab = readLabDescription();
  const h = Object.values(lab.hosts).find((x) => x && existsSync(join(etcDir(x.namespace), "knot", "knot.conf")))!;
  const storage = join(hostDir(h.role), "knot");
  const confPath = join(etcDir(h.namespace), "knot", "knot.conf");
  const marker = "  # extra zones (bench)";
  const base = readFileSync(confPath, "utf8").split(`${marker}\n`)[0];
  const fq = (n: string) => `${n}.`;
  for (const z of zones) {
    const lines = [
      `$ORIGIN ${fq(z.name)}`,
      "$TTL 300",
      `@ SOA ns.${z.name}. hostmaster.${z.name}. 1 3600 600 86400 60`,
      `@ NS ns.${z.name}.`,
      `ns.${z.name}. A ${h.address}`,
    ];
    for (const r of z.records)
      for (const v of r.values)
        lines.push(
          `${fq(r.name)} ${r.ttl} ${r.type} ${r.type === "MX" ? `${v.split(" ")[0]} ${fq(v.split(" ")[1])}` : r.type === "TXT" ? `"${v}"` : v}`,
        );
    writeFileSync(join(storage, `${z.name}.zone`), `${lines.join("\n")}\n`);
  }
  writeFileSync(confPath, zones.length ? `${base}${marker}\n${zones.map((z) => `  - domain: ${z.name}`).join("\n")}\n` : base, {
    mode: 0o600,
  });
  await inNamespace(h.namespace, ["knotc", "-c", "/etc/knot/knot.conf", "reload"], { timeoutMs: 60_000 });
}
