import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InputError } from "../../src/model/errors";
import { readStackFile } from "../../src/model/stack-file";

const file = (text: string) => {
  const path = join(mkdtempSync(join(tmpdir(), "cutover-stack-")), "Pulumi.x.yaml");
  writeFileSync(path, text);
  return path;
};

describe("reading a stack file", () => {
  it("names file, line and column of a YAML syntax error", () => {
    const path = file("config:\n  cutover:phase: 1\n  cutover:inventory: {a: [1, 2}\n");
    expect(() => readStackFile(path)).toThrow(InputError);
    expect(() => readStackFile(path)).toThrow(`${path}:3:31: not valid YAML`);
  });

  it("says where an inventory stored as JSON text breaks", () => {
    const path = file('config:\n  cutover:phase: 1\n  cutover:inventory: "{\\"a\\": [1, 2}"\n');
    expect(() => readStackFile(path)).toThrow(/cutover:inventory is JSON text that does not parse \(.*position 11\)/);
  });

  it("reads an inventory stored as JSON text or as YAML alike", () => {
    const asJson = readStackFile(file('config:\n  cutover:phase: 2\n  cutover:inventory: "{\\"layout\\": \\"smart-host\\"}"\n'));
    const asYaml = readStackFile(file("config:\n  cutover:phase: 2\n  cutover:inventory:\n    layout: smart-host\n"));
    expect(asJson).toEqual(asYaml);
    expect(asYaml).toEqual({ inventory: { layout: "smart-host" }, phase: 2, hostKeys: undefined });
  });
});
