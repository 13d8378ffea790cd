import { describe, expect, it } from "vitest";
import { loadConfig, parseHostKeys } from "../../src/model/config";
import { InventoryError, type Problem } from "../../src/model/inventory";
import { load, rawStack } from "../helpers";

interface BadInput {
  name: string;
  stack?: string;
  phase?: unknown;
  /** Breaks the raw inventory in place. */
  inventory?: (inv: Record<string, any>) => void;
  /** Replaces the mailbox file's text. */
  mailboxes?: (text: string) => string;
  path: string;
  message: RegExp;
}

function problemsOf(bad: BadInput): Problem[] {
  const { inventory, mailboxText, baseDir } = rawStack(bad.stack ?? "pilot");
  bad.inventory?.(inventory);
  const mailboxes = bad.mailboxes;
  try {
    loadConfig({ inventory, phase: bad.phase ?? 3, baseDir, ...(mailboxes ? { readText: () => mailboxes(mailboxText) } : {}) });
  } catch (e) {
    if (e instanceof InventoryError) return e.problems;
    throw e;
  }
  return [];
}

const BAD_INPUTS: BadInput[] = [
  {
    name: "a probe mailbox that is not in the mailbox file",
    stack: "production",
    phase: 4,
    inventory: (i) => (i.verification.probes = ["probe-legacy@example.com", "probe-new@example.org", "probe-gone@example.com"]),
    path: "inventory.verification.probes[2]",
    message:
      /^probe-gone@example\.com is not a mailbox of mailboxes\.production\.csv: add it there \(a mailbox the organisation sets up for test mail/,
  },
  {
    name: "probe mailboxes that leave a system without test mail",
    stack: "production",
    phase: 4,
    inventory: (i) => (i.verification.probes = ["probe-legacy@example.com", "user003@example.org"]),
    path: "inventory.verification.probes",
    message: /^no probe mailbox in system new, which holds mailboxes: name one there/,
  },
  {
    name: "a probe mailbox named twice",
    stack: "production",
    phase: 4,
    inventory: (i) => i.verification.probes.push("probe-new@example.org"),
    path: "inventory.verification.probes[2]",
    message: /^probe-new@example\.org is named twice: remove one$/,
  },
  {
    name: "an EC2 instance that sends mail itself with no public address for SPF",
    stack: "production",
    phase: 4,
    inventory: (i) => delete i.hosts.new.egressAddress,
    path: "inventory.hosts.new.egressAddress",
    message:
      /^hosts\.new is an EC2 instance that sends mail to the Internet itself \(no outboundRelay\), and its address 203\.0\.113\.20 is private: give egressAddress/,
  },
  {
    name: "an SPF record over the lookup limit",
    stack: "production",
    phase: 4,
    inventory: (i) =>
      (i.zones[0].records = [
        {
          name: "@",
          type: "TXT",
          values: [`v=spf1 ${Array.from({ length: 11 }, (_, n) => `include:_spf${n}.example.net`).join(" ")} -all`],
        },
      ]),
    path: "inventory.zones[0].records[0]",
    message:
      /^the SPF record of example\.com would need 11 DNS lookups \(include:_spf0\.example\.net .*\), more than the 10 receivers allow/,
  },
  {
    name: "relay SPF terms that are no sender mechanisms",
    stack: "production",
    phase: 4,
    inventory: (i) => (i.outboundRelay = { host: "smtp.isp.example", spf: "include:_spf.isp.example ~all" }),
    path: "inventory.outboundRelay.spf",
    message: /is not a list of SPF terms that authorize senders/,
  },
  {
    name: "a relay client network with host bits set",
    stack: "production",
    phase: 4,
    inventory: (i) => (i.gateway.relayClients = ["192.0.2.0/24", "198.51.100.70/28"]),
    path: "inventory.gateway.relayClients[1]",
    message: /^198\.51\.100\.70\/28 has host bits set: postfix reads a network by its first address; write 198\.51\.100\.64\/28$/,
  },
  {
    name: "a relay client that is no network",
    stack: "production",
    phase: 4,
    inventory: (i) => (i.gateway.relayClients = ["office"]),
    path: "inventory.gateway.relayClients[0]",
    message: /^"office" is not an IPv4 network: give one such as 192\.0\.2\.0\/24/,
  },
  {
    name: "an outside probe mailbox in the organisation's own domain",
    stack: "production",
    phase: 4,
    inventory: (i) => (i.verification.outsideProbe = "someone@example-pilot.org"),
    path: "inventory.verification.outsideProbe",
    message:
      /^someone@example-pilot\.org is in the organisation's own domain example-pilot\.org: its mail never leaves; name a mailbox at another provider$/,
  },
  {
    name: "an outside probe that is no address",
    stack: "production",
    phase: 4,
    inventory: (i) => (i.verification.outsideProbe = "probe at example.net"),
    path: "inventory.verification.outsideProbe",
    message: /is not an address: write it as user@domain/,
  },
  {
    name: "an empty list of probe mailboxes",
    stack: "production",
    phase: 4,
    inventory: (i) => (i.verification.probes = []),
    path: "inventory.verification.probes",
    message: /name at least one probe mailbox/,
  },
  {
    name: "an unknown top-level key",
    inventory: (i) => (i.organization = "x"),
    path: "inventory",
    message: /unknown key "organization": remove it or check the spelling/,
  },
  {
    name: "an unknown key on a host",
    inventory: (i) => (i.hosts.legacy.adress = "1.2.3.4"),
    path: "inventory.hosts.legacy",
    message: /unknown key "adress"/,
  },
  {
    name: "a missing organisation",
    inventory: (i) => delete i.organisation,
    path: "inventory.organisation",
    message: /organisation is missing: name the organisation/,
  },
  {
    name: "an unknown layout",
    inventory: (i) => (i.layout = "single"),
    path: "inventory.layout",
    message: /"single" is not a layout: use single-post-office/,
  },
  {
    name: "no address space",
    inventory: (i) => (i.addressSpaces = []),
    path: "inventory.addressSpaces",
    message: /needs at least one address space/,
  },
  {
    name: "an invalid domain",
    inventory: (i) => (i.addressSpaces[0].domain = "para digms.test"),
    path: "inventory.addressSpaces[0].domain",
    message: /"para digms.test" is not a valid domain name/,
  },
  {
    name: "a domain without a dot",
    inventory: (i) => (i.addressSpaces[0].pilotDomain = "localhost"),
    path: "inventory.addressSpaces[0].pilotDomain",
    message: /"localhost" is not a valid domain name/,
  },
  {
    name: "an invalid IPv4 address",
    inventory: (i) => (i.hosts.new.address = "198.51.100.300"),
    path: "inventory.hosts.new.address",
    message: /"198.51.100.300" is not an IPv4 address: give a dotted quad/,
  },
  {
    name: "an invalid gateway address",
    inventory: (i) => (i.gateway.address = "mail.example.com"),
    path: "inventory.gateway.address",
    message: /is not an IPv4 address/,
  },
  {
    name: "an invalid host label",
    inventory: (i) => (i.gateway.label = "mail.gw"),
    path: "inventory.gateway.label",
    message: /"mail.gw" is not a DNS label/,
  },
  {
    name: "an unknown host kind",
    inventory: (i) => (i.hosts.legacy.kind = "vm"),
    path: "inventory.hosts.legacy.kind",
    message: /kind must be "existing" \(reached by SSH\) or "aws"/,
  },
  {
    name: "an SSH port out of range",
    inventory: (i) => (i.hosts.legacy.port = 70000),
    path: "inventory.hosts.legacy.port",
    message: /must be a TCP port 1..65535/,
  },
  {
    name: "a TTL below the minimum",
    inventory: (i) => (i.ttl.records = 5),
    path: "inventory.ttl.records",
    message: /5 s is below the 60 s minimum/,
  },
  {
    name: "a TTL above the maximum",
    inventory: (i) => (i.ttl.records = 604800),
    path: "inventory.ttl.records",
    message: /604800 s is above the 86400 s maximum/,
  },
  {
    name: "a fractional TTL",
    inventory: (i) => (i.ttl.mxSwitch = 90.5),
    path: "inventory.ttl.mxSwitch",
    message: /must be a whole number of seconds/,
  },
  {
    name: "a lowered MX TTL above the normal one",
    inventory: (i) => (i.ttl = { records: 300, mxSwitch: 600 }),
    path: "inventory.ttl.mxSwitch",
    message: /lowering means smaller/,
  },
  { name: "a phase out of range", phase: 6, path: "phase", message: /phase must be 1..5/ },
  { name: "a phase that is not a number", phase: "go-live", path: "phase", message: /phase must be a number 1..5/ },
  {
    name: "phase 5 without a go-live strategy",
    phase: 5,
    inventory: (i) => delete i.goLive,
    path: "inventory.goLive",
    message: /phase 5 moves the gateway identity but no strategy is set/,
  },
  {
    name: "an unknown go-live strategy",
    inventory: (i) => (i.goLive.strategy = "dns"),
    path: "inventory.goLive.strategy",
    message: /"dns" is not a go-live strategy/,
  },
  {
    name: "the eip strategy with hosts reached by SSH",
    inventory: (i) => (i.goLive.strategy = "eip"),
    path: "inventory.hosts.legacy.kind",
    message: /strategy eip moves an Elastic IP between EC2 instances, but hosts.legacy is kind existing/,
  },
  {
    name: "the eip strategy without an allocation id",
    stack: "production",
    inventory: (i) => delete i.gateway.allocationId,
    path: "inventory.gateway.allocationId",
    message: /strategy eip needs the allocation id/,
  },
  {
    name: "the readdress strategy with aws gateways",
    stack: "production",
    inventory: (i) => {
      i.goLive.strategy = "readdress";
      delete i.gateway.allocationId;
    },
    path: "inventory.hosts.new.kind",
    message: /readdress moves the address over SSH, but hosts.new is kind aws/,
  },
  {
    name: "an allocation id without the eip strategy",
    inventory: (i) => (i.gateway.allocationId = "eipalloc-0123456789abcdef0"),
    path: "inventory.gateway.allocationId",
    message: /allocationId is used only by goLive.strategy eip/,
  },
  {
    name: "a malformed allocation id",
    stack: "production",
    inventory: (i) => (i.gateway.allocationId = "eip-123"),
    path: "inventory.gateway.allocationId",
    message: /"eip-123" is not an Elastic IP allocation id/,
  },
  {
    name: "a malformed instance id",
    stack: "production",
    inventory: (i) => (i.hosts.legacy.instanceId = "legacy-gw"),
    path: "inventory.hosts.legacy.instanceId",
    message: /"legacy-gw" is not an EC2 instance id/,
  },
  {
    name: "an aws host with both an instance id and an instance",
    stack: "production",
    inventory: (i) => (i.hosts.new.instanceId = "i-0123456789abcdef0"),
    path: "inventory.hosts.new",
    message: /give either instanceId .* or instance .*, not both/,
  },
  {
    name: "an aws host with neither",
    stack: "production",
    inventory: (i) => delete i.hosts.legacy.instanceId,
    path: "inventory.hosts.legacy",
    message: /needs instanceId .* or instance/,
  },
  {
    name: "an MX target that is a CNAME",
    inventory: (i) => (i.zones[2].records = [{ name: "mail", type: "CNAME", values: ["gw.example.net"] }]),
    phase: 4,
    path: "inventory.zones[2].records[0]",
    message:
      /mail.paradigms.test is a CNAME here, but the plan writes the gateway's address \(A\) at that name.*an MX target must not be an alias/,
  },
  {
    name: "a CNAME at the address space's apex",
    inventory: (i) => (i.zones[1].records = [{ name: "@", type: "CNAME", values: ["elsewhere.test"] }]),
    path: "inventory.zones[1].records[0]",
    message: /api.test is the zone's apex, which holds its SOA and NS records, so it cannot be a CNAME/,
  },
  {
    name: "an extra MX record over the plan's",
    inventory: (i) => (i.zones[2].records = [{ name: "@", type: "MX", values: ["10 other.test"] }]),
    path: "inventory.zones[2].records[0]",
    message: /paradigms.test MX is also the MX of the mail domain paradigms.test, which the plan writes.*remove this record/,
  },
  {
    name: "a Route 53 zone with neither an id nor create",
    stack: "production",
    inventory: (i) => delete i.zones[0].zoneId,
    path: "inventory.zones[0].zoneId",
    message: /Route 53 zone example.com needs zoneId, the id of the hosted zone that serves it now .*, or create: true/,
  },
  {
    name: "a Route 53 zone with an id and create",
    stack: "production",
    inventory: (i) => (i.zones[0].create = true),
    path: "inventory.zones[0].create",
    message: /has a zoneId, so it exists: remove create: true/,
  },
  {
    name: "create on a Cloudflare zone",
    stack: "production",
    inventory: (i) => (i.zones[1].create = true),
    path: "inventory.zones[1].create",
    message: /create applies only to provider route53, not cloudflare/,
  },
  {
    name: "a pilot domain inside a production zone",
    stack: "production",
    inventory: (i) => (i.addressSpaces[0].pilotDomain = "pilot.example.com"),
    path: "inventory.addressSpaces[0].pilotDomain",
    message: /pilot domain pilot.example.com lies in zone example.com, which holds a production domain: .*a zone of its own/,
  },
  {
    name: "an EC2 host's SSH address that is neither an address nor a name",
    stack: "production",
    inventory: (i) => (i.hosts.legacy.sshAddress = "10.0.0.1; rm"),
    path: "inventory.hosts.legacy.sshAddress",
    message: /is neither an IPv4 address nor a host name: give where SSH reaches the instance/,
  },
  {
    name: "an outbound relay that is neither an address nor a name",
    inventory: (i) => (i.outboundRelay.host = "relay.isp.test]:25"),
    path: "inventory.outboundRelay.host",
    message: /is neither an IPv4 address nor a host name: name the relay, such as smtp.isp.example/,
  },
  {
    name: "an outbound relay with a second main.cf line in it",
    inventory: (i) => (i.outboundRelay.host = "relay.isp.test\nmynetworks=0.0.0.0/0"),
    path: "inventory.outboundRelay.host",
    message: /holds the control character \\u000a/,
  },
  {
    name: "an outbound relay on a port that does not exist",
    inventory: (i) => (i.outboundRelay.port = 70000),
    path: "inventory.outboundRelay.port",
    message: /must be a TCP port 1..65535, such as 25 or 587/,
  },
  {
    name: "an outbound relay without a host",
    inventory: (i) => (i.outboundRelay = { port: 25 }),
    path: "inventory.outboundRelay.host",
    message: /host is missing: name the relay/,
  },
  {
    name: "an extra record outside its zone",
    inventory: (i) => (i.zones[2].records = [{ name: "www.other.test", type: "A", values: ["198.51.100.80"] }]),
    path: "inventory.zones[2].records[0].name",
    message: /www.other.test is not inside zone paradigms.test/,
  },
  {
    name: "an A record with a name for value",
    inventory: (i) => (i.zones[2].records = [{ name: "www", type: "A", values: ["web.example.com"] }]),
    path: "inventory.zones[2].records[0].values[0]",
    message: /"web.example.com" is not an IPv4 address/,
  },
  {
    name: "a domain without a zone",
    inventory: (i) => (i.zones = i.zones.filter((z: any) => z.name !== "api.test")),
    path: "inventory.addressSpaces[0].pilotDomain",
    message: /no zone holds api.test: add a zone/,
  },
  {
    name: "a zone listed twice",
    inventory: (i) => i.zones.push({ ...i.zones[0] }),
    path: "inventory.zones[3].name",
    message: /zone aegean.test is listed 2 times/,
  },
  {
    name: "an unknown DNS provider",
    inventory: (i) => (i.zones[0].provider = "powerdns"),
    path: "inventory.zones[0].provider",
    message: /"powerdns" is not a DNS provider: use route53, cloudflare or bind/,
  },
  {
    name: "a Cloudflare zone without zone id",
    stack: "production",
    inventory: (i) => delete i.zones[1].zoneId,
    path: "inventory.zones[1].zoneId",
    message: /Cloudflare zone example.org needs zoneId/,
  },
  {
    name: "a bind zone without a server",
    inventory: (i) => delete i.zones[0].server,
    path: "inventory.zones[0].server",
    message: /bind zone aegean.test needs server/,
  },
  {
    name: "a bind zone on a host not in the inventory",
    inventory: (i) => (i.zones[0].server = "dnsServer"),
    path: "inventory.zones[0].server",
    message: /served by hosts.dnsServer, which is not in the inventory/,
  },
  {
    name: "two hosts with one address",
    inventory: (i) => (i.hosts.new.address = "198.51.100.10"),
    path: "inventory.hosts.new.address",
    message: /198.51.100.10 is already the address of legacy/,
  },
  {
    name: "a service address that is a management address",
    inventory: (i) => (i.gateway.address = "198.51.100.20"),
    path: "inventory.gateway.address",
    message: /the service address floats between hosts, so it must differ/,
  },
  {
    name: "a host label clashing with the gateway's",
    inventory: (i) => (i.hosts.new.label = "mail"),
    path: "inventory.hosts.new.label",
    message: /host name label "mail" is already taken by gateway.label/,
  },
  {
    name: "a smart host without the smart-host layout",
    inventory: (i) => (i.hosts.smartHost = { kind: "existing", address: "198.51.100.30" }),
    path: "inventory.hosts.smartHost",
    message: /a smart host is only routed in layout smart-host/,
  },
  {
    name: "the smart-host layout without a smart host",
    inventory: (i) => {
      i.layout = "smart-host";
    },
    path: "inventory.hosts.smartHost",
    message: /layout smart-host needs a smart host/,
  },
  {
    name: "one post office layout with two post offices",
    inventory: (i) => i.postOffices.push({ name: "branch" }),
    path: "inventory.postOffices",
    message: /single-post-office needs exactly one post office, found 2/,
  },
  {
    name: "a post office listed twice",
    stack: "post-offices",
    inventory: (i) => i.postOffices.push({ name: "north" }),
    path: "inventory.postOffices[2].name",
    message: /post office "north" is listed 2 times/,
  },
  {
    name: "the pilot domain equal to the production domain",
    inventory: (i) => (i.addressSpaces[0].pilotDomain = "paradigms.test"),
    path: "inventory.addressSpaces[0].pilotDomain",
    message: /domain paradigms.test is used twice among the address spaces/,
  },
  {
    name: "the model Internet inside the organisation",
    inventory: (i) => {
      i.internet.domain = "outside.paradigms.test";
    },
    path: "inventory.internet.domain",
    message: /lies inside the organisation's address space/,
  },
  {
    name: "a model-Internet host without its domain",
    inventory: (i) => delete i.internet,
    path: "inventory.internet",
    message: /hosts.internet is set but the model Internet has no domain/,
  },
  {
    name: "a missing mailbox file",
    inventory: (i) => (i.mailboxes = "nowhere.csv"),
    path: "inventory.mailboxes",
    message: /cannot read .*nowhere.csv \(ENOENT\)/,
  },
  {
    name: "a mailbox file of unknown format",
    inventory: (i) => (i.mailboxes = "mailboxes.xlsx"),
    path: "inventory.mailboxes",
    message: /"mailboxes.xlsx" is of unknown mailbox file format: name it .csv .* or .jsonl/,
  },
  {
    name: "a duplicate mailbox",
    mailboxes: (t) => `${t}USER1@paradigms.test,new,hq\n`,
    path: "mailboxes.pilot.csv line 7 address",
    message: /user1@paradigms.test is already listed on line 2/,
  },
  {
    name: "a mailbox on an unknown post office",
    mailboxes: (t) => `${t}user9@paradigms.test,legacy,branch\n`,
    path: "mailboxes.pilot.csv line 7 postOffice",
    message: /post office "branch" of user9@paradigms.test is not in the inventory/,
  },
  {
    name: "an address outside the address space",
    mailboxes: (t) => `${t}user9@elsewhere.test,legacy,hq\n`,
    path: "mailboxes.pilot.csv line 7 address",
    message: /user9@elsewhere.test is outside the address space \(paradigms.test\)/,
  },
  {
    name: "an address in the pilot address space",
    mailboxes: (t) => `${t}user9@api.test,legacy,hq\n`,
    path: "mailboxes.pilot.csv line 7 address",
    message: /user9@api.test is outside the address space/,
  },
  {
    name: "a mailbox with an unknown home",
    mailboxes: (t) => `${t}user9@paradigms.test,exchange,hq\n`,
    path: "mailboxes.pilot.csv line 7 home",
    message: /home "exchange" is neither legacy nor new/,
  },
  {
    name: "a row that is not an address",
    mailboxes: (t) => `${t}user9,legacy,hq\n`,
    path: "mailboxes.pilot.csv line 7 address",
    message: /"user9" is not an address: write it as user@domain/,
  },
  {
    name: "an unknown column",
    mailboxes: () => "address,home,postOffice,quota\nuser1@paradigms.test,legacy,hq,5\n",
    path: "mailboxes.pilot.csv line 2",
    message: /unknown column "quota"/,
  },
  {
    name: "an empty mailbox file",
    mailboxes: () => "address,home,postOffice\n",
    path: "mailboxes.pilot.csv",
    message: /holds no mailboxes/,
  },
  {
    name: "a post-office address on the wrong post office",
    stack: "post-offices",
    mailboxes: (t) => `${t}dan@north.corp.test,legacy,south\n`,
    path: "post-offices.csv line 6 address",
    message: /names post office "north" but its postOffice column says "south"/,
  },
  {
    name: "a post-office layout address without post office",
    stack: "post-offices",
    mailboxes: (t) => `${t}dan@corp.test,legacy,north\n`,
    path: "post-offices.csv line 6 address",
    message: /with layout post-offices addresses are user@<post office>.<domain>/,
  },
  {
    name: "several post offices and a mailbox without one",
    stack: "post-offices",
    mailboxes: (t) => `${t}dan@north.corp.test,legacy,\n`,
    path: "post-offices.csv line 6 postOffice",
    message: /has no post office: with several post offices, name the one/,
  },
  {
    name: "a JSON-lines mailbox that is not JSON",
    stack: "smart-host",
    mailboxes: (t) => `${t}{address: ann}\n`,
    path: "smart-host.jsonl line 4",
    message: /is not valid JSON/,
  },
];

describe("inventory validation", () => {
  it("accepts both stacks and every fixture", () => {
    for (const name of ["pilot", "production", "post-offices", "smart-host", "mx"]) expect(() => load(name, 4)).not.toThrow();
  });

  it("has at least 30 distinct bad inputs", () => {
    expect(new Set(BAD_INPUTS.map((b) => b.message.source)).size).toBeGreaterThanOrEqual(30);
  });

  for (const bad of BAD_INPUTS) {
    it(`rejects ${bad.name}, naming ${bad.path}`, () => {
      const problems = problemsOf(bad);
      const hit = problems.find((p) => p.path === bad.path && bad.message.test(p.message));
      expect(hit, `problems were:\n${problems.map((p) => `${p.path}: ${p.message}`).join("\n")}`).toBeDefined();
    });
  }

  it("reports every problem at once, each with its path, and says nothing was changed", () => {
    const { inventory, baseDir } = rawStack("pilot");
    inventory.hosts.new.address = "not-an-ip";
    inventory.layout = "flat";
    let error: unknown;
    try {
      loadConfig({ inventory, phase: 9, baseDir });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InventoryError);
    expect((error as InventoryError).problems.map((p) => p.path).sort()).toEqual([
      "inventory.hosts.new.address",
      "inventory.layout",
      "phase",
    ]);
    expect((error as Error).message).toMatch(/^The inventory has 3 problems; nothing was changed:/);
  });

  it("caps the problems listed from a large mailbox file and counts the rest", () => {
    const lines = Array.from({ length: 100 }, (_, i) => `u${i}@nowhere.test,legacy,hq`);
    const problems = problemsOf({
      name: "many",
      mailboxes: () => `address,home,postOffice\n${lines.join("\n")}\n`,
      path: "",
      message: /./,
    });
    expect(problems).toHaveLength(26);
    expect(problems[25]).toEqual({ path: "mailboxes.pilot.csv", message: "and 75 more problems like these" });
  });

  it("normalises case and trailing dots once, at the edge", () => {
    const { inventory, baseDir } = rawStack("pilot");
    inventory.addressSpaces[0].domain = "Paradigms.TEST.";
    const { inventory: inv } = loadConfig({ inventory, phase: 4, baseDir, readText: () => "address,home\nUser1@PARADIGMS.test,legacy\n" });
    expect(inv.addressSpaces[0].domain).toBe("paradigms.test");
    expect(inv.mailboxList).toEqual([{ address: "user1@paradigms.test", home: "legacy", postOffice: "hq" }]);
  });
});

describe("pinned host keys", () => {
  const inv = load("pilot", 1);
  const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

  it("requires one for every existing host and says how to get it", () => {
    expect(() => parseHostKeys({ legacy: key, new: key }, inv)).toThrow(
      /hostKeys.internet: existing host internet \(198.51.100.53\) has no pinned host key: pulumi config set --path 'hostKeys.internet'/,
    );
  });

  it("requires one for an EC2 gateway too, saying where to read it", () => {
    const prod = load("production", 4);
    expect(() => parseHostKeys({ legacy: key }, prod)).toThrow(
      /hostKeys.new: EC2 host new \(203.0.113.20\) has no pinned host key: every gateway is configured over SSH. npm run phase makes the host key of an instance the stack creates and pins it/,
    );
    expect(() => parseHostKeys({ new: key }, prod)).toThrow(/aws ec2 get-console-output --instance-id i-0a1b2c3d4e5f60718/);
    expect(parseHostKeys({ legacy: key, new: key }, prod)).toEqual({ legacy: key, new: key });
  });

  it("rejects a key that is not an OpenSSH public key", () => {
    expect(() => parseHostKeys({ legacy: key, new: key, internet: "SHA256:abc" }, inv)).toThrow(
      /hostKeys.internet: is not an OpenSSH public key/,
    );
  });

  it("rejects a key for a host the inventory does not have", () => {
    expect(() => parseHostKeys({ legacy: key, new: key, internet: key, smartHost: key }, inv)).toThrow(
      /hostKeys: no host "smartHost" in the inventory: remove the key/,
    );
  });

  it("keeps type and key, dropping a trailing comment", () => {
    expect(parseHostKeys({ legacy: `${key} root@legacy`, new: key, internet: key }, inv).legacy).toBe(key);
  });
});
