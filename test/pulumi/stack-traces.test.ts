/**
 * The program's cheaper stack traces (src/pulumi/stack-traces.ts): the traces @pulumi/pulumi takes
 * for its records skip the installed mapping, an error's trace does not. In a Node.js process of its
 * own, as the engine starts the program: the test runner maps traces its own way.
 */
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { PROJECT_DIR } from "../../src/model/stack-file";

/** Runs `body` after a stand-in for ts-node's source-map support is installed; its last stdout line as JSON. */
function inProgramProcess(body: string): Record<string, unknown> {
  const script = `
    require("tsx/cjs/api").register();
    let mapped = 0;
    // Stands in for ts-node's source-map support: it marks every trace it formats.
    Error.prepareStackTrace = (error, frames) => { mapped++; return "MAPPED " + error + frames.map((f) => "\\n    at " + f).join(""); };
    const { plainBookkeepingStacks } = require("./src/pulumi/stack-traces.ts");
    const pulumi = require("@pulumi/pulumi");
    const { debuggablePromise } = require("@pulumi/pulumi/runtime/debuggable");
    ${body}`;
  const out = execFileSync(process.execPath, ["-e", script], { cwd: PROJECT_DIR, encoding: "utf8" });
  return JSON.parse(out.trim().split("\n").pop()!);
}

describe("stack traces in the program's process", () => {
  it("maps an error's trace as before, and gives the SDK's records V8's own frames", () => {
    const r = inProgramProcess(`
      const sitesBefore = pulumi.Resource.callsites();
      const mappedBefore = mapped;
      const undo = plainBookkeepingStacks();
      const error = new Error("boom").stack;
      const mappedForError = mapped - mappedBefore;
      const sites = pulumi.Resource.callsites();
      const promise = Promise.resolve(1);
      debuggablePromise(promise, "a test");
      const mappedAfter = mapped - mappedBefore - mappedForError;
      undo();
      console.log(JSON.stringify({
        mappedBefore, error, mappedForError, mappedAfter,
        parsedBefore: sitesBefore.filter((s) => s.file).length,
        parsed: sites.filter((s) => s.file).length,
        sdkFrame: sites.some((s) => s.file && s.file.endsWith("/@pulumi/pulumi/resource.js") && s.line > 0),
        promiseTrace: promise._debugStackTrace,
      }));`);
    // Without it, the SDK's own trace went through the mapping.
    expect(r.mappedBefore).toBe(1);
    expect(r.error).toMatch(/^MAPPED Error: boom\n {4}at /);
    expect(r.mappedForError).toBe(1);
    // The resource's callsites and the promise's record: neither mapped, both still read.
    expect(r.mappedAfter).toBe(0);
    expect(r.parsed).toBe(r.parsedBefore);
    expect(r.sdkFrame).toBe(true);
    expect(r.promiseTrace).toMatch(/^Error\n {4}at debuggablePromise /);
  });

  it("puts the mapping back when undone, and installs nothing where no mapping is", () => {
    const r = inProgramProcess(`
      const mapping = Error.prepareStackTrace;
      plainBookkeepingStacks()();
      const restored = Error.prepareStackTrace === mapping;
      Error.prepareStackTrace = undefined;
      plainBookkeepingStacks();
      console.log(JSON.stringify({ restored, none: Error.prepareStackTrace === undefined }));`);
    expect(r).toEqual({ restored: true, none: true });
  });
});
