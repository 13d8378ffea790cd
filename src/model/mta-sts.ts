/**
 * MTA-STS (RFC 8461): the policy a domain serves at https://mta-sts.<domain>/.well-known/mta-sts.txt
 * and the id its `_mta-sts` TXT record carries. Senders that apply it deliver only to an MX the
 * policy names, over TLS with a certificate that verifies for that name; they fetch the policy
 * again when the id changes. Pure.
 */
import { createHash } from "node:crypto";

export type MtaStsMode = "enforce" | "testing" | "none";

export interface MtaStsPolicy {
  domain: string;
  mode: MtaStsMode;
  /** The MX host names (or "*.example.com" patterns) senders may deliver to. */
  mx: string[];
  /** Seconds senders may keep the policy. */
  maxAge: number;
}

/** The policy file's text (RFC 8461 3.2): key: value lines ending in CRLF, one mx line per name. */
export function policyText(p: Omit<MtaStsPolicy, "domain">): string {
  return [`version: STSv1`, `mode: ${p.mode}`, ...p.mx.map((m) => `mx: ${m}`), `max_age: ${p.maxAge}`].map((l) => `${l}\r\n`).join("");
}

/**
 * The policy's id: the start of the text's sha256, so it changes exactly when the policy does (the
 * MX list, the mode, the max age) and senders fetch it again (RFC 8461 3.1: 1-32 letters or digits).
 */
export const policyId = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 20);

/** The `_mta-sts` TXT record's value. */
export const policyRecord = (text: string) => `v=STSv1; id=${policyId(text)}`;

/**
 * A fetched policy read as a sender reads it: the fields, or what is wrong with it. Unknown keys
 * are ignored (RFC 8461 3.2); a missing or repeated key, a bad mode or max_age, or no mx is an error.
 */
export function parsePolicy(text: string): Omit<MtaStsPolicy, "domain"> | { error: string } {
  const fields = new Map<string, string[]>();
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim()) continue;
    const colon = line.indexOf(":");
    if (colon < 1) return { error: `a line that is not "key: value": ${JSON.stringify(line.slice(0, 60))}` };
    const key = line.slice(0, colon).trim();
    fields.set(key, [...(fields.get(key) ?? []), line.slice(colon + 1).trim()]);
  }
  const one = (key: string) => (fields.get(key)?.length === 1 ? fields.get(key)![0] : undefined);
  if (one("version") !== "STSv1")
    return { error: `version is ${JSON.stringify(fields.get("version")?.join(", ") ?? "missing")}, not STSv1` };
  const mode = one("mode");
  if (mode !== "enforce" && mode !== "testing" && mode !== "none") return { error: `mode is ${JSON.stringify(mode ?? "missing")}` };
  const maxAge = Number(one("max_age"));
  if (!/^\d{1,10}$/.test(one("max_age") ?? "") || maxAge > 31_557_600)
    return { error: `max_age is ${JSON.stringify(one("max_age") ?? "missing")}, not a number of seconds up to 31557600` };
  const mx = fields.get("mx") ?? [];
  if (mode !== "none" && !mx.length) return { error: "no mx line" };
  return { mode, mx: mx.map((m) => m.toLowerCase()), maxAge };
}

/**
 * Whether an MX host name matches a policy's mx pattern (RFC 8461 4.1): the name itself, or with
 * "*." one label in front of the rest, never more.
 */
export function mxMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase().replace(/\.$/, "");
  const h = host.toLowerCase().replace(/\.$/, "");
  if (!p.startsWith("*.")) return p === h;
  const dot = h.indexOf(".");
  return dot > 0 && h.slice(dot + 1) === p.slice(2);
}
