/**
 * Verification of a phase: every expected mail flow of the plan checked with a real message, and
 * the open-relay test. Works against any stack whose hosts are reached by SSH: the lab's, or a
 * pilot's real hosts. Messages are handed to the sending host's own MTA, so mail from outside goes
 * through the MX lookup in the (model) Internet's DNS, as a real sender's would.
 */
import type { HostRole } from "../inventory";
import type { MailFlow, Plan } from "../plan";
import type { HostSession } from "../ssh";
import { acceptsRelay, findMarkers, newMarker, sendMail, waitFor } from "./mail";

export interface FlowResult {
  flow: MailFlow;
  passed: boolean;
  /** Where the message was found: "host:path" per copy. */
  foundIn: string[];
  detail: string;
}

export interface RelayResult {
  server: string;
  passed: boolean;
  detail: string;
}

export interface Verification {
  phase: number;
  flows: FlowResult[];
  relays: RelayResult[];
  passed: boolean;
  seconds: number;
}

export interface VerifyOptions {
  /** Opens (or reuses) an SSH session to a host of the stack. */
  session: (role: HostRole) => Promise<HostSession>;
  /** How long one message may take to arrive. */
  timeoutMs?: number;
  /** Messages in flight at once. */
  parallel?: number;
}

/** An outside address that exists nowhere: what an open relay would accept. */
const OUTSIDE_RECIPIENT = "relay-probe@elsewhere.invalid";

function senderAddress(p: Plan, from: MailFlow["from"]): string {
  if (from === "outside") return p.flows.find((f) => f.mailboxHost === "internet")?.recipient ?? "probe@outside.invalid";
  return p.flows.find((f) => f.from === "outside" && f.mailboxHost === from)?.recipient ?? `postmaster@${p.gateway.hostName}`;
}

const sendingHost = (from: MailFlow["from"]): HostRole => (from === "outside" ? "internet" : from);

const where = (f: MailFlow) => `${f.recipient} from ${f.from}`;

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    }),
  );
  return out;
}

/**
 * Sends one message per flow, then looks for all of them at once on every host until each is in
 * its right mailbox or the time is up: each must be in exactly the one right mailbox and nowhere else.
 */
export async function verifyPhase(p: Plan, opts: VerifyOptions): Promise<Verification> {
  const started = Date.now();
  const hosts = [...new Set(p.flows.flatMap((f) => [f.mailboxHost, sendingHost(f.from)]))];
  const sent = await mapLimit(p.flows, opts.parallel ?? 8, async (flow) => {
    const marker = newMarker();
    try {
      await sendMail(await opts.session(sendingHost(flow.from)), { from: senderAddress(p, flow.from), to: flow.recipient, marker });
      return { flow, marker, error: undefined };
    } catch (e) {
      return { flow, marker, error: (e as Error).message };
    }
  });
  const markers = sent.filter((x) => !x.error).map((x) => x.marker);
  const search = async () => {
    const all = new Map<string, string[]>();
    for (const [h, found] of await Promise.all(hosts.map(async (h) => [h, await findMarkers(await opts.session(h), markers)] as const)))
      for (const [m, paths] of found) all.set(m, [...(all.get(m) ?? []), ...paths.map((path) => `${h}:${path}`)]);
    return all;
  };
  const right = (flow: MailFlow, f: string) => f.startsWith(`${flow.mailboxHost}:`) && f.includes(`/${flow.recipient.slice(flow.recipient.indexOf("@") + 1)}/${flow.recipient.slice(0, flow.recipient.indexOf("@"))}/`);
  const arrived = (all: Map<string, string[]>) => sent.every((x) => x.error || (all.get(x.marker) ?? []).some((f) => right(x.flow, f)));
  // The open-relay test runs while the messages travel.
  const relaysChecked = checkRelays(p, opts);
  await waitFor(search, arrived, opts.timeoutMs ?? 30_000, 250);
  // A copy elsewhere could still be on its way: look once more before judging.
  const final = await search();
  const flows = sent.map(({ flow, marker, error }): FlowResult => {
    if (error) return { flow, passed: false, foundIn: [], detail: `${where(flow)}: not sent: ${error}` };
    const foundIn = final.get(marker) ?? [];
    const passed = foundIn.length === 1 && right(flow, foundIn[0]);
    const detail = passed
      ? `${where(flow)}: in ${flow.mailboxHost}'s mailbox`
      : `${where(flow)}: expected in ${flow.mailboxHost}'s mailbox of ${flow.recipient}, found ${foundIn.length ? foundIn.join(", ") : "nowhere"}`;
    return { flow, passed, foundIn, detail };
  });
  const relays = await relaysChecked;
  return { phase: p.phase, flows, relays, passed: flows.every((f) => f.passed) && relays.every((r) => r.passed), seconds: (Date.now() - started) / 1000 };
}

/** No organisation host, and not the gateway address, relays for an outside recipient from outside. */
async function checkRelays(p: Plan, opts: VerifyOptions): Promise<RelayResult[]> {
  if (!p.hosts.some((h) => h.role === "internet")) return [];
  const outside = await opts.session("internet");
  const servers = [...new Set([p.gateway.address, ...p.hosts.filter((h) => h.role !== "internet").map((h) => h.address)])];
  return Promise.all(
    servers.map(async (server) => {
      const open = await acceptsRelay(outside, server, OUTSIDE_RECIPIENT);
      return { server, passed: !open, detail: open ? `${server} accepted mail for ${OUTSIDE_RECIPIENT} from outside: an open relay` : `${server} refuses to relay` };
    }),
  );
}
