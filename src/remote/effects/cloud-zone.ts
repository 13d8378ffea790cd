/**
 * A zone on Route 53 or Cloudflare, read and written through the provider's own API: the cloud
 * counterparts of the on-prem zone effect (zone.ts), behind one interface (ZoneRecords), so that the
 * provider that adopts the organisation's records and gives them back (components/providers) runs
 * the same rules over all three. Route 53 takes one change batch per write (atomic: every set of
 * the batch changes, or none); Cloudflare keeps one record per value, each with an id, and a changed
 * value is written to the existing record by id, never as a second record beside it.
 */
import {
  type Change,
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListResourceRecordSetsCommand,
  type ResourceRecordSet,
  Route53Client,
} from "@aws-sdk/client-route-53";
import { CutoverError } from "../../model/errors";
import {
  type DnsRecord,
  listedName,
  parseTxtPresentation,
  type RecordType,
  recordSetKey,
  sameSet,
  tlsaPresentation,
  txtPresentation,
} from "../../model/records";

/** A zone's record sets on its DNS provider, in the plan's terms. */
export interface ZoneRecords {
  /** Every A, MX, TXT, CNAME and TLSA set of the zone as the provider holds it. */
  read(): Promise<DnsRecord[]>;
  /**
   * Why the live sets at the desired names cannot be adopted on this provider (beside the rules every
   * provider shares, model/adoption.ts), one line each; the last read's. Pure over that read.
   */
  conflicts?(desired: DnsRecord[]): string[];
  /** Turns the live sets at the desired names into the desired ones; a previously managed set not desired goes. Whether anything was written. */
  write(desired: DnsRecord[], previouslyManaged: Pick<DnsRecord, "name" | "type">[], live: DnsRecord[]): Promise<boolean>;
}

const TYPES = new Set<string>(["A", "MX", "TXT", "CNAME", "TLSA"]);

const withoutDot = (name: string) => name.replace(/\.$/, "").toLowerCase();

/** A value as the provider lists it, in the plan's terms: TXT unquoted, targets lower case without the dot. Pure. */
function planValue(type: RecordType, value: string): string {
  switch (type) {
    case "TXT":
      return value.startsWith('"') ? parseTxtPresentation(value) : value;
    case "MX": {
      const [pref, target] = value.trim().split(/\s+/);
      return `${pref} ${withoutDot(target ?? "")}`;
    }
    case "CNAME":
      return withoutDot(value);
    case "TLSA":
      return tlsaPresentation(value);
    default:
      return value.trim();
  }
}

/** Groups listed values into sets, sorted like the on-prem reader's. */
function groupSets(zone: string, values: { name: string; type: RecordType; ttl: number; value: string }[]): DnsRecord[] {
  const sets = new Map<string, DnsRecord>();
  for (const v of values) {
    const k = recordSetKey(v);
    const set = sets.get(k) ?? { zone, name: v.name, type: v.type, ttl: v.ttl, values: [] };
    set.values.push(v.value);
    sets.set(k, set);
  }
  return [...sets.values()].map((r) => ({ ...r, values: r.values.sort() }));
}

// ---------------------------------------------------------------- Cloudflare

/** A DNS record as Cloudflare's API lists it (the fields cutover reads). */
export interface CloudflareListedRecord {
  id: string;
  name: string;
  type: string;
  content: string;
  ttl: number;
  priority?: number;
  proxied?: boolean;
}

/** A record's body for Cloudflare's API: one value of a set. */
export interface CloudflareRecord {
  name: string;
  type: string;
  ttl: number;
  content: string;
  /** Cloudflare takes the MX preference apart from the target. */
  priority?: number;
  /** Cloudflare takes a TLSA record's fields apart, in data rather than content. */
  data?: { usage: number; selector: number; matching_type: number; certificate: string };
}

/** Cloudflare keeps one record per value; its TXT content is quoted character-strings. Pure. */
export function cloudflareRecords(r: DnsRecord): CloudflareRecord[] {
  return r.values.map((v) => {
    if (r.type === "TXT") return { name: r.name, type: r.type, ttl: r.ttl, content: txtPresentation(v) };
    if (r.type === "TLSA") {
      const [usage, selector, matchingType, certificate] = v.split(" ");
      return {
        name: r.name,
        type: r.type,
        ttl: r.ttl,
        content: v,
        data: { usage: Number(usage), selector: Number(selector), matching_type: Number(matchingType), certificate },
      };
    }
    if (r.type !== "MX") return { name: r.name, type: r.type, ttl: r.ttl, content: v };
    const [pref, target] = v.split(/\s+/);
    return { name: r.name, type: "MX", ttl: r.ttl, content: target, priority: Number(pref) };
  });
}

/** A listed Cloudflare record's value in the plan's terms, the MX preference put back in front. Pure. */
const cloudflareValue = (r: CloudflareListedRecord) =>
  planValue(r.type as RecordType, r.type === "MX" ? `${r.priority ?? 0} ${r.content}` : r.content);

export const CLOUDFLARE_API = "https://api.cloudflare.com/client/v4";

/**
 * A Cloudflare zone through its API (v4) with an API token (Zone: DNS: Edit). `request` is fetch by
 * default; the tests give it the API's answers.
 */
export function cloudflareZone(
  zone: string,
  zoneId: string,
  token: string,
  request: typeof fetch = fetch,
  base = CLOUDFLARE_API,
): ZoneRecords {
  let listed = new Map<string, CloudflareListedRecord[]>();
  const call = async <T>(method: string, path: string, body?: unknown): Promise<{ result: T; result_info?: { total_pages?: number } }> => {
    let res: Response;
    try {
      res = await request(`${base}/zones/${encodeURIComponent(zoneId)}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    } catch (e) {
      throw new Error(`Cloudflare zone ${zone}: ${method} ${path} could not reach the API (${(e as Error).message})`);
    }
    const answer = (await res.json().catch(() => ({}))) as {
      success?: boolean;
      errors?: { code: number; message: string }[];
      result: T;
      result_info?: { total_pages?: number };
    };
    if (!res.ok || answer.success === false) {
      const why = (answer.errors ?? []).map((e) => `${e.code} ${e.message}`).join("; ") || `HTTP ${res.status}`;
      const fix =
        res.status === 401 || res.status === 403
          ? ": give an API token with Zone DNS Edit on this zone (CLOUDFLARE_API_TOKEN, or pulumi config set --secret cloudflare:apiToken)"
          : "";
      throw new CutoverError(`Cloudflare zone ${zone} (${zoneId}): ${method} ${path.replace(/\?.*/, "")} refused: ${why}${fix}`);
    }
    return answer;
  };
  return {
    async read() {
      const all: CloudflareListedRecord[] = [];
      for (let page = 1; ; page++) {
        const { result, result_info } = await call<CloudflareListedRecord[]>("GET", `/dns_records?per_page=1000&page=${page}`);
        all.push(...result);
        if (page >= (result_info?.total_pages ?? 1) || !result.length) break;
      }
      const ours = all.filter((r) => TYPES.has(r.type)).map((r) => ({ ...r, name: withoutDot(r.name) }));
      listed = new Map();
      for (const r of ours) {
        const key = recordSetKey({ name: r.name, type: r.type as RecordType });
        listed.set(key, [...(listed.get(key) ?? []), r]);
      }
      return groupSets(
        zone,
        ours.map((r) => ({ name: r.name, type: r.type as RecordType, ttl: r.ttl, value: cloudflareValue(r) })),
      );
    },
    conflicts(desired) {
      return desired.flatMap((r) => {
        const proxied = (listed.get(recordSetKey(r)) ?? []).filter((l) => l.proxied);
        return proxied.length
          ? [
              `zone ${zone}: ${r.name} ${r.type} is proxied by Cloudflare (${proxied.map((p) => p.content).join(", ")}): SMTP does not pass Cloudflare's proxy, so mail to that name fails today; set the record to DNS only, then run the phase again`,
            ]
          : [];
      });
    },
    async write(desired, previouslyManaged, live) {
      const have = new Map(live.map((r) => [recordSetKey(r), r]));
      const want = new Set(desired.map(recordSetKey));
      let wrote = false;
      for (const r of desired) {
        if (sameSet(r, have.get(recordSetKey(r)))) continue;
        const records = [...(listed.get(recordSetKey(r)) ?? [])];
        // A value already there with the TTL stays as it is; the rest take over the remaining records by id.
        const fresh = cloudflareRecords(r).filter((c, i) => {
          const at = records.findIndex((l) => cloudflareValue(l) === r.values[i] && l.ttl === c.ttl);
          if (at < 0) return true;
          records.splice(at, 1);
          return false;
        });
        for (const c of fresh) {
          const reuse = records.shift();
          const body = { ...c, ...(c.type === "A" || c.type === "CNAME" ? { proxied: false } : {}) };
          if (reuse) await call("PATCH", `/dns_records/${encodeURIComponent(reuse.id)}`, body);
          else await call("POST", "/dns_records", body);
        }
        for (const gone of records) await call("DELETE", `/dns_records/${encodeURIComponent(gone.id)}`);
        wrote = true;
      }
      for (const r of previouslyManaged) {
        if (want.has(recordSetKey(r))) continue;
        for (const gone of listed.get(recordSetKey(r)) ?? []) {
          await call("DELETE", `/dns_records/${encodeURIComponent(gone.id)}`);
          wrote = true;
        }
      }
      return wrote;
    },
  };
}

// ---------------------------------------------------------------- Route 53

/** The part of the AWS SDK's Route 53 client cutover uses: send. */
export type Route53Api = Pick<Route53Client, "send">;

/** A value as Route 53 takes it: TXT in presentation form, the rest as the plan writes it. Pure. */
const route53Value = (r: DnsRecord, v: string) => (r.type === "TXT" ? txtPresentation(v) : v);

/** Route 53 names are fully qualified; `*` is listed as `\052`. */
const route53Name = (name: string) => `${name}.`;

/**
 * A Route 53 hosted zone through the AWS SDK, with the credentials the SDK finds as the aws provider
 * does (AWS_* variables, a profile, web identity, the instance's role). One change batch per write
 * (up to 1,000 changes each), then waits until Route 53 says INSYNC (every authoritative server
 * answers it), as the aws provider's records do.
 */
export function route53Zone(
  zone: string,
  zoneId: string,
  client: Route53Api = new Route53Client({ region: "us-east-1" }),
  o: { pollMs?: number; timeoutMs?: number } = {},
): ZoneRecords {
  let raw = new Map<string, ResourceRecordSet>();
  const hostedZoneId = zoneId.replace(/^\/?hostedzone\//, "");
  const send = async <T>(what: string, command: object): Promise<T> => {
    try {
      return (await client.send(command as never)) as T;
    } catch (e) {
      const err = e as Error & { name?: string };
      const fix = /Credentials|AccessDenied|ExpiredToken|InvalidClientTokenId|SignatureDoesNotMatch/.test(`${err.name} ${err.message}`)
        ? ": give AWS credentials allowed to list and change this hosted zone's records, as the aws provider takes them (AWS_PROFILE, AWS_ACCESS_KEY_ID, web identity, the instance's role)"
        : "";
      throw new CutoverError(`Route 53 zone ${zone} (${hostedZoneId}): ${what} failed: ${err.name ?? "Error"}: ${err.message}${fix}`);
    }
  };
  return {
    async read() {
      const sets: ResourceRecordSet[] = [];
      let next: { StartRecordName?: string; StartRecordType?: string; StartRecordIdentifier?: string } = {};
      for (;;) {
        const page = await send<{
          ResourceRecordSets?: ResourceRecordSet[];
          IsTruncated?: boolean;
          NextRecordName?: string;
          NextRecordType?: string;
          NextRecordIdentifier?: string;
        }>(
          "listing the record sets",
          new ListResourceRecordSetsCommand({ HostedZoneId: hostedZoneId, MaxItems: 300, ...(next as object) }),
        );
        sets.push(...(page.ResourceRecordSets ?? []));
        if (!page.IsTruncated) break;
        next = {
          StartRecordName: page.NextRecordName,
          StartRecordType: page.NextRecordType,
          ...(page.NextRecordIdentifier ? { StartRecordIdentifier: page.NextRecordIdentifier } : {}),
        };
      }
      raw = new Map();
      const values: { name: string; type: RecordType; ttl: number; value: string }[] = [];
      for (const s of sets) {
        if (!s.Type || !TYPES.has(s.Type)) continue;
        const name = listedName(s.Name ?? "");
        const type = s.Type as RecordType;
        raw.set(recordSetKey({ name, type }), s);
        for (const v of s.ResourceRecords ?? []) values.push({ name, type, ttl: s.TTL ?? 0, value: planValue(type, v.Value ?? "") });
        if (s.AliasTarget) values.push({ name, type, ttl: 0, value: `alias ${withoutDot(s.AliasTarget.DNSName ?? "")}` });
      }
      return groupSets(zone, values);
    },
    conflicts(desired) {
      return desired.flatMap((r) => {
        const s = raw.get(recordSetKey(r));
        if (!s || (!s.AliasTarget && !s.SetIdentifier)) return [];
        const what = s.AliasTarget
          ? `an alias to ${withoutDot(s.AliasTarget.DNSName ?? "")}`
          : `a record set with a routing policy (set identifier ${s.SetIdentifier})`;
        return [
          `zone ${zone}: ${r.name} ${r.type} is ${what}: cutover adopts and gives back plain record sets only; make it a plain record set (or give the gateway another label), then run the phase again`,
        ];
      });
    },
    async write(desired, previouslyManaged, live) {
      const have = new Map(live.map((r) => [recordSetKey(r), r]));
      const want = new Set(desired.map(recordSetKey));
      const changes: Change[] = [];
      for (const r of desired)
        if (!sameSet(r, have.get(recordSetKey(r))))
          changes.push({
            Action: "UPSERT",
            ResourceRecordSet: {
              Name: route53Name(r.name),
              Type: r.type,
              TTL: r.ttl,
              ResourceRecords: r.values.map((v) => ({ Value: route53Value(r, v) })),
            },
          });
      // A DELETE must name the set exactly as Route 53 holds it.
      for (const r of previouslyManaged) {
        const held = raw.get(recordSetKey(r));
        if (!want.has(recordSetKey(r)) && held) changes.push({ Action: "DELETE", ResourceRecordSet: held });
      }
      for (let i = 0; i < changes.length; i += 1000) {
        const { ChangeInfo } = await send<{ ChangeInfo?: { Id?: string; Status?: string } }>(
          "changing the record sets",
          new ChangeResourceRecordSetsCommand({
            HostedZoneId: hostedZoneId,
            ChangeBatch: { Comment: "cutover", Changes: changes.slice(i, i + 1000) },
          }),
        );
        await insync(ChangeInfo);
      }
      return changes.length > 0;
    },
  };

  async function insync(info: { Id?: string; Status?: string } | undefined): Promise<void> {
    const deadline = Date.now() + (o.timeoutMs ?? 300_000);
    let status = info?.Status;
    while (status !== "INSYNC" && info?.Id) {
      if (Date.now() > deadline)
        throw new CutoverError(`Route 53 zone ${zone}: change ${info.Id} still ${status} after ${(o.timeoutMs ?? 300_000) / 1000} s`);
      await new Promise((r) => setTimeout(r, o.pollMs ?? 2_000));
      const answer = await send<{ ChangeInfo?: { Status?: string } }>(
        "asking whether the change is in sync",
        new GetChangeCommand({ Id: info.Id }),
      );
      status = answer.ChangeInfo?.Status;
    }
  }
}
