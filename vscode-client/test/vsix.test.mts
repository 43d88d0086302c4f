import { existsSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { vsixEntries, vsixProblems } from "../scripts/check-vsix.mjs";

const VSIX = fileURLToPath(new URL("../mcp-marshal.vsix", import.meta.url));
const GOOD = ["extension.vsixmanifest", "[Content_Types].xml", "extension/package.json", "extension/readme.md", "extension/LICENSE.txt", "extension/dist/extension.js"];

describe("vsix contents check", () => {
  it("passes a package with the bundle, manifest, readme and license only", () => {
    expect(vsixProblems(GOOD, 120_000)).toEqual([]);
  });

  it("flags node_modules, sources, source maps, a missing bundle and bloat", () => {
    const bad = [...GOOD.filter((n) => !n.endsWith("extension.js")), "extension/node_modules/x/index.js", "extension/src/extension.ts", "extension/dist/extension.js.map"];
    expect(vsixProblems(bad, 5_000_000)).toEqual([
      "missing extension/dist/extension.js",
      "unexpected extension/node_modules/x/index.js",
      "unexpected extension/src/extension.ts",
      "unexpected extension/dist/extension.js.map",
      "5000000 bytes is over 2097152",
    ]);
  });

  it.runIf(existsSync(VSIX))("the last `npm run package` output passes", async () => {
    expect(vsixProblems(await vsixEntries(VSIX), statSync(VSIX).size)).toEqual([]);
  });
});
