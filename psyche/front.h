/* front.h - what the full-screen TUI needs of an agent, as a table of
 * operations, so the same TUI runs on the local agent (front_local.c) or on
 * a `psyche serve` over HTTP (front_remote.c). The meaning of each operation
 * is that of the psy_agent_* function of the same name in agent.h: every
 * call returns at once, and what happens comes back as psy_event values
 * behind fd (readable while events wait).
 *
 * The TUI calls through the table (function pointers), so it depends on
 * neither implementation (tests/check_layers.py). */
#ifndef PSY_FRONT_H
#define PSY_FRONT_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "agent.h"

typedef struct psy_front_ops {
    int (*fd)(void *ctx);
    psy_event *(*next_event)(void *ctx); /* caller frees with psy_event_free */
    void (*submit)(void *ctx, const char *text);
    void (*cancel)(void *ctx);
    bool (*command)(void *ctx, const char *line); /* false: not taken */
    void (*quit)(void *ctx);
    cJSON *(*status)(void *ctx);  /* caller frees, may be NULL */
    cJSON *(*emotion)(void *ctx); /* caller frees, may be NULL */
    void (*typing)(void *ctx);
} psy_front_ops;

typedef struct psy_front {
    const psy_front_ops *ops;
    void *ctx; /* the implementation's (not owned by the TUI) */
} psy_front;

/* The local agent as a front (a is borrowed). */
psy_front psy_front_local(psy_agent *a);

static inline int psy_front_fd(const psy_front *f) { return f->ops->fd(f->ctx); }
static inline psy_event *psy_front_next_event(const psy_front *f) { return f->ops->next_event(f->ctx); }
static inline void psy_front_submit(const psy_front *f, const char *text) { f->ops->submit(f->ctx, text); }
static inline void psy_front_cancel(const psy_front *f) { f->ops->cancel(f->ctx); }
static inline bool psy_front_command(const psy_front *f, const char *line) { return f->ops->command(f->ctx, line); }
static inline void psy_front_quit(const psy_front *f) { f->ops->quit(f->ctx); }
static inline cJSON *psy_front_status(const psy_front *f) { return f->ops->status(f->ctx); }
static inline cJSON *psy_front_emotion(const psy_front *f) { return f->ops->emotion(f->ctx); }
static inline void psy_front_typing(const psy_front *f) { f->ops->typing(f->ctx); }

#endif
