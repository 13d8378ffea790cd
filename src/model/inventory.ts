/**
 * The inventory: the stack's description of the organisation's mail, parsed once and validated
 * with a schema. Defaults are applied here and nowhere else; every later layer trusts its output.
 */

import { isAbsolute, normalize } from "node:path";
import { z } from "zod";
import { InputError } from "./errors";
import { DOMAIN_NAME, LOCAL_PART } from "./names";
import { controlCharacter, shown } from "./text";

export const PHASES = [1, 2, 3, 4, 5] as const;
export type Phase = (typeof PHASES)[number];

/** Hosts the migration knows by role. */
export const HOST_ROLES = ["legacy", "new", "internet", "smartHost", "dnsServer"] as const;

/**
 * What a gateway name may offer beside inbound mail (port 25): submission with SASL (587), SMTP
 * over TLS (465), and mail reading (IMAP 143, IMAPS 993, POP3 110, POP3S 995).
 */
export const GATEWAY_SERVICES = ["submission", "smtps", "imap", "imaps", "pop3", "pop3s"] as const;
/** The TCP port each gateway service listens on. */
export const GATEWAY_SERVICE_PORTS: Record<(typeof GATEWAY_SERVICES)[number], number> = {
  submission: 587,
  smtps: 465,
  imap: 143,
  imaps: 993,
  pop3: 110,
  pop3s: 995,
};
export type HostRole = (typeof HOST_ROLES)[number];
/** The two systems that hold mailboxes. */
export type MailSystem = "legacy" | "new";

export const TTL_MIN = 60;
export const TTL_MAX = 86_400;

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
/**
 * A name inside a zone as records use it: labels of 1-63 letters, digits, hyphens and underscores
 * (service labels such as _25._tcp and _mta-sts), no hyphen at either end, 253 characters at most.
 */
export const RECORD_NAME = /^(?=.{1,253}$)(?!-)[a-z0-9_-]{1,63}(?<!-)(\.(?!-)[a-z0-9_-]{1,63}(?<!-))*$/;
/** A host name an MX or CNAME record points to: a domain name, so never an IP address. */
export const TARGET_NAME = /^(?=.{1,253}$)((?!-)[a-z0-9_-]{1,63}(?<!-)\.)*[a-z][a-z0-9-]{0,62}(?<!-)$/;
/** The longest string any inventory field takes: names, keys and TXT text are all far shorter. */
export const MAX_TEXT = 4096;
/** The longest TXT text of one value: Route 53's limit, 16 character-strings of 255. */
export const MAX_TXT = 4000;
/** The longest address cutover takes (RFC 5321's path limit, less the angle brackets). */
export const MAX_ADDRESS_LENGTH = 254;

/** What is wrong with a mailbox address, or undefined when it is one cutover can route. Pure. */
export function addressProblem(address: string): string | undefined {
  if (address.length > MAX_ADDRESS_LENGTH)
    return `an address of ${address.length} characters is longer than ${MAX_ADDRESS_LENGTH}: give one mailbox address`;
  const at = address.lastIndexOf("@");
  const [local, domain] = at < 0 ? [address, ""] : [address.slice(0, at), address.slice(at + 1)];
  const quoted = shown(address);
  if (at < 0 || !local || !domain) return `${quoted} is not an address: write it as user@domain`;
  if (!LOCAL_PART.test(local))
    return `${quoted}: the part before @ may hold letters, digits and . _ + - = only (no leading, trailing or double dot, no / or #, at most 64): it becomes a mailbox path and a postfix map key`;
  if (!DOMAIN_NAME.test(domain))
    return `${quoted}: ${JSON.stringify(domain)} is not a domain name: use letters, digits and hyphens in dot-separated labels`;
  return undefined;
}

const lower = (s: string) => s.trim().toLowerCase().replace(/\.$/, "");

/** One SPF mechanism that authorizes senders (RFC 7208 5): not "all", not a modifier. */
const SPF_TERM =
  /^[+~?-]?(ip4:[0-9./]+|ip6:[0-9a-f:./]+|a(:[a-z0-9._-]+)?(\/\d+)?|mx(:[a-z0-9._-]+)?(\/\d+)?|include:[a-z0-9._-]+|exists:[a-z0-9._%{}-]+)$/i;

/** An IPv4 network in CIDR form with its host bits cleared ("198.51.100.70/28" -> "198.51.100.64/28"). Pure. */
export function networkOf(cidr: string): string {
  const [address, bits] = cidr.split("/");
  const n = address.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(bits));
  const first = Math.floor(n / size) * size;
  return `${[24, 16, 8, 0].map((shift) => Math.floor(first / 2 ** shift) % 256).join(".")}/${bits}`;
}

const domain = (what: string) =>
  z
    .string({ error: `${what} is missing: give a domain name such as example.com` })
    .transform(lower)
    .refine((s) => DOMAIN_NAME.test(s), {
      error: (iss) =>
        `${shown(iss.input)} is not a valid domain name: use letters, digits and hyphens in dot-separated labels, such as mail.example.com`,
    });

const label = (what: string) =>
  z
    .string({ error: `${what} must be a single DNS label such as "mail"` })
    .transform(lower)
    .refine((s) => LABEL.test(s), {
      error: (iss) => `${shown(iss.input)} is not a DNS label: use 1-63 letters, digits or hyphens, no dots, such as "mail"`,
    });

const ipv4 = z.ipv4({
  error: (iss) => `${shown(iss.input)} is not an IPv4 address: give a dotted quad such as 198.51.100.10`,
});

const ttlSeconds = z
  .number({ error: `must be a number of seconds between ${TTL_MIN} and ${TTL_MAX}` })
  .int({ error: "must be a whole number of seconds" })
  .min(TTL_MIN, {
    error: (iss) => `${iss.input} s is below the ${TTL_MIN} s minimum: resolvers ignore shorter TTLs; use ${TTL_MIN} or more`,
  })
  .max(TTL_MAX, {
    error: (iss) => `${iss.input} s is above the ${TTL_MAX} s maximum: a day is the longest TTL cutover sets; use ${TTL_MAX} or less`,
  });
const ttl = (fallback: number) => ttlSeconds.default(fallback);

const tcpPort = (fallback: number, examples: string) =>
  z
    .number()
    .int()
    .min(1)
    .max(65535, { error: `must be a TCP port 1..65535${examples}` })
    .default(fallback);
const sshPort = tcpPort(22, "");

/** A host reached by name or by IPv4 address; `what` says which host, for the error. */
const hostNameOrAddress = (what: string) =>
  z.string().refine((v) => z.ipv4().safeParse(v).success || DOMAIN_NAME.test(v), {
    error: (iss) => `${shown(iss.input)} is neither an IPv4 address nor a host name: ${what}`,
  });
const sshUser = z
  .string()
  .regex(/^[a-z_][a-z0-9_.-]{0,31}$/, { error: (iss) => `${shown(iss.input)} is not a user name: name the SSH user, such as root` })
  .default("root");

const existingHost = z.strictObject({
  kind: z.literal("existing"),
  /** Management address: fixed, reached by SSH, never moved by the go-live. */
  address: ipv4,
  port: sshPort,
  user: sshUser,
  /** Host name label; the host's name is label.<primary domain of the stage>. */
  label: label("label").optional(),
  /** Where the host's outbound connections come from, when not `address` (a NAT): what the SPF record names. */
  egressAddress: ipv4.optional(),
  /** Network interface that carries the gateway's service address after the go-live. */
  interface: z
    .string()
    .regex(/^[A-Za-z0-9_.@-]{1,15}$/, { error: "must be a network interface name such as eth0" })
    .default("eth0"),
});

const awsHost = z.strictObject({
  kind: z.literal("aws"),
  /** Address the other system relays to (private address in the VPC). */
  address: ipv4,
  /**
   * Where SSH reaches the instance, when not at `address` (a bastion-forwarded address or a name
   * the runner resolves). Every gateway is configured, drained and verified over SSH, whatever runs it.
   */
  sshAddress: hostNameOrAddress("give where SSH reaches the instance").optional(),
  port: sshPort,
  user: sshUser,
  /**
   * The public address the instance's outbound connections come from (its public IP, or the NAT
   * gateway's): what the SPF record names. `address` is private and no receiver sees it; the
   * Elastic IP, while the instance holds it, is the gateway address, named anyway.
   */
  egressAddress: ipv4.optional(),
  /** An instance that exists already (the legacy gateway usually does). */
  instanceId: z
    .string()
    .regex(/^i-[0-9a-f]{8,17}$/, {
      error: (iss) => `${shown(iss.input)} is not an EC2 instance id: it looks like i-0123456789abcdef0`,
    })
    .optional(),
  /** An instance the stack creates. */
  instance: z
    .strictObject({
      ami: z.string().regex(/^ami-[0-9a-f]{8,17}$/, {
        error: (iss) => `${shown(iss.input)} is not an AMI id: it looks like ami-0123456789abcdef0`,
      }),
      instanceType: z
        .string()
        .regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, { error: (iss) => `${shown(iss.input)} is not an instance type such as t3.small` }),
      subnetId: z.string().regex(/^subnet-[0-9a-f]{8,17}$/, {
        error: (iss) => `${shown(iss.input)} is not a subnet id: it looks like subnet-0123456789abcdef0`,
      }),
      /**
       * The instance's security groups: they must admit SMTP (tcp 25) from every source the other
       * gateway's groups admit, or the go-live would move the Elastic IP to an instance senders
       * cannot reach (the subnet's default group admits nothing from outside).
       */
      securityGroupIds: z
        .array(
          z.string().regex(/^sg-[0-9a-f]{8,17}$/, {
            error: (iss) => `${shown(iss.input)} is not a security group id: it looks like sg-0123456789abcdef0`,
          }),
          { error: "must list the instance's security groups (sg-...): one at least admits SMTP from the Internet" },
        )
        .min(1, { error: "must list one security group at least: the one that admits SMTP (tcp 25) from the Internet" }),
    })
    .optional(),
  label: label("label").optional(),
});

const host = z.discriminatedUnion("kind", [existingHost, awsHost], {
  error: (iss) => (iss.code === "invalid_union" ? `kind must be "existing" (reached by SSH) or "aws" (an EC2 instance)` : undefined),
});

const RECORD_TYPES = ["A", "CNAME", "TXT", "MX"] as const;
type RecordType = (typeof RECORD_TYPES)[number];

/** One value of a record of the given type in its normal form, or the problem with it. Pure. */
export function recordValue(type: RecordType, raw: string): { value: string } | { problem: string } {
  const v = raw.trim();
  switch (type) {
    case "A":
      return z.ipv4().safeParse(v).success
        ? { value: v }
        : { problem: `${shown(raw)} is not an IPv4 address: an A record holds addresses such as 198.51.100.10` };
    case "MX": {
      const m = /^(\d{1,5})\s+(\S+?)\.?$/.exec(v);
      const target = m?.[2].toLowerCase();
      if (!m || Number(m[1]) > 65_535)
        return { problem: `${shown(raw)} is not an MX value: write a preference 0-65535 and a host name, such as "10 mail.example.com"` };
      if (!TARGET_NAME.test(target!))
        return {
          problem: `${shown(raw)}: an MX record points to a host name, never an address or anything else (RFC 5321 section 5.1): such as "10 mail.example.com"`,
        };
      return { value: `${Number(m[1])} ${target}` };
    }
    case "CNAME": {
      const target = v.toLowerCase().replace(/\.$/, "");
      return TARGET_NAME.test(target)
        ? { value: target }
        : { problem: `${shown(raw)} is not a name: a CNAME record points to a name such as www.example.net` };
    }
    case "TXT":
      return Buffer.byteLength(raw, "utf8") > MAX_TXT
        ? { problem: `a TXT value of ${Buffer.byteLength(raw, "utf8")} octets is longer than ${MAX_TXT}: shorten it` }
        : { value: raw };
  }
}

const record = z
  .strictObject({
    /** Name relative to the zone ("www"), "@" for the apex, or a full name inside the zone. */
    name: z
      .string()
      .transform(lower)
      .refine((s) => s === "@" || RECORD_NAME.test(s), {
        error: (iss) =>
          `${shown(iss.input)} is not a DNS name: use "@" for the zone's apex or dot-separated labels of 1-63 letters, digits, hyphens or underscores, such as www or _mta-sts`,
      }),
    type: z.enum(RECORD_TYPES, { error: "type must be one of A, CNAME, TXT, MX" }),
    values: z
      .array(z.string().min(1, { error: "is empty: give a value or remove it" }))
      .min(1, { error: "needs at least one value" })
      .max(100, { error: "holds more than 100 values: one record set takes at most 100" }),
    /** Without one, the record takes ttl.records. */
    ttl: ttlSeconds.optional(),
  })
  .transform((r, ctx) => {
    const values: string[] = [];
    for (const [i, raw] of r.values.entries()) {
      const v = recordValue(r.type, raw);
      if ("problem" in v) ctx.issues.push({ code: "custom", message: v.problem, input: raw, path: ["values", i] });
      else values.push(v.value);
    }
    if (r.type === "CNAME" && values.length > 1)
      ctx.issues.push({
        code: "custom",
        message: "a CNAME record has exactly one value: keep one target",
        input: r.values,
        path: ["values"],
      });
    return { ...r, values };
  });

const zone = z.strictObject({
  name: domain("name"),
  provider: z.enum(["route53", "cloudflare", "bind"], {
    error: (iss) => `${shown(iss.input)} is not a DNS provider: use route53, cloudflare or bind`,
  }),
  /**
   * The id of the existing zone the records go into: a Route 53 hosted zone id (Z...) or a
   * Cloudflare zone id (32 hex digits). The stack never creates or deletes such a zone.
   */
  zoneId: z
    .string()
    .regex(/^([0-9a-f]{32}|Z[A-Z0-9]{1,32})$/, {
      error: (iss) =>
        `${shown(iss.input)} is not a zone id: a Route 53 hosted zone id looks like Z0123456789ABCDEFGHIJ, a Cloudflare one is 32 hex digits from the zone's overview page`,
    })
    .optional(),
  /** route53: make a new hosted zone (its NS delegation is printed after the update) instead of using an existing one. */
  create: z.boolean({ error: "must be true or false" }).default(false),
  /** bind: the role of the host whose DNS server is authoritative for the zone. */
  server: z.enum(HOST_ROLES).optional(),
  /** bind: the address the DNS server takes updates on, as seen from its own host. */
  serverAddress: ipv4.default("127.0.0.1"),
  /** bind: the TSIG key updates are signed with; its secret is the stack secret cutover:tsigSecret. */
  tsigKey: z
    .strictObject({
      name: z.string().regex(/^[A-Za-z0-9._-]{1,63}$/, { error: "must be a TSIG key name such as cutover" }),
      algorithm: z
        .enum(["hmac-sha256", "hmac-sha384", "hmac-sha512"], { error: "must be hmac-sha256, hmac-sha384 or hmac-sha512" })
        .default("hmac-sha256"),
    })
    .default({ name: "cutover", algorithm: "hmac-sha256" }),
  /** Records the organisation keeps in the zone besides the mail records (web site, ...). */
  records: z.array(record).default([]),
});

const addressSpace = z.strictObject({
  /** The production address space (phases 4-5). */
  domain: domain("domain"),
  /** The fictitious pilot address space used in phases 1-3, such as api.test for paradigms.com. */
  pilotDomain: domain("pilotDomain"),
});

const postOffice = z.strictObject({
  name: label("name"),
});

/** An absolute path on a host, with no ".." and no white space (it becomes a main.cf list element). */
const hostPath = (example: string) =>
  z
    .string({ error: `must be an absolute path on the host, such as ${example}` })
    .refine((p) => isAbsolute(p) && !normalize(p).split("/").includes("..") && !/[\s,]/.test(p) && p === normalize(p), {
      error: (iss) =>
        `${shown(iss.input)} is not an absolute path without "..", white space or commas (postfix reads it as a list element): give one such as ${example}`,
    });

/**
 * The SPKI sha256 of a gateway key, stated in the inventory: the plan's TLSA record is made of it
 * (public, reviewed in the stack file's diff), and the chain is checked against it before use.
 */
const spki = z
  .string({ error: "spki is missing: give the sha256 of the key: openssl pkey -in <chain.pem> -pubout -outform DER | sha256sum" })
  .transform((s) => s.toLowerCase())
  .refine((s) => /^[0-9a-f]{64}$/.test(s), {
    error: (iss) => `${shown(iss.input)} is not a sha256 in hex: openssl pkey -in <chain.pem> -pubout -outform DER | sha256sum gives it`,
  });

/**
 * Where a system's key and certificate chain for the gateway name come from: the stack secret
 * cutover:gatewayTls.<role> (PEM: key, certificate, issuers), or a file already on the host in that
 * order. Either way the inventory states the key's digest.
 */
const chainSource = z.discriminatedUnion(
  "source",
  [
    z.strictObject({ source: z.literal("secret"), spki }),
    z.strictObject({ source: z.literal("file"), chain: hostPath("/etc/ssl/private/mail.pem"), spki }),
  ],
  {
    error: (iss) =>
      `${shown((iss.input as { source?: unknown } | undefined)?.source)} is not a certificate source: use {source: secret} (the stack secret cutover:gatewayTls.<role>) or {source: file, chain: /path/on/host.pem, spki: <sha256>}`,
  },
);

/**
 * MTA-STS (RFC 8461) for the organisation's domains: the policy each domain publishes over HTTPS at
 * mta-sts.<domain>, written by cutover on the host that serves it, and the DNS records that
 * announce it (and TLS reports, RFC 8460).
 */
const mtaSts = z.strictObject({
  mode: z.enum(["enforce", "testing"], {
    error: (iss) =>
      `${shown(iss.input)} is not an MTA-STS mode: use enforce (senders that apply MTA-STS defer mail to an MX the policy does not name, or whose certificate does not verify) or testing (they only report)`,
  }),
  /** How long senders may keep the policy, in seconds (RFC 8461: at most a year). */
  maxAge: z
    .number({ error: "must be a number of seconds, such as 604800 (a week)" })
    .int({ error: "must be a whole number of seconds" })
    .min(86_400, { error: "below a day: RFC 8461 advises weeks; use 604800 (a week) or more" })
    .max(31_557_600, { error: "above a year, the most RFC 8461 allows: use 31557600 or less" })
    .default(604_800),
  /** Where senders send TLS reports (RFC 8460), as a mailto: URI. */
  reportTo: z
    .string()
    .transform(lower)
    .refine((s) => /^mailto:[a-z0-9._+=-]+@[a-z0-9.-]+$/.test(s), {
      error: (iss) => `${shown(iss.input)} is not a mailto: address for TLS reports: give one such as mailto:tls-reports@example.com`,
    })
    .optional(),
  /** The host (by role, reached by SSH) whose web server serves https://mta-sts.<domain>/.well-known/mta-sts.txt. */
  policyHost: z.enum(HOST_ROLES, {
    error: (iss) =>
      `${shown(iss.input)} is not a host role: name the host whose web server serves the policy, one of ${HOST_ROLES.join(", ")}`,
  }),
  /** Where on that host cutover writes each domain's policy: <directory>/mta-sts.<domain>/.well-known/mta-sts.txt. */
  directory: hostPath("/var/www/mta-sts").default("/var/www/mta-sts"),
  /** The address mta-sts.<domain> resolves to: the web server's, as senders reach it. */
  address: ipv4,
});

export const LAYOUTS = ["single-post-office", "post-offices", "smart-host"] as const;

export const inventorySchema = z.strictObject({
  organisation: z.string({ error: 'organisation is missing: name the organisation, such as "Paradigms Ltd"' }).min(1),
  layout: z.enum(LAYOUTS, {
    error: (iss) =>
      `${shown(iss.input)} is not a layout: use single-post-office (user@domain), post-offices (user@po.domain) or smart-host (user@domain behind a smart host)`,
  }),
  addressSpaces: z.array(addressSpace).min(1, { error: "needs at least one address space (domain + pilotDomain)" }),
  postOffices: z.array(postOffice).min(1, { error: "needs at least one post office" }),
  zones: z.array(zone).min(1, { error: "needs at least one zone" }),
  hosts: z.strictObject({
    legacy: host,
    new: host,
    internet: host.optional(),
    smartHost: host.optional(),
    dnsServer: host.optional(),
  }),
  gateway: z.strictObject({
    /** Label of the gateway's host name: the name MX records point to (label.<primary domain>). */
    label: label("label").default("mail"),
    /** The gateway's service address: what the MX name resolves to, moved at the go-live. */
    address: ipv4,
    prefixLength: z.number().int().min(8).max(32, { error: "must be a prefix length 8..32" }).default(24),
    /** eip strategy: allocation id of the Elastic IP that carries the service address. */
    allocationId: z
      .string()
      .regex(/^eipalloc-[0-9a-f]{8,17}$/, {
        error: (iss) => `${shown(iss.input)} is not an Elastic IP allocation id: it looks like eipalloc-0123456789abcdef0`,
      })
      .optional(),
    /**
     * Networks whose clients relay through the gateway (office workstations, printers, monitoring),
     * by its name or address: trusted by both systems from phase 2, so whichever holds the service
     * address trusts them, before and after the go-live.
     */
    relayClients: z
      .array(
        z
          .cidrv4({
            error: (iss) => `${shown(iss.input)} is not an IPv4 network: give one such as 192.0.2.0/24 (a single client: 192.0.2.7/32)`,
          })
          .check((ctx) => {
            const network = networkOf(ctx.value);
            if (network !== ctx.value)
              ctx.issues.push({
                code: "custom",
                message: `${ctx.value} has host bits set: postfix reads a network by its first address; write ${network}`,
                input: ctx.value,
              });
          }),
      )
      .default([]),
    /**
     * What the gateway name offers beyond inbound mail on port 25, which its clients keep using
     * after the go-live (roaming users' submission with SASL, mail reading): the go-live pre-flight
     * refuses a taking host that does not offer each of them.
     */
    services: z
      .array(
        z.enum(GATEWAY_SERVICES, {
          error: (iss) => `${shown(iss.input)} is not a gateway service: use ${GATEWAY_SERVICES.join(", ")}`,
        }),
      )
      .default([]),
    /** Whether the gateway must offer STARTTLS: the drift check reports it when it does not. */
    starttls: z.boolean({ error: "must be true or false" }).default(false),
    /**
     * The gateway's TLS identity: each system's private key and certificate chain for the gateway
     * name, served by whichever system holds the gateway identity; TLSA records cover both keys.
     */
    tls: z
      .strictObject({
        legacy: chainSource,
        new: chainSource,
        /** The drift check reports a certificate with fewer days left than this. */
        expiryWarningDays: z.number().int().min(1).max(365, { error: "must be 1..365 days" }).default(21),
      })
      .optional(),
    mtaSts: mtaSts.optional(),
  }),
  goLive: z
    .strictObject({
      strategy: z.enum(["eip", "readdress", "mx"], {
        error: (iss) =>
          `${shown(iss.input)} is not a go-live strategy: use eip (move the Elastic IP), readdress (move the address over SSH) or mx (change the MX record)`,
      }),
    })
    .optional(),
  ttl: z
    .strictObject({
      records: ttl(3600),
      /** mx strategy: the lowered MX TTL set in phase 4 so the phase-5 MX change spreads fast. */
      mxSwitch: ttl(300),
    })
    .default({ records: 3600, mxSwitch: 300 }),
  /** The model Internet of the pilot: its domain and the outside users on its POP3 server. */
  internet: z
    .strictObject({
      domain: domain("domain"),
      users: z
        .array(
          z
            .string()
            .transform(lower)
            .refine((s) => LOCAL_PART.test(s), { error: "must be the local part of an address, such as spyros" }),
        )
        .default([]),
      /**
       * An outside user whose mail the outside host sends through a transport that enforces MTA-STS
       * (with gateway.mtaSts, the verification sends one message a domain from it): the local part.
       */
      mtaStsSender: z
        .string()
        .transform(lower)
        .refine((s) => LOCAL_PART.test(s), { error: "must be the local part of an address, such as sts-probe" })
        .optional(),
    })
    .optional(),
  /**
   * Where the organisation's gateways send outbound mail: a relay host (the ISP's relay, a filtering
   * service), set as postfix's relayhost on the legacy and the new system from phase 2. Absent:
   * direct delivery by MX. The verification's outbound messages must show it in their Received path.
   */
  outboundRelay: z
    .strictObject({
      host: z
        .string({ error: "host is missing: name the relay, such as smtp.isp.example or 203.0.113.25" })
        .transform(lower)
        .pipe(hostNameOrAddress("name the relay, such as smtp.isp.example")),
      port: tcpPort(25, ", such as 25 or 587"),
      /**
       * The SPF terms that authorize the relay's senders, as its operator publishes them
       * ("include:_spf.isp.example"); default: the relay's address (ip4:) or name (a:).
       */
      spf: z
        .string()
        .trim()
        .refine((t) => t.split(/\s+/).every((term) => SPF_TERM.test(term)), {
          error: (iss) =>
            `${shown(iss.input)} is not a list of SPF terms that authorize senders: give mechanisms such as include:_spf.isp.example or ip4:203.0.113.0/24 (no "all" and no redirect: the record's ending is the organisation's)`,
        })
        .optional(),
    })
    .optional(),
  /**
   * The stack that rehearsed phases 1-3 (the pilot, on this stack's backend): once its phase-3
   * verification has passed, this stack may start at phase 4.
   */
  pilotStack: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,100}$/, { error: (iss) => `${shown(iss.input)} is not a stack name such as pilot` })
    .optional(),
  /**
   * The verification's test mail: `probes` are the mailboxes that receive it, real mailboxes the
   * organisation sets up for this: each system, each domain and each post office that holds
   * mailboxes has one at least. Each probe message is removed from its probe mailbox once found. Every other user's
   * route is checked without a message. Absent: every mailbox receives the verification's messages
   * (the pilot, whose users are all test users).
   */
  verification: z
    .strictObject({
      probes: z
        .array(
          z
            .string()
            .transform((s) => s.trim().toLowerCase())
            .check((ctx) => {
              const problem = addressProblem(ctx.value);
              if (problem) ctx.issues.push({ code: "custom", message: problem, input: ctx.value });
            }),
        )
        .min(1, { error: "name at least one probe mailbox, such as probe-hq@example.com" }),
      /**
       * A mailbox outside the organisation (at another provider) that receives one message from each
       * system: the verification checks in the sending host's mail log that the next hop (the
       * outbound relay, else the recipient domain's MX) took it with a 250 and a queue id.
       */
      outsideProbe: z
        .string()
        .transform((s) => s.trim().toLowerCase())
        .check((ctx) => {
          const problem = addressProblem(ctx.value);
          if (problem) ctx.issues.push({ code: "custom", message: problem, input: ctx.value });
        })
        .optional(),
    })
    .optional(),
  /**
   * Path of the mailbox file (CSV or JSON lines), relative to the stacks/ directory and inside it:
   * a rollback writes the file back there. A file kept elsewhere is linked in by the operator.
   */
  mailboxes: z
    .string({ error: "mailboxes is missing: give the path of the mailbox file, such as mailboxes.pilot.csv" })
    .regex(/\.(csv|jsonl?)$/i, {
      error: (iss) =>
        `${shown(iss.input)} is of unknown mailbox file format: name it .csv (with a header address,home,postOffice) or .jsonl (one JSON object a line)`,
    })
    .refine((p) => !isAbsolute(p) && !normalize(p).split(/[\\/]/).includes(".."), {
      error: (iss) =>
        `${shown(iss.input)} leaves the stacks/ directory (a rollback writes the file back there): give a path inside stacks/, or link a file kept elsewhere into it (ln -s /path/to/file stacks/)`,
    }),
});

export type RawInventory = z.input<typeof inventorySchema>;
export type ParsedInventory = z.output<typeof inventorySchema>;
export type HostSpec = z.output<typeof host>;
export type ZoneSpec = z.output<typeof zone>;
export type ChainSource = z.output<typeof chainSource>;
export type Layout = ParsedInventory["layout"];
export type GoLiveStrategy = NonNullable<ParsedInventory["goLive"]>["strategy"];

export interface Mailbox {
  /** Production address, lower-case. */
  address: string;
  home: MailSystem;
  postOffice: string;
}

export interface Inventory extends ParsedInventory {
  mailboxList: Mailbox[];
}

/**
 * What is wrong with the verification's probe mailboxes: each must be a mailbox of the mailbox
 * file, named once, and every system, every domain and every post office that holds mailboxes must
 * have one (else the routes through it get no real message). Pure.
 */
export function probeProblems(inv: Pick<ParsedInventory, "verification" | "mailboxes" | "addressSpaces">, mailboxes: Mailbox[]): Problem[] {
  const probes = inv.verification?.probes;
  if (!probes) return [];
  const byAddress = new Map(mailboxes.map((m) => [m.address, m] as const));
  const problems: Problem[] = [];
  // The outside probe is outside: mail to it must leave the organisation.
  const outside = inv.verification?.outsideProbe;
  const own =
    outside &&
    inv.addressSpaces.flatMap((a) => [a.domain, a.pilotDomain]).find((d) => outside.endsWith(`@${d}`) || outside.endsWith(`.${d}`));
  if (own)
    problems.push({
      path: "inventory.verification.outsideProbe",
      message: `${outside} is in the organisation's own domain ${own}: its mail never leaves; name a mailbox at another provider`,
    });
  probes.forEach((probe, i) => {
    const path = `inventory.verification.probes[${i}]`;
    if (probes.indexOf(probe) !== i) problems.push({ path, message: `${probe} is named twice: remove one` });
    else if (!byAddress.has(probe))
      problems.push({
        path,
        message: `${probe} is not a mailbox of ${inv.mailboxes}: add it there (a mailbox the organisation sets up for test mail, with its home and post office) or name one that is`,
      });
  });
  // Each system, each domain and each post office that holds mailboxes gets one real message at least.
  const named = probes.filter((p) => byAddress.has(p)).map((p) => byAddress.get(p)!);
  const sides: [string, (m: Mailbox) => string][] = [
    ["system", (m) => m.home],
    ["domain", (m) => m.address.slice(m.address.indexOf("@") + 1)],
    ["post office", (m) => m.postOffice],
  ];
  for (const [what, of] of sides) {
    const covered = new Set(named.map(of));
    for (const value of [...new Set(mailboxes.map(of))].sort())
      if (!covered.has(value))
        problems.push({
          path: "inventory.verification.probes",
          message: `no probe mailbox in ${what} ${value}, which holds mailboxes: name one there (its routes get no real message otherwise)`,
        });
  }
  return problems;
}

/** One thing wrong with the input: where, and what to do about it. */
export interface Problem {
  path: string;
  message: string;
}

/** The inventory (or the stack settings around it) has problems: every one is listed. */
export class InventoryError extends InputError {
  constructor(readonly problems: Problem[]) {
    super(
      `The inventory has ${problems.length} problem${problems.length === 1 ? "" : "s"}; nothing was changed:\n` +
        problems.map((p) => `  - ${p.path}: ${p.message}`).join("\n"),
    );
  }
}

export const formatPath = (root: string, path: readonly PropertyKey[]) =>
  path.reduce<string>((acc, key) => (typeof key === "number" ? `${acc}[${key}]` : `${acc}.${String(key)}`), root);

/** Turns schema issues into problems whose messages name the fix. */
export function describeIssues(root: string, issues: readonly z.core.$ZodIssue[]): Problem[] {
  return issues.map((iss) => {
    const path = formatPath(root, iss.path);
    switch (iss.code) {
      case "unrecognized_keys":
        return {
          path,
          message: `unknown key${iss.keys.length > 1 ? "s" : ""} ${iss.keys.map((k) => JSON.stringify(k)).join(", ")}: remove ${iss.keys.length > 1 ? "them" : "it"} or check the spelling against docs/configuration.md`,
        };
      case "invalid_type":
        if (iss.input === undefined)
          return { path, message: `is required: ${iss.message.includes(":") ? iss.message : `add it (expected ${iss.expected})`}` };
        return {
          path,
          message: iss.message.startsWith("Invalid input") ? `expected ${iss.expected}, got ${shown(iss.input)}` : iss.message,
        };
      default:
        return { path, message: iss.message };
    }
  });
}

export const phaseSchema = z.coerce
  .number({ error: "phase must be a number 1..5" })
  .int({ error: "phase must be a whole number 1..5" })
  .min(1, { error: "phase must be 1..5: 1 models the Internet, 5 goes live" })
  .max(5, { error: "phase must be 1..5: 1 models the Internet, 5 goes live" })
  .transform((n) => n as Phase);

/**
 * Every string of a raw value that holds a control character or is longer than any field takes,
 * with its path: checked before the schema, so no field can forget it. Pure.
 */
export function textProblems(value: unknown, path: string): Problem[] {
  if (typeof value === "string") {
    const c = controlCharacter(value);
    if (c)
      return [
        {
          path,
          message: `${shown(value)} holds the control character ${c.escaped} at position ${c.at}: remove it (no field takes line breaks, tabs or escapes)`,
        },
      ];
    if (value.length > MAX_TEXT)
      return [{ path, message: `is ${value.length} characters long; no field takes more than ${MAX_TEXT}: shorten it` }];
    return [];
  }
  if (Array.isArray(value)) return value.flatMap((v, i) => textProblems(v, `${path}[${i}]`));
  if (value && typeof value === "object")
    return Object.entries(value).flatMap(([k, v]) => {
      const c = controlCharacter(k);
      return c
        ? [{ path, message: `the key ${shown(k)} holds the control character ${c.escaped}: remove it` }]
        : textProblems(v, `${path}.${k}`);
    });
  return [];
}

/** Validates the structure of the inventory object and the phase; no cross-field rules yet. */
export function parseStructure(raw: unknown, phase: unknown): { inventory: ParsedInventory; phase: Phase } {
  const text = textProblems(raw, "inventory");
  if (text.length) throw new InventoryError(text);
  const problems: Problem[] = [];
  const inv = inventorySchema.safeParse(raw ?? undefined, { reportInput: true });
  if (!inv.success) problems.push(...describeIssues("inventory", inv.error.issues));
  const ph = phaseSchema.safeParse(phase, { reportInput: true });
  if (!ph.success) problems.push(...describeIssues("phase", ph.error.issues));
  if (!inv.success || !ph.success) throw new InventoryError(problems);
  return { inventory: inv.data, phase: ph.data };
}
