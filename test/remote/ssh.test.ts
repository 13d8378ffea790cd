import { describe, expect, it } from "vitest";
import { type ExecOptions, execSequence, fingerprintOf, type HostSession, sectionMarker, sections, shellQuote } from "../../src/remote/ssh";

describe("quoting for a remote shell", () => {
  it.each([
    ["a plain word stays", "postfix", "postfix"],
    ["a path stays", "/etc/postfix/main.cf", "/etc/postfix/main.cf"],
    ["spaces are quoted", "a b", "'a b'"],
    ["command substitution is inert", "$(rm -rf /)", "'$(rm -rf /)'"],
    ["a single quote is closed, escaped and reopened", "it's", "'it'\\''s'"],
    ["a semicolon cannot end the command", "x; reboot", "'x; reboot'"],
    ["a newline stays inside the quotes", "a\nb", "'a\nb'"],
    ["the empty string is an argument", "", "''"],
  ])("%s", (_what, arg, quoted) => {
    expect(shellQuote(arg)).toBe(quoted);
  });
});

describe("several commands in one round trip", () => {
  const recorder = () => {
    const calls: { argv: string[]; opts: ExecOptions | undefined }[] = [];
    const session = {
      exec: async (argv: string[], opts?: ExecOptions) => {
        calls.push({ argv, opts });
        return { stdout: "", stderr: "", code: 0 };
      },
    } as unknown as HostSession;
    return { calls, session };
  };

  it("joins quoted commands with && and stops at the first failure", async () => {
    const { calls, session } = recorder();
    await execSequence(session, [
      ["postconf", "-e", "a=b c"],
      ["postfix", "reload"],
    ]);
    expect(calls[0].argv).toEqual(["sh", "-c", "postconf -e 'a=b c' && postfix reload"]);
  });

  it("with continueOnError runs all, and lets the caller read each section", async () => {
    const { calls, session } = recorder();
    await execSequence(session, [["cat", "x"], sectionMarker, ["cat", "y"]], { continueOnError: true });
    expect(calls[0].argv[2]).toBe("cat x ; echo --cutover-section-- ; cat y");
    expect(calls[0].opts?.allowFailure).toBe(true);
    expect(sections("a\n--cutover-section--\nb\n")).toEqual(["a\n", "b\n"]);
  });
});

describe("host key fingerprints", () => {
  it("are OpenSSH's SHA256 form, from the key line or its blob", () => {
    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const blob = Buffer.from(key.split(" ")[1], "base64");
    expect(fingerprintOf(key)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(fingerprintOf(blob)).toBe(fingerprintOf(key));
  });
});
