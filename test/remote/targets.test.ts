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

  it.each([
    ["an EC2 host", "production", "legacy", { legacy: KEY }, /not an existing host reached by SSH/],
    ["a host with no pinned key", "pilot", "new", { legacy: KEY }, /no pinned host key: set cutover:hostKeys.new/],
  ] as const)("refuse %s", (_what, stack, role, keys, message) => {
    expect(() => sshEndpoint(load(stack, 4), role, keys)).toThrow(InputError);
    expect(() => sshEndpoint(load(stack, 4), role, keys)).toThrow(message);
  });
});
