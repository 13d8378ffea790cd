import { describe, expect, it } from "vitest";
import { engineErrorLines } from "../../src/ops/stack";

describe("the engine's own error lines", () => {
  it.each<[string, string, string[], string[]]>([
    [
      "error lines and their indented continuation, without the CLI's decoration",
      "Updating (lab-x)\n\x1b[31merror:\x1b[0m update failed\n  cannot reach new at 198.51.100.20:22\n\nResources:\n    3 unchanged\n",
      [],
      ["error: update failed", "cannot reach new at 198.51.100.20:22"],
    ],
    [
      "a wrong passphrase",
      "error: getting secrets manager: incorrect passphrase\n",
      [],
      ["error: getting secrets manager: incorrect passphrase"],
    ],
    [
      "the program's error diagnostics first, once",
      "error: update failed\n",
      ["The inventory has 1 problem; nothing was changed:\n  - inventory.gateway.address: bad"],
      ["The inventory has 1 problem; nothing was changed:", "  - inventory.gateway.address: bad", "error: update failed"],
    ],
    ["nothing that says error: nothing", "code: -2\n stdout: \n", [], []],
  ])("%s", (_what, stderr, diagnostics, lines) => {
    expect(engineErrorLines(stderr, diagnostics)).toEqual(lines);
  });
});
