/**
 * Dynamic providers: thin wrappers that let the Pulumi engine run the host effects. create and
 * update apply, read reads the live host (so `pulumi refresh` sees drift), diff compares content
 * digests, delete restores what was there before. The logic lives in runtime.ts; credentials
 * arrive as secret inputs, never in the provider's code.
 */

import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { join } from "node:path";
import { runInThisContext } from "node:vm";
import * as pulumi from "@pulumi/pulumi";
import type { HostIdentity } from "../../src/remote/effects/identity";
import type { PostfixBaseline } from "../../src/remote/effects/postfix-baseline";
import type { SshEndpoint } from "../../src/remote/ssh";

export type { SshEndpoint } from "../../src/remote/ssh";

import type { ArchivedAssignment } from "../../src/model/mailbox-archive";
import type { DnsRecord } from "../../src/model/plan";
import type { RecordSetMap } from "../../src/model/records";
import type { CompactRouting } from "../../src/model/routing";

/** The methods every host-effect provider has. */
export type HostEffectProvider<S> = Required<
  Pick<pulumi.dynamic.ResourceProvider<S, S>, "diff" | "create" | "update" | "read" | "delete">
> &
  Pick<pulumi.dynamic.ResourceProvider<S, S>, "check">;

type ProviderKind =
  | "gatewayRouting"
  | "gatewayIdentity"
  | "gatewayDrain"
  | "onPremZone"
  | "cloudZone"
  | "mailboxArchive"
  | "mtaStsPolicies";

/**
 * The provider code a host-effect resource carries (its `__provider` input), in the form the Node.js
 * dynamic-provider host runs: a CommonJS module whose `handler()` returns the provider. The engine
 * keeps it in the state and runs it in the provider's process, which it starts in the project
 * directory; every method loads the project's effects (components/providers/runtime.ts, through
 * tsx's hook for the whole process, so the effects share the host's packages) and calls them. It
 * names only what to call, so the copy in an old state keeps calling the current effects. (States
 * written while the providers lived in src/pulumi/ name src/pulumi/providers/runtime.ts: a shim
 * keeps it. A changed module text is no change to a resource: the provider's own diff decides.)
 *
 * Written out here rather than serialized from a closure by @pulumi/pulumi's dynamic.Resource: that
 * parses each provider's code with TypeScript and inspects it through V8's inspector, 0.3 s of every
 * program run, for a text that is always this one.
 */
export function providerModule(kind: ProviderKind): string {
  return `"use strict";
// cutover's ${kind} provider: calls the project's effects.
exports.handler = () => {
  const load = () => {
    const file = require("path").join(process.cwd(), "components", "providers", "runtime.ts");
    globalThis[Symbol.for("cutover.tsx")] ??= require("tsx/cjs/api").register();
    return require(file)[${JSON.stringify(kind)}];
  };
  return {
    check: (olds, news) => {
      const provider = load();
      return provider.check ? provider.check(olds, news) : Promise.resolve({ inputs: news });
    },
    diff: (id, olds, news) => load().diff(id, olds, news),
    create: (inputs) => load().create(inputs),
    update: (id, olds, news) => load().update(id, olds, news),
    read: (id, props) => load().read(id, props),
    delete: (id, props) => load().delete(id, props),
  };
};
`;
}

/**
 * The provider of `providerModule(kind)` in this process (the lab's provider tests call it directly):
 * the module text evaluated as the dynamic-provider host evaluates it; its methods load the effects
 * at their first call.
 */
// biome-ignore lint/suspicious/noExplicitAny: one loader serves every provider, each with its own state type.
export function providerInThisProcess(kind: ProviderKind): HostEffectProvider<any> {
  const module = { exports: {} as { handler: () => HostEffectProvider<unknown> } };
  runInThisContext(`(function (exports, require, module) {${providerModule(kind)}\n})`)(
    module.exports,
    createRequire(join(process.cwd(), "index.ts")),
    module,
  );
  return module.exports.handler();
}

/** A resource the host-effect provider of `kind` manages: the engine gives its methods to that provider's code. */
abstract class HostEffectResource extends pulumi.CustomResource {
  constructor(kind: ProviderKind, name: string, props: pulumi.Inputs, opts: pulumi.CustomResourceOptions | undefined) {
    // The type dynamic.Resource gives it: "cutover:GatewayRouting" under the dynamic provider's package.
    super(
      `pulumi-nodejs:dynamic/cutover:${kind[0].toUpperCase()}${kind.slice(1)}`,
      name,
      { ...props, __provider: providerModule(kind) },
      opts,
    );
  }
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
export class GatewayRouting extends HostEffectResource {
  declare readonly digest: pulumi.Output<string>;
  constructor(name: string, args: GatewayRoutingArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      "gatewayRouting",
      name,
      {
        ...args,
        privateKey: pulumi.secret(args.privateKey),
        ...(args.gatewayChain ? { gatewayChain: pulumi.secret(args.gatewayChain) } : {}),
      },
      { ...opts, additionalSecretOutputs: ["privateKey", "gatewayChain"] },
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
  /** smtp_helo_name as main.cf set it, "" when unset (absent in older states). */
  heloName?: string;
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

export interface GatewayIdentityArgs {
  /** Every host that can hold the gateway identity, each with the identity it must have now. */
  hosts: IdentityHost[];
  privateKey: pulumi.Input<string>;
  holder: string;
  digest: string;
}

/** The gateway's service address and host name, on whichever host holds them (readdress go-live). */
export class GatewayIdentity extends HostEffectResource {
  declare readonly holder: pulumi.Output<string>;
  constructor(name: string, args: GatewayIdentityArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      "gatewayIdentity",
      name,
      { ...args, privateKey: pulumi.secret(args.privateKey) },
      { ...opts, additionalSecretOutputs: ["privateKey"] },
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
  /** The gateway's ports beyond 25 (gateway.services), drained and reset with it. */
  ports?: number[];
  /**
   * Whether the Elastic IP is on this host's instance at the run: its move is due, and the drain
   * runs whatever the state says (a move that failed and was undone left the drain recorded done).
   */
  moveDue?: boolean;
  /** "role address": a new host to drain is a change. */
  digest: string;
}

/**
 * The first step of an Elastic IP go-live (and of its rollback): the host giving the address up
 * drains its SMTP sessions, so the association's move cuts none. The association depends on it.
 */
export class GatewayDrain extends HostEffectResource {
  constructor(
    name: string,
    args: { host: SshEndpoint; privateKey: pulumi.Input<string>; address: string; ports?: number[]; moveDue?: pulumi.Input<boolean> },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      "gatewayDrain",
      name,
      { ...args, privateKey: pulumi.secret(args.privateKey), digest: `${args.host.name} ${args.address}` },
      { ...opts, additionalSecretOutputs: ["privateKey"] },
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
export class OnPremZone extends HostEffectResource {
  declare readonly digest: pulumi.Output<string>;
  constructor(name: string, args: OnPremZoneArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      "onPremZone",
      name,
      { ...args, privateKey: pulumi.secret(args.privateKey), tsigSecret: pulumi.secret(args.tsigSecret) },
      { ...opts, additionalSecretOutputs: ["privateKey", "tsigSecret"] },
    );
  }
}

// ---------------------------------------------------------------- cloud zone

export interface CloudZoneState {
  dnsProvider: "route53" | "cloudflare";
  zone: string;
  /** The Route 53 hosted zone id, or the Cloudflare zone id. */
  zoneId: string;
  /** Cloudflare: the stack's cloudflare:apiToken when it has one (CLOUDFLARE_API_TOKEN in the environment wins). */
  apiToken?: string;
  /** The managed record sets by "name TYPE". */
  records: RecordSetMap;
  digest: string;
  /** What the managed names held before the stack set them: what delete puts back. */
  original?: DnsRecord[];
}

export interface CloudZoneArgs {
  dnsProvider: "route53" | "cloudflare";
  zone: string;
  zoneId: pulumi.Input<string>;
  apiToken?: pulumi.Input<string>;
  records: RecordSetMap;
  digest: string;
}

/**
 * The plan's records in an existing Route 53 or Cloudflare zone, written through the provider's API
 * by cutover itself, so that what the organisation had at those names is adopted, kept and given
 * back as in an on-prem zone: the aws provider's record cannot give a set back on delete, and
 * Cloudflare's record resource cannot take over an existing record and change it in one update.
 */
export class CloudZone extends HostEffectResource {
  declare readonly digest: pulumi.Output<string>;
  constructor(name: string, args: CloudZoneArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      "cloudZone",
      name,
      { ...args, ...(args.apiToken ? { apiToken: pulumi.secret(args.apiToken) } : {}) },
      { ...opts, additionalSecretOutputs: ["apiToken"] },
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

/** Each organisation domain's MTA-STS policy file, on the host that serves it. */
export class MtaStsPolicies extends HostEffectResource {
  constructor(
    name: string,
    args: { host: SshEndpoint; privateKey: pulumi.Input<string>; directory: string; policies: Record<string, string> },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      "mtaStsPolicies",
      name,
      { ...args, privateKey: pulumi.secret(args.privateKey) },
      { ...opts, additionalSecretOutputs: ["privateKey"] },
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

export interface MailboxArchiveArgs {
  digest: string;
  packed: string;
}

/** The stack's content-addressed copies of the mailbox files its updates ran with. No host effect. */
export class MailboxArchive extends HostEffectResource {
  declare readonly digest: pulumi.Output<string>;
  declare readonly entries: pulumi.Output<ArchivedAssignment[]>;
  constructor(name: string, args: MailboxArchiveArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      "mailboxArchive",
      name,
      { ...args, packed: pulumi.secret(args.packed), entries: undefined },
      { ...opts, additionalSecretOutputs: ["packed", "entries"] },
    );
  }
}
