/**
 * Loaded into every Node.js process the engine starts (NODE_OPTIONS=--require, set by the steps
 * bench only): appends to CUTOVER_BENCH_TRACE when the program or a dynamic provider process
 * started, when the program's own code finished loading (index.ts) and the providers' code
 * (runtime.ts), and when the program exited. Lines are written at once: the engine kills its
 * providers without an exit event.
 */
const { appendFileSync } = require("node:fs");
const Module = require("node:module");

const file = process.env.CUTOVER_BENCH_TRACE;
const script = process.argv[1] || "";
const role = script.includes("dynamic-provider") ? "provider" : /cmd[\\/]run/.test(script) ? "program" : undefined;

if (file && role) {
  const log = (event, at = Date.now()) => appendFileSync(file, `${JSON.stringify({ role, pid: process.pid, event, at })}\n`);
  log("start", Math.round(performance.timeOrigin));
  // tsx names the module it loads with a query: .../runtime.ts?namespace=<n>.
  const marker = role === "program" ? /[\\/]index\.ts$/ : /providers[\\/]runtime\.ts(\?|$)/;
  const load = Module._load;
  let marked = false;
  Module._load = function (request, parent, isMain) {
    const exported = load.call(this, request, parent, isMain);
    if (!marked && marker.test(String(request))) {
      marked = true;
      log("loaded");
    }
    return exported;
  };
  if (role === "program") process.on("exit", () => log("exit"));
}
