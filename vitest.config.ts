import path from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  // The plugin API's stable name, as tsconfig.json "paths" maps it for tsx and esbuild.
  resolve: { alias: { "trading-stream-gateway": path.resolve(import.meta.dirname, "src/index.ts") } },
  test: {
    include: ["test/**/*.test.ts"],
    // Every frame a test client receives is checked against asyncapi.yaml after each file.
    setupFiles: ["test/helpers/contract-check.ts"],
    // The dashboard bundle served at `/` is built from the current sources first.
    globalSetup: ["test/helpers/build-dashboard.setup.ts"],
    // Integration tests start real nats-server processes and gateways; give them room on a
    // shared 2-core machine, but fail fast enough that a hang is visible.
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: "forks",
    maxWorkers: 2,
    allowOnly: false,
    // expect.poll waits for an event the page or gateway shows; give a loaded machine time.
    expect: { poll: { timeout: 5000 } },
  },
});
