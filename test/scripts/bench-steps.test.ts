import { describe, expect, it } from "vitest";
import { coveredMs, engineRunParts } from "../../scripts/bench/steps";

const program = (event: "start" | "loaded" | "exit", at: number) => ({ role: "program" as const, pid: 1, event, at });
const provider = (event: "start" | "loaded", at: number) => ({ role: "provider" as const, pid: 2, event, at });

describe("the steps bench's accounting", () => {
  it("splits a plain run: CLI start, program load, provider start, operations, CLI finish", () => {
    const parts = engineRunParts({ at: 1000, ms: 3000, args: "up --yes --skip-preview --stack s" }, [
      program("start", 1500),
      program("loaded", 2700),
      provider("start", 2900),
      provider("loaded", 3400),
      program("exit", 3900),
      program("start", 9000),
    ]);
    expect(parts).toEqual({
      command: "up",
      cliStart: 500,
      providerStart: 500,
      refresh: 0,
      programLoad: 1200,
      resourceOperations: 500,
      cliFinish: 100,
      total: 3000,
    });
  });

  it("in a run with --refresh, the reads before the program are the refresh", () => {
    const parts = engineRunParts({ at: 0, ms: 5000, args: "preview --refresh --diff --stack s" }, [
      provider("start", 400),
      provider("loaded", 1000),
      program("start", 2500),
      program("loaded", 3800),
      program("exit", 4900),
    ]);
    expect(parts).toMatchObject({ command: "preview --refresh", cliStart: 400, providerStart: 600, refresh: 1500, programLoad: 1300 });
    expect(parts.resourceOperations).toBe(1100);
  });

  it("counts side-by-side commands once", () => {
    expect(
      coveredMs([
        { at: 0, ms: 300, args: "a" },
        { at: 100, ms: 400, args: "b" },
        { at: 1000, ms: 200, args: "c" },
      ]),
    ).toBe(700);
    expect(coveredMs([])).toBe(0);
  });
});
