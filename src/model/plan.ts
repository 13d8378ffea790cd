/**
 * plan(inventory, phase): the desired state of one phase, as plain data. Pure and deterministic;
 * the Pulumi program, the lab rehearsal, verification and the drift check all read it.
 */
import { tlsaValue } from "./certificate";
import type { ChainSource, GoLiveStrategy, HostRole, Inventory, MailSystem, Phase, ZoneSpec } from "./inventory";
import { GATEWAY_SERVICE_PORTS, HOST_ROLES } from "./inventory";
import { type MtaStsPolicy, policyRecord, policyText } from "./mta-sts";
import { addressInStage, domainOf, gatewayName, hostName, qualify, type Stage, stageOf, zoneFor } from "./names";
import { type DnsRecord, isSpf, mergeSpf, type RecordType, recordSetKey } from "./records";

export type { DnsRecord, RecordType } from "./records";

export interface PlannedZone {
  name: string;
  provider: ZoneSpec["provider"];
  /** The existing zone's id (Route 53 or Cloudflare); absent for a zone the stack creates or a bind zone. */
  zoneId?: string;
  /** route53: the stack creates the hosted zone (and the operator delegates the domain to it). */
  create?: boolean;
  /** bind: the host running the DNS server, the address it takes updates on, the TSIG key's name. */
  server?: HostRole;
  serverAddress?: string;
  tsigKey?: { name: string; algorithm: string };
  records: DnsRecord[];
}

/** A recipient (an address, or a whole domain) this host passes on instead of delivering. */
export interface Relay {
  recipient: string;
  to: HostRole;
  /** Address the message is relayed to: management addresses, never the moving service address. */
  nextHop: string;
}

/** How one mail host routes: postfix's virtual mailbox domains, mailboxes and transport entries. */
export interface RoutingTable {
  host: HostRole;
  /** Domains the host accepts mail for. */
  domains: string[];
  /** Recipients delivered to a mailbox on this host. */
  mailboxes: string[];
  /** Recipients passed to another system: per user (split delivery) or per domain (connector). */
  relays: Relay[];
  /** Clients allowed to relay through this host to any destination: the organisation's own hosts. */
  trusted: string[];
  /**
   * The recipients that exist in the domains this host relays whole (the phase-2 connector, the
   * smart host): any other recipient there is refused at RCPT, so no bounce goes to a forged sender.
   */
  relayRecipients: string[];
  /**
   * postfix's relayhost, "[host]:port": where the host sends mail for outside domains (the
   * inventory's outboundRelay). Absent: direct delivery by MX.
   */
  relayHost?: string;
  /** The gateway's TLS identity this host serves over STARTTLS in this phase (see GatewayTls). */
  tls?: GatewayTls;
}

/**
 * What a gateway serves over STARTTLS while it may answer as the gateway: its chain for `name`,
 * whose key has the SPKI sha256 `spki`. `chain`: the file on the host (postfix's
 * smtpd_tls_chain_files); absent, the chain is the stack secret, which the routing effect installs.
 */
export interface GatewayTls {
  name: string;
  spki: string;
  chain?: string;
}

/** Who answers as the gateway: the address and name the world's MX records lead to. */
export interface GatewayIdentity {
  /** The system mail from outside reaches. */
  holder: MailSystem;
  hostName: string;
  /** The address the MX name resolves to. */
  address: string;
  prefixLength: number;
  strategy: GoLiveStrategy | "none";
  /**
   * The gateway's floating service address and the system that carries it. It moves with the
   * holder, except with the mx strategy, where it stays on the legacy gateway and the MX moves.
   * `ports`: what the gateway name offers beyond port 25 (gateway.services), whose sessions move
   * with the address as port 25's do; absent when it offers nothing more.
   */
  service: { address: string; prefixLength: number; holder: MailSystem; ports?: number[] };
  /**
   * With gateway.tls: each system's chain for the gateway name and its key's digest. The system that
   * holds the identity serves its chain; the TLSA records cover every key that may answer.
   */
  tls?: Record<MailSystem, ChainSource>;
}

export type Sender = "outside" | MailSystem;

/** Where a message to `recipient` sent from `from` must end: in a mailbox on `mailboxHost`. */
export interface MailFlow {
  recipient: string;
  from: Sender;
  /** First host that receives the message (the MX target for mail from outside). */
  entry: HostRole;
  mailboxHost: HostRole;
  /**
   * A host the message must pass on its way, shown in its Received path: the smart host (by its
   * address) for mail from outside, the outbound relay (by its name or address) for mail leaving.
   */
  via?: string;
  /** Sent from this address instead of the sending host's usual one: the outside sender that enforces MTA-STS. */
  sender?: string;
  /** The sender enforces this on its way in: the message arrives only if the gateway passes it. */
  enforcing?: "mta-sts";
}

/**
 * A message from one system to the organisation's outside probe mailbox (inventory
 * verification.outsideProbe): it must leave through `via` (the outbound relay), else to the MX of
 * the recipient's domain; the sending host's mail log shows who took it.
 */
export interface OutboundProbe {
  from: MailSystem;
  recipient: string;
  via?: { host: string; port: number };
}

export interface PlannedHost {
  role: HostRole;
  /** The host's name in this phase: the gateway's name if it holds the gateway identity. */
  name: string;
  /** The host's own name, which it has whenever it does not hold the gateway identity. */
  ownName: string;
  address: string;
}

/**
 * With gateway.mtaSts, from phase 2: each organisation domain's MTA-STS policy, which cutover
 * writes on the host serving https://mta-sts.<domain>/ as <directory>/mta-sts.<domain>/.well-known/mta-sts.txt.
 */
export interface PlannedMtaSts {
  policyHost: HostRole;
  directory: string;
  policies: (MtaStsPolicy & { text: string })[];
}

export interface Plan {
  phase: Phase;
  stage: Stage;
  zones: PlannedZone[];
  routing: RoutingTable[];
  gateway: GatewayIdentity;
  hosts: PlannedHost[];
  flows: MailFlow[];
  mtaSts?: PlannedMtaSts;
  /** With inventory.verification: the probe mailboxes (this phase's addresses), the only ones that get test mail; each copy found is removed. */
  probes?: string[];
  /** With verification.outsideProbe, from phase 2: a message from each system to it. */
  outbound?: OutboundProbe[];
}

const MX_PREFERENCE = 10;

export function plan(inv: Inventory, phase: Phase): Plan {
  const stage = stageOf(phase);
  const gateway = gatewayIdentity(inv, phase, stage);
  const hosts = HOST_ROLES.filter((r) => inv.hosts[r]).map((role) => ({
    role,
    name: role === gateway.holder ? gateway.hostName : hostName(inv, role, stage),
    ownName: hostName(inv, role, stage),
    address: inv.hosts[role]!.address,
  }));
  const mailboxes = phase === 1 ? [] : inv.mailboxList.map((m) => ({ ...m, address: stageAddress(inv, m.address, m.home, phase, stage) }));
  // With probe mailboxes, real messages go to those only; every mailbox is routed either way.
  const probes = inv.verification && new Set(inv.verification.probes);
  const probed = probes ? mailboxes.filter((_, i) => probes.has(inv.mailboxList[i].address)) : mailboxes;

  return {
    phase,
    stage,
    zones: planZones(inv, phase),
    routing: planRouting(inv, phase, stage, gateway, mailboxes),
    gateway,
    hosts,
    flows: planFlows(inv, phase, gateway, probed),
    ...(probes ? { probes: probed.map((m) => m.address).sort() } : {}),
    ...(inv.verification?.outsideProbe && phase >= 2
      ? {
          outbound: (["legacy", "new"] as const).map((from) => ({
            from,
            recipient: inv.verification!.outsideProbe!,
            ...(inv.outboundRelay ? { via: { host: inv.outboundRelay.host, port: inv.outboundRelay.port } } : {}),
          })),
        }
      : {}),
    ...(inv.gateway.mtaSts && phase >= 2
      ? {
          mtaSts: {
            policyHost: inv.gateway.mtaSts.policyHost,
            directory: inv.gateway.mtaSts.directory,
            policies: mtaStsPolicies(inv, phase).map((p) => ({ ...p, text: policyText(p) })),
          },
        }
      : {}),
  };
}

/**
 * Each organisation domain's MTA-STS policy in a phase: its mx lines name every host name that may
 * answer as the domain's MX in the phase (the names the gateways' chains cover), so that neither the
 * go-live nor a rollback sends a sender to an MX the policy lacks: with the mx strategy, the new
 * server's own name from phase 4, before the MX moves to it. Pure.
 */
function mtaStsPolicies(inv: Planned, phase: Phase): MtaStsPolicy[] {
  const sts = inv.gateway.mtaSts;
  if (!sts || phase < 2) return [];
  const mx = [...new Set(Object.values(gatewayTlsNames(inv, phase)))].sort();
  return organisationDomains(inv, stageOf(phase)).map((domain) => ({ domain, mode: sts.mode, mx, maxAge: sts.maxAge }));
}

/** The gateway identity moves to the new server at the go-live (phase 5) and nowhere else. */
function gatewayIdentity(inv: Planned, phase: Phase, stage: Stage): GatewayIdentity {
  const holder: MailSystem = phase === 5 ? "new" : "legacy";
  const strategy = inv.goLive?.strategy ?? "none";
  // With the mx strategy nothing moves between hosts: the MX record turns to the new server's own name.
  const mxMoved = strategy === "mx" && holder === "new";
  return {
    holder,
    hostName: mxMoved ? hostName(inv, "new", stage) : gatewayName(inv, stage),
    address: mxMoved ? inv.hosts.new.address : inv.gateway.address,
    prefixLength: inv.gateway.prefixLength,
    strategy,
    service: {
      address: inv.gateway.address,
      prefixLength: inv.gateway.prefixLength,
      holder: strategy === "mx" ? "legacy" : holder,
      ...(inv.gateway.services.length ? { ports: inv.gateway.services.map((x) => GATEWAY_SERVICE_PORTS[x]) } : {}),
    },
    ...(inv.gateway.tls ? { tls: { legacy: inv.gateway.tls.legacy, new: inv.gateway.tls.new } } : {}),
  };
}

/**
 * The TLSA records (DANE-EE, RFC 7672) of the names the gateways answer as: the legacy gateway as
 * the gateway name from phase 2; the new server from phase 4, as the name it answers to at the
 * go-live, so its key is published a phase before the switch and stays for a rollback. Pure.
 */
function tlsaRecords(inv: Planned, phase: Phase): { name: string; keys: string[] }[] {
  const tls = inv.gateway.tls;
  if (!tls) return [];
  const keys = new Map<string, string[]>();
  for (const [role, name] of Object.entries(gatewayTlsNames(inv, phase)) as [MailSystem, string][])
    keys.set(name, [...new Set([...(keys.get(name) ?? []), tls[role].spki])]);
  return [...keys].map(([name, k]) => ({ name: `_25._tcp.${name}`, keys: k }));
}

/**
 * The name each system may answer to as the gateway in a phase, so its chain must cover it: the
 * legacy gateway's from phase 2; the new server's from phase 4 (the name it takes at the go-live,
 * a phase ahead, and kept for a rollback). Pure.
 */
export function gatewayTlsNames(
  inv: Pick<Planned, "addressSpaces" | "hosts" | "gateway" | "goLive" | "internet">,
  phase: Phase,
): Partial<Record<MailSystem, string>> {
  const stage = stageOf(phase);
  return {
    ...(phase >= 2 ? { legacy: gatewayName(inv, stage) } : {}),
    ...(phase >= 4 ? { new: gatewayIdentity(inv as Planned, 5, stage).hostName } : {}),
  };
}

/** Phase 2 keeps the two systems in separate address spaces: the new one is <new label>.<domain>. */
function stageAddress(inv: Inventory, address: string, home: MailSystem, phase: Phase, stage: Stage): string {
  const a = addressInStage(address, inv.addressSpaces, stage);
  if (phase !== 2 || home === "legacy") return a;
  const at = a.indexOf("@");
  return `${a.slice(0, at)}@${newSystemDomain(inv, a.slice(at + 1), stage)}`;
}

const newSystemDomain = (inv: Planned, domain: string, stage: Stage) => `${hostName(inv, "new", stage).split(".")[0]}.${domain}`;

/** Domains of the organisation in a stage: the address spaces, or their post-office subdomains. */
export function organisationDomains(inv: Pick<Planned, "addressSpaces" | "layout" | "postOffices">, stage: Stage): string[] {
  return inv.addressSpaces.flatMap((s) => {
    const d = domainOf(s, stage);
    return inv.layout === "post-offices" ? inv.postOffices.map((p) => `${p.name}.${d}`) : [d];
  });
}

/**
 * The SPF terms of everything that delivers the organisation's mail to the Internet from phase 2:
 * the gateway address, each system's egress address (an EC2 instance's private address is seen by
 * no receiver: its egressAddress, or nothing), and the outbound relay, which from phase 2 both
 * systems send through (its own terms, else its address or name). Pure.
 */
export function spfSenders(inv: Pick<Planned, "gateway" | "hosts" | "outboundRelay">): string[] {
  const egress = (role: MailSystem) => {
    const h = inv.hosts[role];
    return h.egressAddress ?? (h.kind === "existing" ? h.address : undefined);
  };
  const addresses = [inv.gateway.address, egress("legacy"), egress("new")].filter((a): a is string => a !== undefined);
  const relay = inv.outboundRelay;
  const relayTerms = relay
    ? (relay.spf?.split(/\s+/) ?? [/^\d+\.\d+\.\d+\.\d+$/.test(relay.host) ? `ip4:${relay.host}` : `a:${relay.host}`])
    : [];
  return [...new Set([...addresses.map((a) => `ip4:${a}`), ...relayTerms])];
}

/** A record the plan writes, with what it is for (so a collision names it). */
export interface MailRecord extends Omit<DnsRecord, "zone"> {
  purpose: string;
}

type Planned = Omit<Inventory, "mailboxList">;

/** The records the plan itself writes in a phase, before the organisation's own are added. Pure. */
export function mailRecords(inv: Planned, phase: Phase): MailRecord[] {
  const stage = stageOf(phase);
  const gateway = gatewayIdentity(inv, phase, stage);
  const ttl = inv.ttl.records;
  const mxTtl = inv.goLive?.strategy === "mx" && phase >= 4 ? inv.ttl.mxSwitch : ttl;
  const records: MailRecord[] = [];
  const add = (purpose: string, name: string, type: RecordType, values: string[], t = ttl) =>
    records.push({ name, type, ttl: t, values, purpose });

  if (inv.internet && inv.hosts.internet) {
    const mx = hostName(inv, "internet", stage);
    add("the model Internet's MX", inv.internet.domain, "MX", [`${MX_PREFERENCE} ${mx}`]);
    add("the model Internet host's address", mx, "A", [inv.hosts.internet.address]);
    add("the model Internet's SPF", inv.internet.domain, "TXT", [`v=spf1 ip4:${inv.hosts.internet.address} -all`]);
  }
  if (phase >= 2) {
    const entry = inv.layout === "smart-host" ? hostName(inv, "smartHost", stage) : gateway.hostName;
    const spf = `v=spf1 ${spfSenders(inv).join(" ")} -all`;
    for (const d of organisationDomains(inv, stage)) {
      add(`the MX of the mail domain ${d}`, d, "MX", [`${MX_PREFERENCE} ${entry}`], mxTtl);
      add(`the SPF of the mail domain ${d}`, d, "TXT", [spf]);
    }
    add("the gateway's address", gatewayName(inv, stage), "A", [inv.gateway.address]);
    for (const t of tlsaRecords(inv, phase)) add(`the TLSA of ${t.name.slice(9)}'s keys`, t.name, "TLSA", t.keys.map(tlsaValue));
    const sts = inv.gateway.mtaSts;
    for (const p of sts ? mtaStsPolicies(inv, phase) : []) {
      add(`the MTA-STS policy host of ${p.domain}`, `mta-sts.${p.domain}`, "A", [sts!.address]);
      add(`the MTA-STS policy id of ${p.domain}`, `_mta-sts.${p.domain}`, "TXT", [policyRecord(policyText(p))]);
      if (sts!.reportTo)
        add(`the TLS reporting address of ${p.domain}`, `_smtp._tls.${p.domain}`, "TXT", [`v=TLSRPTv1; rua=${sts!.reportTo}`]);
    }
    for (const role of ["legacy", "new", "smartHost"] as const) {
      const h = inv.hosts[role];
      if (h) add(`the address of hosts.${role}`, hostName(inv, role, stage), "A", [h.address]);
    }
    if (phase === 2) {
      const newName = hostName(inv, "new", stage);
      for (const d of organisationDomains(inv, stage))
        add(`the MX of the new system's pilot domain for ${d}`, newSystemDomain(inv, d, stage), "MX", [`${MX_PREFERENCE} ${newName}`]);
    }
  }
  return records;
}

function planZones(inv: Inventory, phase: Phase): PlannedZone[] {
  const zoneNames = inv.zones.map((z) => z.name);
  const byZone = new Map<string, DnsRecord[]>();
  for (const { purpose: _, ...r } of mailRecords(inv, phase)) {
    const zone = zoneFor(r.name, zoneNames)!;
    byZone.set(zone, [...(byZone.get(zone) ?? []), { zone, ...r }]);
  }
  // A hosted zone the stack created stays in every phase, even without records: deleting it would
  // lose the name servers the domain is delegated to.
  return inv.zones
    .filter((z) => byZone.has(z.name) || z.create)
    .map((z) => ({
      name: z.name,
      provider: z.provider,
      ...(z.zoneId ? { zoneId: z.zoneId } : {}),
      ...(z.create ? { create: true } : {}),
      ...(z.provider === "bind" ? { server: z.server, serverAddress: z.serverAddress, tsigKey: z.tsigKey } : {}),
      records: sortRecords(
        withOwnRecords(
          byZone.get(z.name) ?? [],
          z.records.map((r) => ({
            zone: z.name,
            name: qualify(r.name, z.name),
            type: r.type,
            ttl: r.ttl ?? inv.ttl.records,
            values: r.values,
          })),
        ),
      ),
    }))
    .sort((a, b) => byString(a.name, b.name));
}

/**
 * The organisation's own records added to the plan's. The rules refuse every collision but one: TXT
 * at a mail domain, where one record set holds both, and an SPF record of the organisation's is
 * merged into the plan's (two SPF records make SPF fail, RFC 7208 section 3.2).
 */
function withOwnRecords(planned: DnsRecord[], own: DnsRecord[]): DnsRecord[] {
  const out = [...planned];
  for (const r of own) {
    const i = out.findIndex((p) => recordSetKey(p) === recordSetKey(r));
    if (i < 0 || r.type !== "TXT") {
      out.push(r);
      continue;
    }
    const ours = out[i].values.find(isSpf);
    const theirs = r.values.find(isSpf);
    const merged = ours && theirs ? mergeSpf(ours, theirs) : ours;
    out[i] = {
      ...out[i],
      values: [...new Set([...out[i].values.filter((v) => !isSpf(v)), ...(merged ? [merged] : []), ...r.values.filter((v) => !isSpf(v))])],
    };
  }
  return out;
}

/** Code-point order: the same on every machine, unlike localeCompare. */
const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const TYPE_ORDER: Record<RecordType, number> = { MX: 0, A: 1, CNAME: 2, TXT: 3, TLSA: 4 };
function sortRecords(records: DnsRecord[]): DnsRecord[] {
  return records
    .map((r) => ({ ...r, values: [...r.values].sort() }))
    .sort((a, b) => byString(a.name, b.name) || TYPE_ORDER[a.type] - TYPE_ORDER[b.type]);
}

interface StagedMailbox {
  address: string;
  home: MailSystem;
}

function planRouting(inv: Inventory, phase: Phase, stage: Stage, gateway: GatewayIdentity, mailboxes: StagedMailbox[]): RoutingTable[] {
  const tables: RoutingTable[] = [];
  if (inv.internet && inv.hosts.internet)
    tables.push({
      host: "internet",
      domains: [inv.internet.domain],
      mailboxes: inv.internet.users.map((u) => `${u}@${inv.internet!.domain}`).sort(),
      relays: [],
      trusted: [],
      relayRecipients: [],
    });
  if (phase === 1) return tables;

  const orgDomains = organisationDomains(inv, stage);
  const local = (sys: MailSystem) =>
    mailboxes
      .filter((m) => m.home === sys)
      .map((m) => m.address)
      .sort();
  const other = (sys: MailSystem): MailSystem => (sys === "legacy" ? "new" : "legacy");
  const mgmt = (sys: MailSystem) => inv.hosts[sys].address;
  // The gateway's relay clients are trusted by both systems: whichever holds the service address
  // trusts them already, so they keep relaying through the go-live, which changes no routing.
  const trusted = [
    ...new Set([
      inv.hosts.legacy.address,
      inv.hosts.new.address,
      inv.gateway.address,
      ...(inv.hosts.smartHost ? [inv.hosts.smartHost.address] : []),
      ...inv.gateway.relayClients,
    ]),
  ].sort();

  for (const sys of ["legacy", "new"] as const) {
    if (phase === 2) {
      // Two address spaces joined by a connector: each relays the other's whole domain.
      const newDomains = orgDomains.map((d) => newSystemDomain(inv, d, stage));
      const [own, theirs] = sys === "legacy" ? [orgDomains, newDomains] : [newDomains, orgDomains];
      tables.push({
        host: sys,
        domains: [...own].sort(),
        mailboxes: local(sys),
        relays: [...theirs].sort().map((d) => ({ recipient: d, to: other(sys), nextHop: mgmt(other(sys)) })),
        trusted,
        relayRecipients: local(other(sys)),
      });
    } else {
      // One address space: every user is known on both systems; those living on the other
      // system get an alternative delivery route there (split delivery).
      tables.push({
        host: sys,
        domains: [...orgDomains].sort(),
        mailboxes: local(sys),
        relays: local(other(sys)).map((a) => ({ recipient: a, to: other(sys), nextHop: mgmt(other(sys)) })),
        trusted,
        relayRecipients: [],
      });
    }

    if (inv.outboundRelay) tables[tables.length - 1].relayHost = `[${inv.outboundRelay.host}]:${inv.outboundRelay.port}`;
    const tlsName = gatewayTlsNames(inv, phase)[sys];
    const source = inv.gateway.tls?.[sys];
    if (source && tlsName)
      tables[tables.length - 1].tls = { name: tlsName, spki: source.spki, ...(source.source === "file" ? { chain: source.chain } : {}) };
  }
  if (inv.layout === "smart-host") {
    tables.push({
      host: "smartHost",
      domains: [],
      mailboxes: [],
      relays: [...orgDomains].sort().map((d) => ({ recipient: d, to: gateway.holder, nextHop: gateway.address })),
      trusted,
      relayRecipients: mailboxes.map((m) => m.address).sort(),
    });
  }
  return tables;
}

function planFlows(inv: Inventory, phase: Phase, gateway: GatewayIdentity, mailboxes: StagedMailbox[]): MailFlow[] {
  const flows: MailFlow[] = [];
  const insideSenders: MailSystem[] = phase === 1 ? [] : ["legacy", "new"];
  if (inv.internet && inv.hosts.internet) {
    for (const u of inv.internet.users) {
      const recipient = `${u}@${inv.internet.domain}`;
      for (const from of ["outside", ...insideSenders] as Sender[])
        flows.push({
          recipient,
          from,
          entry: "internet",
          mailboxHost: "internet",
          ...(from !== "outside" && inv.outboundRelay ? { via: inv.outboundRelay.host } : {}),
        });
    }
  }
  const outsideEntry: HostRole = inv.layout === "smart-host" ? "smartHost" : gateway.holder;
  for (const m of [...mailboxes].sort((a, b) => byString(a.address, b.address))) {
    // In phase 2 the new system's own address space has its own MX straight to it.
    const entry = phase === 2 && m.home === "new" ? "new" : outsideEntry;
    const via = entry === "smartHost" ? { via: inv.hosts.smartHost!.address } : {};
    flows.push({ recipient: m.address, from: "outside", entry, mailboxHost: m.home, ...via });
    for (const from of insideSenders) flows.push({ recipient: m.address, from, entry: from, mailboxHost: m.home });
  }
  // With MTA-STS and an outside sender that enforces it: one message a domain, to its first mailbox.
  const stsSender = inv.internet?.mtaStsSender && inv.hosts.internet ? `${inv.internet.mtaStsSender}@${inv.internet.domain}` : undefined;
  if (inv.gateway.mtaSts && stsSender && phase >= 2)
    for (const domain of organisationDomains(inv, stageOf(phase))) {
      const first = flows.find((f) => f.from === "outside" && !f.sender && f.recipient.endsWith(`@${domain}`));
      if (first) flows.push({ ...first, sender: stsSender, enforcing: "mta-sts" });
    }
  return flows;
}
