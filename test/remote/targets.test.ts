import { describe, expect, it } from "vitest";
import { InputError } from "../../src/model/errors";
import { hostTarget, sshEndpoint } from "../../src/remote/targets";
import { load } from "../helpers";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

describe("SSH endpoints from the inventory", () => {
  it("are the host's management address, port, user and pinned key", () => {
    const endpoint = sshEndpoint(load("pilot", 1), "legacy", { legacy: KEY });
    expect(endpoint).toEqual({ name: "legacy", address: "198.51.100.10", port: 22, user: "root", hostKey: KEY });
    expect(hostTarget(endpoint, "PRIVATE")).toEqual({ ...endpoint, privateKey: "PRIVATE" });
  });

  it("reach an EC2 gateway too: at its private address, or where sshAddress says", () => {
    const inv = load("production", 4);
    expect(sshEndpoint(inv, "legacy", { legacy: KEY })).toEqual({
      name: "legacy",
      address: "203.0.113.10",
      port: 22,
      user: "root",
      hostKey: KEY,
    });
    const behind = {
      ...inv,
      hosts: { ...inv.hosts, legacy: { ...inv.hosts.legacy, sshAddress: "legacy.ops.example.com", user: "admin", port: 2222 } },
    };
    expect(sshEndpoint(behind, "legacy", { legacy: KEY })).toMatchObject({ address: "legacy.ops.example.com", port: 2222, user: "admin" });
  });

  it.each([
    ["a host not in the inventory", "pilot", "smartHost", { smartHost: KEY }, /there is no hosts.smartHost in the inventory/],
    ["a host with no pinned key", "pilot", "new", { legacy: KEY }, /no pinned host key: set cutover:hostKeys.new/],
  ] as const)("refuse %s", (_what, stack, role, keys, message) => {
    expect(() => sshEndpoint(load(stack, 4), role, keys)).toThrow(InputError);
    expect(() => sshEndpoint(load(stack, 4), role, keys)).toThrow(message);
  });
});
