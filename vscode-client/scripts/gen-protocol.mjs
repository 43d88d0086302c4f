// Turn protocol.schema.json (written from the Python wire models by
// scripts/gen_protocol_schema.py) into src/protocol.generated.ts with json-schema-to-typescript.
//   node scripts/gen-protocol.mjs           write it
//   node scripts/gen-protocol.mjs --check   exit 1 if the committed file is out of date
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { compile } from "json-schema-to-typescript";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const SCHEMA = join(root, "protocol.schema.json");
export const OUTPUT = join(root, "src", "protocol.generated.ts");
const BANNER = [
  "/* Generated from server/mcp_marshal/wire.py: do not edit. To change the contract, edit the",
  " * models there and run: .venv/bin/python scripts/gen_protocol_schema.py && npm run gen:protocol -w vscode-client */",
].join("\n");

/** The TypeScript text for the schema: one exported type per wire model. */
export async function render(schemaText = readFileSync(SCHEMA, "utf8")) {
  const schema = JSON.parse(schemaText);
  delete schema["x-methods"];
  // pydantic titles every field; json-schema-to-typescript would name a type after each one
  for (const model of Object.values(schema.$defs ?? {})) untitle(model.properties ?? {});
  const text = await compile({ ...schema, title: "Wire", type: "object", properties: {} }, "Wire", {
    bannerComment: BANNER,
    unreachableDefinitions: true,
    additionalProperties: false,
    strictIndexSignatures: true,
    format: true,
    style: { printWidth: 120 },
  });
  // the empty root type that only carries the definitions, and its notes on each one
  return text
    .replace("export interface Wire {}\n", "")
    .replace(/ \*\n \* This interface was referenced by `Wire`'s JSON-Schema\n \* via the `definition` "\w+"\.\n/g, "")
    .replace(/\/\*\*\n \* This interface was referenced by `Wire`'s JSON-Schema\n \* via the `definition` "\w+"\.\n \*\/\n/g, "");
}

function untitle(value) {
  if (Array.isArray(value)) value.forEach(untitle);
  else if (value && typeof value === "object") {
    delete value.title;
    Object.values(value).forEach(untitle);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = await render();
  const old = (() => {
    try {
      return readFileSync(OUTPUT, "utf8");
    } catch {
      return "";
    }
  })();
  if (process.argv.includes("--check")) {
    if (text !== old) {
      console.error(`${OUTPUT} is out of date: npm run gen:protocol -w vscode-client`);
      process.exit(1);
    }
  } else if (text !== old) {
    writeFileSync(OUTPUT, text);
    console.log(`${OUTPUT} regenerated`);
  }
}
