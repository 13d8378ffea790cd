/**
 * Where the providers' logic lived before the move to src/. Engine states recorded then carry
 * provider code that loads this path on refresh, update and delete, so it must keep resolving
 * (test/engine/old-state.test.ts runs such a state). New states name src/pulumi/providers/runtime.ts.
 */
export * from "../../src/pulumi/providers/runtime";
