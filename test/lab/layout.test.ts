import { describe, expect, it } from "vitest";
import { labLayout, OPERATOR_ADDRESS } from "../../lab/layout";
import { InputError } from "../../src/model/errors";
import { load } from "../helpers";

describe("the lab's layout, from the pilot stack", () => {
  it("puts each existing host in a namespace of the project's prefix, on its own address", () => {
    const layout = labLayout(load("pilot", 1));
    expect(layout.hosts.map((h) => `${h.role} ${h.namespace} ${h.address}`)).toEqual([
      "legacy cutover-legacy 198.51.100.10",
      "new cutover-new 198.51.100.20",
      "internet cutover-internet 198.51.100.53",
    ]);
    expect(layout.dnsRole).toBe("internet");
  });

  it.each([
    [
      "a host outside the RFC 5737 ranges",
      (inv: ReturnType<typeof load>) => ({ ...inv, hosts: { ...inv.hosts, new: { ...inv.hosts.new, address: "10.0.0.20" } } }),
      /outside the RFC 5737/,
    ],
    [
      "a gateway address outside them",
      (inv: ReturnType<typeof load>) => ({ ...inv, gateway: { ...inv.gateway, address: "192.168.1.25" } }),
      /outside the RFC 5737/,
    ],
    [
      "a host on the operator's address",
      (inv: ReturnType<typeof load>) => ({ ...inv, hosts: { ...inv.hosts, new: { ...inv.hosts.new, address: OPERATOR_ADDRESS } } }),
      /operator's address/,
    ],
  ])("refuses %s", (_what, change, message) => {
    expect(() => labLayout(change(load("pilot", 1)))).toThrow(InputError);
    expect(() => labLayout(change(load("pilot", 1)))).toThrow(message);
  });
});
