/**
 * The picture of a zero-loss run: messages handed over and delivered on each system per 100 ms,
 * with the go-live, the rollback and any fault shaded, drawn as SVG by Vega-Lite (a declarative
 * grammar of graphics: the chart is data plus a spec, rendered headless with no browser or canvas).
 */
import type { StreamEvent, TimelineBucket } from "./stream";

export interface ChartInput {
  title: string;
  buckets: TimelineBucket[];
  /** Events in ms since the epoch, shown relative to the first bucket. */
  events: StreamEvent[];
  /** ms since the epoch of the first bucket. */
  start: number;
}

/** The Vega-Lite spec: long-format series, shaded event spans with their names. Pure. */
export function streamChartSpec(c: ChartInput): Record<string, unknown> {
  const series = c.buckets.flatMap((b) => [
    { t: b.t, series: "handed over", n: b.sent },
    ...Object.entries(b.delivered).map(([host, n]) => ({ t: b.t, series: `delivered on ${host}`, n })),
  ]);
  // Hosts with no delivery in a bucket show as zero, not as a line skipping the gap.
  const hosts = [...new Set(c.buckets.flatMap((b) => Object.keys(b.delivered)))];
  for (const b of c.buckets) for (const h of hosts) if (!(h in b.delivered)) series.push({ t: b.t, series: `delivered on ${h}`, n: 0 });
  const events = c.events.map((e) => ({
    name: e.name,
    from: (e.start - c.start) / 1000,
    to: Math.max((e.end - c.start) / 1000, (e.start - c.start) / 1000 + 0.1),
  }));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: c.title,
    width: 900,
    height: 260,
    layer: [
      {
        data: { values: events },
        mark: { type: "rect", opacity: 0.18, color: "#d62728" },
        encoding: { x: { field: "from", type: "quantitative" }, x2: { field: "to" } },
      },
      {
        data: { values: events },
        mark: { type: "text", align: "left", baseline: "top", dx: 3, dy: 3, fontSize: 11 },
        encoding: { x: { field: "from", type: "quantitative" }, y: { value: 0 }, text: { field: "name" } },
      },
      {
        data: { values: series },
        mark: { type: "line", interpolate: "step-after", strokeWidth: 1.2 },
        encoding: {
          x: { field: "t", type: "quantitative", title: "seconds since the first message" },
          y: { field: "n", type: "quantitative", title: "messages per 100 ms" },
          color: { field: "series", type: "nominal", title: null, legend: { orient: "bottom", labelLimit: 300 } },
        },
      },
    ],
  };
}

/** Renders the chart to SVG text. */
export async function renderStreamChart(c: ChartInput): Promise<string> {
  const [vega, vegaLite] = await Promise.all([import("vega"), import("vega-lite")]);
  const spec = vegaLite.compile(streamChartSpec(c)).spec;
  const view = new vega.View(vega.parse(spec), { renderer: "none" });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
