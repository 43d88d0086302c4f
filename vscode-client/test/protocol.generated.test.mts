import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { OUTPUT, render } from "../scripts/gen-protocol.mjs";

describe("protocol.generated.ts", () => {
  it("is what the committed schema of the Python wire models generates", async () => {
    // scripts/gen_protocol_schema.py keeps the schema current (checked by the Python suite)
    expect(readFileSync(OUTPUT, "utf8")).toBe(await render());
  });
});
