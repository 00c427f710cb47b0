// Interop: the official `openai` npm client against `psyche serve` (build/bin/psyche) on the tiny
// model, over loopback: models.list, chat (plain and streamed), usage with cached tokens on the
// second request of a conversation, the client's typed errors for 400 and 401, and a tools round
// trip (plain and streamed) and a streamed text answer while tools are offered against a second
// server whose elpis is tests/integration/fake_elpis.py, and embeddings (the client asks for base64 by default and decodes it).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";

const build = process.env.BUILD;
const KEY = "interop-key-0123456789abcdef";
const FAKE = join(dirname(fileURLToPath(import.meta.url)), "..", "integration", "fake_elpis.py");
const servers = [];
let baseURL, fakeURL;

// Starts `psyche serve` (extraEnv on top of a clean environment); resolves to its /v1 URL.
function startServer(extraEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), "psyche-openai-"));
  writeFileSync(join(dir, "keys"), KEY + "\n");
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(PSYCHE|ELPIS|MNEMOSYNE|XDG)_/.test(k)));
  Object.assign(env, {
    HOME: dir, PSYCHE_PATHS_STATE_DIR: dir, PSYCHE_MODEL_PATH: `${build}/models/tiny-chat.gguf`,
    PSYCHE_AGENT_MAX_TOKENS: "16",
  }, typeof extraEnv === "function" ? extraEnv(dir) : extraEnv);
  const server = spawn(`${build}/bin/psyche`, ["serve", "--port", "0", "--api-key-file", join(dir, "keys")],
    { cwd: dir, env, stdio: ["ignore", "ignore", "pipe"] });
  servers.push({ server, dir });
  let err = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("psyche serve did not start: " + err)), 60000);
    let url = null;
    server.stderr.on("data", (d) => {
      err += d.toString();
      const m = err.match(/listening on (http:\/\/[^\s]+\/v1)/);
      if (m && !url) {
        url = m[1];
        clearTimeout(timer);
        resolve(url);
      }
    });
    server.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`psyche serve exited (${code}): ${err}`));
    });
  });
}

async function waitHealthy(url) {
  const root = url.replace(/\/v1$/, "");
  for (let i = 0; i < 600; i++) {
    const r = await fetch(`${root}/health`).catch(() => null);
    if (r && r.status === 200) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error("psyche serve never became healthy");
}

const CALL = { id: "call_abc", type: "function", function: { name: "get_weather", arguments: "{\"city\":\"Oslo\"}" } };

before(async () => {
  baseURL = await startServer();
  fakeURL = await startServer((dir) => {
    const script = join(dir, "script.json");
    writeFileSync(script, JSON.stringify({ responses: [
      { when: "no tool needed", content: "Nothing to look up: it is sunny.", chunk: 3 },
      { tool_calls: [CALL] }, { tool_calls: [CALL] }, { content: "It is -3 C in Oslo." }] }));
    return { PSYCHE_CHILDREN_ELPIS_COMMAND: `python3,${FAKE},${script}`, PSYCHE_MODEL_PATH: "" };
  });
  await waitHealthy(baseURL);
  await waitHealthy(fakeURL);
});

after(async () => {
  for (const { server, dir } of servers) {
    if (server.exitCode === null) {
      const done = new Promise((res) => server.once("exit", res));
      server.kill("SIGTERM");
      await done;
      assert.equal(server.exitCode, 0);
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

const client = () => new OpenAI({ baseURL, apiKey: KEY, maxRetries: 0 });
const messages = [{ role: "system", content: "Be brief." }, { role: "user", content: "Hello, who are you?" }];

test("openai: models.list", async () => {
  const ids = [];
  for await (const m of client().models.list()) ids.push(m.id);
  assert.deepEqual(ids, ["psyche"]);
});

test("openai: chat, then the same conversation again reuses the cached prefix", async () => {
  const c = client();
  const r1 = await c.chat.completions.create({ model: "psyche", messages, max_tokens: 4, temperature: 0 });
  assert.equal(r1.object, "chat.completion");
  assert.equal(r1.choices[0].message.role, "assistant");
  assert.equal(typeof r1.choices[0].message.content, "string");
  assert.ok(["stop", "length"].includes(r1.choices[0].finish_reason));
  assert.ok(r1.usage.prompt_tokens > 0 && r1.usage.completion_tokens > 0, JSON.stringify(r1.usage));
  const r2 = await c.chat.completions.create({ model: "psyche", messages, max_tokens: 4, temperature: 0 });
  const cached = r2.usage.prompt_tokens_details.cached_tokens;
  assert.ok(cached > 0 && cached <= r2.usage.prompt_tokens, JSON.stringify(r2.usage));
});

test("openai: streamed chat with usage", async () => {
  const stream = await client().chat.completions.create({
    model: "psyche", messages, max_tokens: 5, stream: true, stream_options: { include_usage: true },
  });
  let text = "", finish = null, usage = null, n = 0;
  for await (const chunk of stream) {
    n++;
    if (chunk.usage) usage = chunk.usage;
    for (const ch of chunk.choices) {
      text += ch.delta.content ?? "";
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  assert.ok(n >= 3, `only ${n} chunks`);
  assert.ok(["stop", "length"].includes(finish), String(finish));
  assert.ok(usage && usage.completion_tokens > 0 && usage.total_tokens === usage.prompt_tokens + usage.completion_tokens,
    JSON.stringify(usage));
  assert.equal(typeof text, "string");
});

test("openai: typed errors for a bad field and a wrong key", async () => {
  await assert.rejects(client().chat.completions.create({ model: "psyche", messages, n: 2 }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError, e.constructor.name);
    assert.equal(e.status, 400);
    assert.equal(e.param, "n");
    return true;
  });
  const wrong = new OpenAI({ baseURL, apiKey: "not-the-key-0000000000", maxRetries: 0 });
  await assert.rejects(wrong.models.list(), (e) => {
    assert.ok(e instanceof OpenAI.AuthenticationError, e.constructor.name);
    assert.equal(e.status, 401);
    return true;
  });
});

test("openai: tools round trip, plain and streamed", async () => {
  const c = new OpenAI({ baseURL: fakeURL, apiKey: KEY, maxRetries: 0 });
  const tools = [{ type: "function", function: { name: "get_weather", description: "Weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } } } } }];
  const ask = [{ role: "user", content: "Weather in Oslo?" }];
  const r1 = await c.chat.completions.create({ model: "psyche", messages: ask, tools });
  assert.equal(r1.choices[0].finish_reason, "tool_calls");
  assert.deepEqual(r1.choices[0].message.tool_calls, [CALL]);
  // streamed: the client library assembles the per-index deltas into the same call
  const stream = c.chat.completions.stream({ model: "psyche", messages: ask, tools });
  const done = await stream.finalChatCompletion();
  assert.equal(done.choices[0].finish_reason, "tool_calls");
  const call = done.choices[0].message.tool_calls[0];
  assert.equal(call.id, "call_abc");
  assert.equal(call.function.name, "get_weather");
  assert.deepEqual(JSON.parse(call.function.arguments), { city: "Oslo" });
  // the client sends the result back and gets the answer
  const r3 = await c.chat.completions.create({ model: "psyche", tools, messages: [...ask,
    { role: "assistant", content: null, tool_calls: [CALL] },
    { role: "tool", tool_call_id: "call_abc", content: "-3 C" }] });
  assert.equal(r3.choices[0].message.content, "It is -3 C in Oslo.");
  assert.equal(r3.choices[0].finish_reason, "stop");
});

test("openai: tools offered, a text answer streams in pieces", async () => {
  const c = new OpenAI({ baseURL: fakeURL, apiKey: KEY, maxRetries: 0 });
  const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }];
  const stream = c.chat.completions.stream({ model: "psyche", tools,
    messages: [{ role: "user", content: "Hi, no tool needed" }] });
  const pieces = [];
  stream.on("content", (delta) => pieces.push(delta));
  const done = await stream.finalChatCompletion();
  assert.equal(done.choices[0].finish_reason, "stop");
  assert.equal(done.choices[0].message.content, "Nothing to look up: it is sunny.");
  assert.equal(pieces.join(""), done.choices[0].message.content);
  assert.ok(pieces.length >= 3, `the text came in ${pieces.length} piece(s), not as it was made`);
});

test("openai: embeddings, base64 by default (the client decodes it) and float on request", async () => {
  const c = client();
  const r = await c.embeddings.create({ model: "psyche", input: ["a cat called Miso", "rain"] });
  assert.equal(r.object, "list");
  assert.equal(r.data.length, 2);
  assert.equal(r.data[1].index, 1);
  const v = r.data[0].embedding;
  assert.ok(Array.isArray(v) && v.length >= 16 && v.some((x) => x !== 0), "a decoded vector");
  const f = await c.embeddings.create({ model: "psyche", input: "a cat called Miso", encoding_format: "float" });
  assert.equal(f.data[0].embedding.length, v.length);
  f.data[0].embedding.forEach((x, i) => assert.ok(Math.abs(x - v[i]) < 1e-6, `component ${i}`));
  assert.ok(r.usage.prompt_tokens > 0);
});
