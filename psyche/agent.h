/* agent.h - the boundary between psyche's front-ends and its agent.
 *
 * Data flows one way per request: a front-end (TUI, --repl, -p, --events)
 * hands user input to the agent; the agent runs on its own thread (the only
 * thread that talks to the children elpis and mnemosyne) and reports
 * everything that happens as psy_event values in a queue. The front-end
 * learns that events are waiting by polling psy_agent_fd() (readable when the
 * queue is non-empty) and drains them with psy_agent_next_event().
 *
 * All functions here are safe to call from the front-end thread while the
 * agent thread runs. Events are owned by the caller once taken: free them with
 * psy_event_free().
 *
 * API STABLE: the TUI and the agent are written against this header. */
#ifndef PSY_AGENT_H
#define PSY_AGENT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

typedef struct psy_agent psy_agent;

typedef enum {
    PSY_EV_TOKEN,      /* text: a delta of the assistant's streamed answer */
    PSY_EV_ANSWER,     /* text: the whole answer of a turn (after tool calls are stripped); turn is over */
    PSY_EV_REASONING,  /* text: content of <reasoning>/<thinking> (thought panel, not the chat) */
    PSY_EV_THOUGHT,    /* text: an idle thought (complete); data: {kind:"reflection"|"dream"} */
    PSY_EV_TOOL_START, /* text: readable line ("Reading a/b.c"); data: {name, arguments} */
    PSY_EV_TOOL_END, /* text: readable line ("Reading a/b.c (120 lines)"); data: {name, success, duration_ms, result} */
    PSY_EV_EMOTION,  /* data: elpis emotional_state */
    PSY_EV_MEMORY,   /* text: what happened ("stored 2 memories", "recalled 3"); data: details */
    PSY_EV_STATUS,   /* data: see psy_agent_status(); sent when something in it changes */
    PSY_EV_CHILD,    /* text: "elpis died (killed by signal 11); restarting"; data: {child, event, detail, log_tail} */
    PSY_EV_ERROR,    /* text: "[Error: ...]" for the chat */
    PSY_EV_INFO,     /* text: a system line for the chat (command output, notices) */
    PSY_EV_QUIT,     /* the agent finished its shutdown; the front-end should exit */
} psy_event_kind;

typedef struct psy_event {
    psy_event_kind kind;
    char *text;  /* owned, may be NULL */
    cJSON *data; /* owned, may be NULL */
} psy_event;

const char *psy_event_kind_name(psy_event_kind k); /* "token", "answer", ... for --events */
void psy_event_free(psy_event *ev);

/* A readable fd: poll it, then drain with psy_agent_next_event until NULL. */
int psy_agent_fd(psy_agent *a);
psy_event *psy_agent_next_event(psy_agent *a);

/* A user message. If the agent is busy with a turn, that turn is abandoned
 * (its generation cancelled) and this one is taken; idle thinking is
 * cancelled at once. */
void psy_agent_submit(psy_agent *a, const char *text);
/* Cancels the current generation or tool (Ctrl+C while generating, Esc). */
void psy_agent_cancel(psy_agent *a);
/* Slash commands that need the agent: "/status", "/emotion", "/memory <q>",
 * "/clear", "/thinking on|off". The answer arrives as PSY_EV_INFO events.
 * Returns false when the text is not an agent command. */
bool psy_agent_command(psy_agent *a, const char *line);
/* Starts the shutdown path (summary, flush, consolidation, stop children);
 * PSY_EV_QUIT follows. A second call skips what is left and stops now. */
void psy_agent_quit(psy_agent *a);

/* Snapshot for the sidebar and /status (caller frees):
 * {state: "idle"|"thinking"|"generating"|"running tool"|"dreaming"|"starting"|"stopping",
 *  messages, tokens_used, tokens_budget, context_length,
 *  children: {elpis: {alive, restarts, pid}, mnemosyne: {alive, restarts, pid, disabled}},
 *  sandbox: {active, detail}, workspace, model, reasoning, idle_enabled,
 *  last_tools: [{line, success}] (newest last, at most 5)} */
cJSON *psy_agent_status(psy_agent *a);
/* The last known emotional state (caller frees), or NULL. */
cJSON *psy_agent_emotion(psy_agent *a);

/* ---- Lifecycle (added for main.c; the front-ends above need none of it) */
typedef struct psy_settings psy_settings; /* settings.h */
/* Creates the agent from settings (not copied: they must outlive it). Nothing
 * runs yet. Returns 0, or -errno with a message in err. */
int psy_agent_new(psy_agent **out, const psy_settings *cfg, char *err, size_t errlen);
/* Starts the agent thread, which starts the children and reports as events.
 * Returns 0 or -errno. */
int psy_agent_start(psy_agent *a);
/* After PSY_EV_QUIT (or at any time: then it stops at once): joins the
 * thread, stops the children, frees everything. */
void psy_agent_free(psy_agent *a);
/* The user pressed a key: idle thinking stops at once (a turn is not
 * cancelled). Front-ends call it on input activity. */
void psy_agent_typing(psy_agent *a);

/* ---- Quit summary: psy_settings.quit_summary (default true) says whether the
 * shutdown path summarises the conversation ([shutdown] summary must be on
 * too); `psyche -p` turns it off unless --summary is given. */

/* ---- Conversations (see docs/psyche.md "Conversations").
 * A conversation holds its messages, token budget, staged memories and
 * usage; the agent shares its children, tools, idle thinking and its one
 * emotional state among them. The front-ends above use the agent's own
 * conversation (psy_agent_submit); a server creates one per client. Turns
 * run one at a time on the agent thread, in the order submitted; their
 * events go to the one event queue. */
typedef struct psy_conv psy_conv;

typedef struct psy_usage {
    long turns;              /* user messages answered (or abandoned) */
    long generations;        /* generate calls for them (tool steps included) */
    long prompt_tokens;      /* sum over generations, as elpis reported them */
    long completion_tokens;  /* sum over generations */
    long last_prompt_tokens; /* of the newest generation, -1 = none yet */
} psy_usage;

/* The conversation the front-end calls above use (owned by the agent). */
psy_conv *psy_agent_conv(psy_agent *a);
/* A new, empty conversation with the agent's budget (its system prompt is
 * set on the agent thread before its first turn, since elpis counts it).
 * Any thread. Free it with psy_agent_conv_free. Returns 0 or -ENOMEM. */
int psy_agent_conv_new(psy_agent *a, psy_conv **out);
/* Queues a user message for conversation c (as psy_agent_submit does for the
 * agent's own). Returns 0 or -ENOMEM. */
int psy_agent_submit_to(psy_agent *a, psy_conv *c, const char *text);
/* Frees c on the agent thread after the turns queued for it (its staged
 * messages are not stored as memories). c must not be used afterwards.
 * Returns 0, or -ENOMEM (then nothing was queued: c is still yours). */
int psy_agent_conv_free(psy_agent *a, psy_conv *c);
/* The next three may be called from any thread: each waits while a turn,
 * command or thought runs on c (they hold c's lock). */
/* The messages [{role, content}] as the model sees them, system prompt
 * first (caller frees). */
cJSON *psy_conv_messages(psy_conv *c);
/* Usage so far. */
void psy_conv_get_usage(psy_conv *c, psy_usage *out);
/* Messages waiting to be stored as memories. */
size_t psy_conv_staged(psy_conv *c);

#endif
