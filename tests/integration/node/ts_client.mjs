// The official TypeScript SDK client as an agent would use it: over Streamable HTTP to a URL, or
// over stdio to a command. Lists the tools, calls `echo` and `get-env`, prints one JSON line.
//   node ts_client.mjs http URL
//   node ts_client.mjs stdio COMMAND ARG...
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [mode, target, ...args] = process.argv.slice(2);
const transport =
  mode === "http"
    ? new StreamableHTTPClientTransport(new URL(target))
    : new StdioClientTransport({ command: target, args, env: process.env, stderr: "inherit" });
const client = new Client({ name: "ts-sdk-test", version: "1.0.0" });
await client.connect(transport);
const tools = (await client.listTools()).tools.map((tool) => tool.name);
const echo = await client.callTool({ name: "echo", arguments: { message: "hello from the TypeScript SDK" } });
const env = tools.includes("get-env") ? await client.callTool({ name: "get-env", arguments: {} }) : null;
console.log(JSON.stringify({ tools, echo: echo.content[0].text, env: env?.content[0].text ?? null }));
await client.close();
