/* front_print.c - the line front-ends (-p, --repl, --events): input lines
 * are queued; --repl hands them to the agent one at a time, so a pipe is
 * read completely and every line is answered in order (--events hands them
 * over as they come). Events are printed as text (model and tool text
 * cleaned of terminal control sequences unless --raw) or as JSON lines.
 * Owns only its queue and printing state; talks to the agent through
 * agent.h. */
#include "front_print.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "front_child.h"
#include "linereader.h"
#include "model.h"
#include "termsafe.h"

#define LINE_MAX_BYTES (1 << 20)

typedef struct frontend {
    psy_agent *a;
    const psy_front_opts *o;
    bool interactive; /* stdin is a terminal and the output is text */
    char **queue;     /* input lines not yet handed to the agent, oldest first (owned) */
    size_t nq, capq, headq;
    int outstanding; /* messages handed over whose ANSWER has not come */
    bool eof;        /* no more input: end of stdin, /quit, or the -p message taken */
    bool ready;      /* the agent finished starting (a status other than "starting") */
    bool elpis_up;   /* elpis has started once: a later start failure is a restart's, retried */
    bool quitting;   /* psy_agent_quit was called */
    bool answered;   /* -p: the turn was answered */
    int status;      /* PSY_EXIT_* so far */
    bool mid_line;   /* streamed text without its newline yet */
    bool streamed;   /* the running turn has streamed text */
    term_safe ts;    /* the streamed answer's cleaning state */
} frontend;

/* ------------------------------------------------------------ printing */

void psy_front_put(FILE *f, const char *text, const char *suffix, bool raw)
{
    char *clean = NULL;
    if (!raw && term_safe_dup(text, strlen(text), &clean) == 0) text = clean;
    fputs(text, f);
    if (suffix) fputs(suffix, f);
    free(clean);
}

static void print_event_json(const psy_event *ev)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event", psy_event_kind_name(ev->kind));
    if (ev->text) cJSON_AddStringToObject(o, "text", ev->text);
    if (ev->data) cJSON_AddItemToObject(o, "data", cJSON_Duplicate(ev->data, 1));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    (void)fflush(stdout); /* a closed stdout is the reader gone: nothing to report it to */
}

static void end_line(frontend *fe)
{
    if (fe->mid_line) fputc('\n', stdout);
    fe->mid_line = false;
}

/* A line on stdout or stderr, after whatever was streamed. */
static void put_line(frontend *fe, FILE *f, const char *prefix, const char *text)
{
    end_line(fe);
    fputs(prefix, f);
    psy_front_put(f, text, "\n", fe->o->raw);
}

/* Streamed text as it was written (after cleaning): is a line open? */
static void wrote(frontend *fe, const char *s, size_t n)
{
    (void)fwrite(s, 1, n, stdout); /* a closed stdout: nobody left to tell */
    if (n) fe->mid_line = s[n - 1] != '\n';
}

static void on_token(frontend *fe, const char *t)
{
    if (!*t) return;
    if (fe->o->raw) {
        wrote(fe, t, strlen(t));
    } else {
        buf b = BUF_INIT;
        term_safe_feed(&fe->ts, t, strlen(t), &b); /* on ENOMEM: what was cleaned */
        wrote(fe, buf_str(&b), b.len);
        buf_free(&b);
    }
    fe->streamed = true;
}

static void on_answer_text(frontend *fe, const psy_event *ev)
{
    buf rest = BUF_INIT;
    term_safe_finish(&fe->ts, &rest); /* an unfinished sequence is dropped */
    wrote(fe, buf_str(&rest), rest.len);
    buf_free(&rest);
    end_line(fe);
    /* what the answer has that the stream did not: "[Generation timed out]", "[Max tool iterations reached]" */
    const char *note = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev->data, "note"));
    if (note && *note) put_line(fe, stdout, fe->streamed ? "\n" : "", note);
    fe->streamed = false;
}

/* elpis could not be started at start-up: it never came up (a later
 * restart that fails is retried, as in the TUI). Whether the agent said it
 * is ready first does not matter: elpis starts beside it, in either order. */
static bool elpis_start_failed(const frontend *fe, const psy_event *ev)
{
    const char *child = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev->data, "child"));
    const char *e = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev->data, "event"));
    return ev->kind == PSY_EV_CHILD && !fe->elpis_up && child && e && !strcmp(child, "elpis") &&
           !strcmp(e, "start_failed");
}

static void print_event_text(frontend *fe, const psy_event *ev)
{
    const char *t = ev->text ? ev->text : "";
    bool one_shot = fe->o->message != NULL;
    switch (ev->kind) {
    case PSY_EV_TOKEN: on_token(fe, t); break;
    case PSY_EV_ANSWER: on_answer_text(fe, ev); break;
    case PSY_EV_TOOL_END: put_line(fe, stderr, "[tool] ", t); break;
    case PSY_EV_ERROR:
        if (fe->status != PSY_EXIT_NO_MODEL && fe->status != PSY_EXIT_CHILDREN) put_line(fe, stderr, "", t);
        break; /* else the start-up failure was said in one line already */
    case PSY_EV_CHILD: {
        const char *e = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev->data, "event"));
        if (e && !strcmp(e, "started")) break; /* the normal case is not news */
        if (elpis_start_failed(fe, ev)) break; /* on_start_failed says it in one line */
        put_line(fe, stderr, "psyche: ", t);
        break;
    }
    case PSY_EV_INFO:
        put_line(fe, one_shot ? stderr : stdout, "", t);
        if (fe->o->where && cJSON_GetObjectItemCaseSensitive(ev->data, "children")) /* the answer to /status */
            fputs(fe->o->where, one_shot ? stderr : stdout);
        break;
    case PSY_EV_MEMORY:
        if (!one_shot && fe->interactive) put_line(fe, stdout, "(memory) ", t);
        break;
    case PSY_EV_THOUGHT:
        if (fe->interactive) put_line(fe, stdout, "(thought) ", t);
        break;
    default: break;
    }
    (void)fflush(stdout); /* a closed stdout is the reader gone: nothing to report it to */
}

/* --------------------------------------------------------------- input */

static void enqueue(frontend *fe, const char *line)
{
    if (fe->nq == fe->capq) {
        size_t cap = fe->capq ? fe->capq * 2 : 16;
        char **q = realloc(fe->queue, cap * sizeof *q);
        if (!q) {
            fprintf(stderr, "psyche: out of memory: an input line was dropped\n");
            return;
        }
        fe->queue = q;
        fe->capq = cap;
    }
    char *copy = strdup(line);
    if (!copy) {
        fprintf(stderr, "psyche: out of memory: an input line was dropped\n");
        return;
    }
    fe->queue[fe->nq++] = copy;
}

/* Drops the lines not handed over yet (after /quit, or a failed start). */
static void drop_queue(frontend *fe)
{
    for (size_t i = fe->headq; i < fe->nq; i++) free(fe->queue[i]);
    fe->headq = fe->nq = 0;
}

static void on_stdin_line(void *ud, char *line, size_t len)
{
    frontend *fe = ud;
    while (len && (line[len - 1] == '\r' || line[len - 1] == ' ')) line[--len] = 0;
    if (len && !fe->eof) enqueue(fe, line);
    if (!strcmp(line, "/quit") || !strcmp(line, "/q") || !strcmp(line, "/exit"))
        fe->eof = true; /* the rest is not read */
}

static void on_oversize(void *ud, size_t len)
{
    (void)ud;
    fprintf(stderr,
            "psyche: an input line of %zu bytes is longer than the limit of %d bytes; it was skipped "
            "(split it, or pass a file's content through a tool instead)\n",
            len, LINE_MAX_BYTES);
}

/* Reads what stdin has; sets eof at its end. */
static void read_stdin(frontend *fe, line_reader *lr)
{
    char chunk[4096];
    ssize_t r = read(0, chunk, sizeof chunk);
    if (r > 0) {
        lr_feed(lr, chunk, (size_t)r, on_stdin_line, on_oversize, fe);
    } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        lr_finish(lr, on_stdin_line, on_oversize, fe);
        fe->eof = true;
    }
}

/* Hands one queued line to the agent. Returns false when it was /quit. */
static bool handle_line(frontend *fe, const char *line)
{
    if (!strcmp(line, "/quit") || !strcmp(line, "/q") || !strcmp(line, "/exit")) return false;
    if (!strcmp(line, "/help") || !strcmp(line, "/h") || !strcmp(line, "/?")) {
        printf("Type a message, or: /status /emotion /memory <query> /clear /thinking [on|off] /quit\n");
    } else if (line[0] == '/' && line[1] != '/') {
        if (!psy_agent_command(fe->a, line)) put_line(fe, stdout, "unknown command (try /help): ", line);
    } else {
        fe->outstanding++;
        psy_agent_submit(fe->a, line[0] == '/' ? line + 1 : line); /* "//x" sends "/x" */
    }
    (void)fflush(stdout); /* a closed stdout is the reader gone: nothing to report it to */
    return true;
}

/* Feeds the agent the next lines: with --repl one message at a time (each
 * is answered, in order); with --events as they come (a message abandons
 * the running turn, as typing in the TUI does). Quits at the end of input
 * once every message is answered. */
static void advance(frontend *fe)
{
    while (!fe->quitting && (fe->o->events || !fe->outstanding) && fe->headq < fe->nq) {
        char *line = fe->queue[fe->headq];
        fe->queue[fe->headq++] = NULL;
        bool go_on = handle_line(fe, line);
        free(line);
        if (!go_on) { /* /quit: what follows is ignored */
            drop_queue(fe);
            fe->eof = true;
        }
    }
    if (fe->headq == fe->nq) fe->headq = fe->nq = 0; /* all handed over: the queue starts again */
    if (fe->eof && fe->ready && !fe->outstanding && fe->headq == fe->nq && !fe->quitting) {
        fe->quitting = true;
        psy_agent_quit(fe->a);
    }
}

/* ---------------------------------------------------------------- events */

/* elpis could not be started at start-up: one line saying why and what to
 * do, then stop (a script must not wait for the retry). */
static void on_start_failed(frontend *fe, const psy_event *ev)
{
    char *cause = NULL;
    bool no_model = false;
    psy_front_child_cause(ev->data, &cause, &no_model);
    const char *log = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev->data, "log"));
    buf b = BUF_INIT;
    buf_printf(&b, "elpis could not be started: %s", cause ? cause : "out of memory");
    if (no_model) buf_puts(&b, "; get one with " PSY_MODEL_PULL_HINT " (or psyche --model FILE.gguf)");
    else buf_printf(&b, " (log: %s)", log ? log : "?");
    end_line(fe);
    fputs("psyche: ", stderr);
    psy_front_put(stderr, buf_str(&b), "\n", fe->o->raw);
    buf_free(&b);
    free(cause);
    fe->status = no_model ? PSY_EXIT_NO_MODEL : PSY_EXIT_CHILDREN;
    fe->eof = fe->ready = true;
    drop_queue(fe); /* nothing more is sent */
}

/* Bookkeeping for one event (after it was printed). Returns false on QUIT. */
static bool on_event(frontend *fe, const psy_event *ev)
{
    switch (ev->kind) {
    case PSY_EV_ANSWER:
        if (fe->outstanding) fe->outstanding--;
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev->data, "interrupted"))) fe->answered = true;
        else if (fe->o->message && !fe->status) fe->status = PSY_EXIT_FAILED;
        break;
    case PSY_EV_ERROR:
        if (fe->o->message && fe->outstanding && !fe->status) fe->status = PSY_EXIT_FAILED; /* --repl goes on */
        break;
    case PSY_EV_STATUS: {
        const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev->data, "state"));
        if (st && strcmp(st, "starting")) fe->ready = true;
        break;
    }
    case PSY_EV_CHILD: {
        const char *child = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev->data, "child"));
        const char *e = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev->data, "event"));
        if (elpis_start_failed(fe, ev) && !fe->status) on_start_failed(fe, ev);
        else if (child && e && !strcmp(child, "elpis") && !strcmp(e, "started")) fe->elpis_up = true;
        break;
    }
    case PSY_EV_QUIT: return false;
    default: break;
    }
    return true;
}

/* Prints and handles every waiting event. Returns false after QUIT. */
static bool drain_events(frontend *fe)
{
    bool go_on = true;
    psy_event *ev;
    while ((ev = psy_agent_next_event(fe->a))) {
        if (fe->o->events) print_event_json(ev);
        else print_event_text(fe, ev);
        go_on = on_event(fe, ev) && go_on;
        psy_event_free(ev);
    }
    return go_on;
}

int psy_front_lines(psy_agent *a, const psy_front_opts *o)
{
    frontend fe = {.a = a, .o = o, .interactive = isatty(0) && !o->events};
    term_safe_init(&fe.ts);
    line_reader lr;
    lr_init(&lr, LINE_MAX_BYTES);
    if (o->message) {
        fe.outstanding = 1;
        psy_agent_submit(a, o->message);
        fe.eof = true;
    }
    bool running = true;
    while (running) {
        struct pollfd pf[2] = {{.fd = psy_agent_fd(a), .events = POLLIN}, {.fd = 0, .events = POLLIN}};
        int n = poll(pf, fe.eof ? 1 : 2, -1);
        if (n < 0 && errno != EINTR) break;
        if (!fe.eof && (pf[1].revents & (POLLIN | POLLHUP | POLLERR))) read_stdin(&fe, &lr);
        running = drain_events(&fe);
        advance(&fe);
    }
    end_line(&fe);
    lr_free(&lr);
    drop_queue(&fe);
    free(fe.queue);
    if (fe.status) return fe.status;
    if (o->message && !fe.answered) return PSY_EXIT_FAILED;
    return PSY_EXIT_OK;
}
