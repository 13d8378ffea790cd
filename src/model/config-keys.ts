/** The stack settings cutover reads, in Pulumi's config namespace `cutover`: named once, here. */
import type { HostRole } from "./inventory";

export const CONFIG_NAMESPACE = "cutover";

export const CONFIG = {
  /** 1..5: the phase the stack is at (or is being moved to). */
  phase: "cutover:phase",
  /** The organisation's inventory (an object). */
  inventory: "cutover:inventory",
  /** Pinned SSH host key per existing host, by role. */
  hostKeys: "cutover:hostKeys",
  /** Secret: the key the engine logs in to existing hosts with. */
  sshPrivateKey: "cutover:sshPrivateKey",
  /** Secret: the TSIG secret of on-prem zones. */
  tsigSecret: "cutover:tsigSecret",
  /**
   * Secret: by system (legacy, new), the PEM chain (private key, certificate for the gateway name,
   * issuers) of a certificate whose inventory.gateway.tls source is secret.
   */
  gatewayTls: "cutover:gatewayTls",
  /** Digest of the mailbox file an update runs with (recorded by the phase command). */
  mailboxesDigest: "cutover:mailboxesDigest",
  /**
   * true: the program lists the records of existing Route 53 and Cloudflare zones that the stack does
   * not manage (stack output unmanagedRecords). Set only in the drift check's private config copy.
   */
  listUnmanaged: "cutover:listUnmanaged",
  /**
   * true for an update of phase 5 run with `npm run phase -- <stack> 5 --legacy-down`: the legacy
   * gateway is dead, so the go-live takes its address without reaching or draining it. Set or removed
   * by the phase command on every run, so it holds for that update only (its history entry keeps it).
   */
  legacyDown: "cutover:legacyDown",
} as const;

/**
 * Secret: the private SSH host key of the EC2 instance the stack creates in `role`, made by the
 * phase command, given to the instance by cloud-init; its public half is pinned in cutover:hostKeys.
 */
export const instanceHostKeySetting = (role: HostRole) => `cutover:${role}InstanceHostKey` as const;

export type ConfigKey = (typeof CONFIG)[keyof typeof CONFIG] | ReturnType<typeof instanceHostKeySetting>;

/** A key's name inside the namespace, as pulumi.Config takes it: "phase" for cutover:phase. */
export const configName = (key: ConfigKey) => key.slice(CONFIG_NAMESPACE.length + 1);
