import { describe, expect, it } from "vitest";
import { faultHooks } from "../../components/providers/runtime";

describe("the go-live's fault injection (CUTOVER_FAULT_*)", () => {
  const lab = ["198.51.100.10", "198.51.100.20", "198.51.100.25"];

  it("is off without its switches, and obeyed on the lab's hosts (documentation addresses)", async () => {
    expect(faultHooks({}, ["10.1.2.3"])).toEqual({});
    const hooks = faultHooks({ CUTOVER_FAULT_FAIL_AFTER_RELEASE: "1" }, lab);
    await expect(hooks.afterRelease!()).rejects.toThrow(/fault injected after the release/);
  });

  it("is refused on any other host before anything moves, naming the switch and the host", () => {
    expect(() => faultHooks({ CUTOVER_FAULT_PAUSE_AFTER_RELEASE_MS: "4000" }, [...lab.slice(0, 2), "10.20.0.25"])).toThrow(
      "CUTOVER_FAULT_PAUSE_AFTER_RELEASE_MS is set, and 10.20.0.25 is no lab host: fault injection is for the lab only; unset it and run again (nothing was moved)",
    );
    expect(() => faultHooks({ CUTOVER_FAULT_FAIL_AFTER_RELEASE: "1" }, ["203.0.113.10", "172.16.0.20"])).toThrow(
      /172\.16\.0\.20 is no lab host/,
    );
  });
});
