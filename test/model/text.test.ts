import { describe, expect, it } from "vitest";
import { controlCharacter, refuseControl, shown, terminalSafe } from "../../src/model/text";

describe("control characters", () => {
  it.each([
    ["\u001b[2J", "\\u001b[2J"],
    ["a\u009b31mb", "a\\u009b31mb"],
    ["a\u0000b\u007f", "a\\u0000b\\u007f"],
    ["\u202egnp.exe", "\\u202egnp.exe"],
    ["a\rb", "a\\u000db"],
  ])("are written as escapes for a terminal: %j", (raw, safe) => {
    expect(terminalSafe(raw)).toBe(safe);
  });

  it("keep newlines and tabs in a message, and nothing else changes", () => {
    expect(terminalSafe("line 1\n\tline 2 é ✓")).toBe("line 1\n\tline 2 é ✓");
  });

  it("are found with their position, and not in plain text", () => {
    expect(controlCharacter("mail\u2028x")).toEqual({ at: 4, escaped: "\\u2028" });
    expect(controlCharacter("mail.example.com é")).toBeUndefined();
  });

  it("make a builder refuse its value", () => {
    expect(refuseControl("the name", "mail.example.com")).toBe("mail.example.com");
    expect(() => refuseControl("the name", "a\nb")).toThrow(
      'refusing to write the name "a\\nb": it holds the control character \\u000a at 1',
    );
  });

  it("never reach a message's quote, which is cut at 80 characters", () => {
    expect(shown("\u001b]0;x\u0007")).toBe('"\\u001b]0;x\\u0007"');
    const long = shown("a".repeat(10_000_000));
    expect(long).toBe(`"${"a".repeat(80)}... (10000000 characters)"`);
    expect(shown(5)).toBe("5");
  });
});
