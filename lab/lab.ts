/**
 * The lab: the pilot stack's hosts as network namespaces on this machine, joined by a bridge in a
 * namespace of its own, on RFC 5737 addresses only. It boots bare hosts (sshd, postfix, and on the
 * model-Internet host knot and dovecot); everything the product configures it configures over SSH.
 * Its layout comes from the pilot stack's inventory, so the lab and the stack cannot disagree.
 */

import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CutoverError, InputError } from "../src/model/errors";
import type { HostRole } from "../src/model/inventory";
import { gatewayName, hostName } from "../src/model/names";
import { organisationDomains } from "../src/model/plan";
import { loadStack } from "../src/model/stack-file";
import { run } from "../src/remote/local";
import { ensureCa, ensureChain } from "./certificates";
import {
  bootPostfix,
  ISP_RELAY,
  ISP_ZONE,
  LEGACY_CHAIN,
  publishDelegations,
  startDovecot,
  startKnot,
  startPostfix,
  startResolver,
  startSshd,
  startSubmissionSasl,
  writeEtc,
} from "./daemons";
import {
  descriptionPath,
  etcDir,
  hostDir,
  keysDir,
  LAB_DIR,
  type LabDescription,
  type LabHost,
  labLayout,
  OFFICE_NS,
  OPERATOR_NS,
  type Progress,
  SWITCH_NS,
} from "./layout";
import { MTA_STS_SENDER, policyDirectory, startPolicyWeb, startStsResolver } from "./mta-sts";
import { bootNetwork, buildNetwork, inNamespace, killNamespace, labNamespaces, waitListening } from "./namespaces";

export { hostDir, type LabDescription } from "./layout";

import type { HostKeys } from "../src/remote/targets";
import { labShapeInventories } from "./lab-stack";
import { teamDown, teamUp } from "./team";

/** Stops every process in the lab's namespaces (and only those), deletes the namespaces and host state. */
export async function labDown(progress: Progress = () => {}): Promise<void> {
  await teamDown();
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const REQUIRED: [binary: string, pkg: string][] = [
  ["/usr/sbin/sshd", "openssh-server"],
  ["/usr/bin/ssh-keygen", "openssh-client"],
  ["/usr/sbin/postfix", "postfix"],
  ["/usr/sbin/dovecot", "dovecot-pop3d"],
  // Debian's stock main.cf has TLS (the snakeoil certificate); swaks needs Net::SSLeay for STARTTLS.
  ["/usr/sbin/make-ssl-cert", "ssl-cert"],
  ["/usr/lib/x86_64-linux-gnu/perl5/5.36/Net/SSLeay.pm", "libnet-ssleay-perl"],
  ["/usr/lib/dovecot/pop3", "dovecot-pop3d"],
  ["/usr/bin/swaks", "swaks"],
  ["/usr/bin/dig", "bind9-dnsutils"],
  ["/usr/bin/nsupdate", "bind9-dnsutils"],
  ["/usr/bin/arping", "iputils-arping"],
  // A host giving the service address up closes it to new sessions for that moment (nftables,
  // which Debian installs by default: priority important).
  ["/usr/sbin/nft", "nftables"],
  ["/usr/sbin/knotd", "knot"],
  // The outside host's validating resolver (DANE needs DNSSEC).
  ["/usr/sbin/unbound", "unbound"],
  // MTA-STS: the organisation's web server for the policies, and a sender that enforces them.
  ["/usr/sbin/nginx", "nginx"],
  ["/usr/bin/mta-sts-daemon", "postfix-mta-sts-resolver"],
  ["/usr/sbin/ip", "iproute2"],
  // Each host's addresses come from its own /etc/network/interfaces at its boot, as on a Debian gateway.
  ["/usr/sbin/ifup", "ifupdown"],
  // The team's state backend (lab/team.ts).
  ["/usr/bin/pg_lsclusters", "postgresql"],
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

async function ensureKey(path: string, comment: string, type: "ed25519" | "rsa" | "ecdsa" = "ed25519"): Promise<string> {
  if (!existsSync(path)) await run(["ssh-keygen", "-q", "-t", type, "-N", "", "-C", comment, "-f", path]);
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

/**
 * The lab CA, and each gateway's chain for every gateway name of every lab shape, in the pilot's
 * and in the production's address space (a rehearsal goes from one to the other); the new
 * server's also for its own names, which the MX points to with the mx strategy. Kept in the lab's
 * key directory across lab ups.
 */
async function labTls(): Promise<NonNullable<LabDescription["tls"]>> {
  const stages = ["pilot", "production"] as const;
  const shapes = labShapeInventories();
  const gatewayNames = shapes.flatMap((inv) => stages.map((stage) => gatewayName(inv, stage)));
  const newNames = shapes.flatMap((inv) => stages.map((stage) => hostName(inv, "new", stage)));
  const ca = await ensureCa(join(keysDir, "ca"));
  const [legacy, neu] = await Promise.all([
    ensureChain(ca, join(keysDir, "legacy-gateway.pem"), [...new Set(gatewayNames)]),
    ensureChain(ca, join(keysDir, "new-gateway.pem"), [...new Set([...gatewayNames, ...newNames])]),
  ]);
  return {
    caFile: ca.certificateFile,
    legacy: { chain: LEGACY_CHAIN, spki: legacy },
    new: { chainFile: join(keysDir, "new-gateway.pem"), spki: neu },
  };
}

/** The lab web server's chain for every lab domain's MTA-STS policy name, in both address spaces. */
async function mtaStsChain(): Promise<string> {
  const names = labShapeInventories()
    .filter((inv) => inv.layout !== "smart-host")
    .flatMap((inv) => (["pilot", "production"] as const).flatMap((stage) => organisationDomains(inv, stage)))
    .map((d) => `mta-sts.${d}`);
  const file = join(keysDir, "mta-sts-web.pem");
  await ensureChain(await ensureCa(join(keysDir, "ca")), file, [...new Set(names)]);
  return file;
}

/** `team`: also the team's PostgreSQL backend and a second operator's workstation (lab/team.ts). */
export async function labUp(progress: Progress = () => {}, opts: { team?: boolean } = {}): Promise<LabDescription> {
  const started = Date.now();
  const inv = loadStack("pilot", 1).inventory;
  const layout = labLayout(labShapeInventories());
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

    // Each host's own /etc first: its network configuration is what brings its addresses up.
    for (const h of layout.hosts) {
      mkdirSync(hostDir(h.role), { recursive: true });
      writeEtc(h, layout.hosts.find((x) => x.role === layout.dnsRole)?.address ?? h.address, {
        prefixLength: inv.gateway.prefixLength,
        serviceAddress: inv.gateway.address,
      });
    }
    progress(`lab: network ${SWITCH_NS} with ${layout.hosts.map((h) => h.namespace).join(", ")}`);
    await buildNetwork(layout.hosts, inv.gateway.prefixLength);

    const hosts: Partial<Record<HostRole, LabHost>> = {};
    for (const h of layout.hosts) {
      const dir = hostDir(h.role);
      hosts[h.role] = {
        role: h.role,
        namespace: h.namespace,
        address: h.address,
        interface: h.interface,
        hostKey: await ensureKey(join(keysDir, `${h.role.toLowerCase()}_host_ed25519`), `cutover-lab-${h.role}`),
        dir,
      };
      // A Debian host offers RSA, ECDSA and ed25519 host keys (openssh-server makes all three).
      for (const type of ["rsa", "ecdsa"] as const)
        await ensureKey(join(keysDir, `${h.role.toLowerCase()}_host_${type}`), `cutover-lab-${h.role}`, type);
    }
    const dns = hosts[layout.dnsRole]!;
    const operatorEtc = etcDir(OPERATOR_NS);
    mkdirSync(operatorEtc, { recursive: true });
    writeFileSync(join(operatorEtc, "resolv.conf"), `nameserver ${dns.address}\noptions timeout:1 attempts:2\n`);
    // The office client resolves the gateway's name through the organisation's DNS, as a workstation does.
    const officeEtc = etcDir(OFFICE_NS);
    mkdirSync(officeEtc, { recursive: true });
    writeFileSync(join(officeEtc, "resolv.conf"), `nameserver ${dns.address}\noptions timeout:1 attempts:2\n`);
    const zones = [...layout.zones, ISP_ZONE];
    progress("lab: the lab CA and the gateways' chains for the gateway names");
    const tls = await labTls();
    const internet = layout.hosts.find((x) => x.role === "internet")!;
    const stsSender = { address: `${MTA_STS_SENDER}@${inv.internet!.domain}`, caFile: tls.caFile };
    progress("lab: starting sshd, postfix, knot and dovecot");
    await Promise.all(
      layout.hosts.map(async (h) => {
        await startSshd(h);
        await startPostfix(
          h,
          { internet: layout.hosts.find((x) => x.role === "internet")!.address },
          h.role === "legacy" ? readFileSync(join(keysDir, "legacy-gateway.pem"), "utf8") : undefined,
          h.role === "internet" ? stsSender : undefined,
        );
        if (h.role === "legacy" || h.role === "new") await startSubmissionSasl(h);
        if (h.role === layout.dnsRole) await startKnot(h, zones, tsig, inv);
        if (h.role === "internet") await startDovecot(h);
      }),
    );
    await Promise.all(
      layout.hosts.map((h) =>
        waitListening(h.namespace, [
          22,
          25,
          ...(h.role === layout.dnsRole ? [53] : []),
          ...(h.role === "internet" ? [110, ISP_RELAY.port] : []),
          ...(h.role === "legacy" || h.role === "new" ? [587] : []),
        ]),
      ),
    );
    // Once Knot has signed the zones: their DS records in the parent, then the outside host's
    // validating resolver, the parent's key its anchor.
    await publishDelegations(dns, zones);
    await startResolver(internet, zones, dns.address);
    progress("lab: MTA-STS: the policies' web server (nginx) and the enforcing sender's resolver");
    await startPolicyWeb(internet, await mtaStsChain());
    await startStsResolver(internet, tls.caFile);
    await waitListening(internet.namespace, [443, 8461]);
    const description: LabDescription = {
      hosts,
      operatorNamespace: OPERATOR_NS,
      adminKeyPath: join(keysDir, "admin_ed25519"),
      tsig,
      serviceAddress: inv.gateway.address,
      prefixLength: inv.gateway.prefixLength,
      zones,
      dnsServer: dns.address,
      ...(Object.keys(layout.aliases).length ? { aliases: layout.aliases } : {}),
      tls,
      mtaSts: { policyHost: "internet", address: internet.address, directory: policyDirectory(internet), sender: MTA_STS_SENDER },
      ...(opts.team ? { team: await teamUp(progress) } : {}),
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

/** Stops or starts a lab host's sshd (to make it unreachable for a while, as a failed host is). */
export async function setSshd(role: HostRole, running: boolean): Promise<void> {
  const h = labLayout(labShapeInventories()).hosts.find((x) => x.role === role);
  if (!h) throw new InputError(`lab: no host ${role}`);
  const pidFile = join(hostDir(role), "sshd.pid");
  const nameFile = join(hostDir(role), "kernel-hostname");
  if (!running) {
    if (!existsSync(pidFile)) return;
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    // The host's name lives in sshd's UTS namespace: kept for the restart.
    const name = await run(["nsenter", "--target", String(pid), "--uts", "hostname"], { allowFailure: true });
    if (name.code === 0 && name.stdout.trim()) writeFileSync(nameFile, name.stdout.trim());
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
    await startSshd(h, existsSync(nameFile) ? readFileSync(nameFile, "utf8").trim() : undefined);
    await waitListening(h.namespace, [22]);
  }
}

/**
 * Reboots a gateway of the lab as a host reboots: every process of its namespace killed, its
 * addresses and kernel name gone; then its boot as Debian runs it: `ifup -a` from its own
 * /etc/network/interfaces, its name from its own /etc/hostname, sshd and postfix started with the
 * configuration they have. Whatever the last phase did not write to the host's files is gone.
 */
export async function rebootHost(role: HostRole, progress: Progress = () => {}): Promise<void> {
  if (role !== "legacy" && role !== "new") throw new InputError(`lab: reboot is for the gateways (legacy, new), not ${role}`);
  const h = labLayout(labShapeInventories()).hosts.find((x) => x.role === role)!;
  const started = Date.now();
  progress(`lab: ${role} goes down: its processes killed, its addresses and its name gone`);
  await killNamespace(h.namespace);
  await run(["ip", "-n", h.namespace, "addr", "flush", "dev", h.interface]);
  await run(["ip", "-n", h.namespace, "link", "set", h.interface, "down"]);
  for (const f of ["sshd.pid", "kernel-hostname"]) rmSync(join(hostDir(role), f), { force: true });
  progress(`lab: ${role} boots: ifup -a from its /etc/network/interfaces, its name from /etc/hostname, sshd and postfix`);
  await bootNetwork(h, join(hostDir(role), "run-network"));
  await startSshd(h);
  await bootPostfix(h);
  if (role === "legacy" || role === "new") await startSubmissionSasl(h);
  await waitListening(h.namespace, [22, 25, ...(role === "legacy" ? [587] : [])]);
  progress(`lab: ${role} up again in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/** Whether the lab's namespaces are there (its hosts exist), whatever their daemons do. */
export async function labPresent(): Promise<boolean> {
  if (!existsSync(descriptionPath)) return false;
  const lab = readLabDescription();
  const namespaces = new Set(await labNamespaces());
  return Object.values(lab.hosts).every((h) => namespaces.has(h!.namespace)) && namespaces.has(OPERATOR_NS);
}

/** What does not answer on a present lab: "sshd on new (198.51.100.20:22) is not listening", one line each. */
export async function labDaemonFaults(): Promise<string[]> {
  const lab = readLabDescription();
  const faults: string[] = [];
  for (const h of Object.values(lab.hosts)) {
    const { stdout } = await inNamespace(h!.namespace, ["ss", "-Hltn"], { allowFailure: true });
    const open = new Set([...stdout.matchAll(/:(\d+)\s/g)].map((m) => Number(m[1])));
    for (const [port, daemon] of [
      [22, "sshd"],
      [25, "postfix"],
      ...(lab.mtaSts?.policyHost === h!.role ? ([[443, "nginx (the MTA-STS policies)"]] as const) : []),
      ...(lab.mtaSts && h!.role === "internet" ? ([[8461, "mta-sts-daemon (the outside sender's MTA-STS resolver)"]] as const) : []),
    ] as const)
      if (!open.has(port)) faults.push(`${daemon} on ${h!.role} (${h!.address}:${port}) is not listening`);
  }
  return faults;
}

/** Whether a lab is up and every host answers: what the rehearsal can reuse instead of rebuilding. */
export async function labHealthy(): Promise<boolean> {
  return (await labPresent()) && (await labDaemonFaults()).length === 0;
}

/** How to reach each lab host by hand, one line each (commands run from the operator's namespace). */
export const labAccessLines = (lab: LabDescription): string[] =>
  Object.values(lab.hosts).map(
    (h) =>
      `${h!.role.padEnd(9)} ${h!.address.padEnd(15)} ip netns exec ${h!.namespace} ...   ip netns exec ${OPERATOR_NS} ssh -i ${lab.adminKeyPath} root@${h!.address}`,
  );

/** How to run pulumi by hand on a lab stack, from the operator's namespace. */
export const labPulumiLines = (binDir: string, stack: string, projectDir: string): string[] => [
  `export PATH=${binDir}:$PATH PULUMI_BACKEND_URL=file://${projectDir}/.state PULUMI_CONFIG_PASSPHRASE=cutover-lab`,
  `ip netns exec ${OPERATOR_NS} pulumi preview --stack ${stack}`,
];

/** The pinned host key of every lab host, by role. */
export const labHostKeys = (lab: LabDescription): HostKeys =>
  Object.fromEntries(Object.entries(lab.hosts).map(([role, h]) => [role, h!.hostKey]));

export function readLabDescription(): LabDescription {
  if (!existsSync(descriptionPath)) throw new CutoverError(`no lab is up (no ${descriptionPath}): run npm run lab -- up`);
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
