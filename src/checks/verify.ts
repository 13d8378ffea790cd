/**
 * Verification of a phase: every expected mail flow of the plan checked with a real message, and
 * the open-relay test. Works against any stack whose hosts are reached by SSH: the lab's, or a
 * pilot's real hosts. Messages are handed to the sending host's own MTA, so mail from outside goes
 * through the MX lookup in the (model) Internet's DNS, as a real sender's would.
 */
import type { HostRole } from "../model/inventory";
import type { MailFlow, Plan } from "../model/plan";
import type { HostSession } from "../remote/ssh";
import { bounded } from "./drift";
import {
  enteredAt,
  findMarkers,
  newMarker,
  OUTSIDE_RECIPIENT,
  type QueuedMessage,
  type RelayVerdict,
  receivedHeaders,
  receivedThrough,
  relayTest,
  removeMessages,
  type SenderTlsPolicy,
  senderTlsPolicy,
  sendMessages,
  stillQueued,
  stsNotApplied,
  waitFor,
} from "./mail";
import { checkOutbound, type OutboundResult, withBounce } from "./outbound";
import {
  type OutsideDelivery,
  type OutsideOptions,
  publishedTlsaFromHere,
  relayTestFromHere,
  sendFromOutside,
  tlsTestFromHere,
} from "./outside";
import { checkRoutes, type RouteCheck } from "./routes";
import { type PublishedTlsa, publishedTlsa, type TlsVerdict, tlsTargets, tlsTest } from "./tls";

export interface FlowResult {
  flow: MailFlow;
  passed: boolean;
  /** From handing the message over to seeing it in the right mailbox. */
  deliverySeconds?: number;
  /** Could not be judged either way (an enforcing sender whose policy could not be read): not a pass, not a failure. */
  undecided?: boolean;
  /** Where the message was found: "host:path" per copy. */
  foundIn: string[];
  detail: string;
}

export interface RelayResult {
  server: string;
  /** refused: a refusal to relay at RCPT; open: 2xx; unknown: anything else (4xx, no answer, no tool, an unread answerer). */
  verdict: RelayVerdict["verdict"];
  /** Only a refusal passes, and at the gateway address only the planned holder's. */
  passed: boolean;
  detail: string;
}

/** The TLS identity a server presents, as a sender enforcing DANE-EE sees it (see checks/tls.ts). */
export interface TlsResult {
  server: string;
  /** The name it answers to: the gateway's, or the one it may take. */
  name: string;
  verdict: TlsVerdict["verdict"];
  /** The served key's SPKI sha256, when a handshake took place. */
  served?: string;
  /** Only a verified key passes. */
  passed: boolean;
  detail: string;
}

export interface Verification {
  phase: number;
  /** Handing every message over; then waiting until each was in its mailbox. */
  sendSeconds: number;
  waitSeconds: number;
  flows: FlowResult[];
  relays: RelayResult[];
  /** With gateway.tls: the gateway address and each gateway serving the identity, by key (absent in older records). */
  tls?: TlsResult[];
  /** Every address's route on each routed host, read from its live lookup tables, no message sent (absent in older records). */
  routes?: RouteCheck[];
  /** With an outside probe mailbox: a message from each system to it, followed in the sending host's log to the next hop's reply. */
  outbound?: OutboundResult[];
  /** Every flow in its mailbox, every server refusing to relay and presenting a published key. */
  passed: boolean;
  /** What could not be judged either way (a relay or TLS test with no clear answer, stillQueued): not a pass. */
  undecided: string[];
  /** With probe mailboxes: the verification's messages that could not be removed from them once found, "host:path (why)". */
  leftInProbes?: string[];
  /** Messages still queued on a host when the verification judged, one line per host: a copy elsewhere is not ruled out. */
  stillQueued: string[];
  seconds: number;
}

export interface VerifyOptions {
  /** Opens (or reuses) an SSH session to a host of the stack. */
  session: (role: HostRole) => Promise<HostSession>;
  /** How long one message may take to arrive. */
  timeoutMs?: number;
  /**
   * Without a model-Internet host (production): how mail from outside is sent from here, as a remote
   * MTA would (the resolvers to find MX hosts with, the EHLO name).
   */
  outside?: OutsideOptions;
}

/** The hosts that run a mail server and keep mailboxes or queues (a DNS server does not). */
const MAIL_HOSTS: HostRole[] = ["legacy", "new", "internet", "smartHost"];
/**
 * Sessions at once when mail from outside is sent from here: postfix's own default for one
 * destination (default_destination_concurrency_limit), well under its smtpd's limit per client (50).
 */
const OUTSIDE_SESSIONS = 20;
/** How long the verification waits, at most, for every queue to empty before it judges. */
const QUEUE_BOUND_MS = 15_000;
/** How long after the outside probe's messages were delivered a bounce of them is waited for. */
const BOUNCE_WAIT_MS = 2000;
/** After the queues are empty: time for a message being handed over between queues to land. */
const SETTLE_MS = 500;

function senderAddress(p: Plan, from: MailFlow["from"]): string {
  // From here, the null sender: every MTA takes it (RFC 5321 4.5.5), and no domain's SPF is claimed for this machine.
  if (from === "outside")
    return hasOutsideHost(p) ? (p.flows.find((f) => f.mailboxHost === "internet")?.recipient ?? "probe@outside.invalid") : "";
  return p.flows.find((f) => f.from === "outside" && f.mailboxHost === from)?.recipient ?? `postmaster@${p.gateway.hostName}`;
}

/** Whether the stack has a model-Internet host, the pilot's outside sender; without one, mail from outside is sent from here. */
const hasOutsideHost = (p: Pick<Plan, "hosts">) => p.hosts.some((h) => h.role === "internet");

/** The host a flow's message is handed to; "here" for mail from outside on a stack without a model-Internet host. */
const sendingHost = (from: MailFlow["from"]): HostRole => (from === "outside" ? "internet" : from);
const sentFrom = (p: Plan, from: MailFlow["from"]): HostRole | "here" =>
  from === "outside" && !hasOutsideHost(p) ? "here" : sendingHost(from);

/** How a message from here went: the MX and address that took it, TLS, its reply. Pure. */
const deliveredFromHere = (d: OutsideDelivery) =>
  `sent from here to ${d.mx} [${d.address}]${d.tls ? " over STARTTLS" : " without TLS (none offered)"}, "${d.reply}"`;

const where = (f: MailFlow) =>
  `${f.recipient} from ${f.from}${f.enforcing ? ` (${f.sender}, enforcing ${f.enforcing.toUpperCase()})` : ""}`;

/**
 * Sends one message per flow, then looks for all of them at once on every host until each is in
 * its right mailbox or the time is up: each must be in exactly the one right mailbox and nowhere else.
 */
export async function verifyPhase(p: Plan, opts: VerifyOptions): Promise<Verification> {
  const started = Date.now();
  // Every mail host of the plan is searched, not only those the flows name: "nowhere else" means it.
  const hosts = [
    ...new Set([
      ...p.flows.flatMap((f) => [f.mailboxHost, sentFrom(p, f.from)]).filter((h): h is HostRole => h !== "here"),
      ...p.hosts.map((h) => h.role).filter((r) => MAIL_HOSTS.includes(r)),
    ]),
  ];
  // Each mail host's own name, which its Received headers and its EHLO reply carry.
  const namesRead = hostNames(hosts, opts);
  const sent = p.flows.map((flow) => ({
    flow,
    marker: newMarker(),
    error: undefined as string | undefined,
    sentAt: 0,
    fromHere: undefined as OutsideDelivery | undefined,
  }));
  await Promise.all(
    [...new Set(sent.map((x) => sentFrom(p, x.flow.from)))].map(async (host) => {
      const batch = sent.filter((x) => sentFrom(p, x.flow.from) === host);
      if (host === "here") {
        // One SMTP session a message, at most OUTSIDE_SESSIONS at once, as a remote MTA limits its
        // sessions to one destination (a gateway answers 421 "too many connections" past its own limit).
        await bounded(
          batch.map((x) => async () => {
            const d = await sendFromOutside(p, { from: senderAddress(p, "outside"), to: x.flow.recipient, marker: x.marker }, opts.outside);
            x.sentAt = Date.now();
            if (d.error) x.error = `from here: ${d.error}`;
            else x.fromHere = d;
          }),
          OUTSIDE_SESSIONS,
        );
        return;
      }
      try {
        await sendMessages(
          await opts.session(host),
          batch.map((x) => ({ from: x.flow.sender ?? senderAddress(p, x.flow.from), to: x.flow.recipient, marker: x.marker })),
        );
      } catch (e) {
        for (const x of batch) x.error = (e as Error).message;
      }
      for (const x of batch) x.sentAt = Date.now();
    }),
  );
  const markers = sent.filter((x) => !x.error).map((x) => x.marker);
  const search = async (texts = markers) => {
    const all = new Map<string, string[]>();
    for (const [h, found] of await Promise.all(
      hosts.map(async (host) => [host, await findMarkers(await opts.session(host), texts)] as const),
    ))
      for (const [m, paths] of found) all.set(m, [...(all.get(m) ?? []), ...paths.map((path) => `${h}:${path}`)]);
    return all;
  };
  const right = (flow: MailFlow, f: string) =>
    f.startsWith(`${flow.mailboxHost}:`) &&
    f.includes(`/${flow.recipient.slice(flow.recipient.indexOf("@") + 1)}/${flow.recipient.slice(0, flow.recipient.indexOf("@"))}/`);
  const arrivedAt = new Map<string, number>();
  const arrived = (all: Map<string, string[]>) => {
    for (const x of sent)
      if (!arrivedAt.has(x.marker) && (all.get(x.marker) ?? []).some((f) => right(x.flow, f))) arrivedAt.set(x.marker, Date.now());
    return sent.every((x) => x.error || arrivedAt.has(x.marker));
  };
  // The open-relay and TLS tests run while the messages travel.
  const relaysChecked = checkRelays(p, opts, namesRead);
  // A next hop that takes a message and cannot deliver it further bounces it at once (a recipient
  // unknown there): watched for BOUNCE_WAIT_MS after the delivery lines, while the flows travel.
  const outboundChecked = p.outbound?.length
    ? checkOutbound(p.outbound, opts.session, (from) => senderAddress(p, from), opts.timeoutMs ?? 30_000).then(async (results) => ({
        results,
        bounced: await waitFor(
          () => search(results.map((o) => o.marker)).catch(() => new Map<string, string[]>()),
          (found) => found.size > 0,
          BOUNCE_WAIT_MS,
          250,
        ),
      }))
    : undefined;
  const tlsChecked = checkTls(p, opts);
  const routesChecked = checkRoutes(p, opts.session).then(
    (r) => ({ routes: r }),
    (e: Error) => ({ routes: undefined, error: `could not read every route: ${e.message}` }),
  );
  const sentAll = Date.now();
  await waitFor(search, arrived, opts.timeoutMs ?? 30_000, 100);
  const waited = Date.now() - sentAll;
  // A copy elsewhere could still be on its way: judge only once every queue is empty, and a moment later.
  const queued = async () =>
    (await Promise.all(hosts.map(async (h) => [h, await stillQueued(await opts.session(h), markers)] as const))).filter(
      ([, q]) => q.length > 0,
    );
  const leftQueued = await waitFor(queued, (q) => q.length === 0, QUEUE_BOUND_MS, 200);
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const final = await search();
  // The Received path shows where a message entered: a message from outside must have entered at
  // the host the plan names (the gateway's holder, the smart host), not merely reached its mailbox,
  // which the other system's split delivery would do too.
  const proven = (f: MailFlow) => f.via !== undefined || entersFromOutside(f);
  const [paths, names, stsPolicies] = await Promise.all([
    receivedPaths(
      sent.filter((x) => proven(x.flow) && !x.error).map((x) => final.get(x.marker) ?? []),
      opts,
    ),
    namesRead,
    // An MTA-STS-enforcing sender's mail proves MTA-STS only if its resolver found and applied the policy.
    stsPoliciesApplied(p, opts),
  ]);
  const flows = sent.map(({ flow, marker, error, sentAt, fromHere }): FlowResult => {
    if (error) return { flow, passed: false, foundIn: [], detail: `${where(flow)}: not sent: ${error}` };
    const foundIn = final.get(marker) ?? [];
    const delivered = foundIn.length === 1 && right(flow, foundIn[0]);
    const received = delivered && proven(flow) ? (paths.get(foundIn[0]) ?? []) : [];
    const through = !flow.via || receivedThrough(received, flow.via);
    const entry = entersFromOutside(flow) ? entryProblem(flow, received, names, fromHere ? "" : names.get("internet")) : undefined;
    const sts = flow.enforcing === "mta-sts" ? stsPolicies.get(flow.recipient.slice(flow.recipient.indexOf("@") + 1)) : undefined;
    if (delivered && through && !entry && sts?.undecided)
      return {
        flow,
        passed: false,
        undecided: true,
        foundIn,
        detail: `${where(flow)}: in ${flow.mailboxHost}'s mailbox, but could not check the sender's MTA-STS policy: ${sts.undecided}`,
      };
    const passed = delivered && through && !entry && !sts?.problem;
    const shown = () => (received.length ? received.map((r) => `"${r}"`).join(", ") : "empty");
    const detail = passed
      ? `${where(flow)}: in ${flow.mailboxHost}'s mailbox${entersFromOutside(flow) ? `, entered at ${flow.entry}` : ""}${flow.via ? `, through ${flow.via}` : ""}${sts?.applied ? `, the sender applying "${sts.applied}"` : ""}${fromHere ? `; ${deliveredFromHere(fromHere)}` : ""}`
      : !delivered
        ? `${where(flow)}: expected in ${flow.mailboxHost}'s mailbox of ${flow.recipient}, found ${foundIn.length ? foundIn.join(", ") : "nowhere"}${fromHere ? ` (${deliveredFromHere(fromHere)})` : ""}`
        : !through
          ? `${where(flow)}: in ${flow.mailboxHost}'s mailbox, but not through ${flow.via}: its Received path is ${shown()}`
          : entry
            ? `${where(flow)}: in ${flow.mailboxHost}'s mailbox, but ${entry}: its Received path is ${shown()}`
            : `${where(flow)}: in ${flow.mailboxHost}'s mailbox, but ${sts!.problem}`;
    const at = arrivedAt.get(marker);
    return { flow, passed, foundIn, detail, ...(at ? { deliverySeconds: (at - sentAt) / 1000 } : {}) };
  });
  // Each message found in a probe mailbox goes once judged: only there, never from anyone else's.
  const leftInProbes = p.probes
    ? await removeFromProbes(
        p.probes,
        flows.filter((x) => p.probes!.includes(x.flow.recipient)).flatMap((x) => x.foundIn),
        opts,
      )
    : undefined;
  const relays = await relaysChecked;
  const tls = await tlsChecked;
  const routed = await routesChecked;
  // A bounce quoting a probe message that came back by now fails it, and goes from the probe mailbox like any copy.
  const outbound = await outboundChecked?.then(async ({ results, bounced }) => {
    const bounces = results.flatMap((o) => bounced.get(o.marker) ?? []);
    if (p.probes && bounces.length) leftInProbes!.push(...(await removeFromProbes(p.probes, bounces, opts)));
    return results.map((o) => withBounce(o, bounced.get(o.marker) ?? []));
  });
  const routes = routed.routes ?? [];
  const queuedLeft = leftQueued.map(
    ([h, q]) =>
      `${q.length} message(s) still queued on ${h} after ${QUEUE_BOUND_MS / 1000} s: no copy elsewhere is not shown; ${h}'s queue says ${waitingReasons(q)}`,
  );
  return {
    phase: p.phase,
    flows,
    relays,
    ...(p.routing.some((t) => t.tls) ? { tls } : {}),
    routes,
    ...(leftInProbes ? { leftInProbes } : {}),
    ...(outbound ? { outbound } : {}),
    passed:
      flows.every((f) => f.passed) &&
      relays.every((r) => r.passed) &&
      tls.every((t) => t.passed) &&
      leftQueued.length === 0 &&
      (outbound ?? []).every((o) => o.passed) &&
      !("error" in routed) &&
      routes.every((r) => r.differing.length === 0),
    undecided: [
      ...("error" in routed && routed.error ? [routed.error] : []),
      ...flows.filter((f) => f.undecided).map((f) => f.detail),
      ...relays.filter((r) => r.verdict === "unknown").map((r) => r.detail),
      ...tls.filter((t) => t.verdict === "unknown").map((t) => t.detail),
      ...(outbound ?? []).filter((o) => o.undecided).map((o) => o.detail),
      ...queuedLeft,
    ],
    stillQueued: queuedLeft,
    seconds: (Date.now() - started) / 1000,
    sendSeconds: (sentAll - started) / 1000,
    waitSeconds: waited / 1000,
  };
}

/**
 * Removes each copy found ("host:path") that lies in a probe mailbox (its own maildir only), host by
 * host; returns what stayed, "host:path (why)". A copy anywhere else is never touched.
 */
async function removeFromProbes(probes: string[], found: string[], opts: VerifyOptions): Promise<string[]> {
  const inProbe = (f: string) => probes.some((a) => f.includes(`/${a.slice(a.indexOf("@") + 1)}/${a.slice(0, a.indexOf("@"))}/`));
  const byHost = new Map<HostRole, string[]>();
  for (const f of found) {
    const host = f.slice(0, f.indexOf(":")) as HostRole;
    if (inProbe(f)) byHost.set(host, [...(byHost.get(host) ?? []), f.slice(f.indexOf(":") + 1)]);
  }
  const left = await Promise.all(
    [...byHost].map(async ([host, paths]) => {
      try {
        return (await removeMessages(await opts.session(host), paths)).map((x) => `${host}:${x}`);
      } catch (e) {
        return paths.map((x) => `${host}:${x} (${(e as Error).message.split("\n")[0]})`);
      }
    }),
  );
  return left.flat();
}

/** An enforcing sender's policy for a domain: applied (its answer), a problem, or could not be read. */
interface StsJudgement {
  applied?: string;
  problem?: string;
  undecided?: string;
}

/**
 * For each domain an enforcing sender sends to under an enforced policy: what keeps the sender
 * from applying the published policy (its problem), or why that could not be read (undecided);
 * nothing when it applies. A policy in testing mode is not enforced by anyone: not judged.
 */
async function stsPoliciesApplied(p: Plan, opts: VerifyOptions): Promise<Map<string, StsJudgement>> {
  const judged = new Map<string, StsJudgement>();
  await Promise.all(
    p.flows
      .filter((f) => f.enforcing === "mta-sts" && f.sender)
      .map(async (f) => {
        const domain = f.recipient.slice(f.recipient.indexOf("@") + 1);
        const policy = p.mtaSts?.policies.find((x) => x.domain === domain);
        if (policy?.mode !== "enforce") return;
        let found: SenderTlsPolicy;
        try {
          found = await senderTlsPolicy(await opts.session(sendingHost(f.from)), f.sender!, domain);
        } catch (e) {
          judged.set(domain, { undecided: (e as Error).message });
          return;
        }
        const problem = stsNotApplied(found, domain, policy.mx);
        judged.set(domain, problem ? { problem } : { applied: found.policy });
      }),
  );
  return judged;
}

/** A message from outside to one of the organisation's hosts (not the outside host's own users). */
const entersFromOutside = (f: MailFlow) => f.from === "outside" && f.entry !== sendingHost(f.from);

/** Each mail host's own name as its postfix writes it in Received headers (myhostname), by role. */
async function hostNames(hosts: HostRole[], opts: VerifyOptions): Promise<Map<HostRole, string>> {
  const names = new Map<HostRole, string>();
  await Promise.all(
    hosts.map(async (host) => {
      // A host that cannot be asked has no name here: what needs it says "could not be read".
      try {
        const r = await (await opts.session(host)).exec(["postconf", "-h", "myhostname"], { allowFailure: true });
        if (r.code === 0 && r.stdout.trim()) names.set(host, r.stdout.trim().toLowerCase());
      } catch {}
    }),
  );
  return names;
}

/**
 * Why a message from outside did not provably enter at the flow's entry host: the host that took it
 * from the outside sender (by the Received path) is another, or none shows; undefined when it did.
 * `sender`: the outside sender's own name, as its Received headers carry it ("" when it writes
 * none: a message sent from here over SMTP). Pure.
 */
export function entryProblem(
  flow: MailFlow,
  received: string[],
  names: Map<HostRole, string>,
  sender: string | undefined,
): string | undefined {
  const planned = names.get(flow.entry);
  if (!planned || sender === undefined)
    return `where it entered could not be read: no name for ${planned ? "the outside host" : flow.entry}`;
  const at = enteredAt(received, sender);
  if (at === planned) return undefined;
  if (!at) return `no Received header shows where it entered (planned: ${flow.entry}, ${planned})`;
  const role = [...names].find(([, n]) => n === at)?.[0];
  return `it entered at ${role ? `${role} (${at})` : `${at}, none of the stack's hosts`}, not at ${flow.entry} (${planned}) as planned`;
}

/** Why queued messages wait, each distinct reason once with how many recipients it holds. Pure. */
export function waitingReasons(queued: QueuedMessage[]): string {
  const count = new Map<string, number>();
  for (const w of queued.flatMap((m) => m.waiting)) {
    const reason = w.slice(w.indexOf(": ") + 2);
    count.set(reason, (count.get(reason) ?? 0) + 1);
  }
  return [...count].map(([reason, n]) => `${n} x "${reason}"`).join(", ");
}

/** The Received headers of each message found in one place ("host:path"), read on its host. */
async function receivedPaths(found: string[][], opts: VerifyOptions): Promise<Map<string, string[]>> {
  const byHost = new Map<HostRole, string[]>();
  for (const [at] of found.filter((f) => f.length === 1)) {
    const host = at.slice(0, at.indexOf(":")) as HostRole;
    byHost.set(host, [...(byHost.get(host) ?? []), at.slice(at.indexOf(":") + 1)]);
  }
  const out = new Map<string, string[]>();
  await Promise.all(
    [...byHost].map(async ([host, files]) => {
      for (const [path, received] of await receivedHeaders(await opts.session(host), files)) out.set(`${host}:${path}`, received);
    }),
  );
  return out;
}

/**
 * The gateway's address presents a key its name's TLSA record publishes, and each gateway that
 * serves the identity in this phase presents its own, as seen from outside (the sending host): the
 * TLSA record as the sending host's validating resolver returns it, not as the plan writes it. A
 * record the resolver does not validate (no AD bit) or that lacks the planned key is what a DANE
 * sender sees too: a failure, before the handshake is even tried.
 */
async function checkTls(p: Plan, opts: VerifyOptions): Promise<TlsResult[]> {
  const targets = tlsTargets(p);
  if (!targets.length) return [];
  const outside = hasOutsideHost(p) ? await opts.session("internet") : undefined;
  // From here: the record as the zone serves it, signed (no validating resolver at hand), and the key over STARTTLS.
  const resolver = outside ? "the sending host's resolver" : "the zone's authoritative server";
  const asked = new Map<string, Promise<PublishedTlsa>>();
  const published = (name: string) => {
    if (!asked.has(name)) asked.set(name, outside ? publishedTlsa(outside, name) : publishedTlsaFromHere(p, name, opts.outside));
    return asked.get(name)!;
  };
  const short = (keys: string[]) => keys.map((k) => `${k.slice(0, 16)}...`).join(", ") || "none";
  return Promise.all(
    targets.map(async ({ address: server, name, keys, role }): Promise<TlsResult> => {
      const what = role ?? "the gateway address";
      const failed = (why: string): TlsResult => ({
        server,
        name,
        verdict: "mismatch",
        passed: false,
        detail: `${server} (${what}): ${why}`,
      });
      if (!keys.length) return failed(`no TLSA record planned for ${name}`);
      const dns = await published(name);
      if (dns.status === "BOGUS")
        return failed(
          `the TLSA record of ${name} fails validation at ${resolver} (SERVFAIL, answered with checking disabled): a DS matching no key or a broken signature; every DANE sender defers`,
        );
      if (dns.status !== "NOERROR" && dns.status !== "NXDOMAIN")
        return {
          server,
          name,
          verdict: "unknown",
          passed: false,
          detail: `${server} (${what}): could not read the TLSA record of ${name} through ${resolver}: ${dns.status}`,
        };
      if (!dns.keys.length) return failed(`${resolver} has no TLSA record for ${name} (${dns.status})`);
      if (!dns.validated)
        return failed(
          outside
            ? `the TLSA record of ${name} is not validated by ${resolver} (no AD bit): DANE senders ignore it`
            : `the TLSA record of ${name} comes unsigned from ${resolver}: DANE senders ignore it`,
        );
      const allowed = keys.filter((k) => dns.keys.includes(k));
      if (!allowed.length)
        return failed(
          `its key ${short(keys)} is not in the TLSA record of ${name} as the resolver returns it (published: ${short(dns.keys)})`,
        );
      const v = outside ? await tlsTest(outside, server, allowed) : await tlsTestFromHere(server, name, allowed, opts.outside);
      const detail = {
        verified: `${server} (${what}) presents a key published for ${name}`,
        mismatch: `${server} (${what}) as ${name}: ${v.detail}${v.served ? ` (served key ${v.served.slice(0, 16)}..., published ${short(allowed)})` : ""}`,
        unknown: `${server} (${what}): could not check its TLS key: ${v.detail}`,
      }[v.verdict];
      return { server, name, verdict: v.verdict, passed: v.verdict === "verified", detail, ...(v.served ? { served: v.served } : {}) };
    }),
  );
}

/** How long a relay test with no clear answer waits before it asks once more. */
const RELAY_RETRY_MS = 2000;

/**
 * The relay test, asked once more when the first answer could not tell (no greeting, a 4xx, a
 * connect that failed): a server busy with a reload just then is not a verdict. Seen once in CI
 * (the mx strategy's rollback: the gateway address answered no greeting, with every other check of
 * the same verification passing). Two answers that cannot tell stay "unknown", both named.
 */
async function relayTestTwice(test: () => Promise<RelayVerdict>) {
  const first = await test();
  if (first.verdict !== "unknown") return first;
  await new Promise((r) => setTimeout(r, RELAY_RETRY_MS));
  const again = await test();
  return again.verdict === "unknown"
    ? { ...again, detail: `${again.detail} (and ${RELAY_RETRY_MS / 1000} s before: ${first.detail})` }
    : again;
}

/**
 * No organisation host, and not the gateway address, relays for an outside recipient from outside
 * (the model-Internet host, else here); each is asked first for a mailbox it serves (the control),
 * so a refusal of the testing host itself is no pass. The gateway address must be answered by the
 * planned holder, by the name it greets with.
 */
async function checkRelays(p: Plan, opts: VerifyOptions, names: Promise<Map<HostRole, string>>): Promise<RelayResult[]> {
  const outside = hasOutsideHost(p) ? await opts.session("internet") : undefined;
  const relayFromOutside = (server: string, control: string | undefined) =>
    relayTestTwice(() =>
      outside ? relayTest(outside, server, control ? { control } : {}) : relayTestFromHere(server, control, opts.outside),
    );
  // The hosts whose relay policy the phase sets (those with a routing table: cutover makes them
  // answer 5xx); a host cutover does not configure yet keeps its own (Debian's answers 454, "try later").
  const routed = new Set(p.routing.map((t) => t.host));
  const hosts = p.hosts.filter((h) => h.role !== "internet" && routed.has(h.role));
  // The host the MX leads to at the gateway address (with the mx strategy at phase 5, the new server's own address).
  const holder = p.gateway.holder;
  const servers = [
    ...new Map([...(routed.has(holder) ? [[p.gateway.address, holder] as const] : []), ...hosts.map((h) => [h.address, h.role] as const)]),
  ];
  const organisation = p.flows.filter((f) => entersFromOutside(f));
  const controlFor = (role: HostRole) => (organisation.find((f) => f.entry === role) ?? organisation[0])?.recipient;
  return Promise.all(
    servers.map(async ([server, role]): Promise<RelayResult> => {
      const { verdict, detail, answeredAs } = await relayFromOutside(server, controlFor(role));
      const said = {
        refused: `${server} refuses to relay (${detail})`,
        open: `${server} accepted mail for ${OUTSIDE_RECIPIENT} from outside: an open relay (${detail})`,
        unknown: `${server}: could not check whether it relays: ${detail}`,
      }[verdict];
      if (server !== p.gateway.address || verdict === "unknown") return { server, verdict, passed: verdict === "refused", detail: said };
      const known = await names;
      const answered = answererProblem(holder, answeredAs, known);
      if (!answered) return { server, verdict, passed: verdict === "refused", detail: `${said}, answered by ${holder} (${answeredAs})` };
      // The holder's own name unread (its host unreachable) cannot tell who answered: no verdict, not a failure.
      return known.has(holder)
        ? { server, verdict, passed: false, detail: `${said}; but ${answered}` }
        : { server, verdict: "unknown", passed: false, detail: `${server}: could not check who answers it: ${answered}` };
    }),
  );
}

/**
 * Why the gateway address was not answered by its planned holder: the name the server gave in its
 * EHLO reply is another host's, or none; undefined when it is the holder's own. Pure.
 */
export function answererProblem(holder: HostRole, answeredAs: string | undefined, names: Map<HostRole, string>): string | undefined {
  const planned = names.get(holder);
  if (!planned) return `who answers the gateway address could not be read: no name for ${holder}`;
  if (answeredAs === planned) return undefined;
  if (!answeredAs) return `the gateway address gave no name in its EHLO reply (planned: ${holder}, ${planned})`;
  const role = [...names].find(([, n]) => n === answeredAs)?.[0];
  return `the gateway address is answered by ${role ? `${role} (${answeredAs})` : `${answeredAs}, none of the stack's hosts`}, not by ${holder} (${planned}) as planned`;
}
