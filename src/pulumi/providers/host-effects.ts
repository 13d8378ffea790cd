/**
 * Dynamic providers: thin wrappers that let the Pulumi engine run the host effects. create and
 * update apply, read reads the live host (so `pulumi refresh` sees drift), diff compares content
 * digests, delete restores what was there before. The logic lives in runtime.ts; credentials
 * arrive as secret inputs, never through a closure.
 */

import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import type { HostIdentity } from "../../remote/effects/identity";
import type { PostfixBaseline } from "../../remote/effects/postfix-baseline";
import type { SshEndpoint } from "../../remote/ssh";

export type { SshEndpoint } from "../../remote/ssh";

import type { ArchivedAssignment } from "../../model/mailbox-archive";
import type { DnsRecord } from "../../model/plan";
import type { RecordSetMap } from "../../model/records";
import type { CompactRouting } from "../../model/routing";

/** The methods every host-effect provider has. */
export type HostEffectProvider<S> = Required<Pick<pulumi.dynamic.ResourceProvider<S, S>, "diff" | "create" | "update" | "read" | "delete">>;

/**
 * A provider whose every method loads the project's provider code when it runs, with tsx, from the
 * project directory (the engine starts providers there). The engine serializes this closure into
 * the state: it captures no module, no library and no secret, only the name of what to call, so
 * the copy in an old state keeps working and keeps calling the current effects.
 */
type ProviderKind = "gatewayRouting" | "gatewayIdentity" | "gatewayDrain" | "onPremZone" | "mailboxArchive" | "mtaStsPolicies";
// biome-ignore lint/suspicious/noExplicitAny: one loader serves every provider, each with its own state type.
function delegate(kind: ProviderKind): HostEffectProvider<any> {
  const load = (): HostEffectProvider<unknown> => {
    const { require: tsxRequire } = require("tsx/cjs/api");
    // States written before the move to src/ name ./components/providers/runtime.ts: a shim keeps it.
    return tsxRequire("./src/pulumi/providers/runtime.ts", `${process.cwd()}/index.ts`)[kind];
  };
  return {
    diff: (id, olds, news) => load().diff(id, olds, news),
    create: (inputs) => load().create(inputs),
    update: (id, olds, news) => load().update(id, olds, news),
    read: (id, props) => load().read(id, props),
    delete: (id, props) => load().delete(id, props),
  };
}

/**
 * An explicit provider for the host-effect resources. The engine hands the default Node.js dynamic
 * provider the whole stack config as its inputs (every secret decrypted into the provider process,
 * and any config change, the phase included, shows as a provider update in previews); an explicit
 * provider has only the inputs we give it: none.
 */
export class HostEffectsProvider extends pulumi.ProviderResource {
  constructor(name: string, opts?: pulumi.ResourceOptions) {
    super("pulumi-nodejs", name, {}, opts);
  }
}

// ---------------------------------------------------------------- gateway routing

export interface GatewayRoutingState {
  host: SshEndpoint;
  privateKey: string;
  routing: CompactRouting;
  /** Digest of the routing on the host: the plan's when applied, the live one after read. */
  digest: string;
  /** Routing cutover had set up on the host before this resource: what delete puts back. */
  original?: CompactRouting;
  /** The host's whole postfix after the last update that configured it (absent in older states): what the drift check compares. */
  baseline?: PostfixBaseline;
  /** The stack secret's chain for the gateway name, when the host serves it from there (a secret). */
  gatewayChain?: string;
  /** The sha256 of that chain's certificate, public: what diff compares, so a renewal is installed. */
  chainDigest?: string;
}

export const gatewayRoutingProvider = delegate("gatewayRouting");

export interface GatewayRoutingArgs {
  /** The postfix host, reached by SSH with its pinned host key. */
  host: SshEndpoint;
  /** SSH private key (a Pulumi secret). */
  privateKey: pulumi.Input<string>;
  /** The host's routing table in this phase. */
  routing: CompactRouting;
  /** Content digest of the table: what diff compares. */
  digest: string;
  /** The stack secret's chain for the gateway name, when the host serves it from there. */
  gatewayChain?: pulumi.Input<string>;
  /** The sha256 of that chain's certificate. */
  chainDigest?: string | undefined;
}

/** Postfix split delivery on one host, from the plan's routing table. */
export class GatewayRouting extends pulumi.dynamic.Resource {
  declare readonly digest: pulumi.Output<string>;
  constructor(name: string, args: GatewayRoutingArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      gatewayRoutingProvider,
      name,
      {
        ...args,
        privateKey: pulumi.secret(args.privateKey),
        ...(args.gatewayChain ? { gatewayChain: pulumi.secret(args.gatewayChain) } : {}),
      },
      { ...opts, additionalSecretOutputs: ["privateKey", "gatewayChain"] },
      "cutover",
      "GatewayRouting",
    );
  }
}

// ---------------------------------------------------------------- gateway identity

export interface IdentityHost {
  host: SshEndpoint;
  identity: HostIdentity;
  /**
   * The host is dead (the go-live with --legacy-down, recorded in cutover:legacyDown): it is neither
   * reached nor drained, and the taker checks by ARP that it no longer answers for the address.
   */
  down?: boolean;
}

export interface GatewayIdentityState {
  hosts: IdentityHost[];
  privateKey: string;
  /** Role of the host that holds the gateway's address and name ("unknown" after a read that found none or two). */
  holder: string;
  /** Per host "role name holds" lines: what diff compares. */
  digest: string;
  /** What each host had before the stack first set it: what delete gives back. */
  original?: OriginalIdentity[];
}

export interface OriginalIdentity {
  role: string;
  banner: string;
  ownName: string;
  kernelHostName: string;
  holdsServiceAddress: boolean;
  /** Whether the drain policy was there, and the DATA restrictions the host had (absent in older states). */
  drainPolicy?: boolean;
  dataRestrictions?: string;
}

export const identityDigest = (hosts: IdentityHost[]) =>
  createHash("sha256")
    .update(
      hosts
        .map(
          (h) =>
            `${h.host.name} ${h.host.address} ${h.identity.hostName} ${h.identity.ownName} ${h.identity.holdsServiceAddress} ${h.identity.service.address}/${h.identity.service.prefixLength} ${h.identity.service.interface}${h.down ? " down" : ""}`,
        )
        .join("\n"),
    )
    .digest("hex");

export const gatewayIdentityProvider = delegate("gatewayIdentity");

export interface GatewayIdentityArgs {
  /** Every host that can hold the gateway identity, each with the identity it must have now. */
  hosts: IdentityHost[];
  privateKey: pulumi.Input<string>;
  holder: string;
  digest: string;
}

/** The gateway's service address and host name, on whichever host holds them (readdress go-live). */
export class GatewayIdentity extends pulumi.dynamic.Resource {
  declare readonly holder: pulumi.Output<string>;
  constructor(name: string, args: GatewayIdentityArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      gatewayIdentityProvider,
      name,
      { ...args, privateKey: pulumi.secret(args.privateKey) },
      { ...opts, additionalSecretOutputs: ["privateKey"] },
      "cutover",
      "GatewayIdentity",
    );
  }
}

// ---------------------------------------------------------------- gateway drain (Elastic IP go-live)

export interface GatewayDrainState {
  /** The host giving the gateway's address up. */
  host: SshEndpoint;
  privateKey: string;
  /** Its own private address, where the Elastic IP's sessions arrive. */
  address: string;
  /** "role address": a new host to drain is a change. */
  digest: string;
}

export const gatewayDrainProvider = delegate("gatewayDrain");

/**
 * The first step of an Elastic IP go-live (and of its rollback): the host giving the address up
 * drains its SMTP sessions, so the association's move cuts none. The association depends on it.
 */
export class GatewayDrain extends pulumi.dynamic.Resource {
  constructor(
    name: string,
    args: { host: SshEndpoint; privateKey: pulumi.Input<string>; address: string },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      gatewayDrainProvider,
      name,
      { ...args, privateKey: pulumi.secret(args.privateKey), digest: `${args.host.name} ${args.address}` },
      { ...opts, additionalSecretOutputs: ["privateKey"] },
      "cutover",
      "GatewayDrain",
    );
  }
}

// ---------------------------------------------------------------- on-prem zone

export interface OnPremZoneState {
  server: SshEndpoint;
  privateKey: string;
  zone: string;
  /** Address the DNS server answers updates on, from its own host. */
  serverAddress: string;
  tsigName: string;
  tsigAlgorithm: string;
  tsigSecret: string;
  /** The managed record sets by "name TYPE" (a list in states written before the map). */
  records: RecordSetMap | DnsRecord[];
  digest: string;
  /** What the managed names held before the stack set them: what delete puts back. */
  original?: DnsRecord[];
}

export const onPremZoneProvider = delegate("onPremZone");

export interface OnPremZoneArgs {
  server: SshEndpoint;
  privateKey: pulumi.Input<string>;
  zone: string;
  serverAddress: string;
  tsigName: string;
  tsigAlgorithm: string;
  tsigSecret: pulumi.Input<string>;
  /** The record sets the plan wants, by "name TYPE". */
  records: RecordSetMap;
  digest: string;
}

/** The plan's records of one zone on an on-prem BIND or Knot server (RFC 2136 with TSIG over SSH). */
export class OnPremZone extends pulumi.dynamic.Resource {
  declare readonly digest: pulumi.Output<string>;
  constructor(name: string, args: OnPremZoneArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      onPremZoneProvider,
      name,
      { ...args, privateKey: pulumi.secret(args.privateKey), tsigSecret: pulumi.secret(args.tsigSecret) },
      { ...opts, additionalSecretOutputs: ["privateKey", "tsigSecret"] },
      "cutover",
      "OnPremZone",
    );
  }
}

// ---------------------------------------------------------------- MTA-STS policies

export interface MtaStsPoliciesState {
  /** The host whose web server serves https://mta-sts.<domain>/. */
  host: SshEndpoint;
  privateKey: string;
  /** Where the policy directories are, one per domain (see remote/effects/mta-sts.ts). */
  directory: string;
  /** Each domain's policy text, by domain: the plan's when applied, the host's after read ("" when the file is missing). */
  policies: Record<string, string>;
}

export const mtaStsPoliciesProvider = delegate("mtaStsPolicies");

/** Each organisation domain's MTA-STS policy file, on the host that serves it. */
export class MtaStsPolicies extends pulumi.dynamic.Resource {
  constructor(
    name: string,
    args: { host: SshEndpoint; privateKey: pulumi.Input<string>; directory: string; policies: Record<string, string> },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      mtaStsPoliciesProvider,
      name,
      { ...args, privateKey: pulumi.secret(args.privateKey) },
      { ...opts, additionalSecretOutputs: ["privateKey"] },
      "cutover",
      "MtaStsPolicies",
    );
  }
}

// ---------------------------------------------------------------- mailbox archive

export interface MailboxArchiveState {
  /** Digest of the mailbox file this update runs with. */
  digest: string;
  /** Its content, gzip and base64 (a secret, so previews stay readable). */
  packed: string;
  /** The assignments of this and earlier updates, newest first (see mailbox-archive.ts). */
  entries: ArchivedAssignment[];
}

export const mailboxArchiveProvider = delegate("mailboxArchive");

export interface MailboxArchiveArgs {
  digest: string;
  packed: string;
}

/** The stack's content-addressed copies of the mailbox files its updates ran with. No host effect. */
export class MailboxArchive extends pulumi.dynamic.Resource {
  declare readonly digest: pulumi.Output<string>;
  declare readonly entries: pulumi.Output<ArchivedAssignment[]>;
  constructor(name: string, args: MailboxArchiveArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      mailboxArchiveProvider,
      name,
      { ...args, packed: pulumi.secret(args.packed), entries: undefined },
      { ...opts, additionalSecretOutputs: ["packed", "entries"] },
      "cutover",
      "MailboxArchive",
    );
  }
}
