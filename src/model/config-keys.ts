/** The stack settings cutover reads, in Pulumi's config namespace `cutover`: named once, here. */
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
  /** Digest of the mailbox file an update runs with (recorded by the phase command). */
  mailboxesDigest: "cutover:mailboxesDigest",
} as const;

export type ConfigKey = (typeof CONFIG)[keyof typeof CONFIG];

/** A key's name inside the namespace, as pulumi.Config takes it: "phase" for cutover:phase. */
export const configName = (key: ConfigKey) => key.slice(CONFIG_NAMESPACE.length + 1);
