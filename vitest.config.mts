import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 180_000,
    reporters: ["default", "./test/summary-reporter.ts"],
    // Lab tests share one set of hosts: files run one after another.
    fileParallelism: false,
  },
});
