// Interop: the official MCP SDK client against build/bin/mnemosyne with a temporary database.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const build = process.env.BUILD;

test("mnemosyne: store, search, stats and bad input through the SDK", async () => {
  const dir = mkdtempSync(join(tmpdir(), "mnemosyne-interop-"));
  const transport = new StdioClientTransport({
    command: `${build}/bin/mnemosyne`,
    args: ["--db", join(dir, "m.db")],
    cwd: dir,
    stderr: "ignore",
  });
  const client = new Client({ name: "interop-test", version: "1.0.0" });
  await client.connect(transport);
  try {
    assert.equal(client.getServerVersion().name, "mnemosyne");
    const { tools } = await client.listTools();
    for (const n of ["store_memory", "search_memories", "get_memory_stats", "consolidate_memories",
      "should_consolidate", "get_memory_context", "delete_memory", "get_recent_memories"]) {
      assert.ok(tools.some((t) => t.name === n), `missing tool ${n}`);
    }
    const stored = await client.callTool({ name: "store_memory", arguments: {
      content: "The user's cat is called Miso and likes sardines.", tags: ["pets"],
      emotional_context: { valence: 0.4, arousal: 0.1, quadrant: "excited" }, extra_field: "accepted" } });
    assert.ok(!stored.isError, JSON.stringify(stored));
    assert.equal(stored.structuredContent.status, "stored");
    const found = await client.callTool({ name: "search_memories", arguments: { query: "what is the cat called", n_results: 3 } });
    assert.ok(found.structuredContent.results.some((r) => r.id === stored.structuredContent.id));
    const stats = await client.callTool({ name: "get_memory_stats", arguments: {} });
    assert.equal(stats.structuredContent.total_memories, 1);
    // delete_memory archives unless purge is true; its schema says so
    const del = tools.find((t) => t.name === "delete_memory");
    assert.equal(del.inputSchema.properties.purge.type, "boolean");
    const id = stored.structuredContent.id;
    const archived = await client.callTool({ name: "delete_memory", arguments: { memory_id: id } });
    assert.equal(archived.structuredContent.status, "archived");
    assert.equal(archived.structuredContent.restorable, true);
    const restored = await client.callTool({ name: "restore_memory", arguments: { memory_id: id } });
    assert.equal(restored.structuredContent.restored, true);
    const purged = await client.callTool({ name: "delete_memory", arguments: { memory_id: id, purge: true } });
    assert.equal(purged.structuredContent.purged, true);
    const missing = await client.callTool({ name: "delete_memory", arguments: { memory_id: id } });
    assert.equal(missing.isError, true);
    const bad = await client.callTool({ name: "store_memory", arguments: { content: "" } }).catch((e) => e);
    const rejected = bad instanceof Error || bad.isError === true;
    assert.ok(rejected, "empty content must be refused");
  } finally {
    await client.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
