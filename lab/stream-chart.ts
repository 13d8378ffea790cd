/**
 * The picture of a zero-loss run, read at a glance: the messages handed over and delivered so far
 * (cumulative, in all and per system), so that zero loss shows as two curves that meet; each
 * command and fault as a labelled vertical rule with a bar for how long it took; each moment another
 * server began to answer on the gateway address as a dotted rule; and the longest time without a
 * delivery shaded where it happened. Drawn as SVG by Vega-Lite (a declarative grammar of
 * graphics: the chart is data plus a spec, rendered headless with no browser or canvas).
 */
import type { StreamEvent, TimelineBucket } from "./stream";

export interface ChartInput {
  title: string;
  buckets: TimelineBucket[];
  /** Events in ms since the epoch, shown relative to the first bucket. */
  events: StreamEvent[];
  /** ms since the epoch of the first bucket. */
  start: number;
  /** When another server began to answer on the gateway address (ms since the epoch), and which. */
  switches?: { t: number; label: string }[];
}

/** Running totals per bucket: handed over, delivered on all systems, and on each. Pure. */
export function cumulativeSeries(buckets: TimelineBucket[]): { t: number; series: string; n: number }[] {
  const hosts = [...new Set(buckets.flatMap((b) => Object.keys(b.delivered)))].sort();
  const totals = new Map<string, number>();
  const out: { t: number; series: string; n: number }[] = [];
  const add = (t: number, series: string, n: number) => {
    totals.set(series, (totals.get(series) ?? 0) + n);
    out.push({ t, series, n: totals.get(series)! });
  };
  for (const b of buckets) {
    add(b.t, "handed over", b.sent);
    add(
      b.t,
      "delivered, all systems",
      Object.values(b.delivered).reduce((a, n) => a + (n ?? 0), 0),
    );
    for (const h of hosts) add(b.t, `delivered on ${h}`, b.delivered[h as keyof typeof b.delivered] ?? 0);
  }
  return out;
}

/**
 * The longest run of buckets with no delivery between the first delivery and the last, as seconds
 * [from, to), or undefined when there is none. Pure.
 */
export function longestGap(buckets: TimelineBucket[]): { from: number; to: number } | undefined {
  const delivering = buckets.map((b) => Object.values(b.delivered).some((n) => (n ?? 0) > 0));
  const first = delivering.indexOf(true);
  const last = delivering.lastIndexOf(true);
  let best: { from: number; to: number } | undefined;
  let runStart = -1;
  for (let i = first + 1; first >= 0 && i <= last; i++) {
    if (!delivering[i] && runStart < 0) runStart = i;
    if (delivering[i] && runStart >= 0) {
      const gap = { from: buckets[runStart].t, to: buckets[i].t };
      if (!best || gap.to - gap.from > best.to - best.from) best = gap;
      runStart = -1;
    }
  }
  return best;
}

const HEIGHT = 320;
/** Label rows at the plot's top, so that labels of events close in time do not overlap; the curves stay below them. */
const ROW = 19;
const ROWS = 4;

/** The Vega-Lite spec. Pure. */
export function streamChartSpec(c: ChartInput): Record<string, unknown> {
  const series = cumulativeSeries(c.buckets);
  const events = c.events
    .map((e) => ({ name: e.name, from: (e.start - c.start) / 1000, to: (e.end - c.start) / 1000 }))
    .sort((a, b) => a.from - b.from)
    .map((e, i) => ({
      ...e,
      label: `${e.name} (${Math.max(0, e.to - e.from).toFixed(1)} s)`,
      y: 6 + (i % ROWS) * ROW,
      // A bar at least 0.2 s wide, so that a moment still shows.
      barTo: Math.max(e.to, e.from + 0.2),
    }));
  const switches = (c.switches ?? []).map((sw, i) => ({ t: (sw.t - c.start) / 1000, label: sw.label, y: HEIGHT - 36 - (i % 2) * 14 }));
  const gap = longestGap(c.buckets);
  const gaps = gap ? [{ ...gap, label: `longest gap without a delivery: ${(gap.to - gap.from).toFixed(1)} s` }] : [];
  const x = { field: "t", type: "quantitative", title: "seconds since the first message handed over" };
  // Headroom above the highest curve for the event labels' rows.
  const top = Math.max(1, ...series.map((p) => p.n));
  const yMax = Math.ceil((top * HEIGHT) / (HEIGHT - ROWS * ROW - 8));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: c.title,
    width: 900,
    height: HEIGHT,
    layer: [
      {
        data: { values: gaps },
        mark: { type: "rect", color: "#7f7f7f", opacity: 0.3 },
        encoding: { x: { field: "from", type: "quantitative", title: x.title }, x2: { field: "to" } },
      },
      {
        data: { values: gaps },
        mark: { type: "text", align: "left", baseline: "bottom", dx: 4, dy: -4, fontSize: 11, color: "#4d4d4d" },
        encoding: { x: { field: "to", type: "quantitative" }, y: { value: HEIGHT }, text: { field: "label" } },
      },
      {
        data: { values: series },
        mark: { type: "line", interpolate: "step-after", strokeWidth: 1.6 },
        encoding: {
          x,
          y: { field: "n", type: "quantitative", title: "messages so far", scale: { domain: [0, yMax], nice: false } },
          color: {
            field: "series",
            type: "nominal",
            title: null,
            scale: {
              domain: ["handed over", "delivered, all systems", "delivered on legacy", "delivered on new"],
              range: ["#000000", "#2ca02c", "#1f77b4", "#ff7f0e"],
            },
            legend: { orient: "bottom", labelLimit: 300 },
          },
          strokeDash: {
            field: "series",
            type: "nominal",
            scale: { domain: ["handed over"], range: [[6, 3]] },
            legend: null,
          },
        },
      },
      {
        data: { values: switches },
        mark: { type: "rule", color: "#4d4d4d", strokeDash: [2, 2], strokeWidth: 1 },
        encoding: { x: { field: "t", type: "quantitative" } },
      },
      {
        data: { values: switches },
        mark: { type: "text", align: "left", baseline: "middle", dx: 3, fontSize: 10, color: "#4d4d4d" },
        encoding: {
          x: { field: "t", type: "quantitative" },
          y: { field: "y", type: "quantitative", scale: null },
          text: { field: "label" },
        },
      },
      {
        data: { values: events },
        mark: { type: "rule", color: "#d62728", strokeWidth: 1 },
        encoding: { x: { field: "from", type: "quantitative" } },
      },
      {
        data: { values: events },
        mark: { type: "rect", color: "#d62728", opacity: 0.5, height: 4 },
        encoding: {
          x: { field: "from", type: "quantitative" },
          x2: { field: "barTo" },
          y: { field: "y", type: "quantitative", scale: null },
        },
      },
      {
        data: { values: events },
        mark: { type: "text", align: "left", baseline: "top", dx: 3, dy: 4, fontSize: 11, color: "#8b1a1a" },
        encoding: {
          x: { field: "from", type: "quantitative" },
          y: { field: "y", type: "quantitative", scale: null },
          text: { field: "label" },
        },
      },
    ],
  };
}

/** Renders the chart to SVG text. */
export async function renderStreamChart(c: ChartInput): Promise<string> {
  const [vega, vegaLite] = await Promise.all([import("vega"), import("vega-lite")]);
  const spec = vegaLite.compile(streamChartSpec(c) as never).spec;
  const view = new vega.View(vega.parse(spec), { renderer: "none" });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
