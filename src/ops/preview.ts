/** The engine's preview of a stack at another phase; the stack's config file is never touched. */
import { CONFIG } from "../model/config-keys";
import { assignmentDigest, readMailboxFile } from "../model/mailbox-archive";
import { loadStack, STACKS_DIR } from "../model/stack-file";
import type { Progress } from "./engine";
import { changeSummary, describeSteps } from "./outcome";
import type { MigrationStack, OperationResult } from "./stack";

/**
 * The engine's preview of the stack at `phase` with its mailbox file as it is now: a wave edited
 * into the file previews as the phase command would run it (the digest set only in the preview's
 * private copy of the config).
 */
export function enginePreview(stack: MigrationStack, phase: number, o: { refresh?: boolean } = {}): Promise<OperationResult> {
  const inv = loadStack(stack.name).inventory;
  const digest = assignmentDigest(readMailboxFile(inv.mailboxes, STACKS_DIR).content);
  return stack.preview({ phase, config: { [CONFIG.mailboxesDigest]: digest }, ...(o.refresh ? { refresh: true } : {}) });
}

export async function runPreview(stack: MigrationStack, phase: number, progress: Progress): Promise<string> {
  const r = await enginePreview(stack, phase);
  progress(`engine preview: ${changeSummary(r)}`);
  return describeSteps(r);
}
