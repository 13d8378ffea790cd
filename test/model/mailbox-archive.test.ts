import { describe, expect, it } from "vitest";
import {
  archiveWith,
  assignmentDigest,
  digestMismatch,
  mailboxFilePath,
  packAssignment,
  unpackAssignment,
} from "../../src/model/mailbox-archive";
import { rawStack } from "../helpers";

describe("mailbox archive", () => {
  it("packs and unpacks a mailbox file exactly, and names it by its content", () => {
    const text = rawStack("pilot").mailboxText;
    expect(unpackAssignment(packAssignment(text))).toBe(text);
    expect(assignmentDigest(text)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(assignmentDigest(`${text}\n`)).not.toBe(assignmentDigest(text));
  });

  it("keeps the newest assignments first, each once, up to the limit", () => {
    const e = (d: string) => ({ digest: d, packed: d });
    expect(archiveWith([e("b"), e("a")], e("c")).map((x) => x.digest)).toEqual(["c", "b", "a"]);
    expect(archiveWith([e("b"), e("a")], e("a")).map((x) => x.digest)).toEqual(["a", "b"]);
    expect(archiveWith([e("c"), e("b"), e("a")], e("d"), 3).map((x) => x.digest)).toEqual(["d", "c", "b"]);
  });

  it("tells the administrator how to record a mailbox file changed outside the phase command", () => {
    const m = digestMismatch("/x/mailboxes.csv", `sha256:${"a".repeat(64)}`, `sha256:${"b".repeat(64)}`);
    expect(m).toContain("cutover:mailboxesDigest: /x/mailboxes.csv has changed");
    expect(m).toContain(`pulumi config set cutover:mailboxesDigest sha256:${"b".repeat(64)}`);
  });
});

describe("where a mailbox file may be", () => {
  it("is inside the stacks directory, whatever path an old update recorded", () => {
    expect(mailboxFilePath("mailboxes.pilot.csv", "/work/stacks")).toBe("/work/stacks/mailboxes.pilot.csv");
    expect(mailboxFilePath("team/a.csv", "/work/stacks")).toBe("/work/stacks/team/a.csv");
    for (const outside of ["../../tmp/x.csv", "/etc/cron.d/x.csv", "team/../../x.csv", ".."])
      expect(() => mailboxFilePath(outside, "/work/stacks")).toThrow(
        /is outside \/work\/stacks: cutover reads and writes mailbox files only there/,
      );
  });
});
