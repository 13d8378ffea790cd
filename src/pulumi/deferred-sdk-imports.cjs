"use strict";
/**
 * Loaded into every Node.js process the engine starts for cutover (the program and the dynamic
 * provider: NODE_OPTIONS=--require, see engineEnv in src/ops/engine.ts). @pulumi/pulumi 3.248.0
 * loads two things at start-up that neither process uses for cutover's resources: npm's Arborist,
 * with pacote, sigstore and tar (its closure code computes a lambda's package paths with it), and
 * TypeScript (to parse a serialized function; the program's ts-node loads it anyway, the provider
 * never parses one). Measured on this 2-core machine: `require("@pulumi/pulumi")` 463-494 ms and
 * 768 modules; with these two deferred, 113-119 ms and 294 modules.
 *
 * Both are deferred, not removed: the first use loads the real module. Written for the SDK's
 * version below, whose module layout it names; with any other version it does nothing.
 */
const Module = require("node:module");
const { dirname, join } = require("node:path");

const FOR_SDK_VERSION = "3.248.0";

/** The @pulumi/pulumi the process will load (the engine starts it in the project directory). */
function sdkDir() {
  try {
    const manifest = require.resolve("@pulumi/pulumi/package.json", { paths: [process.cwd(), __dirname] });
    return require(manifest).version === FOR_SDK_VERSION ? dirname(manifest) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Puts `exports(load)` in the module cache for `file`: what a require of it returns until `load()`
 * is called, which loads the real module (once) and returns it.
 */
function defer(file, exports) {
  let real;
  const load = () => {
    if (!real) {
      delete require.cache[file];
      real = require(file);
    }
    return real;
  };
  const stand = new Module(file, null);
  stand.filename = file;
  stand.loaded = true;
  stand.exports = exports(load);
  require.cache[file] = stand;
}

const sdk = sdkDir();
if (sdk) {
  // runtime/index.js copies both functions at load; nothing else requires the file.
  defer(join(sdk, "runtime", "closure", "codePaths.js"), (load) => ({
    computeCodePaths: (...args) => load().computeCodePaths(...args),
    findWorkspaceRoot: (...args) => load().findWorkspaceRoot(...args),
  }));
  // Required as a plain object (`const ts = require("../../typescript-shim")`) and read by property.
  defer(
    join(sdk, "typescript-shim.js"),
    (load) =>
      new Proxy(
        {},
        {
          get: (_, key) => load()[key],
          has: (_, key) => key in load(),
        },
      ),
  );
}
