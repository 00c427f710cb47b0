// Interop: the official MCP SDK client against build/bin/elpis on the tiny model.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { LATEST_PROTOCOL_VERSION } from "@modelcontextprotocol/sdk/types.js";

const build = process.env.BUILD;

async function connect() {
  const transport = new StdioClientTransport({
    command: `${build}/bin/elpis`,
    args: ["--model", `${build}/models/tiny-chat.gguf`, "--ctx", "512"],
    stderr: "pipe",
  });
  const client = new Client({ name: "interop-test", version: "1.0.0" });
  client.log = "";
  transport.stderr.on("data", (d) => { client.log += d.toString(); });
  await client.connect(transport);
  return client;
}

const TOOLS = ["generate", "function_call", "update_emotion", "reset_emotion", "get_emotion",
  "generate_stream_start", "generate_stream_read", "generate_stream_cancel", "get_capabilities", "count_tokens"];

test("elpis: handshake, tools, resources", async () => {
  const client = await connect();
  try {
    assert.equal(client.getServerVersion().name, "elpis-inference");
    const caps = client.getServerCapabilities();
    assert.ok(caps.tools && caps.resources && caps.logging, JSON.stringify(caps));
    // The SDK asked for its latest version; elpis supports it, so that is what was agreed.
    assert.equal(LATEST_PROTOCOL_VERSION, "2025-11-25");
    await client.ping();
    await client.setLoggingLevel("info");
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), [...TOOLS].sort());
    for (const t of tools) assert.equal(t.inputSchema.type, "object", t.name);
    const { resources } = await client.listResources();
    assert.deepEqual(resources.map((r) => r.uri).sort(), ["emotion://events", "emotion://state"]);
    const res = await client.readResource({ uri: "emotion://state" });
    const state = JSON.parse(res.contents[0].text);
    assert.equal(typeof state.valence, "number");
    assert.equal(state.quadrant, "excited");
    const events = JSON.parse((await client.readResource({ uri: "emotion://events" })).contents[0].text);
    assert.deepEqual(events.success, [0.2, 0.1]);
    await assert.rejects(client.readResource({ uri: "emotion://nope" }), /emotion:\/\/nope/);
  } finally {
    await client.close();
  }
});

test("elpis: callTool with structured content and progress notifications", async () => {
  const client = await connect();
  try {
    const emo = await client.callTool({ name: "update_emotion", arguments: { event_type: "success" } });
    assert.ok(emo.structuredContent.valence > 0);
    assert.deepEqual(JSON.parse(emo.content[0].text), emo.structuredContent);
    const deltas = [];
    const r = await client.callTool(
      { name: "generate", arguments: { messages: [{ role: "user", content: "Hello there" }], max_tokens: 48, temperature: 0 } },
      undefined,
      { onprogress: (p) => deltas.push(p) },
    );
    assert.ok(!r.isError, JSON.stringify(r));
    const sc = r.structuredContent;
    assert.equal(typeof sc.content, "string");
    assert.equal(sc.usage.completion_tokens, 48);
    assert.equal(sc.modulated_params.temperature, 0);
    // Progress arrives before the result. The SDK handles notifications a microtask later than
    // responses, so the ones that share a read with the response are dropped (docs/protocol.md):
    // what arrives is a prefix of the stream, in order, and adds up to a prefix of the content.
    assert.ok(deltas.length > 0, "no progress notifications");
    for (let i = 1; i < deltas.length; i++) assert.ok(deltas[i].progress > deltas[i - 1].progress);
    const joined = deltas.map((d) => d.message ?? "").join("");
    assert.ok(sc.content.startsWith(joined), JSON.stringify({ joined, content: sc.content }));
    // The same call without progress gives the same text (greedy).
    const again = await client.callTool({ name: "generate", arguments: {
      messages: [{ role: "user", content: "Hello there" }], max_tokens: 48, temperature: 0 } });
    assert.equal(again.structuredContent.content, sc.content);
    // A JSON-RPC error for bad arguments, naming the field; a tool error as isError.
    const bad = await client.callTool({ name: "generate", arguments: { messages: "nope" } }).catch((e) => e);
    assert.ok(bad instanceof Error && /messages/.test(bad.message), String(bad));
    const unknown = await client.callTool({ name: "generate_stream_read", arguments: { stream_id: "x" } });
    assert.equal(unknown.isError, true);
    assert.match(unknown.structuredContent.error, /Unknown stream_id/);
    const n = await client.callTool({ name: "count_tokens", arguments: { text: "hello world" } });
    assert.ok(n.structuredContent.tokens >= 1);
  } finally {
    await client.close();
  }
});

test("elpis: poll streaming and cancellation through the SDK", async () => {
  const client = await connect();
  try {
    const args = { messages: [{ role: "user", content: "Poll me" }], max_tokens: 40, temperature: 0 };
    const s = await client.callTool({ name: "generate_stream_start", arguments: args });
    const id = s.structuredContent.stream_id;
    let text = "";
    let last;
    const deadline = Date.now() + 30000;
    while (Date.now() < deadline) {
      last = (await client.callTool({ name: "generate_stream_read", arguments: { stream_id: id } })).structuredContent;
      text += last.new_content;
      if (last.is_complete) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(last.is_complete, true);
    assert.equal(last.full_content, text);
    const direct = await client.callTool({ name: "generate", arguments: args });
    assert.equal(direct.structuredContent.content, text);

    // An aborted call: the SDK sends notifications/cancelled; elpis stops the work and
    // sends no reply, and the next call is served.
    const ac = new AbortController();
    const long = client.callTool(
      { name: "generate", arguments: { messages: [{ role: "user", content: "long" }], max_tokens: 2000 } },
      undefined, { signal: ac.signal });
    setTimeout(() => ac.abort("test"), 100);
    await assert.rejects(long);
    const t0 = Date.now();
    const after = await client.callTool({ name: "generate", arguments: { ...args, max_tokens: 8 } });
    assert.ok(!after.isError && after.structuredContent.usage.completion_tokens >= 1);
    assert.ok(Date.now() - t0 < 5000, "the aborted generation kept the engine busy");
    assert.match(client.log, /cancelled by the client/);
    const m = client.log.match(/generate: cancelled, prompt \d+ tokens \(\d+ cached\), (\d+) generated/);
    assert.ok(m && Number(m[1]) < 300, client.log.slice(-2000));
  } finally {
    await client.close();
  }
});
