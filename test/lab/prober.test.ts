import { describe, expect, it } from "vitest";
import { outageWindow } from "../../lab/prober";

describe("outage window of a switch", () => {
  it("runs from the old server's last greeting to the new server's first, counting the silent probes", () => {
    const samples = [
      { t: 0, server: "legacy.x" },
      { t: 20, server: "legacy.x" },
      { t: 40 },
      { t: 60 },
      { t: 80, server: "new.x" },
      { t: 100, server: "new.x" },
    ];
    expect(outageWindow(samples, "legacy.x", "new.x")).toEqual({ lastOld: 20, firstNew: 80, outageMs: 60, unanswered: 2 });
    expect(outageWindow(samples.slice(0, 2), "legacy.x", "new.x").outageMs).toBeUndefined();
  });
});
