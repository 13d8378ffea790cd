/**
 * The mailbox assignment each update ran with, kept in the stack itself so that a rollback can put
 * back the exact mailbox file: its digest goes into the stack's config (so the update history
 * records it), its content into a content-addressed archive in the stack's state.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { isAbsolute, resolve, sep } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { CONFIG } from "./config-keys";
import { InputError } from "./errors";

/** How many assignments the archive keeps (newest first): the updates a rollback can reach back to. */
export const ARCHIVE_KEEP = 20;

export const assignmentDigest = (content: string) => `sha256:${createHash("sha256").update(content).digest("hex")}`;

export const packAssignment = (content: string) => gzipSync(Buffer.from(content, "utf8"), { level: 9 }).toString("base64");

export const unpackAssignment = (packed: string) => gunzipSync(Buffer.from(packed, "base64")).toString("utf8");

export interface ArchivedAssignment {
  digest: string;
  /** gzip, base64. */
  packed: string;
}

/** The archive after an update ran with `current`: it first, then the others, at most `keep`. Pure. */
export function archiveWith(entries: ArchivedAssignment[], current: ArchivedAssignment, keep = ARCHIVE_KEEP): ArchivedAssignment[] {
  return [current, ...entries.filter((e) => e.digest !== current.digest)].slice(0, keep);
}

/**
 * Where an inventory's mailbox file is: inside the stacks directory, always. The schema refuses a
 * path that leaves it; this refuses it again for paths from elsewhere (an old update's config,
 * which a rollback writes the file back to).
 */
export function mailboxFilePath(mailboxes: string, baseDir: string): string {
  const base = resolve(baseDir);
  const path = resolve(base, mailboxes);
  if (isAbsolute(mailboxes) || !path.startsWith(`${base}${sep}`))
    throw new InputError(
      `the mailbox file ${JSON.stringify(mailboxes)} is outside ${base}: cutover reads and writes mailbox files only there`,
    );
  return path;
}

/** The mailbox file of an inventory, as text: the path is relative to the stacks directory. */
export function readMailboxFile(mailboxes: string, baseDir: string): { path: string; content: string } {
  const path = mailboxFilePath(mailboxes, baseDir);
  return { path, content: readFileSync(path, "utf8") };
}

/** The error a program run raises when the mailbox file is not the one the phase command recorded. */
export function digestMismatch(path: string, recorded: string, actual: string): string {
  return (
    `${CONFIG.mailboxesDigest}: ${path} has changed since the phase command recorded it (recorded ${recorded.slice(0, 19)}, now ${actual.slice(0, 19)}). ` +
    `Run the change through \`npm run phase -- <stack> <phase>\` (it records the new digest, so a rollback can restore this file), ` +
    `or record it yourself: pulumi config set ${CONFIG.mailboxesDigest} ${actual}`
  );
}
