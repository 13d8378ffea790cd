import { describe, expect, it } from "vitest";
import { type Delivery, type SentMessage, tally, timeline } from "../../lab/stream";
import { cumulativeSeries, longestGap, streamChartSpec } from "../../lab/stream-chart";

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
  it("counts delivered, lost, duplicated, misdelivered and refused apart; one copy in a wrong mailbox is misdelivered, whatever else arrived", () => {
    const messages = [sent(0, 0), sent(1, 10), sent(2, 20), sent(3, 30), sent(4, 40, "a@x.test", "sendmail exited 75"), sent(5, 50)];
    const deliveries = [
      delivery(0, 100),
      delivery(2, 120),
      delivery(2, 130, "legacy", "/mail/x.test/a/cur/1"),
      delivery(3, 140, "new", "/mail/x.test/b/new/2"),
      delivery(5, 150),
      delivery(5, 160, "new"),
    ];
    expect(tally(messages, deliveries, expected)).toMatchObject({
      sent: 5,
      refused: 1,
      delivered: 1,
      lost: 1,
      duplicated: 1,
      misdelivered: 2,
      problems: { lost: ["m-1"], duplicated: ["m-2"], misdelivered: ["m-3", "m-5"] },
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

describe("the zero-loss chart", () => {
  const buckets = [
    { t: 0, sent: 2, delivered: { legacy: 1 } },
    { t: 0.1, sent: 2, delivered: { legacy: 1, new: 1 } },
    { t: 0.2, sent: 0, delivered: {} },
    { t: 0.3, sent: 0, delivered: {} },
    { t: 0.4, sent: 0, delivered: { new: 1 } },
    { t: 0.5, sent: 0, delivered: {} },
  ];
  it("draws running totals: handed over and delivered meet when nothing was lost", () => {
    const at = (series: string) =>
      cumulativeSeries(buckets)
        .filter((p) => p.series === series)
        .map((p) => p.n);
    expect(at("handed over")).toEqual([2, 4, 4, 4, 4, 4]);
    expect(at("delivered, all systems")).toEqual([1, 3, 3, 3, 4, 4]);
    expect(at("delivered on legacy")).toEqual([1, 2, 2, 2, 2, 2]);
    expect(at("delivered on new")).toEqual([0, 1, 1, 1, 2, 2]);
  });
  it("shades the longest time without a delivery between the first and the last, nothing after the last", () => {
    expect(longestGap(buckets)).toEqual({ from: 0.2, to: 0.4 });
    expect(longestGap([{ t: 0, sent: 1, delivered: {} }])).toBeUndefined();
  });
  it("labels each command with its duration, and each server that began to answer", () => {
    const spec = streamChartSpec({
      title: "t",
      buckets,
      start: 1000,
      events: [{ name: "go-live", start: 1100, end: 3600 }],
      switches: [{ t: 2000, label: "new answers" }],
    }) as { layer: { data: { values: Record<string, unknown>[] } }[] };
    const values = spec.layer.flatMap((l) => l.data.values);
    expect(values).toContainEqual(expect.objectContaining({ label: "go-live (2.5 s)", from: 0.1 }));
    expect(values).toContainEqual(expect.objectContaining({ label: "new answers", t: 1 }));
    expect(values).toContainEqual(expect.objectContaining({ label: "longest gap without a delivery: 0.2 s" }));
  });
});
