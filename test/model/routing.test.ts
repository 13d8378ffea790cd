import { describe, expect, it } from "vitest";
import { plan } from "../../src/model/plan";
import { compactRouting, expandRouting, hostRouting, routingDigest } from "../../src/model/routing";
import { load } from "../helpers";

describe("routing tables in compact form", () => {
  it("round-trip through the lines the engine stores, keeping the digest", () => {
    for (const t of plan(load("post-offices", 3), 3).routing) {
      expect(expandRouting(compactRouting(t))).toEqual(hostRouting(t));
      expect(routingDigest(expandRouting(compactRouting(t)))).toBe(routingDigest(t));
    }
  });
});
