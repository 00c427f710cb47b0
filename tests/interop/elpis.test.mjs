// Interop: the official MCP SDK client against build/bin/elpis on the tiny model.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const build = process.env.BUILD;

async function connect() {
  const transport = new StdioClientTransport({
    command: `${build}/bin/elpis`,
    args: ["--model", `${build}/models/tiny-chat.gguf`, "--ctx", "512"],
    stderr: "ignore",
  });
  const client = new Client({ name: "interop-test", version: "1.0.0" });
  await client.connect(transport);
  return client;
}

test("elpis: handshake, tools, resources", async () => {
  const client = await connect();
  try {
    assert.equal(client.getServerVersion().name, "elpis-inference");
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name).sort();
    for (const n of ["generate", "function_call", "update_emotion", "reset_emotion", "get_emotion",
      "generate_stream_start", "generate_stream_read", "generate_stream_cancel", "get_capabilities", "count_tokens"]) {
      assert.ok(names.includes(n), `missing tool ${n}`);
    }
    const res = await client.readResource({ uri: "emotion://state" });
    const state = JSON.parse(res.contents[0].text);
    assert.equal(typeof state.valence, "number");
  } finally {
    await client.close();
  }
});

test("elpis: callTool with structured content and progress notifications", async () => {
  const client = await connect();
  try {
    const emo = await client.callTool({ name: "update_emotion", arguments: { event_type: "success" } });
    assert.ok(emo.structuredContent.valence > 0);
    const deltas = [];
    const r = await client.callTool(
      { name: "generate", arguments: { messages: [{ role: "user", content: "Hello there" }], max_tokens: 48, temperature: 0 } },
      undefined,
      { onprogress: (p) => deltas.push(p) },
    );
    assert.ok(!r.isError, JSON.stringify(r));
    const sc = r.structuredContent;
    assert.equal(typeof sc.content, "string");
    assert.equal(sc.usage.completion_tokens > 0, true);
    // Progress arrives before the result; the SDK may drop one that shares a read chunk
    // with the response (see docs/protocol.md), so require most of them, in order.
    assert.ok(deltas.length > 0, "no progress notifications");
    for (let i = 1; i < deltas.length; i++) assert.ok(deltas[i].progress > deltas[i - 1].progress);
    const joined = deltas.map((d) => d.message ?? "").join("");
    assert.ok(sc.content.startsWith(joined.slice(0, Math.max(0, joined.length - 64))));
    const bad = await client.callTool({ name: "generate", arguments: { messages: "nope" } }).catch((e) => e);
    assert.ok(bad instanceof Error && /messages/.test(bad.message), String(bad));
  } finally {
    await client.close();
  }
});
