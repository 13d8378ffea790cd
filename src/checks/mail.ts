/**
 * Real messages, sent and found over SSH: a message is handed to a host's own MTA (as a user on
 * that host would send it) and looked for in the recipient's maildir on each host.
 */
import { randomBytes } from "node:crypto";
import { execSequence, type HostSession } from "../remote/ssh";

export const newMarker = () => `cutover-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;

export interface SendOptions {
  from: string;
  to: string;
  /** Unique text in the subject and body, to find the message by. */
  marker: string;
  /** Its Message-ID header (without angle brackets), to follow it in the sending host's log; default: postfix makes one. */
  messageId?: string;
}

/**
 * Hands messages to the host's own MTA with its sendmail command, as a user on that host would
 * send them; all of one host's messages in one round trip.
 */
export async function sendMessages(s: HostSession, messages: SendOptions[]): Promise<void> {
  if (!messages.length) return;
  const commands = messages.map((m) => [
    "sh",
    "-c",
    'printf "%s" "$3" | /usr/sbin/sendmail -i -f "$1" -- "$2"',
    "sh",
    m.from,
    m.to,
    `From: <${m.from}>\nTo: <${m.to}>\nSubject: ${m.marker}\n${m.messageId ? `Message-ID: <${m.messageId}>\n` : ""}\n${m.marker}\n`,
  ]);
  const r = await execSequence(s, commands, { allowFailure: true, timeoutMs: 60_000 });
  if (r.code !== 0)
    throw new Error(
      `on ${s.target.name}: handing ${messages.length} messages to sendmail failed: ${(r.stderr || r.stdout).trim().split("\n").slice(-2).join(" | ")}`,
    );
}

export const sendMail = (s: HostSession, m: SendOptions) => sendMessages(s, [m]);

/** What a relay test found: refused (5xx at RCPT), open (2xx), or could not tell (anything else). */
export interface RelayVerdict {
  verdict: "refused" | "open" | "unknown";
  /** The reply or failure that decided it. */
  detail: string;
  /** The name the server gave in its EHLO reply (its myhostname), when it answered EHLO. */
  answeredAs?: string;
  /** The server's reply to the control recipient, when one was asked. */
  controlReply?: string;
}

/** An outside address that exists nowhere: what an open relay would accept. */
export const OUTSIDE_RECIPIENT = "relay-probe@elsewhere.invalid";

/** The recipients of a relay test's one session. */
export interface RelayRecipients {
  /** A mailbox the server serves, asked first: its 2xx shows the server takes mail from this client at all. */
  control?: string;
  /** The recipient it must not take (default OUTSIDE_RECIPIENT). */
  to?: string;
}

/**
 * Reads swaks's transcript of a relay test (its replies start `<-` or `<**`, its commands ` ->`,
 * its own errors `***`). Only a 220 greeting and a 5xx at RCPT mean "refuses to relay"; a 2xx at
 * RCPT is an open relay; a 4xx ("try later"), no greeting, a refused MAIL or no answer at all
 * cannot tell either way. `asked`: the recipients of the dialogue (see RelayRecipients). Pure.
 */
export function relayVerdict(transcript: string, exitCode: number, asked: RelayRecipients = {}): RelayVerdict {
  const { control, to = OUTSIDE_RECIPIENT } = asked;
  // Only the shell's own words: "No such file" also comes from a connect that failed oddly (an errno
  // left over), which is the server's doing, not a missing tool (a CI run said "not installed" so).
  if (exitCode === 127 || /\bswaks: (command )?not found/.test(transcript))
    return { verdict: "unknown", detail: "swaks is not installed on the testing host" };
  const lines = transcript.split("\n");
  const replyAfter = (command: RegExp): string | undefined => {
    const at = lines.findIndex((l) => /^\s*->\s/.test(l) && command.test(l));
    if (at < 0) return undefined;
    return lines
      .slice(at + 1)
      .find((l) => /^\s*<(-|\*\*)\s/.test(l))
      ?.replace(/^\s*<(-|\*\*)\s+/, "");
  };
  const greeting = lines.find((l) => /^\s*<(-|\*\*)\s/.test(l))?.replace(/^\s*<(-|\*\*)\s+/, "");
  const failure =
    lines
      .filter((l) => l.startsWith("***"))
      .map((l) => l.replace(/^\*+\s*/, ""))
      .join(" ") || undefined;
  const rcptTo = (address: string) => new RegExp(`RCPT TO:<${address.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}>`, "i");
  const answeredAs = replyAfter(/\b[EH]HLO\b/i)
    ?.match(/^250[ -](\S+)/)?.[1]
    ?.toLowerCase();
  const controlReply = control ? (replyAfter(rcptTo(control)) ?? "no answer") : undefined;
  return {
    ...relayReplies({
      greeting,
      mail: replyAfter(/MAIL FROM/i),
      ...(controlReply ? { control: controlReply } : {}),
      rcpt: replyAfter(rcptTo(to)) ?? replyAfter(/RCPT TO/i),
      failure,
    }),
    ...(answeredAs ? { answeredAs } : {}),
    ...(controlReply ? { controlReply } : {}),
  };
}

/**
 * The relay rule, whatever the client: a 2xx at RCPT for the outside recipient is an open relay. A
 * 5xx there is a refusal to relay only when it says so ("Relay access denied", Postfix's
 * reject_unauth_destination) or when the control recipient, a mailbox the server serves, was
 * accepted in the same session: Postfix delays client, HELO and sender rejections to RCPT, so an
 * RBL listing of the testing host (554 5.7.1 ... blocked using ...), a HELO it rejects (504) or a
 * sender it rejects (550 5.1.8) also answer 5xx there while saying nothing of relaying. No 220
 * greeting, a refused MAIL, a 4xx ("try later") or no answer cannot tell either. Each reply is its
 * last line, code first. Pure.
 */
export function relayReplies(r: { greeting?: string; mail?: string; control?: string; rcpt?: string; failure?: string }): RelayVerdict {
  if (!r.greeting?.startsWith("220")) return { verdict: "unknown", detail: `no greeting: ${r.greeting ?? r.failure ?? "no answer"}` };
  if (!r.mail?.startsWith("2")) return { verdict: "unknown", detail: `MAIL FROM not accepted: ${r.mail ?? r.failure ?? "no answer"}` };
  if (r.rcpt?.startsWith("2")) return { verdict: "open", detail: r.rcpt };
  if (r.rcpt?.startsWith("5")) {
    if (/relay access denied/i.test(r.rcpt) || r.control?.startsWith("2")) return { verdict: "refused", detail: r.rcpt };
    return {
      verdict: "unknown",
      detail: `RCPT refused with ${r.rcpt}, which is no refusal to relay (not "Relay access denied"), and ${
        r.control === undefined
          ? "no control recipient was asked"
          : `the control recipient, a mailbox it serves, was refused too (${r.control})`
      }: the refusal may be of the testing host, its HELO name or its sender`,
    };
  }
  return { verdict: "unknown", detail: `RCPT answered ${r.rcpt ?? r.failure ?? "nothing"}` };
}

/**
 * Asks an SMTP server, from this host, to relay to an outside recipient; never sends a message. A
 * dialogue still going after `limitMs` is no answer ("unknown").
 */
export async function relayTest(s: HostSession, server: string, asked: RelayRecipients = {}, limitMs = 60_000): Promise<RelayVerdict> {
  try {
    const to = [asked.control, asked.to ?? OUTSIDE_RECIPIENT].filter(Boolean).join(",");
    const r = await s.exec(
      // 30 s for each answer, the greeting included: a loaded postfix can take over 10 s to greet (seen
      // on the lab's legacy gateway right after a go-live under 25 messages/s: the connection was logged
      // 10 s after it was opened, when a 10 s swaks had already given up); RFC 5321 senders wait 5 minutes.
      ["swaks", "--server", server, "--from", "probe@relay-test.invalid", "--to", to, "--quit-after", "RCPT", "--timeout", "30"],
      { allowFailure: true, timeoutMs: limitMs },
    );
    return relayVerdict(`${r.stdout}\n${r.stderr}`, r.code, asked);
  } catch (e) {
    // A dialogue that never ends is no answer, not a failure of the check's host.
    if (e instanceof Error && e.message.includes("did not finish in"))
      return { verdict: "unknown", detail: `no answer: the SMTP dialogue did not end within ${limitMs / 1000} s` };
    throw e;
  }
}

/** The maildir files on this host that hold the marker, for one recipient. */
export async function findInMailbox(s: HostSession, address: string, marker: string): Promise<string[]> {
  const [user, domain] = [address.slice(0, address.indexOf("@")), address.slice(address.indexOf("@") + 1)];
  return grepMailStore(s, (base) => ["-rlF", "--", marker, `${base}/${domain}/${user}/`], `${address}'s mailbox`);
}

/** Every maildir file on this host holding the marker, whoever it was for. */
export async function findAnywhere(s: HostSession, marker: string): Promise<string[]> {
  return grepMailStore(s, (base) => ["-rlF", "--", marker, `${base}/`], "the mail store");
}

/** grep's output lines over the host's mail store (virtual_mailbox_base), or an error naming `what` when grep failed. */
async function grepMailStore(s: HostSession, args: (base: string) => string[], what: string): Promise<string[]> {
  const base = (await s.exec(["postconf", "-h", "virtual_mailbox_base"])).stdout.trim();
  const r = await s.exec(["grep", ...args(base)], { allowFailure: true });
  const failure = searchFailure(r);
  if (failure) throw new Error(`searching ${what} (${base}) failed: ${failure}`);
  return r.stdout.split("\n").filter(Boolean);
}

/**
 * Why a grep over a live mail store failed, or undefined when it did not: exit 1 is "none found";
 * exit 2 is an error (an unreadable directory or file, an I/O error), except for what does not
 * exist: a file that vanished while grep walked the store (a delivery renames tmp/ into new/), or a
 * mailbox or store that has had no mail yet. Pure.
 */
export function searchFailure(r: { code: number; stderr: string }): string | undefined {
  if (r.code <= 1) return undefined;
  const complaints = r.stderr
    .split("\n")
    .filter(Boolean)
    .filter((l) => !l.endsWith(": No such file or directory"));
  if (!complaints.length && r.code === 2) return undefined;
  return `grep exited ${r.code}: ${complaints.slice(0, 3).join("; ") || "no message"}`;
}

/**
 * Removes maildir files (the verification's own messages, found in probe mailboxes) and returns
 * those still there afterwards, with why: a copy that could not be removed is reported, never
 * left silently.
 */
export async function removeMessages(s: HostSession, paths: string[]): Promise<string[]> {
  if (!paths.length) return [];
  const r = await s.exec(["sh", "-c", 'rm -f -- "$@"; for f do [ ! -e "$f" ] || echo "$f"; done', "sh", ...paths], { allowFailure: true });
  const left = r.stdout.split("\n").filter(Boolean);
  if (r.code !== 0 && !left.length) return paths.map((f) => `${f} (${r.stderr.trim().split("\n").at(-1) || `exit ${r.code}`})`);
  const why = r.stderr.trim().split("\n").at(-1);
  return left.map((f) => (why ? `${f} (${why})` : f));
}

/** Which maildir files on this host hold each of the markers, in one pass over the mail store. */
export async function findMarkers(s: HostSession, markers: string[]): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>();
  if (!markers.length) return found;
  const lines = await grepMailStore(s, (base) => ["-rHoF", ...markers.flatMap((m) => ["-e", m]), "--", `${base}/`], "the mail store");
  for (const line of lines) {
    const i = line.lastIndexOf(":");
    const [path, marker] = [line.slice(0, i), line.slice(i + 1)];
    const paths = found.get(marker) ?? [];
    if (!paths.includes(path)) paths.push(path);
    found.set(marker, paths);
  }
  return found;
}

/** The Received headers of each message file (paths on the host), unfolded, in one round trip. */
export async function receivedHeaders(s: HostSession, paths: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (!paths.length) return out;
  const script = 'for f; do printf "%s\\n" "==> $f"; sed -n "1,/^\\r\\{0,1\\}$/p" "$f"; done';
  const { stdout } = await s.exec(["sh", "-c", script, "sh", ...paths], { allowFailure: true });
  let current: string[] | undefined;
  for (const line of stdout.split("\n")) {
    if (line.startsWith("==> ") && paths.includes(line.slice(4))) {
      current = [];
      out.set(line.slice(4), current);
    } else if (current && /^[ \t]/.test(line) && current.length) {
      current[current.length - 1] += ` ${line.trim()}`;
    } else if (current) {
      current.push(line.trimEnd());
    }
  }
  for (const [path, lines] of out)
    out.set(
      path,
      lines.filter((l) => /^received:/i.test(l)),
    );
  return out;
}

/**
 * Whether a message's Received path shows a host: an address as the "[address]" a receiving server
 * records for its client, a name after "from" or "by". Pure.
 */
export function receivedThrough(received: string[], host: string): boolean {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) return received.some((r) => r.includes(`[${host}]`));
  const name = new RegExp(`\\b(from|by) ${host.replace(/\./g, "\\.")}(?![\\w.-])`, "i");
  return received.some((r) => name.test(r));
}

/** The name a Received header's writer gives itself (its "by" clause), lower-case. Pure. */
export function receivedBy(header: string): string | undefined {
  return /(?:^received:|[\s)])by\s+([a-z0-9][a-z0-9.-]*)/i.exec(header)?.[1].toLowerCase();
}

/**
 * The host that took a message in from its sender: the writer of its earliest Received header that
 * the sending host did not write itself (headers stand newest first). Pure.
 */
export function enteredAt(received: string[], senderName: string): string | undefined {
  for (const header of [...received].reverse()) {
    const by = receivedBy(header);
    if (by && by !== senderName.toLowerCase()) return by;
  }
  return undefined;
}

/** A message of ours still in a postfix queue: its queue id and why each recipient left waits, as postfix says. */
export interface QueuedMessage {
  queueId: string;
  /** "recipient: delay reason" (the reason is empty while a delivery is under way). */
  waiting: string[];
}

/**
 * The host's queued messages (in any postfix queue) that carry one of the texts and still have a
 * recipient to deliver to: a message of ours still on its way. Other mail waiting in a queue does not
 * count, and neither does a queue file whose every recipient is done: after a `postfix reload`
 * during a delivery, the new queue manager finds the file locked ("skipped, still being delivered"),
 * puts it back in the incoming queue for 60 s, and removes it only then (measured on the lab: the
 * verification after a go-live under load counted such a file as "still queued"). One round trip.
 */
export async function stillQueued(s: HostSession, texts: string[]): Promise<QueuedMessage[]> {
  if (!texts.length) return [];
  const { stdout } = await s.exec([
    "sh",
    "-c",
    [
      'q=$(postconf -h queue_directory) && shift && cd "$q" || exit 1',
      'ids=$(grep -rlF "$@" -- incoming active deferred maildrop hold 2>/dev/null | sed "s,.*/,,")',
      '[ -z "$ids" ] || { printf "%s\\n" $ids; echo --; postqueue -j; }',
    ].join("\n"),
    "sh",
    "--",
    ...texts.flatMap((t) => ["-e", t]),
  ]);
  return queuedWithRecipients(stdout);
}

/** How many messages of ours are still queued on the host (see stillQueued). */
export const queuedWith = async (s: HostSession, texts: string[]): Promise<number> => (await stillQueued(s, texts)).length;

/** The queue ids listed before "--" whose entry in the `postqueue -j` lines after it has a recipient left. Pure. */
export function queuedWithRecipients(output: string): QueuedMessage[] {
  const [ids, report = ""] = output.split(/^--$/m);
  const left = new Map(
    report
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { queue_id: string; recipients?: { address: string; delay_reason?: string }[] })
      .filter((m) => (m.recipients ?? []).length > 0)
      .map((m) => [m.queue_id, m.recipients!.map((r) => `${r.address}: ${r.delay_reason || "(being delivered)"}`)] as const),
  );
  return ids
    .split("\n")
    .filter((id) => id && left.has(id))
    .map((queueId) => ({ queueId, waiting: left.get(queueId)! }));
}

/** Polls until the predicate holds or the time is up; returns the last value. */
export async function waitFor<T>(probe: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 20_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (done(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The TLS policy a sending host's postfix applies to mail from one sender to one domain. */
export interface SenderTlsPolicy {
  /** The transport postfix picks for the sender (sender_dependent_default_transport_maps, else default_transport). */
  transport: string;
  /** That transport's smtp_tls_policy_maps (its own master.cf override, else main.cf's); "" when none. */
  map: string;
  /** The map's answer for the domain ("secure match=..." from an MTA-STS resolver); "" when it has none. */
  policy: string;
}

/**
 * Asks the sending host's postfix what it applies to mail from `sender` to `domain`, as its smtp
 * client would: the transport for the sender, that transport's TLS policy map, and the map's answer
 * for the domain, asked at once (an MTA-STS resolver answers from the policy it fetched). A map that
 * cannot answer (a resolver down) is an error, not "no policy".
 */
export async function senderTlsPolicy(s: HostSession, sender: string, domain: string): Promise<SenderTlsPolicy> {
  const setting = async (name: string) => (await s.exec(["postconf", "-hx", name])).stdout.trim();
  const lookup = async (key: string, table: string) => {
    const r = await s.exec(["postmap", "-q", key, table], { allowFailure: true });
    if (r.code === 0) return r.stdout.trim();
    // Exit 1 with nothing said is "not found"; a fatal or warning line is a map that could not answer.
    if (r.code === 1 && !r.stderr.trim()) return "";
    throw new Error(
      `on ${s.target.name}: postmap -q ${key} ${table} failed: ${r.stderr.trim().split("\n").slice(-1)[0] || `exit ${r.code}`}`,
    );
  };
  const senderMaps = await setting("sender_dependent_default_transport_maps");
  const chosen = (senderMaps && (await lookup(sender, senderMaps))) || (await setting("default_transport"));
  const transport = chosen.split(":")[0];
  // A service's own -o setting; postconf warns "unmatched request" (exit 0, nothing out) when it has none.
  const own = (await s.exec(["postconf", "-hxP", `${transport}/unix/smtp_tls_policy_maps`], { allowFailure: true })).stdout.trim();
  const map = own || (await setting("smtp_tls_policy_maps"));
  return { transport, map, policy: map ? await lookup(domain, map) : "" };
}

/**
 * Whether a sender applies a domain's enforced MTA-STS policy: its policy map must answer "secure"
 * with a match list holding every MX name the policy names (a "*.example.com" pattern as the
 * resolver writes it, ".example.com"). The problem in words, or undefined when it applies. Pure.
 */
export function stsNotApplied(found: SenderTlsPolicy, domain: string, mx: string[]): string | undefined {
  const how = `transport ${found.transport}${found.map ? `, policy map ${found.map}` : ", no TLS policy map"}`;
  if (!found.policy)
    return `the sender applied no MTA-STS policy for ${domain} (${how}${found.map ? " has none for it" : ""}): the message came by the sender's default TLS, so MTA-STS is not shown`;
  const [level, ...attributes] = found.policy.split(/\s+/);
  if (level !== "secure") return `the sender's policy for ${domain} is "${found.policy}" (${how}), not "secure": MTA-STS is not enforced`;
  const match = new Set(
    attributes
      .find((a) => a.startsWith("match="))
      ?.slice("match=".length)
      .split(":")
      .map((n) => n.toLowerCase()) ?? [],
  );
  const missing = mx.map((m) => m.toLowerCase().replace(/^\*\./, ".")).filter((m) => !match.has(m));
  if (missing.length)
    return `the sender's policy for ${domain} is "${found.policy}" (${how}): it misses ${missing.join(", ")} of the published policy`;
  return undefined;
}
