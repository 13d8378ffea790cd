/** The engine's own view: resources whose live state differs from what the stack recorded. */
import { type DriftOptions, type Probe, probe } from "./common";

export function engineProbes(o: DriftOptions): Probe[] {
  const engine = o.engine;
  if (!engine) return [];
  return [
    probe({ area: "engine", subject: o.stack, check: "refresh" }, async () => {
      const { changed } = await engine();
      if (!changed.length) return [{ area: "engine", subject: o.stack, check: "refresh", status: "ok" }];
      return changed.map(({ name, properties }) => ({
        area: "engine" as const,
        subject: name,
        check: "refresh",
        status: "drift" as const,
        expected: "as the stack recorded",
        actual: `changed on the live system${properties.length ? `: ${properties.join(", ")}` : ""}`,
      }));
    }),
  ];
}
