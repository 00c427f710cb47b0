/* front_remote.c - a psyche serve as a psy_front (front.h), so the
 * full-screen TUI runs against it (`psyche --connect URL`).
 *
 * Owns one worker thread, the only one that speaks HTTP (http_remote.c);
 * the TUI thread never waits on the network. The TUI's messages and
 * commands reach the worker through a psy_bus input queue; the worker
 * turns what the server sends into the agent's psy_event stream on the
 * same bus (the fd the TUI polls): content deltas as token events (a reply
 * that arrives whole is one delta), the local tool calls as tool events,
 * the end of a turn as an answer event. Between turns it polls /health
 * (status, children, model; a lost server is said once and retried with
 * backoff until it is back), /v1/psyche/emotion (the sidebar; not while
 * the server dreams, which a request would end) and /v1/psyche/thoughts
 * (the server's dreams and consolidations, as the local agent's thought
 * and memory events for the thoughts panel) once a second, each poll
 * waiting at most POLL_TIMEOUT_MS, so a server that accepts and never
 * answers cannot hold up the next line or a quit. Within a turn, as the
 * local agent takes elpis's state from each generation, each answered
 * request brings the emotion (a short GET of its own, not the stream) and
 * the token counts the server reported (its usage) to the sidebar.
 * Cancel reaches the running request, or a turn still queued, from the
 * TUI thread (psy_remote_cancel). */
#include "front_remote.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "bus.h"
#include "buf.h"
#include "front.h"
#include "http_remote.h"
#include "log.h"
#include "tui.h"
#include "util.h"

#define POLL_S 1.0           /* /health and the emotion while connected */
#define POLL_TIMEOUT_MS 2000 /* the longest a poll waits for an answer */
#define BACKOFF_MAX_S 16     /* reconnect waits 1, 2, 4, ... this */

enum { EXIT_USAGE = 2, EXIT_UNAVAILABLE = 69 };

typedef struct front_remote {
    psy_bus bus;     /* events to the TUI, its input to the worker */
    psy_remote *r;   /* owned; worker thread only, except psy_remote_cancel, _queued and _stop */
    const char *url; /* borrowed from argv */
    pthread_mutex_t mu;
    cJSON *emotion;          /* [mu] owned: the last emotional state */
    cJSON *health;           /* [mu] owned: the last /health body */
    const char *state;       /* [mu] static: idle, generating, running tool, disconnected, stopping */
    cJSON *last_tools;       /* [mu] owned: [{line, success}], newest last, at most PSY_BUS_LAST_TOOLS */
    int messages;            /* [mu] user messages and answers of this conversation */
    psy_remote_tokens usage; /* [mu] what the server reported for the last answered request */
    bool has_usage;          /* [mu] usage is this conversation's (none yet, or after /clear: false) */
    char workspace[4096];
    bool sandbox;
    long thoughts_next;   /* worker: the server's seq of its next thought (0: show what it kept) */
    bool thoughts_absent; /* worker: the server has no /v1/psyche/thoughts (older): not asked again */
    int quit;             /* [atomic] psy_front quit was called */
} front_remote;

/* ------------------------------------------------------ status (any thread) */

/* The sidebar's snapshot in agent.h's shape; caller frees. */
static cJSON *status_json(front_remote *f)
{
    cJSON *s = cJSON_CreateObject();
    if (!s) return NULL;
    pthread_mutex_lock(&f->mu);
    cJSON_AddStringToObject(s, "state", f->state);
    const cJSON *h = f->health;
    const char *model = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "model"));
    cJSON_AddStringToObject(s, "model", model ? model : "");
    cJSON *ch = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(h, "children"), true);
    cJSON_AddItemToObject(s, "children", ch ? ch : cJSON_CreateObject());
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(h, "context_length");
    if (cJSON_IsNumber(ctx)) cJSON_AddNumberToObject(s, "context_length", ctx->valuedouble);
    cJSON_AddNumberToObject(s, "messages", f->messages);
    if (f->has_usage) { /* the server's own counts; the size of its context comes from /health */
        cJSON_AddNumberToObject(s, "tokens_used", (double)(f->usage.prompt_tokens + f->usage.completion_tokens));
        cJSON_AddNumberToObject(s, "last_answer_tokens", (double)f->usage.completion_tokens);
        if (f->usage.cached_tokens >= 0) cJSON_AddNumberToObject(s, "cached_tokens", (double)f->usage.cached_tokens);
    }
    cJSON *lt = cJSON_Duplicate(f->last_tools, true);
    cJSON_AddItemToObject(s, "last_tools", lt ? lt : cJSON_CreateArray());
    pthread_mutex_unlock(&f->mu);
    cJSON_AddBoolToObject(s, "reasoning", false);
    cJSON_AddBoolToObject(s, "idle_enabled", false); /* the server dreams; this client thinks nothing */
    cJSON_AddStringToObject(s, "workspace", f->workspace);
    cJSON *sb = cJSON_AddObjectToObject(s, "sandbox");
    cJSON_AddBoolToObject(sb, "active", f->sandbox);
    cJSON_AddStringToObject(sb, "detail", f->sandbox ? "the client's sandbox" : "off (--no-sandbox)");
    cJSON_AddStringToObject(s, "server", f->url);
    return s;
}

static void set_state(front_remote *f, const char *state)
{
    pthread_mutex_lock(&f->mu);
    bool changed = strcmp(f->state, state) != 0;
    f->state = state;
    pthread_mutex_unlock(&f->mu);
    if (changed) psy_emit(&f->bus, PSY_EV_STATUS, NULL, status_json(f));
}

/* ------------------------------------------------------ the turn's sink */

static void on_text(void *ud, const char *delta)
{
    front_remote *f = ud;
    psy_emit(&f->bus, PSY_EV_TOKEN, delta, NULL);
}

/* The sidebar's list of the last tools. */
static void remember_tool(front_remote *f, const char *line, bool ok)
{
    cJSON *e = cJSON_CreateObject();
    if (!e) return;
    cJSON_AddStringToObject(e, "line", line);
    cJSON_AddBoolToObject(e, "success", ok);
    pthread_mutex_lock(&f->mu);
    cJSON_AddItemToArray(f->last_tools, e);
    while (cJSON_GetArraySize(f->last_tools) > PSY_BUS_LAST_TOOLS) cJSON_DeleteItemFromArray(f->last_tools, 0);
    pthread_mutex_unlock(&f->mu);
}

/* A local tool call: result NULL before it runs. */
static void on_tool(void *ud, const char *name, const char *args, const char *result)
{
    front_remote *f = ud;
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "name", name);
    cJSON_AddStringToObject(d, "arguments", args);
    char line[600];
    if (!result) {
        set_state(f, "running tool");
        snprintf(line, sizeof line, "%s %.500s", name, args);
        psy_emit(&f->bus, PSY_EV_TOOL_START, line, d);
        return;
    }
    cJSON *res = cJSON_Parse(result);
    bool ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "success"));
    cJSON_AddBoolToObject(d, "success", ok);
    if (res) cJSON_AddItemToObject(d, "result", res);
    snprintf(line, sizeof line, "%s %.500s%s", name, args, ok ? "" : " (failed)");
    remember_tool(f, line, ok);
    psy_emit(&f->bus, PSY_EV_TOOL_END, line, d);
    set_state(f, "generating");
}

static void on_notice(void *ud, const char *msg)
{
    front_remote *f = ud;
    psy_emit(&f->bus, PSY_EV_INFO, msg, NULL);
}

/* The server's emotional state to the sidebar. A failure keeps the last
 * one (the health poll says when the server is gone). */
static void poll_emotion(front_remote *f)
{
    cJSON *em = NULL;
    long status = 0;
    char err[1200];
    if (psy_remote_get(f->r, "/v1/psyche/emotion", POLL_TIMEOUT_MS, &em, &status, err, sizeof err) || status != 200 ||
        !cJSON_IsObject(em)) {
        cJSON_Delete(em);
        return;
    }
    cJSON *copy = cJSON_Duplicate(em, true);
    pthread_mutex_lock(&f->mu);
    cJSON_Delete(f->emotion);
    f->emotion = copy;
    pthread_mutex_unlock(&f->mu);
    psy_emit(&f->bus, PSY_EV_EMOTION, NULL, em);
}

/* One request of the turn was answered: the server's token counts and the
 * emotion it left to the sidebar at once, as the local agent shows elpis's
 * state after each generation (and not only between turns). */
static void on_step(void *ud, const psy_remote_tokens *u)
{
    front_remote *f = ud;
    if (u) {
        pthread_mutex_lock(&f->mu);
        f->usage = *u;
        f->has_usage = true;
        pthread_mutex_unlock(&f->mu);
        psy_emit(&f->bus, PSY_EV_STATUS, NULL, status_json(f));
    }
    poll_emotion(f);
}

/* The end of a turn: always one answer event (the TUI counts turns by them). */
static void on_done(void *ud, const psy_remote_result *res)
{
    front_remote *f = ud;
    cJSON *d = NULL;
    if (res->rc == -ECANCELED || !strcmp(res->finish, "length")) {
        d = cJSON_CreateObject();
        cJSON_AddBoolToObject(d, "interrupted", true);
    }
    if (res->rc && res->rc != -ECANCELED) psy_emitf(&f->bus, PSY_EV_ERROR, "[Error: %s]", res->err);
    pthread_mutex_lock(&f->mu);
    f->messages += res->rc ? 1 : 2; /* the user's message is kept either way */
    pthread_mutex_unlock(&f->mu);
    psy_emit(&f->bus, PSY_EV_ANSWER, res->answer, d);
}

/* ------------------------------------------------------ the worker */

/* One of the server's thoughts as the event the local agent sends for it:
 * a dream is a thought, the rest (an insight kept, a consolidation) memory
 * news. The text is untrusted: the TUI sanitizes it; a theme goes into a
 * label as is, so only a plain one is passed on. */
static void emit_thought(front_remote *f, const cJSON *t)
{
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "kind"));
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "text"));
    const char *theme = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "theme"));
    if (!kind || !text) return;
    for (const char *c = theme; c && *c; c++)
        if (!isalnum((unsigned char)*c) && *c != ' ' && *c != '-' && *c != '_') theme = NULL;
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "kind", kind);
    if (theme && strlen(theme) <= 40) cJSON_AddStringToObject(d, "theme", theme);
    psy_emit(&f->bus, strcmp(kind, "memory") ? PSY_EV_THOUGHT : PSY_EV_MEMORY, text, d);
}

/* The server's thoughts since the last poll. Its numbering going backwards
 * means it restarted: what it has now is taken as seen, from its next on. */
static void poll_thoughts(front_remote *f)
{
    if (f->thoughts_absent) return;
    char path[64], err[1200];
    snprintf(path, sizeof path, "/v1/psyche/thoughts?since=%ld", f->thoughts_next);
    cJSON *o = NULL;
    long status = 0;
    if (psy_remote_get(f->r, path, POLL_TIMEOUT_MS, &o, &status, err, sizeof err) || status != 200) {
        f->thoughts_absent = status == 404;
        cJSON_Delete(o);
        return;
    }
    const cJSON *next = cJSON_GetObjectItemCaseSensitive(o, "next");
    long n = cJSON_IsNumber(next) && next->valuedouble >= 0 ? (long)next->valuedouble : -1;
    if (n >= f->thoughts_next) {
        const cJSON *t;
        cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(o, "thoughts"))
        {
            const cJSON *seq = cJSON_GetObjectItemCaseSensitive(t, "seq");
            if (cJSON_IsNumber(seq) && seq->valuedouble >= f->thoughts_next && seq->valuedouble < n) emit_thought(f, t);
        }
    }
    if (n >= 0) f->thoughts_next = n;
    cJSON_Delete(o);
}

/* Polls /health, the emotion and the thoughts. Returns true when the server
 * answered. */
static bool poll_server(front_remote *f, char *err, size_t errlen)
{
    cJSON *h = NULL;
    if (psy_remote_health(f->r, POLL_TIMEOUT_MS, &h, err, errlen)) return false;
    poll_thoughts(f);
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(h, "dreaming"))) poll_emotion(f);
    cJSON_DeleteItemFromObjectCaseSensitive(h, "uptime_s"); /* changes every poll; the sidebar has no use for it */
    pthread_mutex_lock(&f->mu);
    bool changed = !f->health || !cJSON_Compare(f->health, h, true);
    cJSON_Delete(f->health);
    f->health = h;
    pthread_mutex_unlock(&f->mu);
    if (changed) psy_emit(&f->bus, PSY_EV_STATUS, NULL, status_json(f));
    return true;
}

/* One input of the TUI: a message, or /clear (the other commands are
 * answered on the TUI thread). */
static void run_input(front_remote *f, const psy_input *in)
{
    if (in->kind == PSY_INPUT_COMMAND) {
        psy_remote_clear(f->r);
        pthread_mutex_lock(&f->mu);
        f->messages = 0;
        f->has_usage = false; /* the new conversation's counts come with its first answer */
        pthread_mutex_unlock(&f->mu);
        psy_emit(&f->bus, PSY_EV_INFO, "Conversation cleared: the next message starts a new one on the server.", NULL);
        psy_emit(&f->bus, PSY_EV_STATUS, NULL, status_json(f));
        return;
    }
    set_state(f, "generating");
    psy_remote_turn(f->r, in->text); /* reports to the sink, on_done last */
    set_state(f, "idle");
}

/* Reconnect bookkeeping of one poll. */
static void after_poll(front_remote *f, bool ok, const char *err, int *backoff, double *next)
{
    double now = now_mono();
    if (ok) {
        if (*backoff) psy_emitf(&f->bus, PSY_EV_INFO, "Reconnected to %s.", f->url);
        *backoff = 0;
        set_state(f, "idle");
        *next = now + POLL_S;
        return;
    }
    *backoff = *backoff ? (*backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : *backoff * 2) : 1;
    if (*backoff == 1) psy_emitf(&f->bus, PSY_EV_ERROR, "[Error: %s; reconnecting]", err);
    set_state(f, "disconnected");
    *next = now + *backoff;
}

static void *worker(void *arg)
{
    front_remote *f = arg;
    int backoff = 0;
    double next = 0;
    psy_emit(&f->bus, PSY_EV_STATUS, NULL, status_json(f)); /* the sidebar from the start-up health check */
    while (!__atomic_load_n(&f->quit, __ATOMIC_RELAXED)) {
        psy_input *in = psy_bus_pop_input(&f->bus);
        if (in) {
            run_input(f, in);
            psy_input_free(in);
            next = 0; /* the emotion after a turn, at once */
            continue;
        }
        double now = now_mono();
        if (now >= next) {
            char err[1200] = "";
            bool ok = poll_server(f, err, sizeof err);
            if (__atomic_load_n(&f->quit, __ATOMIC_RELAXED)) break; /* a poll cut short by the quit says nothing */
            after_poll(f, ok, err, &backoff, &next);
            continue;
        }
        struct pollfd pf = {.fd = f->bus.wake_fd, .events = POLLIN};
        if (poll(&pf, 1, (int)ceil((next - now) * 1000)) > 0) psy_bus_drain_wake(&f->bus);
    }
    set_state(f, "stopping");
    psy_emit(&f->bus, PSY_EV_QUIT, NULL, NULL);
    return NULL;
}

/* ------------------------------------------------------ the operations */

static int r_fd(void *c) { return ((front_remote *)c)->bus.ev_fd; }
static psy_event *r_next(void *c) { return psy_bus_next_event(&((front_remote *)c)->bus); }

/* As with the local agent, a message abandons the turn that runs or waits
 * before it (that one ends as interrupted). The cancel comes before the
 * new turn is announced, so it cannot reach the new one; an Esc after the
 * announcement does, even before the worker starts it. */
static void r_submit(void *c, const char *text)
{
    front_remote *f = c;
    psy_remote_cancel(f->r);
    psy_remote_queued(f->r, true);
    if (psy_bus_push_input(&f->bus, PSY_INPUT_MESSAGE, text, NULL)) {
        psy_remote_queued(f->r, false);
        psy_emit(&f->bus, PSY_EV_ERROR, "[Error: out of memory: the message was not sent; try again]", NULL);
        return;
    }
    psy_bus_wake(&f->bus);
}

static void r_cancel(void *c) { psy_remote_cancel(((front_remote *)c)->r); }

/* /emotion from the last state the server sent. */
static void emotion_info(front_remote *f)
{
    pthread_mutex_lock(&f->mu);
    cJSON *em = cJSON_Duplicate(f->emotion, true);
    pthread_mutex_unlock(&f->mu);
    if (!em) {
        psy_emit(&f->bus, PSY_EV_INFO, "No emotional state from the server yet.", NULL);
        return;
    }
    char *text = cJSON_Print(em);
    psy_emitf(&f->bus, PSY_EV_INFO, "Emotion (from %s):\n%s", f->url, text ? text : "");
    free(text);
    cJSON_Delete(em);
}

static bool r_command(void *c, const char *line)
{
    front_remote *f = c;
    if (!strcmp(line, "/clear")) {
        if (!psy_bus_push_input(&f->bus, PSY_INPUT_COMMAND, line, NULL)) psy_bus_wake(&f->bus);
    } else if (!strcmp(line, "/emotion")) {
        emotion_info(f);
    } else if (!strcmp(line, "/status")) {
        cJSON *s = status_json(f);
        char *text = cJSON_Print(s);
        psy_emitf(&f->bus, PSY_EV_INFO, "Connected to %s:\n%s", f->url, text ? text : "");
        free(text);
        cJSON_Delete(s);
    } else {
        psy_emitf(&f->bus, PSY_EV_INFO,
                  "%s is local-only: it needs the agent on this machine and does nothing with --connect.", line);
    }
    return true;
}

static void r_quit(void *c)
{
    front_remote *f = c;
    __atomic_store_n(&f->quit, 1, __ATOMIC_RELAXED);
    psy_remote_stop(f->r); /* the running turn, and a poll waiting for its answer */
    psy_bus_wake(&f->bus);
}

static cJSON *r_status(void *c) { return status_json(c); }

static cJSON *r_emotion(void *c)
{
    front_remote *f = c;
    pthread_mutex_lock(&f->mu);
    cJSON *em = cJSON_Duplicate(f->emotion, true);
    pthread_mutex_unlock(&f->mu);
    return em;
}

static void r_typing(void *c) { (void)c; /* the server dreams when no request is open; typing opens none */ }

static const psy_front_ops remote_ops = {
    .fd = r_fd,
    .next_event = r_next,
    .submit = r_submit,
    .cancel = r_cancel,
    .command = r_command,
    .quit = r_quit,
    .status = r_status,
    .emotion = r_emotion,
    .typing = r_typing,
};

/* ------------------------------------------------------ the client */

/* Opens the client and checks the server. Returns 0, or an exit status
 * after printing why. */
static int remote_open(front_remote *f, const psy_remote_opts *o)
{
    char err[1200] = "";
    psy_remote_sink sink = {
        .text = on_text, .tool = on_tool, .notice = on_notice, .step = on_step, .done = on_done, .ud = f};
    f->url = o->url;
    f->state = "idle";
    f->sandbox = !o->no_sandbox;
    f->last_tools = cJSON_CreateArray();
    if (!(o->workspace ? snprintf(f->workspace, sizeof f->workspace, "%s", o->workspace) > 0
                       : getcwd(f->workspace, sizeof f->workspace) != NULL))
        snprintf(f->workspace, sizeof f->workspace, ".");
    if (pthread_mutex_init(&f->mu, NULL) || psy_bus_init(&f->bus)) {
        fprintf(stderr, "psyche: cannot set up the client's event queue\n");
        return EXIT_UNAVAILABLE;
    }
    if (psy_remote_open(o, &sink, &f->r, err, sizeof err)) {
        fprintf(stderr, "psyche: %s\n", err);
        return EXIT_USAGE;
    }
    if (psy_remote_health(f->r, PSY_REMOTE_WAIT_MS, &f->health, err, sizeof err)) {
        fprintf(stderr, "psyche: %s\n", err);
        return EXIT_UNAVAILABLE;
    }
    return 0;
}

static void remote_close(front_remote *f)
{
    psy_remote_free(f->r);
    psy_bus_free(&f->bus);
    cJSON_Delete(f->emotion);
    cJSON_Delete(f->health);
    cJSON_Delete(f->last_tools);
    pthread_mutex_destroy(&f->mu);
}

static front_remote *g_front; /* for the signal handler, while the TUI runs */

/* SIGTERM, SIGHUP, SIGINT: quit as /quit does (r_quit is atomic stores and
 * an eventfd write: async-signal-safe), so the terminal is restored. */
static void on_signal(int sig)
{
    (void)sig;
    int saved = errno;
    if (g_front) r_quit(g_front);
    errno = saved;
}

/* The TUI on f until it quits. Returns the exit status. */
static int run_tui(front_remote *f)
{
    struct sigaction sa, old[3];
    const int sigs[3] = {SIGTERM, SIGHUP, SIGINT};
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    g_front = f;
    for (int i = 0; i < 3; i++) sigaction(sigs[i], &sa, &old[i]);
    pthread_t th;
    if (pthread_create(&th, NULL, worker, f)) {
        fprintf(stderr, "psyche: cannot start the client's worker thread\n");
        for (int i = 0; i < 3; i++) sigaction(sigs[i], &old[i], NULL);
        g_front = NULL;
        return EXIT_UNAVAILABLE;
    }
    char where[4400];
    snprintf(where, sizeof where, "Server: %s\nTools run here, in %s%s", f->url, f->workspace,
             f->sandbox ? " (sandboxed)" : " (no sandbox)");
    psy_front front = {.ops = &remote_ops, .ctx = f};
    int status = psy_tui_run(&front, where);
    r_quit(f); /* the TUI may have stopped without a quit (no terminal) */
    pthread_join(th, NULL);
    for (int i = 0; i < 3; i++) sigaction(sigs[i], &old[i], NULL);
    g_front = NULL;
    return status;
}

int psy_front_remote_main(int argc, char **argv)
{
    psy_remote_opts o;
    int rc = psy_remote_parse(argc, argv, &o);
    if (rc) {
        psy_remote_usage(rc > 0 ? stdout : stderr);
        return rc > 0 ? 0 : EXIT_USAGE;
    }
    if (o.message || o.repl) return psy_remote_lines(&o);
    if (!isatty(0) || !isatty(1)) {
        fprintf(stderr, "psyche: the terminal UI needs a terminal; use --repl or -p with --connect for pipes\n");
        return 1;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
        fprintf(stderr, "psyche: libcurl could not start\n");
        return EXIT_UNAVAILABLE;
    }
    log_set_level(LOG_WARN); /* the tools' notices would draw over the screen */
    front_remote f;
    memset(&f, 0, sizeof f);
    int status = remote_open(&f, &o);
    if (!status) status = run_tui(&f);
    remote_close(&f);
    curl_global_cleanup();
    return status;
}
