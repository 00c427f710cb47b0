/* agent_int.h - the agent's insides, shared by agent.c, session.c, react.c,
 * thoughts.c, memflow.c and toolglue.c. Front-ends never include this (they use agent.h).
 *
 * Threads: the agent thread owns everything here except the fields marked
 * [mu] (read by the front-end thread under mu) and the atomics marked [atomic]
 * (set by any thread, even a signal handler for quit). */
#ifndef PSY_AGENT_INT_H
#define PSY_AGENT_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>

#include <cjson/cJSON.h>

#include "agent.h"
#include "context.h"
#include "idle.h"
#include "settings.h"
#include "supervisor.h"
#include "tools.h"

typedef struct psy_evnode {
    psy_event *ev;
    struct psy_evnode *next;
} psy_evnode;

typedef struct psy_input {
    int kind; /* 0 message, 1 command */
    char *text;
    struct psy_input *next;
} psy_input;

struct psy_agent {
    const psy_settings *cfg;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;

    /* front-end <- agent */
    psy_evnode *ev_head, *ev_tail; /* [mu] */
    int ev_fd;                     /* eventfd, readable while events wait */
    /* front-end -> agent */
    psy_input *in_head, *in_tail;  /* [mu] */
    int n_messages_waiting;        /* [mu] */
    int wake_fd;                   /* eventfd: wakes the agent's poll */
    int turn_cancel;               /* [atomic] ends the current turn's call */
    int idle_cancel;               /* [atomic] ends the current idle thought/dream */
    int cancel_seq;                /* [atomic] psy_agent_cancel count */
    int typing_seq;                /* [atomic] psy_agent_typing count */
    int quit_level;                /* [atomic] 0 running, 1 shutting down, 2 stop now */
    int shutdown_cancel;           /* [atomic] set at quit level 2 */

    /* children */
    psy_child elpis, mnemo;
    psy_sup_policy pol;
    int context_length;
    char model[256];
    bool elpis_synced; /* capabilities read since it (re)started */

    /* conversation */
    psy_context ctx;
    bool reasoning;               /* [mu] */
    bool idle_on;
    psy_idle idle;
    double last_emotion_poll;
    double last_decay_poll;
    double last_consolidation_check;

    /* shown to front-ends */
    const char *state;            /* [mu] static string */
    cJSON *emotion;               /* [mu] last emotional_state */
    cJSON *last_tools;            /* [mu] [{line, success}] newest last, <= 5 */
    cJSON *status_cache;          /* [mu] built by the agent thread, copied by psy_agent_status */

    psy_tools *tools;
    char *workspace;              /* resolved workspace path */
    char *state_dir;
    char *fallback_path;
    int fallback_pending;         /* lines in the fallback file (counted at start and import) */
    const int *active_cancel;     /* flag of the activity now running (for calls) */
    long last_prompt_tokens;      /* usage.prompt_tokens of the last conversation generation, -1 = none */
};

/* ---- agent.c */
void psy_emit(psy_agent *a, psy_event_kind kind, const char *text, cJSON *data /* owned */);
void psy_emitf(psy_agent *a, psy_event_kind kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void psy_set_state(psy_agent *a, const char *state);
void psy_emit_status(psy_agent *a);
/* Calls elpis / mnemosyne: -ENOTCONN when the child is down (err says why);
 * a death during the call is reported and the child restarted. The call
 * watches a->active_cancel. */
int psy_elpis(psy_agent *a, const char *tool, cJSON *args, int timeout_ms, mcp_progress_cb cb, void *ud,
              cJSON **res, char *err, size_t errlen);
int psy_mnemo(psy_agent *a, const char *tool, cJSON *args, cJSON **res, char *err, size_t errlen);
/* True when the current activity should stop (new input, cancel, quit). */
bool psy_turn_aborted(psy_agent *a, int cancel_seq_at_start);
bool psy_idle_aborted(psy_agent *a, int typing_seq_at_start, int cancel_seq_at_start);
/* Remembers a new emotional_state (not owned) and emits it. */
void psy_note_emotion(psy_agent *a, const cJSON *state);
/* update_emotion on elpis; quiet when elpis is down. */
void psy_emotion_event(psy_agent *a, const char *event, double intensity, const char *context);
/* {valence, arousal, quadrant} of the last known state, or NULL. */
cJSON *psy_emotion_context(psy_agent *a);
void psy_note_tool(psy_agent *a, const char *line, bool success);
/* The fullest system prompt that fits the budget (compact ones for small contexts). */
void psy_set_system_prompt(psy_agent *a);
/* Waits up to wait_ms for mnemosyne's start in progress (shutdown: the
 * summary should reach it) and takes its result. */
void psy_settle_children(psy_agent *a, int wait_ms, const int *cancel);

/* ---- session.c */
void psy_run_command(psy_agent *a, const char *line);
/* Summary, staged messages, consolidation, children stopped. */
void psy_shutdown(psy_agent *a);

/* ---- react.c */
/* One user message, start to answer (or abandonment). */
void psy_react_turn(psy_agent *a, const char *text);
/* Splits model text into what the chat shows and the reasoning. */
typedef struct psy_stream_filter {
    int state;       /* 0 text, 1 reasoning, 2 tool call */
    size_t pos;      /* bytes of raw already classified */
    size_t mark;     /* start of the current reasoning block's content */
    char close[16];  /* closing tag awaited */
} psy_stream_filter;
void psy_filter_init(psy_stream_filter *f);
/* Classifies raw[f->pos..len): visible text is appended to vis, finished
 * reasoning blocks to reasoning (each followed by a blank line). final:
 * nothing more will come, so pending bytes are settled. */
void psy_filter_feed(psy_stream_filter *f, const char *raw, size_t len, bool final, void *vis_buf, void *reason_buf);
/* Generates one answer into *out (malloc'd) from messages with the given
 * options, streaming TOKEN/REASONING events when stream is true; stops at
 * the closing fence of a tool_call. Returns 0, -ETIMEDOUT (out holds the
 * partial text), -ECANCELED (partial), or another -errno with err set. */
int psy_generate(psy_agent *a, cJSON *messages /* owned */, int max_tokens, double temperature /* <0: emotion */,
                 bool background, bool stream, int timeout_s, char **out, char *err, size_t errlen);

/* "[Tool result for <name>]:\n<compact JSON>" cut to at most max_chars
 * characters (UTF-8 code points, never a split character), and to fit_chars
 * when that is smaller (fit_chars < 0: no such limit), with a note saying how
 * many characters were omitted. Caller frees. */
char *psy_tool_result_text(const char *name, const cJSON *wrapper, long max_chars, long fit_chars);

/* ---- thoughts.c */
void psy_think(psy_agent *a);
void psy_dream(psy_agent *a);
/* Runs should_consolidate and, when recommended, consolidate_memories. */
void psy_maybe_consolidate(psy_agent *a, const char *why);

/* ---- memflow.c */
/* Stores one memory (store_memory args, owned) or writes it to the fallback file. */
int psy_mem_store(psy_agent *a, cJSON *args);
/* Builds store_memory arguments with the current emotion. */
cJSON *psy_mem_args(psy_agent *a, const char *content, const char *summary, const char *type, const char *source,
                    const char *const *tags);
/* search_memories with the current emotion; returns the results array (caller frees) or NULL. */
cJSON *psy_mem_search(psy_agent *a, const char *query, int n);
/* The context's flush callback: stores staged messages through the filter. */
int psy_mem_flush(void *ud, const psy_msg *msgs, size_t n);
/* The context's summarize callback (compaction = "summarize"). */
char *psy_mem_summarize(void *ud, const psy_msg *msgs, size_t n);
/* Imports the fallback file (when mnemosyne is up). */
void psy_mem_import_fallback(psy_agent *a);
/* Importance of an exchange; stores it when over the threshold. */
void psy_mem_consider_exchange(psy_agent *a, const char *user_text, const char *answer, int tools_used,
                               const char *tool_results);
/* The recall_memory and store_memory tools; return the {success, ...} result (caller frees). */
cJSON *psy_mem_tool(psy_agent *a, const char *name, const cJSON *args);

/* ---- toolglue.c */
int psy_tools_open(psy_agent *a, char *err, size_t errlen);
void psy_tools_close(psy_agent *a);
/* [{name, description, inputSchema}] of every tool the model may call (caller frees). */
cJSON *psy_tools_list(psy_agent *a);
/* Runs a tool (flags: PSY_TOOL_* of tools.h): returns the wrapper
 * {tool_call_id, success, result, duration_ms} (caller frees), after emitting
 * PSY_EV_TOOL_START / PSY_EV_TOOL_END when events is true. line gets the
 * readable summary ("Reading a/b.c (120 lines)"). */
cJSON *psy_tools_run(psy_agent *a, const char *name, const cJSON *args, unsigned flags, bool events, char *line,
                     size_t linelen);
/* Sandbox facts for /status: {active, detail}. */
cJSON *psy_tools_sandbox(psy_agent *a);

#endif
