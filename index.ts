/**
 * The cutover program. The host-effects provider is registered first, and the program's modules load
 * once its registration is on its way: the engine starts the provider's process (0.4 s) while they
 * load and the plan is made, rather than after (src/pulumi/main.ts is the program proper).
 */

import { HostEffectsProvider } from "./components/providers/host-effects";
import { plainBookkeepingStacks } from "./src/pulumi/stack-traces";

export = async () => {
  plainBookkeepingStacks();
  const hostEffects = new HostEffectsProvider("host-effects");
  await new Promise((sent) => setTimeout(sent, 0));
  // require, not import(): the program is CommonJS, whichever loader (ts-node, tsx) compiles it.
  const { cutoverProgram } = require("./src/pulumi/main") as typeof import("./src/pulumi/main");
  return cutoverProgram(hostEffects);
};
