import { describe, expect, it } from "vitest";
import { parentZones } from "../../lab/daemons";
import { labShapeInventories } from "../../lab/lab-stack";
import { labLayout, OPERATOR_ADDRESS } from "../../lab/layout";
import { InputError } from "../../src/model/errors";
import { load } from "../helpers";

describe("the lab's layout, from the lab stacks' shapes", () => {
  it("puts each existing host in a namespace of the project's prefix, on its own address", () => {
    const layout = labLayout([load("pilot", 1)]);
    expect(layout.hosts.map((h) => `${h.role} ${h.namespace} ${h.address}`)).toEqual([
      "legacy cutover-legacy 198.51.100.10",
      "new cutover-new 198.51.100.20",
      "internet cutover-internet 198.51.100.53",
    ]);
    expect(layout.dnsRole).toBe("internet");
  });

  it("runs the hosts and serves the zones of every shape: the smart host, the post offices' domains", () => {
    const layout = labLayout(labShapeInventories());
    expect(layout.hosts.map((h) => `${h.role} ${h.namespace} ${h.address}`)).toEqual([
      "legacy cutover-legacy 198.51.100.10",
      "new cutover-new 198.51.100.20",
      "internet cutover-internet 198.51.100.53",
      "smartHost cutover-smarthost 198.51.100.30",
    ]);
    expect(layout.zones).toEqual(
      expect.arrayContaining([
        "paradigms.test",
        "paradigms.com",
        "offices.test",
        "offices-pilot.test",
        "relayed.test",
        "relayed-pilot.test",
      ]),
    );
  });

  it("takes a role at another role's address as that host under a second name: the production shape's DNS server is the model Internet's host", () => {
    const layout = labLayout(labShapeInventories());
    expect(layout.aliases).toEqual({ dnsServer: "internet" });
    expect(layout.dnsRole).toBe("internet");
    const pilot = load("pilot", 1);
    const other = { ...pilot, hosts: { ...pilot.hosts, dnsServer: { ...pilot.hosts.internet!, interface: "eth1" } } };
    expect(() => labLayout([pilot, other])).toThrow(
      /hosts.dnsServer is 198.51.100.53 \(eth1\), the address of hosts.internet \(cutover0\)/,
    );
  });

  it("refuses two shapes that put one role on two addresses", () => {
    const pilot = load("pilot", 1);
    const other = { ...pilot, hosts: { ...pilot.hosts, new: { ...pilot.hosts.new, address: "198.51.100.21" } } };
    expect(() => labLayout([pilot, other])).toThrow(/hosts.new is 198.51.100.21 .* and 198.51.100.20 in another/);
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
    expect(() => labLayout([change(load("pilot", 1))])).toThrow(InputError);
    expect(() => labLayout([change(load("pilot", 1))])).toThrow(message);
  });
});

describe("the lab zones' parents, signed as a TLD is", () => {
  it("are each lab zone's name without its first label, once each: every shape's zones chain from them", () => {
    const zones = labLayout(labShapeInventories()).zones;
    expect(parentZones(zones)).toEqual([...new Set(zones.map((z) => z.split(".").slice(1).join(".")))].sort());
    expect(parentZones(["paradigms.test", "isp.test", "paradigms.com"])).toEqual(["com", "test"]);
  });

  it("refuse a lab zone that is another's parent or a top-level name: the lab would have to delegate inside its own zones", () => {
    expect(() => parentZones(["paradigms.test", "mail.paradigms.test"])).toThrow(/mail\.paradigms\.test/);
    expect(() => parentZones(["test", "paradigms.test"])).toThrow(/a lab zone's parent must be/);
  });
});
