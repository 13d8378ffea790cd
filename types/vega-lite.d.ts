/**
 * vega-lite publishes its types for node16/bundler resolution only (package exports); this project
 * resolves as CommonJS, so the one function used is declared here, typed against vega's own Spec.
 */
declare module "vega-lite" {
  export function compile(spec: unknown): { spec: import("vega").Spec };
}
