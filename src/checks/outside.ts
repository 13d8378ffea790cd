/**
 * The outside view from where cutover runs, for a stack with no model-Internet host (production):
 * mail from outside is sent as a remote MTA sends it (the recipient domain's MX found through its
 * zone's authoritative servers, or the resolvers the operator names; the lowest preference first;
 * STARTTLS whenever the server offers it; the next MX after a failed connection or a 4xx), and the
 * open-relay test is asked over SMTP from here. nodemailer's SMTPConnection speaks the SMTP client
 * side (EHLO, STARTTLS, pipelining, dot-stuffing, the reply to the end of DATA), a long-kept client
 * built for this; what to connect to, and in which order, is an MTA's choice and is made here.
 */
import { Resolver } from "node:dns/promises";
import { hostname } from "node:os";
import SMTPConnection from "nodemailer/lib/smtp-connection";
import { spkiDigest } from "../model/certificate";
import { zoneFor } from "../model/names";
import type { Plan } from "../model/plan";
import { queryRecord } from "./dns-query";
import { OUTSIDE_RECIPIENT, type RelayVerdict, relayReplies } from "./mail";
import { authoritativeServers } from "./probes/dns";
import { SmtpDialogue } from "./smtp-dialogue";
import type { PublishedTlsa, TlsVerdict } from "./tls";

/** Where the outside view looks names up, and the name it gives in EHLO. */
export interface OutsideOptions {
  /** Resolvers to ask instead of each zone's authoritative servers (the operator's choice). */
  resolvers?: string[];
  /** The name this sender gives in EHLO (default: this machine's host name). */
  helo?: string;
  /** Per SMTP connection: to connect, and for each reply. */
  timeoutMs?: number;
}

/** One MX host of a domain: its name, preference and addresses. */
export interface MailExchanger {
  name: string;
  preference: number;
  addresses: string[];
}

const lower = (s: string) => s.toLowerCase().replace(/\.$/, "");

/**
 * The servers to ask about `name`: the operator's resolvers, else the authoritative servers of the
 * plan's zone that holds it, else (a name in no zone of the plan) this machine's resolvers.
 */
async function serversFor(p: Plan, name: string, o: OutsideOptions): Promise<string[] | undefined> {
  if (o.resolvers?.length) return o.resolvers;
  const zoneName = zoneFor(
    name,
    p.zones.map((z) => z.name),
  );
  const zone = p.zones.find((z) => z.name === zoneName);
  return zone ? authoritativeServers(zone, p.hosts, undefined) : undefined;
}

async function resolverFor(p: Plan, name: string, o: OutsideOptions): Promise<Resolver> {
  const r = new Resolver({ timeout: 2000, tries: 2 });
  const servers = await serversFor(p, name, o);
  if (servers?.length) r.setServers(servers);
  return r;
}

/** A domain's MX hosts, lowest preference first (RFC 5321 5.1), each with its addresses; a domain without MX is its own (implicit MX). */
export async function mailExchangers(p: Plan, domain: string, o: OutsideOptions = {}): Promise<MailExchanger[]> {
  const r = await resolverFor(p, domain, o);
  let mx: { exchange: string; priority: number }[];
  try {
    mx = await r.resolveMx(domain);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENODATA") throw new Error(`the MX of ${domain} could not be read: ${code ?? (e as Error).message}`);
    mx = [{ exchange: domain, priority: 0 }];
  }
  const sorted = [...mx].sort((a, b) => a.priority - b.priority);
  return Promise.all(
    sorted.map(async (m) => {
      const name = lower(m.exchange);
      const addresses = await (await resolverFor(p, name, o)).resolve4(name).catch(() => [] as string[]);
      return { name, preference: m.priority, addresses };
    }),
  );
}

/** What delivering one message from outside did. */
export interface OutsideDelivery {
  /** The MX host and address that took it. */
  mx?: string;
  address?: string;
  /** Whether the session ran over STARTTLS (offered and taken), as a remote MTA's would. */
  tls?: boolean;
  /** The server's reply to the end of the message ("250 2.0.0 Ok: queued as ..."). */
  reply?: string;
  /** Why it was not delivered: every MX tried, each one's failure. */
  error?: string;
}

export interface OutsideMessage {
  /** The envelope sender; "" for the null sender. */
  from: string;
  to: string;
  /** Unique text in the subject and body, to find the message by. */
  marker: string;
}

/** One SMTP session to one address: EHLO, STARTTLS when offered, the message; its reply or the error. */
function deliverTo(mx: MailExchanger, address: string, m: OutsideMessage, o: OutsideOptions): Promise<OutsideDelivery> {
  const timeoutMs = o.timeoutMs ?? 30_000;
  const c = new SMTPConnection({
    host: address,
    port: 25,
    name: o.helo ?? hostname(),
    servername: mx.name,
    // A remote MTA takes STARTTLS whenever it is offered and does not check the certificate (RFC 7435's
    // opportunistic TLS); DANE and MTA-STS senders are the TLS checks' business.
    tls: { rejectUnauthorized: false },
    opportunisticTLS: true,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  });
  const date = new Date().toUTCString();
  const text = [
    `From: <${m.from || "mailer-daemon@outside.invalid"}>`,
    `To: <${m.to}>`,
    `Subject: ${m.marker}`,
    `Date: ${date}`,
    `Message-ID: <${m.marker}@outside.invalid>`,
    "",
    m.marker,
    "",
  ].join("\r\n");
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: OutsideDelivery) => {
      if (done) return;
      done = true;
      if (r.error) c.close();
      else c.quit();
      resolve({ mx: mx.name, address, ...r });
    };
    // Every error, also one after the end (a reset after QUIT): an unheard "error" event would end the process.
    c.on("error", (e: Error) => finish({ error: e.message }));
    c.connect((e) => {
      if (e) return finish({ error: e.message });
      c.send({ from: m.from || false, to: m.to }, text, (err, info) => {
        if (err) finish({ error: err.message });
        else finish({ tls: c.secure, reply: info.response });
      });
    });
  });
}

/** Whether a failed delivery is temporary (a refused connection, a timeout, a 4xx): a remote MTA tries the next MX. Pure. */
export const temporaryFailure = (error: string) => !/\b5\d\d\b/.test(error.split("\n")[0]);

/**
 * Delivers one message from outside as a remote MTA does: the recipient domain's MX hosts in
 * preference order, each address in turn, on to the next after a temporary failure; a permanent
 * one (5xx) ends it. Never throws: what went wrong is in `error`.
 */
export async function sendFromOutside(p: Plan, m: OutsideMessage, o: OutsideOptions = {}): Promise<OutsideDelivery> {
  const first = await deliverOnce(p, m, o);
  if (!first.error || !first.temporary) return first;
  // Every MX answered "try later" (a 421 when busy, a refused connection): once more a little later, as an MTA retries.
  await new Promise((r) => setTimeout(r, RETRY_MS));
  const again = await deliverOnce(p, m, o);
  return again.error ? { ...again, error: `${again.error} (and ${RETRY_MS / 1000} s before: ${first.error})` } : again;
}

/** How long a delivery that failed temporarily waits before its one retry. */
const RETRY_MS = 2000;

async function deliverOnce(p: Plan, m: OutsideMessage, o: OutsideOptions): Promise<OutsideDelivery & { temporary?: boolean }> {
  const domain = m.to.slice(m.to.lastIndexOf("@") + 1);
  let exchangers: MailExchanger[];
  try {
    exchangers = await mailExchangers(p, domain, o);
  } catch (e) {
    return { error: (e as Error).message };
  }
  const failures: string[] = [];
  for (const mx of exchangers) {
    if (!mx.addresses.length) failures.push(`${mx.name}: no address`);
    for (const address of mx.addresses) {
      const r = await deliverTo(mx, address, m, o);
      if (!r.error) return r;
      failures.push(`${mx.name} [${address}]: ${r.error}`);
      if (!temporaryFailure(r.error)) return { ...r, error: failures.join("; ") };
    }
  }
  return { error: failures.join("; ") || `${domain} has no MX host`, temporary: failures.length > 0 };
}

/**
 * MAIL, RCPT for `control` (a mailbox the server serves, when given) and for an outside recipient
 * on an open dialogue, then the verdict (see relayReplies); never sends a message.
 */
export async function relayOver(d: SmtpDialogue, control?: string, sender = "probe@relay-test.invalid"): Promise<RelayVerdict> {
  const mail = await d.command(`MAIL FROM:<${sender}>`);
  const accepted = mail.code.startsWith("2");
  const asked = accepted && control ? await d.command(`RCPT TO:<${control}>`) : undefined;
  const rcpt = accepted ? await d.command(`RCPT TO:<${OUTSIDE_RECIPIENT}>`) : undefined;
  const last = (r: { lines: string[]; code: string }) => r.lines.at(-1) ?? r.code;
  return {
    ...relayReplies({
      greeting: d.greeting.replace(/^220-/, "220 "),
      mail: last(mail),
      ...(asked ? { control: last(asked) } : {}),
      ...(rcpt ? { rcpt: last(rcpt) } : {}),
    }),
    ...(asked ? { controlReply: last(asked) } : {}),
  };
}

/**
 * The open-relay test from here: greeting, EHLO (the name the server answers with), then relayOver.
 * No connection, no greeting or no answer is "unknown", never a refusal.
 */
export async function relayTestFromHere(server: string, control: string | undefined, o: OutsideOptions = {}): Promise<RelayVerdict> {
  let d: SmtpDialogue;
  try {
    d = await SmtpDialogue.open(server, 25, o.timeoutMs ?? 30_000);
  } catch (e) {
    return { verdict: "unknown", detail: `no greeting: ${(e as Error).message}` };
  }
  try {
    const ehlo = await d.command(`EHLO ${o.helo ?? hostname()}`);
    const answeredAs =
      ehlo.code === "250"
        ? ehlo.lines[0]
            ?.replace(/^250[ -]/, "")
            .split(/\s+/)[0]
            ?.toLowerCase()
        : undefined;
    const v = await relayOver(d, control);
    return { ...v, ...(answeredAs ? { answeredAs } : {}) };
  } catch (e) {
    return { verdict: "unknown", detail: `no answer: ${(e as Error).message}` };
  } finally {
    await d.close();
  }
}

/**
 * The TLSA record of `name` as its zone's authoritative server publishes it (or the operator's
 * resolver returns it), with its signatures: from here no validating resolver is at hand, so
 * "validated" means signed at the zone; whether the parent's DS matches is the drift check's "DS at
 * the parent".
 */
export async function publishedTlsaFromHere(p: Plan, name: string, o: OutsideOptions = {}): Promise<PublishedTlsa> {
  const owner = `_25._tcp.${name}`;
  const [server] = (await serversFor(p, owner, o).catch(() => undefined)) ?? new Resolver().getServers();
  if (!server) return { keys: [], validated: false, status: "no DNS server to ask" };
  const a = await queryRecord(server, owner, "TLSA", o.timeoutMs ?? 5000, { dnssec: true, recursive: !!o.resolvers?.length }).catch(
    (e: Error) => e,
  );
  if (a instanceof Error) return { keys: [], validated: false, status: a.message };
  const status = { answer: "NOERROR", nodata: "NOERROR", nxdomain: "NXDOMAIN", refused: "REFUSED", servfail: "SERVFAIL" }[a.status];
  const keys = a.values.filter((v) => v.startsWith("3 1 1 ")).map((v) => v.slice(6).toLowerCase());
  return { keys, validated: a.signed === true, status };
}

/** The key a server presents over STARTTLS to a sender asking for `name`, against the published keys. */
export async function tlsTestFromHere(server: string, name: string, keys: string[], o: OutsideOptions = {}): Promise<TlsVerdict> {
  let d: SmtpDialogue;
  try {
    d = await SmtpDialogue.open(server, 25, o.timeoutMs ?? 30_000);
  } catch (e) {
    return { verdict: "unknown", detail: (e as Error).message };
  }
  try {
    const ehlo = await d.command(`EHLO ${o.helo ?? hostname()}`);
    if (!ehlo.lines.some((l) => /^250[ -]STARTTLS/i.test(l)))
      return { verdict: "mismatch", detail: `does not offer STARTTLS (its EHLO answer: ${ehlo.lines.join(" | ")})` };
    const served = spkiDigest((await d.startTls(name)).publicKey);
    return keys.includes(served)
      ? { verdict: "verified", served, detail: `the served key is published for ${name}` }
      : { verdict: "mismatch", served, detail: "the served key matches no published one" };
  } catch (e) {
    return { verdict: "unknown", detail: (e as Error).message };
  } finally {
    await d.close();
  }
}
