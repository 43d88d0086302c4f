// Checks a packaged .vsix: the bundle and manifest are in, no node_modules or sources, small.
import { readFileSync, statSync } from "node:fs";
import yauzl from "yauzl";

const MAX_BYTES = 2 * 1024 * 1024;
const REQUIRED = ["extension/package.json", "extension/dist/extension.js", "extension/LICENSE.txt", "extension/readme.md"];
const FORBIDDEN = [/node_modules\//, /\/src\//, /\/test\//, /\.ts$/, /\.map$/, /tsconfig/, /\.vsix$/];

/** @returns {Promise<string[]>} */
export function vsixEntries(path) {
  return new Promise((resolve, reject) => {
    yauzl.open(path, { lazyEntries: true }, (err, zip) => {
      if (err) return reject(err);
      const names = [];
      zip.on("entry", (entry) => {
        names.push(entry.fileName);
        zip.readEntry();
      });
      zip.on("end", () => resolve(names));
      zip.on("error", reject);
      zip.readEntry();
    });
  });
}

/** @returns {string[]} problems, empty when the package is fine */
export function vsixProblems(names, sizeBytes) {
  const problems = [];
  const lower = names.map((n) => n.toLowerCase());
  for (const required of REQUIRED) {
    if (!lower.includes(required.toLowerCase())) problems.push(`missing ${required}`);
  }
  for (const name of names) {
    if (FORBIDDEN.some((re) => re.test(name))) problems.push(`unexpected ${name}`);
  }
  if (sizeBytes > MAX_BYTES) problems.push(`${sizeBytes} bytes is over ${MAX_BYTES}`);
  return problems;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop() ?? "")) {
  const path = process.argv[2] ?? "mcp-marshal.vsix";
  const names = await vsixEntries(path);
  const size = statSync(path).size;
  const problems = vsixProblems(names, size);
  const manifest = JSON.parse(readFileSync("package.json", "utf8"));
  console.log(`${path}: ${size} bytes, ${names.length} entries (${manifest.name} ${manifest.version})`);
  for (const name of names) console.log(`  ${name}`);
  if (problems.length) {
    console.error(problems.map((p) => `✗ ${p}`).join("\n"));
    process.exit(1);
  }
  console.log("✓ vsix contents ok");
}
