/**
 * The gateway's TLS identity as a sender that enforces DANE-EE sees it: posttls-finger (from
 * postfix) on a sending host, at the fingerprint level, matching the served key's SPKI sha256
 * against the keys the plan's TLSA records publish. Only a "Verified" session passes; another key
 * fails; no connection, no STARTTLS answer or no tool is "could not check", never a pass.
 */
import type { HostRole } from "../model/inventory";
import type { Plan } from "../model/plan";
import { tlsaPresentation } from "../model/records";
import type { HostSession } from "../remote/ssh";

/** A server that presents the gateway's TLS identity in a phase, and the keys it may present. */
export interface TlsTarget {
  address: string;
  /** The name it answers to. */
  name: string;
  /** SPKI sha256 of each key it may present. */
  keys: string[];
  /** The gateway serving the identity at its own address; absent: the gateway address. */
  role?: HostRole;
}

/**
 * Where the plan's TLS identity is served: at the gateway address, a key the TLSA record of its
 * name publishes; at each gateway serving the identity, its own key (so a published key nobody
 * serves shows as that gateway's failure). None in phase 1, which has no gateway yet. Pure.
 */
export function tlsTargets(p: Plan): TlsTarget[] {
  if (!p.routing.some((t) => t.tls)) return [];
  const published = p.zones
    .flatMap((z) => z.records)
    .filter((r) => r.type === "TLSA" && r.name === `_25._tcp.${p.gateway.hostName}`)
    .flatMap((r) => r.values.map((v) => v.split(" ")[3]));
  return [
    { address: p.gateway.address, name: p.gateway.hostName, keys: published },
    ...p.routing
      .filter((t) => t.tls)
      .map((t) => ({ address: p.hosts.find((h) => h.role === t.host)!.address, name: t.tls!.name, keys: [t.tls!.spki], role: t.host })),
  ];
}

/** The TLSA record of a name as a sender's validating resolver returns it. */
export interface PublishedTlsa {
  /** The SPKI sha256 of each DANE-EE key (usage 3, selector 1, type 1) it holds, lower-case hex. */
  keys: string[];
  /** The resolver set the AD bit: it validated the answer. Without it a DANE sender ignores the record. */
  validated: boolean;
  /** The resolver's status (NOERROR, NXDOMAIN, SERVFAIL), BOGUS when it failed validation, or why it gave none. */
  status: string;
}

/**
 * Reads `dig +dnssec` output for a TLSA query: the header's status and AD flag, and the keys of
 * the answer's TLSA records (dig splits long hex into groups). Pure.
 */
export function publishedTlsaOf(output: string): PublishedTlsa {
  const status = /status: ([A-Z]+)/.exec(output)?.[1] ?? "no answer";
  const validated = /;; flags:[^;]*\bad\b/.test(output);
  // An answer line: name, TTL, class, type, then the data (an RRSIG line's type is RRSIG).
  const keys = output
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => !f[0]?.startsWith(";") && f[3] === "TLSA")
    .map((f) => tlsaPresentation(f.slice(4).join(" ")))
    .filter((v) => v.startsWith("3 1 1 "))
    .map((v) => v.slice(6));
  return { keys, validated, status };
}

/**
 * The TLSA record of `name`'s port 25 as the resolver of the host of `s` returns it (dig from
 * bind9-dnsutils). A SERVFAIL that the same question with checking disabled (+cd) answers is a
 * validation failure, status BOGUS (a DS matching no key, a broken signature): what a DANE sender
 * gets, not a resolver that is down.
 */
export async function publishedTlsa(s: HostSession, name: string): Promise<PublishedTlsa> {
  const ask = (...flags: string[]) =>
    s.exec(["dig", "+dnssec", ...flags, "+time=2", "+tries=2", "TLSA", `_25._tcp.${name}`], { allowFailure: true });
  const r = await ask();
  if (r.code === 127) return { keys: [], validated: false, status: "dig (from bind9-dnsutils) is not installed on the sending host" };
  if (r.code !== 0)
    return { keys: [], validated: false, status: `dig exited ${r.code}: ${(r.stdout + r.stderr).trim().split("\n").at(-1)}` };
  const answer = publishedTlsaOf(r.stdout);
  if (answer.status !== "SERVFAIL") return answer;
  const unchecked = await ask("+cd");
  return unchecked.code === 0 && publishedTlsaOf(unchecked.stdout).status === "NOERROR" ? { ...answer, status: "BOGUS" } : answer;
}

export interface TlsVerdict {
  /** verified: the served key is one of the published; mismatch: another key, or no STARTTLS; unknown: could not check. */
  verdict: "verified" | "mismatch" | "unknown";
  /** The served key's SPKI sha256 (hex), when a handshake took place. */
  served?: string;
  detail: string;
}

/** A key's SPKI sha256 as postfix writes fingerprints: upper-case hex in colon-separated pairs. Pure. */
export const postfixFingerprint = (spki: string) => spki.toUpperCase().match(/../g)!.join(":");

/** How long posttls-finger may take: a connection, a greeting and a handshake. */
const TLS_TEST_SECONDS = 20;

/** The verdict of a posttls-finger run at the fingerprint level (exit code and output). Pure. */
export function tlsVerdict(output: string, code: number): TlsVerdict {
  const line = (re: RegExp) => output.split("\n").find((l) => re.test(l));
  const served = /pkey_fingerprint=([0-9A-F:]+)/.exec(output)?.[1].replace(/:/g, "").toLowerCase();
  const at = served ? { served } : {};
  const said = (l: string | undefined) => (l ?? "").replace(/^posttls-finger: /, "").trim();
  if (code === 127) return { verdict: "unknown", detail: "posttls-finger (from postfix) is not installed on the sending host" };
  const verified = line(/Verified TLS connection established/);
  if (verified) return { verdict: "verified", ...at, detail: said(verified) };
  const established = line(/(Untrusted|Anonymous) TLS connection established/);
  if (established) return { verdict: "mismatch", ...at, detail: `the served key matches no published one: ${said(established)}` };
  // With the chat logged: an EHLO answer without STARTTLS, and no handshake.
  if (line(/< 250[ -]/) && !line(/< 250[ -]STARTTLS/i))
    return {
      verdict: "mismatch",
      detail: `does not offer STARTTLS (its EHLO answer: ${said(line(/< 250[ -]/)).replace(/^.*< /, "")} ...)`,
    };
  const last = said(output.trim().split("\n").at(-1)) || `exit ${code}, no output`;
  return { verdict: "unknown", ...at, detail: code === 124 ? `no answer within ${TLS_TEST_SECONDS} s` : last };
}

/** Whether `server` (an address) presents one of the keys `spkis` over STARTTLS, as seen from the host of `s`. */
export async function tlsTest(s: HostSession, server: string, spkis: string[]): Promise<TlsVerdict> {
  const r = await s.exec(
    [
      "timeout",
      String(TLS_TEST_SECONDS),
      "posttls-finger",
      "-l",
      "fingerprint",
      "-d",
      "sha256",
      `[${server}]:25`,
      ...spkis.map(postfixFingerprint),
    ],
    { allowFailure: true },
  );
  return tlsVerdict(`${r.stdout}\n${r.stderr}`, r.code);
}
