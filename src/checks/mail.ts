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
    `From: <${m.from}>\nTo: <${m.to}>\nSubject: ${m.marker}\n\n${m.marker}\n`,
  ]);
  const r = await execSequence(s, commands, { allowFailure: true, timeoutMs: 60_000 });
  if (r.code !== 0)
    throw new Error(
      `on ${s.target.name}: handing ${messages.length} messages to sendmail failed: ${(r.stderr || r.stdout).trim().split("\n").slice(-2).join(" | ")}`,
    );
}

export const sendMail = (s: HostSession, m: SendOptions) => sendMessages(s, [m]);

/** Asks an SMTP server to relay to an outside recipient; true when it accepted (an open relay). */
export async function acceptsRelay(s: HostSession, server: string, to: string): Promise<boolean> {
  const r = await s.exec(
    ["swaks", "--server", server, "--from", "probe@relay-test.invalid", "--to", to, "--quit-after", "RCPT", "--timeout", "10"],
    { allowFailure: true, timeoutMs: 20_000 },
  );
  return r.code === 0;
}

/** The maildir files on this host that hold the marker, for one recipient. */
export async function findInMailbox(s: HostSession, address: string, marker: string): Promise<string[]> {
  const base = (await s.exec(["postconf", "-h", "virtual_mailbox_base"])).stdout.trim();
  const [user, domain] = [address.slice(0, address.indexOf("@")), address.slice(address.indexOf("@") + 1)];
  const r = await s.exec(["grep", "-rlF", "--", marker, `${base}/${domain}/${user}/`], { allowFailure: true });
  return r.stdout.split("\n").filter(Boolean);
}

/** Every maildir file on this host holding the marker, whoever it was for. */
export async function findAnywhere(s: HostSession, marker: string): Promise<string[]> {
  const base = (await s.exec(["postconf", "-h", "virtual_mailbox_base"])).stdout.trim();
  const r = await s.exec(["grep", "-rlF", "--", marker, `${base}/`], { allowFailure: true });
  return r.stdout.split("\n").filter(Boolean);
}

/** Which maildir files on this host hold each of the markers, in one pass over the mail store. */
export async function findMarkers(s: HostSession, markers: string[]): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>();
  if (!markers.length) return found;
  const base = (await s.exec(["postconf", "-h", "virtual_mailbox_base"])).stdout.trim();
  const r = await s.exec(["grep", "-rHoF", ...markers.flatMap((m) => ["-e", m]), "--", `${base}/`], { allowFailure: true });
  for (const line of r.stdout.split("\n").filter(Boolean)) {
    const i = line.lastIndexOf(":");
    const [path, marker] = [line.slice(0, i), line.slice(i + 1)];
    const paths = found.get(marker) ?? [];
    if (!paths.includes(path)) paths.push(path);
    found.set(marker, paths);
  }
  return found;
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
