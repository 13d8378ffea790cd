/**
 * The hostile-input corpus: what an attacker with write access to a stack file or a mailbox file
 * would try. Every input must be refused as bad input (an InputError, never a crash), with a
 * problem at the field it broke whose message says what to do, and with no control character
 * and no overlong echo in what reaches the terminal.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig, parseHostKeys } from "../../src/model/config";
import { InputError } from "../../src/model/errors";
import { InventoryError } from "../../src/model/inventory";
import { readStackFile } from "../../src/model/stack-file";
import { controlCharacter } from "../../src/model/text";
import { load, rawStack } from "../helpers";

interface Hostile {
  name: string;
  /** Runs the loading that must refuse; throws what the loader throws. */
  run(): unknown;
  /** Where the refusal must point: a field path, or a file and line. */
  path: string | RegExp;
  /** The message, which names the fix. */
  message: RegExp;
}

const INJECTION = "x\nupdate add evil.example.com. 60 A 203.0.113.66";
/** Strings that must never reach a host, a zone or a terminal: each is a control character's attack. */
const CONTROL_PAYLOADS: Record<string, string> = {
  newline: INJECTION,
  "carriage return": "mail\rx",
  NUL: "mail\u0000x",
  tab: "mail\tx",
  "terminal escape": "mail\u001b[2Jx",
  DEL: "mail\u007fx",
  "C1 CSI": "mail\u009b31mx",
  "right-to-left override": "mail\u202ex",
  "line separator": "mail\u2028x",
};

function inventoryCase(
  name: string,
  breakIt: (i: Record<string, any>) => void,
  path: string | RegExp,
  message: RegExp,
  stack = "pilot",
): Hostile {
  return {
    name,
    run: () => {
      const { inventory, baseDir } = rawStack(stack);
      breakIt(inventory);
      return loadConfig({ inventory, phase: 3, baseDir });
    },
    path,
    message,
  };
}

function mailboxCase(name: string, text: string, path: string | RegExp, message: RegExp, file = "mailboxes.pilot.csv"): Hostile {
  return {
    name,
    run: () => {
      const { inventory, baseDir } = rawStack("pilot");
      inventory.mailboxes = file;
      return loadConfig({ inventory, phase: 3, baseDir, readText: () => text });
    },
    path,
    message,
  };
}

function stackFileCase(name: string, text: string, message: RegExp): Hostile {
  return {
    name,
    run: () => {
      const path = join(mkdtempSync(join(tmpdir(), "cutover-hostile-")), "Pulumi.x.yaml");
      writeFileSync(path, text);
      const file = readStackFile(path);
      return loadConfig({ inventory: file.inventory, phase: file.phase, baseDir: join(path, "..") });
    },
    path: /Pulumi\.x\.yaml|^inventory|^phase/,
    message,
  };
}

const CONTROL = /holds the control character \\u[0-9a-f]{4} at position \d+: remove it/;

/** Every string field of the inventory, with each control-character payload. */
const FIELDS: [string, (i: Record<string, any>, v: string) => void, string][] = [
  ["organisation", (i, v) => (i.organisation = v), "inventory.organisation"],
  ["an address space's domain", (i, v) => (i.addressSpaces[0].domain = v), "inventory.addressSpaces[0].domain"],
  ["a post office's name", (i, v) => (i.postOffices[0].name = v), "inventory.postOffices[0].name"],
  ["a zone's name", (i, v) => (i.zones[0].name = v), "inventory.zones[0].name"],
  [
    "a record's name",
    (i, v) => (i.zones[2].records = [{ name: v, type: "A", values: ["198.51.100.80"] }]),
    "inventory.zones[2].records[0].name",
  ],
  [
    "a CNAME's value",
    (i, v) => (i.zones[2].records = [{ name: "www", type: "CNAME", values: [v] }]),
    "inventory.zones[2].records[0].values[0]",
  ],
  [
    "an MX value",
    (i, v) => (i.zones[2].records = [{ name: "lists", type: "MX", values: [`10 ${v}`] }]),
    "inventory.zones[2].records[0].values[0]",
  ],
  ["a TXT value", (i, v) => (i.zones[2].records = [{ name: "www", type: "TXT", values: [v] }]), "inventory.zones[2].records[0].values[0]"],
  ["an SSH user", (i, v) => (i.hosts.legacy.user = v), "inventory.hosts.legacy.user"],
  ["a host label", (i, v) => (i.hosts.new.label = v), "inventory.hosts.new.label"],
  ["an outside user", (i, v) => (i.internet.users[0] = v), "inventory.internet.users[0]"],
  ["the mailbox file's path", (i, v) => (i.mailboxes = `${v}.csv`), "inventory.mailboxes"],
  ["a TSIG key name", (i, v) => (i.zones[0].tsigKey.name = v), "inventory.zones[0].tsigKey.name"],
  [
    "a gateway chain's path",
    (i, v) => (i.gateway.tls = { legacy: { source: "file", chain: `/etc/${v}.pem`, spki: SPKI }, new: { source: "secret", spki: SPKI } }),
    "inventory.gateway.tls.legacy.chain",
  ],
  [
    "a gateway key's digest",
    (i, v) => (i.gateway.tls = { legacy: { source: "secret", spki: v }, new: { source: "secret", spki: SPKI } }),
    "inventory.gateway.tls.legacy.spki",
  ],
  [
    "the MTA-STS policy directory",
    (i, v) => (i.gateway.mtaSts = sts({ directory: `/var/www/${v}` })),
    "inventory.gateway.mtaSts.directory",
  ],
  [
    "the TLS report address",
    (i, v) => (i.gateway.mtaSts = sts({ reportTo: `mailto:${v}@example.com` })),
    "inventory.gateway.mtaSts.reportTo",
  ],
  ["the MTA-STS sender", (i, v) => (i.internet.mtaStsSender = v), "inventory.internet.mtaStsSender"],
];

/** An MTA-STS setting with one field changed: the policy's directory becomes a path on the web host, reportTo a TXT value. */
function sts(change: Record<string, unknown>): Record<string, unknown> {
  return { mode: "enforce", policyHost: "new", address: "198.51.100.80", ...change };
}

/** A well-formed SPKI sha256, for the cases that break another field. */
const SPKI = "ab".repeat(32);
const tlsCase = (name: string, legacy: Record<string, unknown>, path: string, message: RegExp) =>
  inventoryCase(name, (i) => (i.gateway.tls = { legacy, new: { source: "secret", spki: SPKI } }), path, message);

const CORPUS: Hostile[] = [
  // The gateway's chain on the host: it becomes a main.cf list element and a shell argument.
  tlsCase(
    "a chain path with a space",
    { source: "file", chain: "/etc/my mail.pem", spki: SPKI },
    "inventory.gateway.tls.legacy.chain",
    /not an absolute path without/,
  ),
  tlsCase(
    "a chain path with a comma",
    { source: "file", chain: "/etc/a.pem,/etc/b.pem", spki: SPKI },
    "inventory.gateway.tls.legacy.chain",
    /commas/,
  ),
  tlsCase(
    "a chain path leaving by ..",
    { source: "file", chain: "/etc/ssl/../../root/.ssh/id_ed25519", spki: SPKI },
    "inventory.gateway.tls.legacy.chain",
    /without "\.\."/,
  ),
  tlsCase(
    "a relative chain path",
    { source: "file", chain: "mail.pem", spki: SPKI },
    "inventory.gateway.tls.legacy.chain",
    /absolute path/,
  ),
  tlsCase(
    "a key digest with a shell metacharacter",
    { source: "secret", spki: `${"ab".repeat(31)};x` },
    "inventory.gateway.tls.legacy.spki",
    /not a sha256 in hex/,
  ),
  // The MTA-STS policy's place on the web host, and what goes into its records.
  inventoryCase(
    "an MTA-STS directory leaving by ..",
    (i) => (i.gateway.mtaSts = sts({ directory: "/var/www/../../etc" })),
    "inventory.gateway.mtaSts.directory",
    /without "\.\."/,
  ),
  inventoryCase(
    "a relative MTA-STS directory",
    (i) => (i.gateway.mtaSts = sts({ directory: "www/mta-sts" })),
    "inventory.gateway.mtaSts.directory",
    /absolute path/,
  ),
  inventoryCase(
    "a TLS report address with a semicolon (a second TXT tag)",
    (i) => (i.gateway.mtaSts = sts({ reportTo: "mailto:a@example.com; rua=mailto:x@evil.example" })),
    "inventory.gateway.mtaSts.reportTo",
    /not a mailto: address for TLS reports/,
  ),
  inventoryCase(
    "a TLS report address that is a web address",
    (i) => (i.gateway.mtaSts = sts({ reportTo: "https://evil.example/report" })),
    "inventory.gateway.mtaSts.reportTo",
    /not a mailto: address/,
  ),
  inventoryCase(
    "an MTA-STS policy address that is a name",
    (i) => (i.gateway.mtaSts = sts({ address: "www.example.com" })),
    "inventory.gateway.mtaSts.address",
    /not an IPv4 address/,
  ),
  inventoryCase(
    "an MTA-STS policy host that is no role",
    (i) => (i.gateway.mtaSts = sts({ policyHost: "webserver" })),
    "inventory.gateway.mtaSts.policyHost",
    /not a host role/,
  ),
  inventoryCase(
    "an MTA-STS mode that RFC 8461 does not have",
    (i) => (i.gateway.mtaSts = sts({ mode: "strict" })),
    "inventory.gateway.mtaSts.mode",
    /not an MTA-STS mode: use enforce/,
  ),
  // Control characters in every string field of the inventory: 18 fields x 9 payloads.
  ...FIELDS.flatMap(([field, set, path]) =>
    Object.entries(CONTROL_PAYLOADS).map(([kind, payload]) =>
      inventoryCase(`a ${kind} in ${field}`, (i) => set(i, payload), path, CONTROL),
    ),
  ),
  // DNS values by kind.
  inventoryCase(
    "a record name with a space",
    (i) => (i.zones[2].records = [{ name: "w w", type: "A", values: ["198.51.100.80"] }]),
    "inventory.zones[2].records[0].name",
    /is not a DNS name: use "@" .* such as www/,
  ),
  inventoryCase(
    "a record label of 64 characters",
    (i) => (i.zones[2].records = [{ name: "a".repeat(64), type: "A", values: ["198.51.100.80"] }]),
    "inventory.zones[2].records[0].name",
    /is not a DNS name/,
  ),
  inventoryCase(
    "a record name of 254 characters",
    (i) => (i.zones[2].records = [{ name: Array(51).fill("abcd").join("."), type: "A", values: ["198.51.100.80"] }]),
    "inventory.zones[2].records[0].name",
    /is not a DNS name/,
  ),
  inventoryCase(
    "a record label starting with a hyphen",
    (i) => (i.zones[2].records = [{ name: "-www", type: "A", values: ["198.51.100.80"] }]),
    "inventory.zones[2].records[0].name",
    /is not a DNS name/,
  ),
  inventoryCase(
    "a record name with a semicolon",
    (i) => (i.zones[2].records = [{ name: "www;rm", type: "TXT", values: ["x"] }]),
    "inventory.zones[2].records[0].name",
    /is not a DNS name/,
  ),
  inventoryCase(
    "a record name that is a wildcard",
    (i) => (i.zones[2].records = [{ name: "*", type: "A", values: ["198.51.100.80"] }]),
    "inventory.zones[2].records[0].name",
    /is not a DNS name/,
  ),
  inventoryCase(
    "an A record holding a name",
    (i) => (i.zones[2].records = [{ name: "www", type: "A", values: ["web.example.com"] }]),
    "inventory.zones[2].records[0].values[0]",
    /is not an IPv4 address: an A record holds addresses such as/,
  ),
  inventoryCase(
    "an A record holding 256.1.1.1",
    (i) => (i.zones[2].records = [{ name: "www", type: "A", values: ["256.1.1.1"] }]),
    "inventory.zones[2].records[0].values[0]",
    /is not an IPv4 address/,
  ),
  inventoryCase(
    "an A record holding an IPv6 address",
    (i) => (i.zones[2].records = [{ name: "www", type: "A", values: ["2001:db8::1"] }]),
    "inventory.zones[2].records[0].values[0]",
    /is not an IPv4 address/,
  ),
  inventoryCase(
    "an MX pointing at an address",
    (i) => (i.zones[2].records = [{ name: "lists", type: "MX", values: ["10 198.51.100.80"] }]),
    "inventory.zones[2].records[0].values[0]",
    /points to a host name, never an address/,
  ),
  inventoryCase(
    "an MX without a preference",
    (i) => (i.zones[2].records = [{ name: "lists", type: "MX", values: ["mx.example.net"] }]),
    "inventory.zones[2].records[0].values[0]",
    /preference 0-65535 and a host name/,
  ),
  inventoryCase(
    "an MX preference of 65536",
    (i) => (i.zones[2].records = [{ name: "lists", type: "MX", values: ["65536 mx.example.net"] }]),
    "inventory.zones[2].records[0].values[0]",
    /preference 0-65535/,
  ),
  inventoryCase(
    "an MX with a third word",
    (i) => (i.zones[2].records = [{ name: "lists", type: "MX", values: ["10 mx.example.net send"] }]),
    "inventory.zones[2].records[0].values[0]",
    /is not an MX value/,
  ),
  inventoryCase(
    "a CNAME to an address",
    (i) => (i.zones[2].records = [{ name: "www", type: "CNAME", values: ["198.51.100.80"] }]),
    "inventory.zones[2].records[0].values[0]",
    /is not a name: a CNAME record points to a name/,
  ),
  inventoryCase(
    "a CNAME with two targets",
    (i) => (i.zones[2].records = [{ name: "www", type: "CNAME", values: ["a.example.net", "b.example.net"] }]),
    "inventory.zones[2].records[0].values",
    /exactly one value: keep one target/,
  ),
  inventoryCase(
    "a TXT value of 4050 octets",
    (i) => (i.zones[2].records = [{ name: "www", type: "TXT", values: ["v".repeat(4050)] }]),
    "inventory.zones[2].records[0].values[0]",
    /4050 octets is longer than 4000: shorten it/,
  ),
  inventoryCase(
    "an empty record value",
    (i) => (i.zones[2].records = [{ name: "www", type: "TXT", values: [""] }]),
    "inventory.zones[2].records[0].values[0]",
    /is empty: give a value or remove it/,
  ),
  inventoryCase(
    "a record of type NS",
    (i) => (i.zones[2].records = [{ name: "sub", type: "NS", values: ["ns.evil.test"] }]),
    "inventory.zones[2].records[0].type",
    /type must be one of A, CNAME, TXT, MX/,
  ),
  inventoryCase(
    "a record of 101 values",
    (i) => (i.zones[2].records = [{ name: "www", type: "A", values: Array.from({ length: 101 }, (_, n) => `198.51.100.${n}`) }]),
    "inventory.zones[2].records[0].values",
    /at most 100/,
  ),
  inventoryCase(
    "a TTL of 0",
    (i) => (i.zones[2].records = [{ name: "www", type: "A", values: ["198.51.100.80"], ttl: 0 }]),
    "inventory.zones[2].records[0].ttl",
    /below the 60 s minimum/,
  ),
  inventoryCase(
    "a TTL of a year",
    (i) => (i.zones[2].records = [{ name: "www", type: "A", values: ["198.51.100.80"], ttl: 31_536_000 }]),
    "inventory.zones[2].records[0].ttl",
    /above the 86400 s maximum/,
  ),
  inventoryCase("a TTL of 1e400", (i) => (i.ttl = { records: Number.POSITIVE_INFINITY }), "inventory.ttl.records", /seconds/),
  inventoryCase(
    "a record outside its zone",
    (i) => (i.zones[2].records = [{ name: "www.evil.test", type: "A", values: ["198.51.100.80"] }]),
    "inventory.zones[2].records[0].name",
    /is not inside zone paradigms.test: use a name relative to the zone/,
  ),
  // Collisions with the plan's records.
  inventoryCase(
    "an A record at the gateway's name",
    (i) => (i.zones[2].records = [{ name: "mail", type: "A", values: ["203.0.113.66"] }]),
    "inventory.zones[2].records[0]",
    /mail.paradigms.test A is also the gateway's address, which the plan writes/,
  ),
  inventoryCase(
    "an A record at the new host's name",
    (i) => (i.zones[1].records = [{ name: "new", type: "A", values: ["203.0.113.66"] }]),
    "inventory.zones[1].records[0]",
    /new.api.test A is also the address of hosts.new/,
  ),
  inventoryCase(
    "an MX at a mail domain",
    (i) => (i.zones[2].records = [{ name: "@", type: "MX", values: ["10 mx.evil.test"] }]),
    "inventory.zones[2].records[0]",
    /paradigms.test MX is also the MX of the mail domain paradigms.test/,
  ),
  inventoryCase(
    "an MX at the phase-2 domain of the new system",
    (i) => (i.zones[1].records = [{ name: "new", type: "MX", values: ["10 mx.evil.test"] }]),
    "inventory.zones[1].records[0]",
    /new.api.test MX is also the MX of the new system's pilot domain/,
  ),
  inventoryCase(
    "a CNAME at a host name",
    (i) => (i.zones[2].records = [{ name: "legacy", type: "CNAME", values: ["evil.test"] }]),
    "inventory.zones[2].records[0]",
    /legacy.paradigms.test is a CNAME here, but the plan writes the address of hosts.legacy/,
  ),
  inventoryCase(
    "a CNAME at the model Internet's MX host",
    (i) => (i.zones[0].records = [{ name: "mx", type: "CNAME", values: ["evil.test"] }]),
    "inventory.zones[0].records[0]",
    /mx.aegean.test is a CNAME here/,
  ),
  inventoryCase(
    "a CNAME at a zone's apex",
    (i) => (i.zones[2].records = [{ name: "@", type: "CNAME", values: ["evil.test"] }]),
    "inventory.zones[2].records[0]",
    /is the zone's apex, which holds its SOA and NS records/,
  ),
  inventoryCase(
    "two records of one name and type",
    (i) =>
      (i.zones[2].records = [
        { name: "www", type: "A", values: ["198.51.100.80"] },
        { name: "www", type: "A", values: ["198.51.100.81"] },
      ]),
    "inventory.zones[2].records[1]",
    /www.paradigms.test A is also inventory.zones\[2\].records\[0\]: put all values/,
  ),
  inventoryCase(
    "a CNAME beside an A record",
    (i) =>
      (i.zones[2].records = [
        { name: "www", type: "A", values: ["198.51.100.80"] },
        { name: "www", type: "CNAME", values: ["web.example.net"] },
      ]),
    "inventory.zones[2].records[1]",
    /is a CNAME, so it cannot also hold the A record/,
  ),
  inventoryCase(
    "a post office named like a CNAME",
    (i) => (i.zones[0].records = [{ name: "north", type: "CNAME", values: ["intranet.example.net"] }]),
    "inventory.zones[0].records[0]",
    /north.corp.test is a CNAME here, but the plan writes the MX of the mail domain/,
    "post-offices",
  ),
  inventoryCase(
    "a post office named like an A record",
    (i) => (i.zones[0].records = [{ name: "south", type: "A", values: ["198.51.100.80"] }]),
    "inventory.postOffices[1].name",
    /would be the mail domain south.corp.test, which already holds the organisation's A record/,
    "post-offices",
  ),
  inventoryCase(
    "a post office named like the gateway",
    (i) => (i.postOffices[0].name = "mail"),
    "inventory.postOffices[0].name",
    /has the name of a host \(gateway.label\): .* rename the post office or the host/,
    "post-offices",
  ),
  // Other fields by kind.
  inventoryCase(
    "an SSH user with a space",
    (i) => (i.hosts.legacy.user = "root -oProxyCommand=x"),
    "inventory.hosts.legacy.user",
    /is not a user name: name the SSH user, such as root/,
  ),
  inventoryCase(
    "an interface name with a slash",
    (i) => (i.hosts.legacy.interface = "../eth0"),
    "inventory.hosts.legacy.interface",
    /must be a network interface name such as eth0/,
  ),
  inventoryCase(
    "a domain with a trailing space inside",
    (i) => (i.addressSpaces[0].domain = "para digms.test"),
    "inventory.addressSpaces[0].domain",
    /is not a valid domain name/,
  ),
  inventoryCase(
    "a domain that is an address",
    (i) => (i.addressSpaces[0].domain = "198.51.100.1"),
    "inventory.addressSpaces[0].domain",
    /is not a valid domain name/,
  ),
  inventoryCase(
    "a TSIG key name with a quote",
    (i) => (i.zones[0].tsigKey.name = 'cutover" ; }'),
    "inventory.zones[0].tsigKey.name",
    /must be a TSIG key name such as cutover/,
  ),
  inventoryCase(
    "a string of 10 MB as organisation",
    (i) => (i.organisation = "A".repeat(10_000_000)),
    "inventory.organisation",
    /10000000 characters long; no field takes more than 4096: shorten it/,
  ),
  inventoryCase(
    "an outside user with a slash",
    (i) => (i.internet.users[0] = "../../etc"),
    "inventory.internet.users[0]",
    /must be the local part of an address/,
  ),
  inventoryCase(
    "a key with a newline",
    (i) => (i.hosts.legacy["label\nx"] = "a"),
    "inventory.hosts.legacy",
    /the key "label\\nx" holds the control character \\u000a: remove it/,
  ),
  inventoryCase("a port of 70000", (i) => (i.hosts.legacy.port = 70_000), "inventory.hosts.legacy.port", /must be a TCP port 1..65535/),
  inventoryCase(
    "a prototype key",
    (i) => (i.gateway = JSON.parse('{"__proto__": {"polluted": 1}, "address": "198.51.100.1"}')),
    /inventory.gateway/,
    /unknown key|remove/,
  ),
  // The mailbox file's path.
  inventoryCase(
    "a mailbox path leaving stacks/",
    (i) => (i.mailboxes = "../../tmp/x.csv"),
    "inventory.mailboxes",
    /leaves the stacks\/ directory .* link a file kept elsewhere into it/,
  ),
  inventoryCase(
    "an absolute mailbox path",
    (i) => (i.mailboxes = "/etc/cron.d/x.csv"),
    "inventory.mailboxes",
    /leaves the stacks\/ directory/,
  ),
  inventoryCase(
    "a mailbox path climbing from a subdirectory",
    (i) => (i.mailboxes = "sub/../../x.csv"),
    "inventory.mailboxes",
    /leaves the stacks\/ directory/,
  ),
  inventoryCase("a mailbox path of another format", (i) => (i.mailboxes = "x.sh"), "inventory.mailboxes", /of unknown mailbox file format/),
  // The mailbox file.
  ...[
    "../../../../etc/cron.d/x",
    "..",
    ".ann",
    "ann.",
    "a..nn",
    "#x",
    "a/b",
    "a b",
    "ann;rm",
    "ann|x",
    "ann$(id)",
    "ann`id`",
    "a".repeat(65),
    "ann\\x",
    "ann:x",
  ].map((local) =>
    mailboxCase(
      `the local part ${JSON.stringify(local.slice(0, 20))}`,
      `${JSON.stringify({ address: `${local}@paradigms.test`, home: "legacy" })}\n`,
      "mailboxes.pilot.jsonl line 1 address",
      /the part before @ may hold letters, digits and . _ \+ - = only/,
      "mailboxes.pilot.jsonl",
    ),
  ),
  mailboxCase(
    "an address of 10 MB",
    `address,home\n${"a".repeat(10_000_000)}@paradigms.test,legacy\n`,
    "mailboxes.pilot.csv line 2",
    /characters long, more than 1024: one line holds one mailbox/,
  ),
  mailboxCase(
    "a NUL in an address",
    "address,home\nann\u0000@paradigms.test,legacy\n",
    "mailboxes.pilot.csv line 2",
    /holds the control character \\u0000 at column 4: remove it/,
  ),
  mailboxCase(
    "an escape sequence in a home",
    "address,home\nann@paradigms.test,\u001b[31mlegacy\n",
    "mailboxes.pilot.csv line 2",
    /holds the control character \\u001b/,
  ),
  mailboxCase(
    "a bare carriage return",
    "address,home\nann@paradigms.test,legacy\rbob@paradigms.test,new\n",
    "mailboxes.pilot.csv line 2",
    /holds the control character \\u000d/,
  ),
  mailboxCase(
    "a right-to-left override",
    "address,home\nann@paradigms.test,new\u202e\n",
    "mailboxes.pilot.csv line 2",
    /holds the control character \\u202e/,
  ),
  mailboxCase(
    "a home that is neither",
    "address,home\nann@paradigms.test,../new\n",
    "mailboxes.pilot.csv line 2 home",
    /is neither legacy nor new: say which system holds the mailbox/,
  ),
  mailboxCase(
    "a post office with a path",
    "address,home,postOffice\nann@paradigms.test,new,../x\n",
    "mailboxes.pilot.csv line 2 postOffice",
    /post office "..\/x" of ann@paradigms.test is not in the inventory .*: fix the name/,
  ),
  mailboxCase(
    "an address outside the address space",
    "address,home\nann@evil.test,new\n",
    "mailboxes.pilot.csv line 2 address",
    /is outside the address space .*: fix the domain/,
  ),
  mailboxCase(
    "an address without a domain",
    "address,home\nann,new\n",
    "mailboxes.pilot.csv line 2 address",
    /is not an address: write it as user@domain/,
  ),
  mailboxCase(
    "an unknown column",
    "address,home,shell\nann@paradigms.test,new,/bin/sh\n",
    "mailboxes.pilot.csv line 2",
    /unknown column "shell": the columns are address, home, postOffice/,
  ),
  mailboxCase(
    "an unclosed quote",
    'address,home\n"ann@paradigms.test,new\n',
    "mailboxes.pilot.csv",
    /is not valid CSV .*: the first line is the header/,
  ),
  mailboxCase(
    "a JSON line that is not JSON",
    "{address: ann}\n",
    "mailboxes.pilot.jsonl line 1",
    /is not valid JSON: write one object per line/,
    "mailboxes.pilot.jsonl",
  ),
  mailboxCase(
    "a JSON line with a number for address",
    '{"address": 5, "home": "new"}\n',
    "mailboxes.pilot.jsonl line 1 address",
    /address is missing|expected string/,
    "mailboxes.pilot.jsonl",
  ),
  mailboxCase(
    "a JSON line with a prototype key",
    '{"__proto__": {"home": "new"}, "address": "ann@paradigms.test"}\n',
    /mailboxes.pilot.jsonl line 1/,
    /unknown column|home/,
    "mailboxes.pilot.jsonl",
  ),
  mailboxCase(
    "a JSON array line",
    '["ann@paradigms.test", "new"]\n',
    /mailboxes.pilot.jsonl line 1/,
    /expected object|address/,
    "mailboxes.pilot.jsonl",
  ),
  mailboxCase(
    "a file of 65 MB",
    `address,home\n${"ann@paradigms.test,new\n".repeat(3_200_000)}`,
    "mailboxes.pilot.csv",
    /more than 67108864: is it the mailbox file\?/,
  ),
  mailboxCase(
    "the same mailbox twice in other case",
    "address,home\nann@paradigms.test,new\nANN@paradigms.test,legacy\n",
    "mailboxes.pilot.csv line 3 address",
    /already listed on line 2: each mailbox appears once/,
  ),
  mailboxCase("an empty file", "", "mailboxes.pilot.csv", /holds no mailboxes: add one line per mailbox/),
  // The stack file.
  stackFileCase("YAML that does not parse", "config:\n  cutover:phase: [1\n", /not valid YAML .*: fix the file/),
  stackFileCase(
    "a YAML alias bomb",
    `config:\n  a: &a ["x","x","x","x","x","x","x","x","x","x"]\n${Array.from(
      { length: 9 },
      (_, n) =>
        `  b${n}: &b${n} [${Array(10)
          .fill(n ? `*b${n - 1}` : "*a")
          .join(",")}]`,
    ).join("\n")}\n  cutover:phase: 1\n`,
    /YAML aliases|alias/,
  ),
  stackFileCase(
    "an inventory of JSON text that does not parse",
    'config:\n  cutover:phase: 1\n  cutover:inventory: "{\\"a\\": "\n',
    /JSON text that does not parse .*: fix it/,
  ),
  stackFileCase("an inventory that is a number", "config:\n  cutover:phase: 1\n  cutover:inventory: 5\n", /expected object/),
  stackFileCase("no inventory", "config:\n  cutover:phase: 1\n", /is required/),
  stackFileCase(
    "a phase with a command",
    'config:\n  cutover:phase: "5; rm -rf /"\n  cutover:inventory: {}\n',
    /phase must be a number 1..5/,
  ),
  stackFileCase("a phase of 6", "config:\n  cutover:phase: 6\n  cutover:inventory: {}\n", /phase must be 1..5/),
  stackFileCase("a phase of 2.5", "config:\n  cutover:phase: 2.5\n  cutover:inventory: {}\n", /phase must be a whole number/),
  stackFileCase("config that is a list", "config:\n  - cutover:phase\n", /is required/),
  stackFileCase("a stack file of 5 MB", `# ${"x".repeat(5 * 1024 * 1024)}\nconfig: {}\n`, /more than 4194304: a stack file holds settings/),
  stackFileCase(
    "an inventory with an escape in organisation",
    `config:\n  cutover:phase: 1\n  cutover:inventory:\n    organisation: "\\e]0;owned\\a"\n`,
    CONTROL,
  ),
  // Pinned host keys.
  ...[
    ["a host key with a newline", { legacy: "ssh-ed25519 AAAA\nssh-rsa BBBB" }, CONTROL],
    ["a host key of an unknown role", { root: "ssh-ed25519 AAAA" }, /no host "root" in the inventory: remove the key or fix the role name/],
    ["a host key that is not a key", { legacy: "AAAA" }, /is not an OpenSSH public key: give "ssh-ed25519 AAAA..."/],
    ["host keys that are a list", ["ssh-ed25519 AAAA"], /must map host roles to public keys/],
  ].map(
    ([name, keys, message]): Hostile => ({
      name: name as string,
      run: () => parseHostKeys(keys, load("pilot", 3)),
      path: /^hostKeys/,
      message: message as RegExp,
    }),
  ),
];

describe("the hostile-input corpus", () => {
  it("holds at least 120 inputs, each of its own name", () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(120);
    expect(new Set(CORPUS.map((c) => c.name)).size).toBe(CORPUS.length);
  });

  for (const c of CORPUS) {
    it(`refuses ${c.name}`, () => {
      let thrown: unknown;
      try {
        c.run();
      } catch (e) {
        thrown = e;
      }
      // Refused as bad input: not accepted, not crashed.
      expect(thrown, "accepted").toBeDefined();
      expect(thrown, `crashed: ${(thrown as Error)?.stack}`).toBeInstanceOf(InputError);
      const error = thrown as InputError;
      const problems = error instanceof InventoryError ? error.problems : [{ path: error.message.split(":")[0], message: error.message }];
      const hit = problems.find((p) => (typeof c.path === "string" ? p.path === c.path : c.path.test(p.path)) && c.message.test(p.message));
      expect(hit, `problems were:\n${problems.map((p) => `${p.path}: ${p.message}`).join("\n")}`).toBeDefined();
      // What reaches the terminal: no control character but the newlines between problems, no 10 MB echo.
      expect(controlCharacter(error.message.replaceAll("\n", " "))).toBeUndefined();
      expect(error.message.length).toBeLessThan(4000);
    });
  }
});
