/* serve_settings.c - the [server] section of psyche.toml: the keys `psyche
 * serve` reads, with their defaults and help. Data only: psyche's settings
 * table (settings.c) appends them, so one psyche.toml serves the TUI and the
 * server, and serve.c reads the values through psy_serve_settings_values().
 * Nothing here calls upward. */
#include "serve.h"

#include <stddef.h>

#include "serve_int.h"

static psy_serve_cfg g_scfg;


static const cfg_key serve_keys[] = {
    {"server", "host", CFG_STRING, &g_scfg.host, "127.0.0.1", 0, 0,
     "address to listen on; anything but loopback needs api_key_file"},
    {"server", "port", CFG_INT, &g_scfg.port, "8741", 0, 65535, "TCP port (0: any free port, printed at start)"},
    {"server", "api_key_file", CFG_STRING, &g_scfg.api_key_file, "", 0, 0,
     "file with one API key per line (# comments); empty: no keys, loopback only"},
    {"server", "max_body_bytes", CFG_INT, &g_scfg.max_body_bytes, "4194304", 1024, 268435456,
     "largest request body; larger ones get 413"},
    {"server", "body_timeout_s", CFG_INT, &g_scfg.body_timeout_s, "30", 1, 3600,
     "the whole request body must arrive within this many seconds"},
    {"server", "idle_timeout_s", CFG_INT, &g_scfg.idle_timeout_s, "60", 1, 86400,
     "a connection silent this long is closed"},
    {"server", "max_connections", CFG_INT, &g_scfg.max_connections, "64", 1, 4096, "open connections at most"},
    {"server", "queue_max", CFG_INT, &g_scfg.queue_max, "16", 1, 10000,
     "chat requests waiting for the engine at most; more get 429"},
    {"server", "cors_origin", CFG_STRING, &g_scfg.cors_origin, "", 0, 0,
     "Access-Control-Allow-Origin for browsers (e.g. http://localhost:3000); empty: no CORS"},
    {"server", "model_name", CFG_STRING, &g_scfg.model_name, "psyche", 0, 0, "the model id /v1/models shows"},
    {"server", "drain_timeout_s", CFG_INT, &g_scfg.drain_timeout_s, "30", 0, 3600,
     "on SIGTERM, wait this long for requests in flight before cancelling them"},
    {"server", "conversation_idle_s", CFG_INT, &g_scfg.conversation_idle_s, "1800", 1, 604800,
     "a conversation without a request this long is forgotten"},
    {"server", "max_conversations", CFG_INT, &g_scfg.max_conversations, "1024", 1, 1000000,
     "conversations kept at most; beyond, the least recently used is forgotten"},
    {"server", "memory_tools", CFG_BOOL, &g_scfg.memory_tools, "false", 0, 0,
     "offer the model recall_memory/store_memory, run inside the server (at most 5 rounds); the text of "
     "those rounds is never shown"},
    {"server", "slots", CFG_INT, &g_scfg.slots, "4", 0, 32,
     "conversations elpis decodes at once (continuous batching; passed as elpis --slots, each slot gets its own "
     "[model] ctx of KV cache); 0: elpis's own [model] slots"},
    {"server", "stream_interval_ms", CFG_INT, &g_scfg.stream_interval_ms, "20", 0, 1000,
     "a streamed answer's text is sent at most this often (the first piece at once, the rest gathered); fewer, "
     "larger SSE chunks cost the generation less CPU on a fast model. 0: every token as it comes"},
};
#define N_SERVE_KEYS (sizeof serve_keys / sizeof serve_keys[0])

_Static_assert(N_SERVE_KEYS <= PSY_SERVE_SETTINGS_MAX, "raise PSY_SERVE_SETTINGS_MAX in serve.h");

size_t psy_serve_settings(const cfg_key **out)
{
    *out = serve_keys;
    return N_SERVE_KEYS;
}

psy_serve_cfg *psy_serve_settings_values(void) { return &g_scfg; }
