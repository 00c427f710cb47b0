/* bus.h - the agent's event bus: the bottom layer of psyche's agent.
 *
 * Owns what crosses threads: the event queue (agent -> front-end), the input
 * queue (front-end -> agent), the shown state and status snapshot, the
 * cancellation flags and the current activity. Every other agent file talks
 * to the front-end only through here, and this file calls no other file of
 * psyche/ (the status snapshot is built by a callback the agent installs).
 *
 * Threads: the front-end thread may call psy_bus_push_input, psy_bus_wake,
 * psy_bus_next_event, psy_bus_status_copy and the psy_bus_signal_* functions
 * at any time (psy_bus_signal_quit is async-signal-safe); everything else
 * runs on the agent thread. Fields marked [mu] are read under mu, [atomic]
 * ones with __atomic builtins. */
#ifndef PSY_BUS_H
#define PSY_BUS_H

#include <pthread.h>
#include <stdbool.h>

#include <cjson/cJSON.h>

#include "agent.h"

/* Most tool lines kept for the sidebar (newest last). */
#define PSY_BUS_LAST_TOOLS 5

typedef enum {
    PSY_INPUT_MESSAGE = 0,
    PSY_INPUT_COMMAND = 1,
    PSY_INPUT_CONV_FREE = 2, /* free the conversation (after what is queued before it) */
} psy_input_kind;

typedef struct psy_input {
    psy_input_kind kind;
    char *text;     /* owned */
    void *conv;     /* the psy_conv a message is for; NULL = the agent's own */
    int cancel_seq; /* the bus's cancel count when it was queued: a cancel after that ends its turn */
    struct psy_input *next;
} psy_input;

/* What the agent thread is doing; each has its own cancel flag, so a cancel
 * meant for one activity never ends another. */
typedef enum {
    PSY_ACT_NONE = 0, /* calls are not cancellable */
    PSY_ACT_TURN,     /* a user turn or a command: new input or cancel ends it */
    PSY_ACT_IDLE,     /* a thought, dream or emotion poll: typing ends it too */
    PSY_ACT_SHUTDOWN, /* the quit path: only a second quit ends it */
} psy_activity;

typedef struct psy_evnode psy_evnode;

/* Builds the status snapshot; called with mu held (must not lock it). */
typedef cJSON *(*psy_status_fn)(void *ud);

typedef struct psy_bus {
    pthread_mutex_t mu;
    psy_evnode *ev_head, *ev_tail; /* [mu] */
    int ev_fd;                     /* eventfd, readable while events wait */
    psy_input *in_head, *in_tail;  /* [mu] */
    int n_messages_waiting;        /* [mu] */
    int wake_fd;                   /* eventfd: wakes the agent's poll */
    int turn_cancel;               /* [atomic] */
    int idle_cancel;               /* [atomic] */
    int shutdown_cancel;           /* [atomic] set at quit level 2 */
    int cancel_seq;                /* [atomic] psy_bus_signal_cancel count */
    int typing_seq;                /* [atomic] psy_bus_signal_typing count */
    int quit_level;                /* [atomic] 0 running, 1 shutting down, 2 stop now */
    psy_activity activity;         /* agent thread only */
    const char *state;             /* [mu] static string */
    bool reasoning;                /* [mu] */
    cJSON *last_tools;             /* [mu] [{line, success}] */
    cJSON *status_cache;           /* [mu] */
    psy_status_fn status_fn;
    void *status_ud;
} psy_bus;

/* Returns 0 or -errno (eventfds). On failure psy_bus_free is still safe. */
int psy_bus_init(psy_bus *b);
/* Frees queued events and inputs, closes the fds. */
void psy_bus_free(psy_bus *b);
void psy_bus_set_status_fn(psy_bus *b, psy_status_fn fn, void *ud);

/* ---- events (agent -> front-end) */
/* Queues an event; data is owned by the bus from here on. */
void psy_emit(psy_bus *b, psy_event_kind kind, const char *text, cJSON *data);
void psy_emitf(psy_bus *b, psy_event_kind kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The oldest event (caller frees), or NULL. */
psy_event *psy_bus_next_event(psy_bus *b);

/* ---- input (front-end -> agent) */
/* Returns 0 or -ENOMEM (the input is then lost and logged). */
int psy_bus_push_input(psy_bus *b, psy_input_kind kind, const char *text, void *conv);
/* The oldest input (caller frees with psy_input_free), or NULL. */
psy_input *psy_bus_pop_input(psy_bus *b);
void psy_input_free(psy_input *in);
bool psy_bus_input_waiting(psy_bus *b, bool messages_only);
void psy_bus_wake(psy_bus *b);
/* After the agent's poll saw wake_fd readable. */
void psy_bus_drain_wake(psy_bus *b);

/* ---- signals from the front-end */
/* A message was queued: the current turn and idle activity stop. */
void psy_bus_signal_input(psy_bus *b);
void psy_bus_signal_cancel(psy_bus *b);
void psy_bus_signal_typing(psy_bus *b);
/* Async-signal-safe. The second call asks to stop now. */
void psy_bus_signal_quit(psy_bus *b);
int psy_bus_quit_level(psy_bus *b);
bool psy_bus_stop_now(psy_bus *b); /* quit level 2 */
int psy_bus_cancel_seq(psy_bus *b);
int psy_bus_typing_seq(psy_bus *b);

/* ---- activities and cancellation */
/* Makes kind the current activity; fresh clears its cancel flag first (a
 * fresh start), otherwise a cancel already requested still applies. */
void psy_activity_begin(psy_bus *b, psy_activity kind, bool fresh);
/* Back to PSY_ACT_NONE: calls are no longer cancellable. */
void psy_activity_end(psy_bus *b);
/* Clears the current activity's cancel flag (a new step of a turn). */
void psy_activity_rearm(psy_bus *b);
/* Sets it: ends the call in flight (a generation that reached a tool call). */
void psy_activity_stop_call(psy_bus *b);
/* The flag a child call watches, or NULL when nothing may cancel it. */
const int *psy_activity_cancel(psy_bus *b);
/* True when a turn started at cancel_seq should stop (new message, cancel, quit). */
bool psy_turn_aborted(psy_bus *b, int cancel_seq_at_start);
/* True when an idle activity should stop (any input, typing, cancel, quit). */
bool psy_idle_aborted(psy_bus *b, int typing_seq_at_start, int cancel_seq_at_start);

/* ---- what the front-end sees */
/* Sets the shown state (a static string); emits STATUS when it changed. */
void psy_set_state(psy_bus *b, const char *state);
const char *psy_bus_state(psy_bus *b);
/* Rebuilds the snapshot (status_fn) and emits it as a STATUS event. */
void psy_emit_status(psy_bus *b);
/* The last snapshot with the live state and reasoning (caller frees). */
cJSON *psy_bus_status_copy(psy_bus *b);
void psy_bus_set_reasoning(psy_bus *b, bool on);
bool psy_bus_reasoning(psy_bus *b);
/* Remembers a tool line for the sidebar. */
void psy_note_tool(psy_bus *b, const char *line, bool success);

#endif
