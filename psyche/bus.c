/* bus.c - the agent's event bus: event and input queues, the wake-up fds,
 * cancellation flags and the current activity, the shown state and status.
 *
 * Calls nothing else in psyche/ (see bus.h). The queues are plain linked
 * lists under one mutex; the eventfds let both sides poll. */
#include "bus.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"

struct psy_evnode {
    psy_event *ev;
    struct psy_evnode *next;
};

static void fd_wake(int fd)
{
    uint64_t one = 1;
    ssize_t w = write(fd, &one, sizeof one);
    (void)w; /* a full counter is already readable */
}

static void fd_drain(int fd)
{
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof v);
    (void)r; /* nothing to read is fine */
}

int psy_bus_init(psy_bus *b)
{
    memset(b, 0, sizeof *b);
    pthread_mutex_init(&b->mu, NULL);
    b->state = "starting";
    b->ev_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int e = errno;
    b->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (b->wake_fd < 0) e = errno;
    return b->ev_fd < 0 || b->wake_fd < 0 ? -e : 0;
}

void psy_bus_free(psy_bus *b)
{
    psy_event *ev;
    if (b->ev_fd >= 0)
        while ((ev = psy_bus_next_event(b))) psy_event_free(ev);
    psy_input *in;
    while ((in = psy_bus_pop_input(b))) psy_input_free(in);
    if (b->ev_fd >= 0) close(b->ev_fd);
    if (b->wake_fd >= 0) close(b->wake_fd);
    b->ev_fd = b->wake_fd = -1;
    cJSON_Delete(b->last_tools);
    cJSON_Delete(b->status_cache);
    b->last_tools = b->status_cache = NULL;
    pthread_mutex_destroy(&b->mu);
}

void psy_bus_set_status_fn(psy_bus *b, psy_status_fn fn, void *ud)
{
    b->status_fn = fn;
    b->status_ud = ud;
}

/* ---------------------------------------------------------------- events */

void psy_emit(psy_bus *b, psy_event_kind kind, const char *text, cJSON *data)
{
    psy_event *ev = calloc(1, sizeof *ev);
    psy_evnode *n = calloc(1, sizeof *n);
    if (!ev || !n || (text && !(ev->text = strdup(text)))) {
        log_error("out of memory: event %s lost", psy_event_kind_name(kind));
        free(n);
        psy_event_free(ev);
        cJSON_Delete(data);
        return;
    }
    ev->kind = kind;
    ev->data = data;
    n->ev = ev;
    pthread_mutex_lock(&b->mu);
    if (b->ev_tail) b->ev_tail->next = n;
    else b->ev_head = n;
    b->ev_tail = n;
    fd_wake(b->ev_fd);
    pthread_mutex_unlock(&b->mu);
}

void psy_emitf(psy_bus *b, psy_event_kind kind, const char *fmt, ...)
{
    buf t = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&t, fmt, ap);
    va_end(ap);
    psy_emit(b, kind, buf_str(&t), NULL);
    buf_free(&t);
}

psy_event *psy_bus_next_event(psy_bus *b)
{
    pthread_mutex_lock(&b->mu);
    psy_evnode *n = b->ev_head;
    if (n) {
        b->ev_head = n->next;
        if (!b->ev_head) b->ev_tail = NULL;
    }
    if (!b->ev_head) fd_drain(b->ev_fd); /* not readable again until the next event */
    pthread_mutex_unlock(&b->mu);
    if (!n) return NULL;
    psy_event *ev = n->ev;
    free(n);
    return ev;
}

/* ----------------------------------------------------------------- input */

int psy_bus_push_input(psy_bus *b, psy_input_kind kind, const char *text, void *conv)
{
    psy_input *in = calloc(1, sizeof *in);
    if (!in || !(in->text = strdup(text))) {
        free(in);
        log_error("out of memory: input lost");
        return -ENOMEM;
    }
    in->kind = kind;
    in->conv = conv;
    pthread_mutex_lock(&b->mu);
    /* an Esc between now and the start of the message's turn still reaches it */
    in->cancel_seq = __atomic_load_n(&b->cancel_seq, __ATOMIC_ACQUIRE);
    if (b->in_tail) b->in_tail->next = in;
    else b->in_head = in;
    b->in_tail = in;
    if (kind == PSY_INPUT_MESSAGE) b->n_messages_waiting++;
    pthread_mutex_unlock(&b->mu);
    return 0;
}

psy_input *psy_bus_pop_input(psy_bus *b)
{
    pthread_mutex_lock(&b->mu);
    psy_input *in = b->in_head;
    if (in) {
        b->in_head = in->next;
        if (!b->in_head) b->in_tail = NULL;
        if (in->kind == PSY_INPUT_MESSAGE) b->n_messages_waiting--;
    }
    pthread_mutex_unlock(&b->mu);
    return in;
}

void psy_input_free(psy_input *in)
{
    if (!in) return;
    free(in->text);
    free(in);
}

bool psy_bus_input_waiting(psy_bus *b, bool messages_only)
{
    pthread_mutex_lock(&b->mu);
    bool r = messages_only ? b->n_messages_waiting > 0 : b->in_head != NULL;
    pthread_mutex_unlock(&b->mu);
    return r;
}

void psy_bus_wake(psy_bus *b) { fd_wake(b->wake_fd); }

void psy_bus_drain_wake(psy_bus *b) { fd_drain(b->wake_fd); }

/* --------------------------------------------------------------- signals */

static void set_flag(int *f, int v) { __atomic_store_n(f, v, __ATOMIC_RELEASE); }
static int get_flag(const int *f) { return __atomic_load_n(f, __ATOMIC_ACQUIRE); }

void psy_bus_signal_input(psy_bus *b)
{
    set_flag(&b->turn_cancel, 1); /* the new input wins */
    set_flag(&b->idle_cancel, 1);
    fd_wake(b->wake_fd);
}

void psy_bus_signal_cancel(psy_bus *b)
{
    __atomic_add_fetch(&b->cancel_seq, 1, __ATOMIC_ACQ_REL);
    set_flag(&b->turn_cancel, 1);
    set_flag(&b->idle_cancel, 1);
    fd_wake(b->wake_fd);
}

void psy_bus_signal_typing(psy_bus *b)
{
    __atomic_add_fetch(&b->typing_seq, 1, __ATOMIC_ACQ_REL);
    set_flag(&b->idle_cancel, 1);
    fd_wake(b->wake_fd);
}

void psy_bus_signal_quit(psy_bus *b)
{
    int lv = __atomic_add_fetch(&b->quit_level, 1, __ATOMIC_ACQ_REL);
    set_flag(&b->turn_cancel, 1);
    set_flag(&b->idle_cancel, 1);
    if (lv >= 2) set_flag(&b->shutdown_cancel, 1);
    fd_wake(b->wake_fd);
}

int psy_bus_quit_level(psy_bus *b) { return get_flag(&b->quit_level); }
bool psy_bus_stop_now(psy_bus *b) { return get_flag(&b->quit_level) >= 2; }
int psy_bus_cancel_seq(psy_bus *b) { return get_flag(&b->cancel_seq); }
int psy_bus_typing_seq(psy_bus *b) { return get_flag(&b->typing_seq); }

/* ------------------------------------------------------------ activities */

static int *activity_flag(psy_bus *b)
{
    switch (b->activity) {
    case PSY_ACT_TURN: return &b->turn_cancel;
    case PSY_ACT_IDLE: return &b->idle_cancel;
    case PSY_ACT_SHUTDOWN: return &b->shutdown_cancel;
    case PSY_ACT_NONE: break;
    }
    return NULL;
}

void psy_activity_begin(psy_bus *b, psy_activity kind, bool fresh)
{
    b->activity = kind;
    if (fresh) psy_activity_rearm(b);
}

void psy_activity_end(psy_bus *b) { b->activity = PSY_ACT_NONE; }

void psy_activity_rearm(psy_bus *b)
{
    int *f = activity_flag(b);
    if (f && f != &b->shutdown_cancel) set_flag(f, 0); /* a second quit is never forgotten */
}

void psy_activity_stop_call(psy_bus *b)
{
    int *f = activity_flag(b);
    if (f) set_flag(f, 1);
}

const int *psy_activity_cancel(psy_bus *b) { return activity_flag(b); }

bool psy_turn_aborted(psy_bus *b, int seq)
{
    return get_flag(&b->quit_level) || psy_bus_input_waiting(b, true) || get_flag(&b->cancel_seq) != seq;
}

bool psy_idle_aborted(psy_bus *b, int typing_seq, int cancel_seq)
{
    return get_flag(&b->quit_level) || psy_bus_input_waiting(b, false) || get_flag(&b->typing_seq) != typing_seq ||
           get_flag(&b->cancel_seq) != cancel_seq;
}

/* ---------------------------------------------------------------- status */

void psy_set_state(psy_bus *b, const char *state)
{
    pthread_mutex_lock(&b->mu);
    bool changed = b->state != state;
    b->state = state;
    pthread_mutex_unlock(&b->mu);
    if (changed) psy_emit_status(b);
}

const char *psy_bus_state(psy_bus *b)
{
    pthread_mutex_lock(&b->mu);
    const char *s = b->state;
    pthread_mutex_unlock(&b->mu);
    return s;
}

void psy_emit_status(psy_bus *b)
{
    pthread_mutex_lock(&b->mu);
    cJSON *s = b->status_fn ? b->status_fn(b->status_ud) : cJSON_CreateObject();
    cJSON_Delete(b->status_cache);
    b->status_cache = cJSON_Duplicate(s, 1);
    pthread_mutex_unlock(&b->mu);
    psy_emit(b, PSY_EV_STATUS, NULL, s);
}

cJSON *psy_bus_status_copy(psy_bus *b)
{
    pthread_mutex_lock(&b->mu);
    cJSON *s = b->status_cache ? cJSON_Duplicate(b->status_cache, 1) : cJSON_CreateObject();
    /* Delete-then-add: Replace fails (and leaks the new item) when the key is absent. */
    cJSON_DeleteItemFromObjectCaseSensitive(s, "state");
    cJSON_AddStringToObject(s, "state", b->state ? b->state : "starting");
    cJSON_DeleteItemFromObjectCaseSensitive(s, "reasoning");
    cJSON_AddBoolToObject(s, "reasoning", b->reasoning);
    pthread_mutex_unlock(&b->mu);
    return s;
}

void psy_bus_set_reasoning(psy_bus *b, bool on)
{
    pthread_mutex_lock(&b->mu);
    b->reasoning = on;
    pthread_mutex_unlock(&b->mu);
}

bool psy_bus_reasoning(psy_bus *b)
{
    pthread_mutex_lock(&b->mu);
    bool r = b->reasoning;
    pthread_mutex_unlock(&b->mu);
    return r;
}

void psy_note_tool(psy_bus *b, const char *line, bool success)
{
    pthread_mutex_lock(&b->mu);
    if (!b->last_tools) b->last_tools = cJSON_CreateArray();
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "line", line);
    cJSON_AddBoolToObject(t, "success", success);
    cJSON_AddItemToArray(b->last_tools, t);
    while (cJSON_GetArraySize(b->last_tools) > PSY_BUS_LAST_TOOLS) cJSON_DeleteItemFromArray(b->last_tools, 0);
    pthread_mutex_unlock(&b->mu);
}

/* ------------------------------------------------- events (agent.h API) */

const char *psy_event_kind_name(psy_event_kind k)
{
    static const char *const names[] = {"token",  "answer", "reasoning", "thought", "tool_start", "tool_end", "emotion",
                                        "memory", "status", "child",     "error",   "info",       "quit"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "unknown";
}

void psy_event_free(psy_event *ev)
{
    if (!ev) return;
    free(ev->text);
    cJSON_Delete(ev->data);
    free(ev);
}
