// Interop: the official `openai` npm client against `psyche serve` (build/bin/psyche) on the tiny
// model, over loopback: models.list, chat (plain and streamed), usage with cached tokens on the
// second request of a conversation, and the client's typed errors for 400 and 401.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";

const build = process.env.BUILD;
const KEY = "interop-key-0123456789abcdef";
let server, dir, baseURL;

function startServer() {
  dir = mkdtempSync(join(tmpdir(), "psyche-openai-"));
  writeFileSync(join(dir, "keys"), KEY + "\n");
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(PSYCHE|ELPIS|MNEMOSYNE|XDG)_/.test(k)));
  Object.assign(env, {
    HOME: dir, PSYCHE_PATHS_STATE_DIR: dir, PSYCHE_MODEL_PATH: `${build}/models/tiny-chat.gguf`,
    PSYCHE_AGENT_MAX_TOKENS: "16",
  });
  server = spawn(`${build}/bin/psyche`, ["serve", "--port", "0", "--api-key-file", join(dir, "keys")],
    { cwd: dir, env, stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("psyche serve did not start: " + err)), 60000);
    server.stderr.on("data", (d) => {
      err += d.toString();
      const m = err.match(/listening on (http:\/\/[^\s]+\/v1)/);
      if (m && !baseURL) {
        baseURL = m[1];
        clearTimeout(timer);
        resolve();
      }
    });
    server.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`psyche serve exited (${code}): ${err}`));
    });
  });
}

async function waitHealthy() {
  const root = baseURL.replace(/\/v1$/, "");
  for (let i = 0; i < 600; i++) {
    const r = await fetch(`${root}/health`).catch(() => null);
    if (r && r.status === 200) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error("psyche serve never became healthy");
}

before(async () => {
  await startServer();
  await waitHealthy();
});

after(async () => {
  if (server && server.exitCode === null) {
    const done = new Promise((res) => server.once("exit", res));
    server.kill("SIGTERM");
    await done;
    assert.equal(server.exitCode, 0);
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
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
