import { describe, expect, it } from "vitest";
import { type Delivery, type SentMessage, tally, timeline } from "../../lab/stream";

const sent = (seq: number, t: number, to = "a@x.test", error?: string): SentMessage => ({
  seq,
  to,
  marker: `m-${seq}`,
  t,
  ...(error ? { error } : {}),
});
const delivery = (seq: number, t: number, host: Delivery["host"] = "legacy", path = "/mail/x.test/a/new/1"): Delivery => ({
  marker: `m-${seq}`,
  host,
  path,
  t,
});
const expected = () => ({ host: "legacy" as const, pathPart: "/x.test/a/" });

describe("what became of each message handed over", () => {
  it("counts delivered, lost, duplicated, misdelivered and refused apart", () => {
    const messages = [sent(0, 0), sent(1, 10), sent(2, 20), sent(3, 30), sent(4, 40, "a@x.test", "sendmail exited 75")];
    const deliveries = [delivery(0, 100), delivery(2, 120), delivery(2, 130, "new"), delivery(3, 140, "new", "/mail/x.test/b/new/2")];
    expect(tally(messages, deliveries, expected)).toMatchObject({
      sent: 4,
      refused: 1,
      delivered: 1,
      lost: 1,
      duplicated: 1,
      misdelivered: 1,
      problems: { lost: ["m-1"], duplicated: ["m-2"], misdelivered: ["m-3"] },
      slowestMs: 100,
    });
  });

  it("measures the longest time with no delivery, from the first hand-over", () => {
    const r = tally([sent(0, 0), sent(1, 10)], [delivery(0, 50), delivery(1, 2050)], expected);
    expect(r.longestGapMs).toBe(2000);
  });
});

describe("the timeline", () => {
  it("counts hand-overs and deliveries per host per 100 ms", () => {
    const buckets = timeline([sent(0, 1000), sent(1, 1050)], [delivery(0, 1120), delivery(1, 1250, "new")]);
    expect(buckets).toEqual([
      { t: 0, sent: 2, delivered: {} },
      { t: 0.1, sent: 0, delivered: { legacy: 1 } },
      { t: 0.2, sent: 0, delivered: { new: 1 } },
    ]);
  });
});
