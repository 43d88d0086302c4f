import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv, { type ValidateFunction } from "ajv";
import { parse, type ParseError } from "jsonc-parser";
import { describe, expect, it } from "vitest";
import { manifest } from "./harness";

const REPO = join(__dirname, "..", "..");
const FIXTURES = join(__dirname, "fixtures");

/** VS Code's schema keywords that are annotations for the editor, not validation. */
const EDITOR_KEYWORDS = ["markdownDescription", "scope", "order", "defaultSnippets", "enumDescriptions", "markdownEnumDescriptions", "deprecationMessage", "editPresentation", "tags"];

/**
 * The `settings` object of a workspace file, validated the way VS Code does it: each
 * contributed key against its schema, and any other `mcpMarshal.*` key is unknown.
 */
function settingsValidator(): ValidateFunction {
  const properties = manifest.contributes.configuration.properties;
  const known = Object.keys(properties).map((k) => k.replace(/^mcpMarshal\./, "").replace(/\./g, "\\."));
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
  ajv.addVocabulary(EDITOR_KEYWORDS);
  return ajv.compile({
    type: "object",
    properties,
    patternProperties: { [`^mcpMarshal\\.(?!(${known.join("|")})$)`]: false },
  });
}

function readJsonc(path: string): { settings: Record<string, unknown> } {
  const errors: ParseError[] = [];
  const value = parse(readFileSync(path, "utf8"), errors, { allowTrailingComma: true }) as { settings: Record<string, unknown> };
  expect(errors).toEqual([]);
  return value;
}

const validate = settingsValidator();

describe("contributes.configuration schema", () => {
  it("compiles under ajv's strict mode (only VS Code's annotation keywords added)", () => {
    expect(settingsValidator).not.toThrow();
  });

  const demo = join(REPO, "examples", "demo.code-workspace");
  it.runIf(existsSync(demo))("accepts examples/demo.code-workspace", () => {
    const ok = validate(readJsonc(demo).settings);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it("accepts a workspace that uses every key and server field", () => {
    const ok = validate(readJsonc(join(FIXTURES, "full.code-workspace")).settings);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it("accepts the defaults it declares", () => {
    const defaults = Object.fromEntries(
      Object.entries(manifest.contributes.configuration.properties).map(([k, v]) => [k, v.default]),
    );
    expect(validate(defaults)).toBe(true);
  });

  const broken = JSON.parse(readFileSync(join(FIXTURES, "broken-settings.json"), "utf8")) as Array<{
    why: string;
    settings: Record<string, unknown>;
  }>;
  it.each(broken.map((c) => [c.why, c.settings] as const))("rejects: %s", (_why, settings) => {
    expect(validate(settings)).toBe(false);
  });

  it("rejects an unknown mcpMarshal.* key but leaves other extensions' settings alone", () => {
    expect(validate({ "mcpMarshal.serverz": {}, "editor.tabSize": 2 })).toBe(false);
    expect(validate({ "python.defaultInterpreterPath": "/x", "mcp": { servers: {} } })).toBe(true);
  });

  it("gives every setting and every server field a description", () => {
    const missing: string[] = [];
    const walk = (path: string, schema: Record<string, unknown>) => {
      const props = schema.properties as Record<string, Record<string, unknown>> | undefined;
      for (const [key, sub] of Object.entries(props ?? {})) {
        if (!("description" in sub) && !("markdownDescription" in sub)) missing.push(`${path}.${key}`);
        walk(`${path}.${key}`, sub);
      }
      const additional = schema.additionalProperties as { anyOf?: Array<Record<string, unknown>> } | undefined;
      for (const variant of additional?.anyOf ?? []) walk(`${path}.*`, variant);
      if (typeof schema.items === "object") walk(`${path}[]`, schema.items as Record<string, unknown>);
    };
    for (const [key, schema] of Object.entries(manifest.contributes.configuration.properties)) {
      if (!("description" in schema) && !("markdownDescription" in schema)) missing.push(key);
      walk(key, schema);
    }
    expect(missing).toEqual([]);
  });
});
