/* settings.c - the psyche configuration table: defaults, ranges and help.
 * Owns nothing at run time; every key here must be read somewhere (the
 * docs promise that every key is wired). */
#include "settings.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "fs.h"
#include "paths.h"
#include "serve.h"

#define K(sec, key, type, dest, def, lo, hi, help)                                                                     \
    {                                                                                                                  \
        sec, key, type, dest, def, lo, hi, help                                                                        \
    }

// NOLINTNEXTLINE(readability-function-size): a data table, one entry per key
size_t psy_settings_table(psy_settings *s, const cfg_key **out)
{
    static cfg_key t[80 + PSY_SERVE_SETTINGS_MAX];
    const cfg_key keys[] = {
        K("model", "path", CFG_STRING, &s->model_path, "", 0, 0,
          "GGUF chat model passed to elpis as --model; empty = elpis's own configuration (ELPIS_MODEL_PATH, "
          "configs/elpis.toml)"),

        K("children", "elpis_command", CFG_STRLIST, &s->elpis_command, "", 0, 0,
          "command line of the inference server; empty = the elpis binary next to psyche"),
        K("children", "mnemosyne_command", CFG_STRLIST, &s->mnemosyne_command, "", 0, 0,
          "command line of the memory server; empty = the mnemosyne binary next to psyche with --db [memory] db_path"),
        K("children", "start_attempts", CFG_INT, &s->start_attempts, "3", 1, 20,
          "attempts to start a child (waiting 1 s, 2 s, 4 s ... between them)"),
        K("children", "start_timeout_s", CFG_INT, &s->start_timeout_s, "120", 1, 3600,
          "seconds a child may take to answer the MCP handshake (elpis loads its model first)"),
        K("children", "call_timeout_s", CFG_INT, &s->call_timeout_s, "60", 1, 3600,
          "timeout of calls other than generation (memory search, token counts, emotion)"),
        K("children", "restart_max", CFG_INT, &s->restart_max, "5", 0, 1000,
          "restarts allowed per child within restart_window_s; beyond that the child is reported and left down"),
        K("children", "restart_window_s", CFG_INT, &s->restart_window_s, "300", 1, 86400,
          "window of the restart rate limit"),
        K("children", "restart_retry_s", CFG_INT, &s->restart_retry_s, "60", 1, 86400,
          "seconds before trying again a child that could not be started or hit the rate limit"),
        K("children", "restart_backoff_max_s", CFG_INT, &s->restart_backoff_max_s, "60", 1, 86400,
          "a child that died is restarted after 1 s, then 2 s, 4 s ... up to this; the delay starts over once "
          "it has stayed up this long"),
        K("children", "stop_grace_ms", CFG_INT, &s->stop_grace_ms, "3000", 0, 600000,
          "at shutdown: wait this long after closing a child's input, then SIGTERM, then SIGKILL after as long again"),

        K("workspace", "dir", CFG_STRING, &s->workspace, "", 0, 0,
          "folder the file and shell tools are confined to; empty = the current directory"),
        K("workspace", "enable_dangerous_commands", CFG_BOOL, &s->dangerous_commands, "false", 0, 0,
          "let execute_bash run commands on the blocklist (rm -rf /, sudo, curl http, ...)"),
        K("workspace", "sandbox", CFG_BOOL, &s->sandbox, "true", 0, 0,
          "run execute_bash under Landlock where the kernel allows (writes only inside the workspace)"),
        K("workspace", "allow_network", CFG_BOOL, &s->allow_network, "false", 0, 0,
          "let sandboxed commands use the network"),
        K("workspace", "sandbox_tmp", CFG_BOOL, &s->sandbox_tmp, "true", 0, 0,
          "an exception to the sandbox that compilers and test runners need: sandboxed commands may also write "
          "to /tmp, /var/tmp and /dev/shm (false: writes only inside the workspace)"),
        K("workspace", "bash_timeout_s", CFG_INT, &s->bash_timeout_s, "30", 1, 3600,
          "execute_bash timeout; the whole process group is killed"),

        K("agent", "max_iterations", CFG_INT, &s->max_iterations, "10", 1, 100, "tool-using steps per user message"),
        K("agent", "generation_timeout_s", CFG_INT, &s->generation_timeout_s, "120", 1, 3600,
          "a generation running longer is stopped; its partial text is kept with \"[Generation timed out]\""),
        K("agent", "max_tokens", CFG_INT, &s->max_tokens, "2048", 16, 1048576,
          "largest answer per generation (also bounded by the context left)"),
        K("agent", "tool_result_max_chars", CFG_INT, &s->tool_result_max_chars, "16000", 100, 10000000,
          "tool results longer than this are cut, with a note saying how much was omitted"),
        K("agent", "reasoning", CFG_BOOL, &s->reasoning, "false", 0, 0,
          "ask the model to think inside <reasoning> tags first (shown in the thought panel); /thinking toggles it"),
        K("agent", "emotional_modulation", CFG_BOOL, &s->emotional_modulation, "true", 0, 0,
          "let elpis set sampling from the emotional state for conversation turns"),

        K("context", "max_fraction", CFG_DOUBLE, &s->max_fraction, "0.75", 0.1, 1,
          "conversation budget: this share of elpis's context length"),
        K("context", "reserve_fraction", CFG_DOUBLE, &s->reserve_fraction, "0.20", 0, 0.9,
          "share of the context length kept free for the answer; compaction starts above max - reserve"),
        K("context", "min_messages", CFG_INT, &s->min_messages, "4", 1, 1000,
          "messages compaction always keeps (besides the system prompt)"),
        K("context", "compaction", CFG_STRING, &s->compaction, "sliding", 0, 0,
          "sliding: drop the oldest messages; summarize (or summarise): replace them with a summary message (falls "
          "back to sliding)"),
        K("context", "fallback_context_length", CFG_INT, &s->fallback_context_length, "4096", 256, 1048576,
          "context length assumed when elpis does not report one"),

        K("memory", "enabled", CFG_BOOL, &s->memory, "true", 0, 0, "start mnemosyne (false is what --no-memory sets)"),
        K("memory", "db_path", CFG_STRING, &s->db_path, "", 0, 0,
          "memory database for the default mnemosyne command; empty = $XDG_DATA_HOME/psyche/memories.db"),
        K("memory", "fallback_file", CFG_STRING, &s->fallback_file, "", 0, 0,
          "JSONL file for memories stored while mnemosyne is down (imported when it is back); empty = "
          "<state_dir>/fallback-memories.jsonl"),
        K("memory", "auto_retrieval", CFG_BOOL, &s->auto_retrieval, "true", 0, 0,
          "recall mood-congruent memories for each user message and show them to the model next to it"),
        K("memory", "retrieval_count", CFG_INT, &s->retrieval_count, "3", 1, 20, "memories recalled per user message"),
        K("memory", "auto_store", CFG_BOOL, &s->auto_store, "true", 0, 0,
          "store exchanges whose importance score reaches importance_threshold"),
        K("memory", "importance_threshold", CFG_DOUBLE, &s->importance_threshold, "0.6", 0, 1,
          "importance score that stores an exchange"),
        K("memory", "consolidate_check_s", CFG_INT, &s->consolidate_check_s, "300", 1, 86400,
          "ask mnemosyne whether to consolidate every this many seconds (also with --no-idle), never more often"),
        K("memory", "consolidate_importance", CFG_DOUBLE, &s->consolidate_importance, "0.6", 0, 1,
          "importance_threshold of consolidations"),
        K("memory", "consolidate_similarity", CFG_DOUBLE, &s->consolidate_similarity, "0.85", 0, 1,
          "similarity_threshold of consolidations"),

        K("idle", "enabled", CFG_BOOL, &s->idle, "true", 0, 0,
          "think and dream while the user is quiet (false is what --no-idle sets)"),
        K("idle", "think_after_s", CFG_INT, &s->think_after_s, "30", 1, 86400,
          "seconds without input before an idle thought"),
        K("idle", "quiet_after_user_s", CFG_INT, &s->quiet_after_user_s, "60", 0, 86400,
          "no idle thought within this many seconds of the last user message"),
        K("idle", "think_max_tokens", CFG_INT, &s->think_max_tokens, "512", 16, 65536, "length of an idle thought"),
        K("idle", "think_temperature", CFG_DOUBLE, &s->think_temperature, "0.7", 0, 2, "temperature of idle thoughts"),
        K("idle", "tools", CFG_BOOL, &s->idle_tools, "true", 0, 0,
          "let idle thoughts use read-only tools (read_file, list_directory, search_codebase, recall_memory)"),
        K("idle", "max_tool_calls", CFG_INT, &s->idle_max_tool_calls, "3", 0, 20, "tool calls per idle thought"),
        K("idle", "tool_warmup_s", CFG_INT, &s->idle_tool_warmup_s, "120", 0, 86400,
          "no idle tool use in the first seconds after start"),
        K("idle", "tool_cooldown_s", CFG_INT, &s->idle_tool_cooldown_s, "300", 0, 86400,
          "seconds between idle tool uses"),
        K("idle", "tool_result_max_chars", CFG_INT, &s->idle_result_max_chars, "8000", 100, 10000000,
          "idle tool results are cut to this"),
        K("idle", "dreams", CFG_BOOL, &s->dreams, "true", 0, 0, "dream after a longer silence"),
        K("idle", "dream_after_s", CFG_INT, &s->dream_after_s, "300", 1, 86400, "seconds without input before a dream"),
        K("idle", "dream_interval_s", CFG_INT, &s->dream_interval_s, "300", 1, 86400,
          "seconds between dreams while the silence lasts"),
        K("idle", "dream_max_tokens", CFG_INT, &s->dream_max_tokens, "500", 16, 65536, "length of a dream"),
        K("idle", "dream_temperature", CFG_DOUBLE, &s->dream_temperature, "0.9", 0, 2, "temperature of dreams"),
        K("idle", "dream_max_memories", CFG_INT, &s->dream_max_memories, "10", 1, 100, "memories surfacing in a dream"),

        K("shutdown", "summary", CFG_BOOL, &s->summary, "true", 0, 0,
          "at exit, summarise the conversation and store it as a semantic memory tagged conversation_summary"),
        K("shutdown", "summary_max_tokens", CFG_INT, &s->summary_max_tokens, "500", 16, 65536,
          "length of that summary"),
        K("shutdown", "summary_temperature", CFG_DOUBLE, &s->summary_temperature, "0.3", 0, 2,
          "temperature of that summary"),
        K("shutdown", "consolidate", CFG_BOOL, &s->shutdown_consolidate, "true", 0, 0,
          "at exit, consolidate memories if mnemosyne recommends it"),

        K("paths", "state_dir", CFG_STRING, &s->state_dir, "", 0, 0,
          "children's logs, psyche's log and the fallback file; empty = $XDG_STATE_HOME/psyche "
          "(~/.local/state/psyche)"),

        K("logging", "level", CFG_STRING, &s->log_level, "info", 0, 0, "debug, info, warn or error"),
        K("logging", "file", CFG_STRING, &s->log_file, "", 0, 0, "psyche's log; empty = <state_dir>/psyche.log"),
    };
    size_t n = sizeof keys / sizeof keys[0];
    _Static_assert(sizeof keys / sizeof keys[0] <= sizeof t / sizeof t[0], "settings table too small");
    for (size_t i = 0; i < n; i++) t[i] = keys[i];
    s->quit_summary = true;
    const cfg_key *server; /* [server]: psyche serve's section (serve.c), so one psyche.toml serves both */
    size_t ns = psy_serve_settings(&server);
    for (size_t i = 0; i < ns; i++) t[n + i] = server[i];
    *out = t;
    return n + ns;
}

/* given (a configured folder) or the XDG folder of kind, created. */
static char *make_dir(const char *given, paths_kind kind, const char *key, char *err, size_t errlen)
{
    char *dir = NULL;
    if (given && *given) {
        dir = strdup(given);
        if (!dir) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
    } else if (paths_dir(kind, &dir, err, errlen)) {
        size_t used = strlen(err);
        snprintf(err + used, errlen - used, "; or set %s", key);
        return NULL;
    }
    int rc = fs_mkdir_p(dir, FS_DIR_MODE_PRIVATE);
    if (rc) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(-rc));
        free(dir);
        return NULL;
    }
    return dir;
}

char *psy_settings_state_dir(const psy_settings *s, char *err, size_t errlen)
{
    return make_dir(s->state_dir, PATHS_STATE, "[paths] state_dir", err, errlen);
}

char *psy_settings_data_dir(char *err, size_t errlen)
{
    return make_dir(NULL, PATHS_DATA, "[memory] db_path", err, errlen);
}

bool psy_settings_summarize(const psy_settings *s)
{
    return s->compaction && (!strcmp(s->compaction, "summarize") || !strcmp(s->compaction, "summarise"));
}

bool psy_settings_compaction_valid(const psy_settings *s)
{
    return s->compaction && (!strcmp(s->compaction, "sliding") || psy_settings_summarize(s));
}
