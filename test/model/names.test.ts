import { describe, expect, it } from "vitest";
import { addressInStage, qualify, zoneFor } from "../../src/model/names";

describe("names", () => {
  it.each([
    ["mail.uk.example.com", ["example.com", "uk.example.com"], "uk.example.com"],
    ["example.com", ["example.com", "uk.example.com"], "example.com"],
    ["badexample.com", ["example.com"], undefined],
  ])("%s lies in zone %j -> %s (longest suffix)", (name, zones, zone) => {
    expect(zoneFor(name, zones)).toBe(zone);
  });

  it.each([
    ["@", "example.com"],
    ["example.com", "example.com"],
    ["www", "www.example.com"],
    ["www.example.com", "www.example.com"],
  ])("qualifies %s in example.com as %s", (name, full) => {
    expect(qualify(name, "example.com")).toBe(full);
  });

  it.each([
    ["ann@example.com", "pilot", "ann@example.test"],
    ["ann@hq.example.com", "pilot", "ann@hq.example.test"],
    ["ann@example.com", "production", "ann@example.com"],
    ["ann@other.org", "pilot", "ann@other.org"],
  ] as const)("%s in the %s stage is %s", (address, stage, staged) => {
    expect(addressInStage(address, [{ domain: "example.com", pilotDomain: "example.test" }], stage)).toBe(staged);
  });

  it("resolves nested address spaces by the longest suffix, in any order", () => {
    const spaces = [
      { domain: "example.com", pilotDomain: "example.test" },
      { domain: "uk.example.com", pilotDomain: "uk-pilot.test" },
    ];
    for (const order of [spaces, [...spaces].reverse()]) {
      expect(addressInStage("ann@uk.example.com", order, "pilot")).toBe("ann@uk-pilot.test");
      expect(addressInStage("ann@hq.uk.example.com", order, "pilot")).toBe("ann@hq.uk-pilot.test");
      expect(addressInStage("ann@example.com", order, "pilot")).toBe("ann@example.test");
    }
  });
});
