/** What every drift probe shares: the finding it reports, its options, its timeout and its failure. */
import type { HostRole, Inventory } from "../../model/inventory";
import type { Plan } from "../../model/plan";
import type { PostfixBaseline, Severity } from "../../remote/effects/postfix-baseline";
import type { Tsig } from "../../remote/effects/zone";
import type { HostSession } from "../../remote/ssh";
import type { Verification } from "../verify";

/** "note": worth knowing, not drift (records the stack leaves alone in a zone it shares). */
export type FindingStatus = "ok" | "note" | "drift" | "unreachable";

export interface Finding {
  area: "engine" | "dns" | "resolver" | "host" | "smtp" | "flow";
  /** The server, host or zone the finding is about. */
  subject: string;
  /** What was checked: "mail.example.com A", "routing", "banner"... */
  check: string;
  status: FindingStatus;
  expected?: string;
  actual?: string;
  /** For drift on a host: "mail flow" when it changes where mail goes or who may relay. */
  severity?: Severity;
}

export interface DriftOptions {
  stack: string;
  plan: Plan;
  inventory: Inventory;
  /** SSH sessions to the stack's hosts reached by SSH (routing, names, AXFR of on-prem zones). */
  session?: (role: HostRole) => Promise<HostSession>;
  /** Why there are no SSH sessions (no SSH key in the stack): the host checks could not run. */
  sessionUnavailable?: string;
  /** TSIG key of the on-prem DNS server, for the zone transfer that finds unmanaged records. */
  tsig?: Tsig;
  /**
   * The baseline each host's postfix had after the stack's last update that configured it, by host
   * role, from the stack's state (undefined: recorded by no update yet).
   */
  baselines?: () => Promise<Record<string, PostfixBaseline | undefined>>;
  /** The engine's refresh preview: resources whose live state differs from the stack's state, and the properties that do. */
  engine?: () => Promise<{ changed: { name: string; properties: string[] }[] }>;
  /**
   * Records of existing Route 53 and Cloudflare zones that the plan does not manage, by zone, as
   * "name TYPE ttl values" (the program's listing, through the engine's preview).
   */
  cloudListing?: () => Promise<Record<string, string[]>>;
  /** Resolvers that find the name servers of Route 53 and Cloudflare zones; default the system's. */
  nsLookup?: string[];
  /** Resolvers to compare with the authoritative answer (mx strategy); none: skipped. */
  resolvers?: string[];
  /** With --flows: the verification's probe messages and open-relay test (it delivers mail, so it is asked for). */
  flows?: () => Promise<Verification>;
  /** Whether the gateway must offer STARTTLS. */
  starttls?: boolean;
  /** Probes at a time (default 32). */
  concurrency?: number;
  /** Per probe, in ms (default 5000). */
  timeoutMs?: number;
}

/** One probe: asks one server or host one thing; never throws (see `probe`). */
export type Probe = () => Promise<Finding[]>;

export const DEFAULT_TIMEOUT_MS = 5000;
export const timeoutOf = (o: Pick<DriftOptions, "timeoutMs">) => o.timeoutMs ?? DEFAULT_TIMEOUT_MS;

/**
 * A probe whose failure (no answer, a timeout, a refused connection) is a finding of its own:
 * "unreachable", never "ok".
 */
export const probe =
  (where: Pick<Finding, "area" | "subject" | "check">, ask: () => Promise<Finding[]>): Probe =>
  async () => {
    try {
      return await ask();
    } catch (e) {
      return [{ ...where, status: "unreachable", actual: (e as Error).message.split("\n")[0] }];
    }
  };

/** Rejects after ms with a message naming what timed out. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** A record set's TTL and values for a finding, "(none)" when there are none. */
export const recordText = (ttl: number | undefined, values: string[]) => (values.length ? `${ttl ?? "?"} ${values.join(", ")}` : "(none)");

/** A finding that compares what the plan wants with what was found. */
export const compared = (where: Pick<Finding, "area" | "subject" | "check">, ok: boolean, expected: string, actual: string): Finding => ({
  ...where,
  status: ok ? "ok" : "drift",
  expected,
  actual,
});
