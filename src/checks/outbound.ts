/**
 * Mail leaving the organisation, checked where it leaves: a message from each system to the outside
 * probe mailbox (at another provider, which cutover cannot read), followed in the sending host's
 * postfix log from its Message-ID to its queue id and to the delivery line that says who took it
 * ("relay=relay.isp.example[203.0.113.5]:25, ... status=sent (250 2.0.0 Ok: queued as ...)").
 */
import type { OutboundProbe } from "../model/plan";
import type { HostSession } from "../remote/ssh";
import { newMarker, sendMessages, waitFor } from "./mail";

export interface OutboundResult {
  probe: OutboundProbe;
  /** The text in the message's subject and body, which a bounce of it quotes. */
  marker: string;
  /** The next hop took it as planned (a 2xx at the end of DATA). */
  passed: boolean;
  /** Could not be judged: the log shows no delivery yet (deferred, or no line), or could not be read. */
  undecided?: boolean;
  detail: string;
}

/** A delivery line of the log: the next hop, the status and what the next hop replied. */
export interface LoggedDelivery {
  relay: string;
  status: string;
  reply: string;
}

/**
 * In the mail log lines (syslog's "... postfix/cleanup[1]: 4ABC: message-id=<...>" or the journal's
 * "4ABC: message-id=<...>"): the queue id of the message with this Message-ID, and its deliveries
 * to the recipient, oldest first. Pure.
 */
export function loggedDeliveries(
  lines: string[],
  messageId: string,
  recipient: string,
): { queueId?: string; deliveries: LoggedDelivery[] } {
  const escaped = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const idLine = new RegExp(`(?:^|\\s)([0-9A-Za-z]+): message-id=<${escaped(messageId)}>`);
  const queueId = lines.map((l) => idLine.exec(l)?.[1]).find(Boolean);
  if (!queueId) return { deliveries: [] };
  const delivery = new RegExp(
    `(?:^|\\s)${queueId}: to=<${escaped(recipient)}>,.*?\\brelay=([^,]+),.*\\bstatus=(\\w+) \\((.*)\\)\\s*$`,
    "i",
  );
  const deliveries = lines
    .map((l) => delivery.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ relay: m[1], status: m[2], reply: m[3] }));
  return { queueId, deliveries };
}

/** Whether the logged next hop is the planned one: the relay's name or address, at its port. Pure. */
export function throughRelay(relay: string, via: { host: string; port: number }): boolean {
  const m = /^([^[]+)\[([^\]]+)\]:(\d+)$/.exec(relay);
  return !!m && (m[1].toLowerCase() === via.host.toLowerCase() || m[2] === via.host) && Number(m[3]) === via.port;
}

/** Judges one outbound probe by its logged deliveries. Pure. */
export function outboundVerdict(
  probe: OutboundProbe,
  log: string,
  found: { queueId?: string; deliveries: LoggedDelivery[] },
): Omit<OutboundResult, "marker"> {
  const what = `${probe.from} -> ${probe.recipient}`;
  if (!found.queueId) return { probe, passed: false, undecided: true, detail: `${what}: ${log} has no line for the message (no queue id)` };
  const final = found.deliveries.find((d) => d.status !== "deferred");
  const last = found.deliveries.at(-1);
  if (!final)
    return {
      probe,
      passed: false,
      undecided: true,
      detail: `${what}: queue id ${found.queueId}, not delivered yet${last ? `: deferred${last.relay === "none" ? "" : ` by ${last.relay}`} (${last.reply})` : ""}; it stays in ${probe.from}'s queue`,
    };
  const took = `${final.relay} ${final.status === "sent" ? "took it" : `answered`}: "${final.reply}"`;
  if (final.status !== "sent") return { probe, passed: false, detail: `${what}: ${final.status}, ${took}` };
  if (probe.via && !throughRelay(final.relay, probe.via))
    return { probe, passed: false, detail: `${what}: ${took}, not the outbound relay ${probe.via.host}:${probe.via.port} as planned` };
  return { probe, passed: true, detail: `${what}: ${took}` };
}

/**
 * The host's postfix log lines holding any of the texts, and where they were read: postfix's own
 * log file (maillog_file), else syslog's /var/log/mail.log, else the journal's mail facility of the
 * last day (Debian 12 and later log to the journal only). No log at all is an error.
 */
export async function mailLogLines(s: HostSession, texts: string[]): Promise<{ log: string; lines: string[] }> {
  const script = [
    'f=$(postconf -h maillog_file 2>/dev/null); [ -n "$f" ] || f=/var/log/mail.log',
    'if [ -r "$f" ]; then echo "$f"; grep -hF "$@" -- "$f"; exit 0; fi',
    'command -v journalctl >/dev/null || { echo "no mail log: neither $f nor a journal" >&2; exit 3; }',
    'echo "the journal"; journalctl -q -o short --since=-1d SYSLOG_FACILITY=2 | grep -F "$@"; exit 0',
  ].join("\n");
  const r = await s.exec(["sh", "-c", script, "sh", ...texts.flatMap((t) => ["-e", t])], { allowFailure: true });
  if (r.code !== 0) throw new Error(`on ${s.target.name}: ${r.stderr.trim() || `reading the mail log exited ${r.code}`}`);
  const [log, ...lines] = r.stdout.split("\n");
  return { log: `${s.target.name}'s ${log}`, lines: lines.filter(Boolean) };
}

/**
 * A probe message the next hop took, then bounced (the outside probe unknown further on): its
 * bounce came back into one of the organisation's mailboxes, quoting it. Fails the result, naming
 * where the bounce is. Pure.
 */
export function withBounce(r: OutboundResult, bounces: string[]): OutboundResult {
  if (!bounces.length) return r;
  return {
    ...r,
    passed: false,
    undecided: false,
    detail: `${r.detail}; but a bounce of it came back (${bounces.join(", ")}): ${r.probe.recipient} does not take it further on`,
  };
}

/**
 * Sends each outbound probe's message from its system, then reads each sending host's log until
 * every message was delivered or bounced, or the time is up (a deferral may still turn into a
 * delivery: until then it is undecided, never a pass).
 */
export async function checkOutbound(
  probes: OutboundProbe[],
  session: (role: OutboundProbe["from"]) => Promise<HostSession>,
  sender: (from: OutboundProbe["from"]) => string,
  timeoutMs = 30_000,
): Promise<OutboundResult[]> {
  return Promise.all(
    probes.map(async (probe): Promise<OutboundResult> => {
      const marker = newMarker();
      const messageId = `${marker}@cutover.invalid`;
      const what = `${probe.from} -> ${probe.recipient}`;
      let s: HostSession;
      try {
        s = await session(probe.from);
        await sendMessages(s, [{ from: sender(probe.from), to: probe.recipient, marker, messageId }]);
      } catch (e) {
        return { probe, marker, passed: false, detail: `${what}: not sent: ${(e as Error).message}` };
      }
      try {
        const read = async () => {
          const { log, lines } = await mailLogLines(s, [marker]);
          const found = loggedDeliveries(lines, messageId, probe.recipient);
          if (!found.queueId) return { log, found };
          const more = await mailLogLines(s, [`${found.queueId}: `]);
          return { log, found: loggedDeliveries([...lines, ...more.lines], messageId, probe.recipient) };
        };
        const { log, found } = await waitFor(read, (x) => x.found.deliveries.some((d) => d.status !== "deferred"), timeoutMs, 300);
        return { ...outboundVerdict(probe, log, found), marker };
      } catch (e) {
        return { probe, marker, passed: false, undecided: true, detail: `${what}: could not read where it went: ${(e as Error).message}` };
      }
    }),
  );
}
