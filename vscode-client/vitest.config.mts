import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // The extension host provides `vscode`; tests get the fake.
    alias: { vscode: fileURLToPath(new URL("./test/fake/vscode.ts", import.meta.url)) },
  },
  test: {
    include: ["test/**/*.test.ts", "test/**/*.test.mts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
