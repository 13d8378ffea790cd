/**
 * cutover's zone provider on Route 53 and Cloudflare, over the APIs' answers (neither API runs
 * here): the organisation's records at the planned names are read before the first write, an
 * equal set is adopted without a write, a changed one is written in place (Cloudflare: the same
 * record id), a shared TXT name keeps its other values with one merged SPF, and delete gives every
 * original back and removes what cutover created. The fakes keep a zone as the API does and count
 * the calls that write.
 */
import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListResourceRecordSetsCommand,
  type ResourceRecordSet,
} from "@aws-sdk/client-route-53";
import { describe, expect, it } from "vitest";
import type { CloudZoneState, HostEffectProvider } from "../../components/providers/host-effects";
import { cloudZoneWith } from "../../components/providers/runtime";
import { type DnsRecord, recordSetMap, recordsDigest } from "../../src/model/records";
import { type CloudflareListedRecord, cloudflareZone, route53Zone } from "../../src/remote/effects/cloud-zone";

const ZONE = "example.com";
const rec = (name: string, type: DnsRecord["type"], values: string[], ttl = 300): DnsRecord => ({ zone: ZONE, name, type, ttl, values });

/** The organisation's zone before cutover: its MX to the old gateway's name, the gateway's A, SPF beside a site verification, DMARC. */
const ORGANISATION = [
  rec(ZONE, "MX", ["10 old.example.com"]),
  rec("mail.example.com", "A", ["192.0.2.25"]),
  rec(ZONE, "TXT", ["v=spf1 mx include:_spf.partner.example -all", "google-site-verification=abc123"]),
  rec("_dmarc.example.com", "TXT", ["v=DMARC1; p=reject"]),
];

/** What the plan wants there in phase 4: its MX, the same A, SPF with the gateways' addresses, and a TLSA nobody had. */
const PLANNED = [
  rec(ZONE, "MX", ["10 mail.example.com"]),
  rec("mail.example.com", "A", ["192.0.2.25"]),
  rec(ZONE, "TXT", ["v=spf1 ip4:192.0.2.25 -all"]),
  rec("_25._tcp.mail.example.com", "TLSA", [`3 1 1 ${"ab".repeat(32)}`]),
];

const state = (dnsProvider: CloudZoneState["dnsProvider"], records: DnsRecord[]): CloudZoneState => ({
  dnsProvider,
  zone: ZONE,
  zoneId: dnsProvider === "route53" ? "Z0123456789EXAMPLECOM" : "0123456789abcdef0123456789abcdef",
  records: recordSetMap(records),
  digest: recordsDigest(records),
});

// ---------------------------------------------------------------- Cloudflare's API, as it answers

class FakeCloudflare {
  records: CloudflareListedRecord[] = [];
  writes: string[] = [];
  private next = 1;
  constructor(sets: DnsRecord[], o: { proxied?: string[] } = {}) {
    for (const s of sets)
      for (const v of s.values) {
        const [pref, target] = v.split(" ");
        this.records.push({
          id: `rec${this.next++}`,
          name: s.name,
          type: s.type,
          ttl: s.ttl,
          // Cloudflare lists TXT content as it was given: quoted here, as cutover writes it.
          content: s.type === "MX" ? target : s.type === "TXT" ? `"${v}"` : v,
          ...(s.type === "MX" ? { priority: Number(pref) } : {}),
          ...(o.proxied?.includes(s.name) ? { proxied: true } : {}),
        });
      }
  }
  /** The zone as sets in the plan's terms, to compare with. */
  sets(): string[] {
    return this.records.map((r) => `${r.name} ${r.type} ${r.ttl} ${r.type === "MX" ? `${r.priority} ` : ""}${r.content}`).sort();
  }
  readonly fetch: typeof fetch = async (url, init) => {
    const u = new URL(String(url));
    const method = init?.method ?? "GET";
    const body = init?.body ? JSON.parse(String(init.body)) : undefined;
    const ok = (result: unknown, info?: object) =>
      new Response(JSON.stringify({ success: true, errors: [], result, ...(info ? { result_info: info } : {}) }));
    if ((init?.headers as Record<string, string> | undefined)?.authorization !== "Bearer token-1")
      return new Response(JSON.stringify({ success: false, errors: [{ code: 10000, message: "Authentication error" }] }), { status: 403 });
    const id = /\/dns_records\/([^/]+)$/.exec(u.pathname)?.[1];
    if (method === "GET") {
      // Two records per page, so that reading takes every page.
      const page = Number(u.searchParams.get("page"));
      return ok(this.records.slice((page - 1) * 2, page * 2), { total_pages: Math.ceil(this.records.length / 2) });
    }
    this.writes.push(`${method}${id ? ` ${id}` : ""}`);
    const content = (b: { content: string; data?: object }) => b.content;
    if (method === "POST") {
      const r = { id: `rec${this.next++}`, ...body, content: content(body) };
      this.records.push(r);
      return ok(r);
    }
    const at = this.records.findIndex((r) => r.id === id);
    if (at < 0)
      return new Response(JSON.stringify({ success: false, errors: [{ code: 81044, message: "Record does not exist." }] }), {
        status: 404,
      });
    if (method === "PATCH") Object.assign(this.records[at], body, { content: content(body) });
    if (method === "DELETE") this.records.splice(at, 1);
    return ok({ id });
  };
}

/** What the provider's create keeps in the state. */
async function created(provider: HostEffectProvider<CloudZoneState>, s: CloudZoneState): Promise<CloudZoneState> {
  return (await provider.create(s)).outs!;
}

const cloudflare = (api: FakeCloudflare) => cloudZoneWith((s) => cloudflareZone(s.zone, s.zoneId, "token-1", api.fetch));

describe("a Cloudflare zone the organisation already has", () => {
  it("adopts an equal set without a write, changes the MX and the SPF record by id, keeps the verification, creates the TLSA", async () => {
    const api = new FakeCloudflare(ORGANISATION);
    const ids = Object.fromEntries(api.records.map((r) => [`${r.type} ${r.content}`, r.id]));
    // The preview's check reads the names first and says what the first write does to each.
    const { inputs } = await cloudflare(api).check!({} as CloudZoneState, state("cloudflare", PLANNED));
    expect((inputs as { adoption?: string[] }).adoption).toEqual([
      "replace: example.com MX 10 old.example.com -> 10 mail.example.com (the original is kept for rollback)",
      'merge: example.com TXT "v=spf1 mx include:_spf.partner.example -all" -> "v=spf1 mx include:_spf.partner.example ip4:192.0.2.25 -all"; 1 other value kept (the original is kept for rollback)',
      "adopt: mail.example.com A 192.0.2.25 (as it is)",
    ]);
    expect(api.writes).toEqual([]);
    const outs = await created(cloudflare(api), state("cloudflare", PLANNED));
    // The MX and the SPF took over their records (the same ids); the A was left alone; the TLSA is new.
    expect(api.writes.sort()).toEqual(
      [`PATCH ${ids["MX old.example.com"]}`, `PATCH ${ids['TXT "v=spf1 mx include:_spf.partner.example -all"']}`, "POST"].sort(),
    );
    expect(api.sets()).toEqual(
      [
        "example.com MX 300 10 mail.example.com",
        'example.com TXT 300 "google-site-verification=abc123"',
        'example.com TXT 300 "v=spf1 mx include:_spf.partner.example ip4:192.0.2.25 -all"',
        "mail.example.com A 300 192.0.2.25",
        '_dmarc.example.com TXT 300 "v=DMARC1; p=reject"',
        `_25._tcp.mail.example.com TLSA 300 3 1 1 ${"ab".repeat(32)}`,
      ].sort(),
    );
    // The originals are in the state: what the planned names held.
    expect(outs.original).toHaveLength(3);
    expect(outs.original).toEqual(
      expect.arrayContaining([
        rec(ZONE, "MX", ["10 old.example.com"]),
        rec(ZONE, "TXT", ["google-site-verification=abc123", "v=spf1 mx include:_spf.partner.example -all"]),
        rec("mail.example.com", "A", ["192.0.2.25"]),
      ]),
    );

    // A second run of the same plan writes nothing.
    api.writes = [];
    await cloudflare(api).update("example.com", outs, state("cloudflare", PLANNED));
    expect(api.writes).toEqual([]);

    // Delete gives every original back by id and removes what cutover created.
    const before = new FakeCloudflare(ORGANISATION).sets();
    await cloudflare(api).delete("example.com", outs);
    expect(api.sets()).toEqual(before);
    expect(api.records.find((r) => r.type === "MX")!.id).toBe(ids["MX old.example.com"]);
  });

  it("a phase that stops managing a name gives that name its original back, and removes one it created", async () => {
    const api = new FakeCloudflare(ORGANISATION);
    const outs = await created(cloudflare(api), state("cloudflare", PLANNED));
    const fewer = PLANNED.filter((r) => r.type === "A" || r.type === "TXT");
    const after = (await cloudflare(api).update("example.com", outs, state("cloudflare", fewer))).outs!;
    expect(api.sets().filter((s) => / MX | TLSA /.test(s))).toEqual(["example.com MX 300 10 old.example.com"]);
    expect(after.original).toEqual(outs.original);
  });

  it("refuses before any write a proxied record at a planned name, or two SPF records; the preview's check says so too", async () => {
    const proxied = new FakeCloudflare(ORGANISATION, { proxied: ["mail.example.com"] });
    await expect(cloudflare(proxied).create(state("cloudflare", PLANNED))).rejects.toThrow(
      /mail\.example\.com A is proxied by Cloudflare \(192\.0\.2\.25\): SMTP does not pass Cloudflare's proxy.*set the record to DNS only/,
    );
    expect(proxied.writes).toEqual([]);
    const checked = await cloudflare(proxied).check!({} as CloudZoneState, state("cloudflare", PLANNED));
    expect(checked.failures?.map((f) => f.reason)).toEqual([expect.stringMatching(/is proxied by Cloudflare/)]);

    const twoSpf = new FakeCloudflare([rec(ZONE, "TXT", ["v=spf1 mx -all", "v=spf1 a -all"])]);
    await expect(cloudflare(twoSpf).create(state("cloudflare", PLANNED))).rejects.toThrow(/holds 2 SPF records/);
    expect(twoSpf.writes).toEqual([]);
  });

  it("a refused token is named with the fix, never printed", async () => {
    const api = new FakeCloudflare(ORGANISATION);
    const provider = cloudZoneWith((s) => cloudflareZone(s.zone, s.zoneId, "expired-token", api.fetch));
    const error = await provider.create(state("cloudflare", PLANNED)).catch((e: Error) => e);
    expect(String(error)).toMatch(/GET \/dns_records refused: 10000 Authentication error: give an API token with Zone DNS Edit/);
    expect(String(error)).not.toMatch(/expired-token/);
  });
});

// ---------------------------------------------------------------- Route 53's API, as it answers

const route53Set = (r: DnsRecord): ResourceRecordSet => ({
  Name: `${r.name}.`,
  Type: r.type,
  TTL: r.ttl,
  ResourceRecords: r.values.map((v) => ({ Value: r.type === "TXT" ? `"${v}"` : v })),
});

class FakeRoute53 {
  sets: ResourceRecordSet[];
  batches: { Action?: string; ResourceRecordSet?: ResourceRecordSet }[][] = [];
  polls = 0;
  constructor(records: DnsRecord[], extra: ResourceRecordSet[] = []) {
    this.sets = [
      { Name: `${ZONE}.`, Type: "SOA", TTL: 900, ResourceRecords: [{ Value: "ns-1.awsdns-01.org. hostmaster. 1 7200 900 1209600 86400" }] },
      ...records.map(route53Set),
      ...extra,
    ];
  }
  listing(): string[] {
    return this.sets
      .filter((s) => s.Type !== "SOA")
      .map(
        (s) =>
          `${s.Name} ${s.Type} ${s.TTL ?? "-"} ${(s.ResourceRecords ?? [])
            .map((v) => v.Value)
            .sort()
            .join(" | ")}`,
      )
      .sort();
  }
  readonly client = {
    send: async (command: object) => {
      if (command instanceof ListResourceRecordSetsCommand) {
        // One set per page, so that reading follows NextRecordName.
        const from = command.input.StartRecordName
          ? this.sets.findIndex((s) => s.Name === command.input.StartRecordName && s.Type === command.input.StartRecordType)
          : 0;
        const next = this.sets[from + 1];
        return {
          ResourceRecordSets: this.sets.slice(from, from + 1),
          IsTruncated: Boolean(next),
          ...(next ? { NextRecordName: next.Name, NextRecordType: next.Type } : {}),
        };
      }
      if (command instanceof ChangeResourceRecordSetsCommand) {
        const changes = command.input.ChangeBatch!.Changes!;
        for (const c of changes) {
          const at = this.sets.findIndex((s) => s.Name === c.ResourceRecordSet!.Name && s.Type === c.ResourceRecordSet!.Type);
          if (c.Action === "DELETE" && (at < 0 || JSON.stringify(this.sets[at]) !== JSON.stringify(c.ResourceRecordSet)))
            throw Object.assign(
              new Error(
                `Tried to delete resource record set [name='${c.ResourceRecordSet!.Name}'] but the values provided do not match the current values`,
              ),
              {
                name: "InvalidChangeBatch",
              },
            );
        }
        for (const c of changes) {
          const at = this.sets.findIndex((s) => s.Name === c.ResourceRecordSet!.Name && s.Type === c.ResourceRecordSet!.Type);
          if (at >= 0) this.sets.splice(at, 1);
          if (c.Action === "UPSERT") this.sets.push(c.ResourceRecordSet!);
        }
        this.batches.push(changes);
        return { ChangeInfo: { Id: "/change/C1", Status: "PENDING" } };
      }
      if (command instanceof GetChangeCommand) {
        this.polls++;
        return { ChangeInfo: { Id: command.input.Id, Status: this.polls > 1 ? "INSYNC" : "PENDING" } };
      }
      throw new Error(`unexpected command ${command.constructor.name}`);
    },
  };
}

const route53 = (api: FakeRoute53) => cloudZoneWith((s) => route53Zone(s.zone, s.zoneId, api.client, { pollMs: 0 }));

describe("a Route 53 hosted zone the organisation already has", () => {
  it("writes one batch of UPSERTs for the changed sets only, waits for INSYNC, and delete puts every original back", async () => {
    const api = new FakeRoute53(ORGANISATION);
    const before = api.listing();
    const outs = await created(route53(api), state("route53", PLANNED));
    // One atomic batch: the MX, the merged TXT, the new TLSA; the equal A is not in it.
    expect(api.batches).toHaveLength(1);
    expect(api.batches[0].map((c) => `${c.Action} ${c.ResourceRecordSet!.Name} ${c.ResourceRecordSet!.Type}`).sort()).toEqual([
      "UPSERT _25._tcp.mail.example.com. TLSA",
      "UPSERT example.com. MX",
      "UPSERT example.com. TXT",
    ]);
    expect(api.listing()).toContain(
      'example.com. TXT 300 "google-site-verification=abc123" | "v=spf1 mx include:_spf.partner.example ip4:192.0.2.25 -all"',
    );
    expect(api.polls).toBe(2);

    await route53(api).delete("Z0123456789EXAMPLECOM", outs);
    // The originals back (UPSERT), the TLSA cutover created gone (a DELETE naming it exactly).
    expect(api.batches[1].map((c) => `${c.Action} ${c.ResourceRecordSet!.Name} ${c.ResourceRecordSet!.Type}`).sort()).toEqual([
      "DELETE _25._tcp.mail.example.com. TLSA",
      "UPSERT example.com. MX",
      "UPSERT example.com. TXT",
    ]);
    expect(api.listing()).toEqual(before);
  });

  it("adopts a zone that already holds the plan without a single change", async () => {
    const api = new FakeRoute53(PLANNED);
    const outs = await created(route53(api), state("route53", PLANNED));
    expect(api.batches).toEqual([]);
    expect(outs.original).toHaveLength(PLANNED.length);
  });

  it("refuses an alias at a planned name before any change, naming it and the fix", async () => {
    const alias: ResourceRecordSet = {
      Name: "mail.example.com.",
      Type: "A",
      AliasTarget: { DNSName: "lb-1.elb.amazonaws.com.", HostedZoneId: "Z1", EvaluateTargetHealth: false },
    };
    const api = new FakeRoute53(
      ORGANISATION.filter((r) => r.name !== "mail.example.com"),
      [alias],
    );
    await expect(route53(api).create(state("route53", PLANNED))).rejects.toThrow(
      /mail\.example\.com A is an alias to lb-1\.elb\.amazonaws\.com: cutover adopts and gives back plain record sets only/,
    );
    expect(api.batches).toEqual([]);
  });
});
