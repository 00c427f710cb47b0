/* tui.c - the terminal UI's loop: it polls the keyboard, the agent's event
 * fd and a resize pipe; turns agent events into the screen model (chat,
 * thought panel, sidebar state); hands keys to tui_keys.c; and redraws
 * (tui_view.c) only after something changed.
 *
 * Runs on the main thread, the only one that touches curses. It never
 * waits on the agent: every agent call here returns at once, and the answer
 * comes back as events. Timers exist only while something needs one (the
 * elapsed time of a running turn, a notice that expires, the once-a-second
 * emotion refresh); otherwise poll() sleeps until input arrives. */
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <ncursesw/curses.h>

#include "tui.h"

#define CHAT_MAX 3000
#define THOUGHTS_MAX 300

double psy_tui_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool psy_tui_busy(const psy_tui *t) { return t->submitted != t->answered; }

const char *psy_tui_state(const psy_tui *t)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(t->status, "state");
    return cJSON_IsString(s) ? s->valuestring : "starting";
}

static unsigned running_turn(const psy_tui *t) { return psy_tui_busy(t) ? t->answered + 1 : 0; }

/* ------------------------------------------------------------- the logs */

static void entry_free(psy_tui_entry *e) { free(e->text); }

static psy_tui_entry *log_add(psy_tui_log *l, psy_tui_kind kind, const char *text, unsigned turn)
{
    if (l->n == l->max) { /* drop the oldest tenth at once: fewer moves */
        size_t drop = l->max / 10 ? l->max / 10 : 1;
        for (size_t i = 0; i < drop; i++) entry_free(&l->v[i]);
        memmove(l->v, l->v + drop, (l->n - drop) * sizeof *l->v);
        l->n -= drop;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        psy_tui_entry *v = realloc(l->v, cap * sizeof *v);
        if (!v) return NULL;
        l->v = v;
        l->cap = cap;
    }
    char *s = psy_tui_sanitize(text ? text : "", text ? strlen(text) : 0);
    if (!s) return NULL;
    psy_tui_entry *e = &l->v[l->n++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->text = s;
    e->len = strlen(s);
    e->cap = e->len + 1;
    e->turn = turn;
    time_t now = time(NULL);
    struct tm tm;
    if (localtime_r(&now, &tm)) strftime(e->clock, sizeof e->clock, "%H:%M", &tm);
    return e;
}

static void log_clear(psy_tui_log *l)
{
    for (size_t i = 0; i < l->n; i++) entry_free(&l->v[i]);
    l->n = 0;
}

static void log_free(psy_tui_log *l)
{
    log_clear(l);
    free(l->v);
    l->v = NULL;
    l->cap = 0;
}

/* Appends sanitized text to an entry. */
static void entry_append(psy_tui_entry *e, const char *text, size_t n)
{
    char *s = psy_tui_sanitize(text, n);
    if (!s) return;
    size_t k = strlen(s);
    if (e->len + k + 1 > e->cap) {
        size_t cap = e->cap * 2 > e->len + k + 1 ? e->cap * 2 : e->len + k + 64;
        char *p = realloc(e->text, cap);
        if (!p) {
            free(s);
            return;
        }
        e->text = p;
        e->cap = cap;
    }
    memcpy(e->text + e->len, s, k + 1);
    e->len += k;
    free(s);
}

static void entry_trim_end(psy_tui_entry *e)
{
    while (e->len && (e->text[e->len - 1] == '\n' || e->text[e->len - 1] == ' ')) e->text[--e->len] = 0;
}

void psy_tui_chat_add(psy_tui *t, psy_tui_kind kind, const char *text, unsigned turn)
{
    size_t before = t->chat.n;
    psy_tui_entry *e = log_add(&t->chat, kind, text, turn);
    if (e && e->kind != PSY_TUI_ANSWER) entry_trim_end(e);
    if (t->chat.n < before + 1 && t->live >= 0) { /* old entries were dropped */
        long dropped = (long)(before + 1 - t->chat.n);
        t->live = t->live >= dropped ? t->live - dropped : -1;
    }
}

static psy_tui_entry *thought_add(psy_tui *t, psy_tui_kind kind, const char *label, const char *text)
{
    psy_tui_entry *e = log_add(&t->thoughts, kind, text, 0);
    if (!e) return NULL;
    entry_trim_end(e);
    snprintf(e->label, sizeof e->label, "%s", label);
    if (!t->show_thoughts && kind != PSY_TUI_EVENT) t->unseen++;
    return e;
}

void psy_tui_notice(psy_tui *t, double secs, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->notice, sizeof t->notice, fmt, ap);
    va_end(ap);
    t->notice_until = psy_tui_now() + secs;
}

void psy_tui_chat_clear(psy_tui *t)
{
    log_clear(&t->chat);
    t->live = -1;
    t->npartial = 0;
    t->chat_scroll = 0;
}

/* ---------------------------------------------------------- agent events */

/* How many bytes at the end of s[0..n) start a UTF-8 sequence that is not
 * complete yet (streamed tokens may split a character). */
static size_t incomplete_tail(const char *s, size_t n)
{
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char c = (unsigned char)s[n - back];
        if ((c & 0xC0) == 0x80) continue; /* a continuation byte: look further back */
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return need > back ? back : 0;
    }
    return 0;
}

static void on_token(psy_tui *t, const char *text)
{
    if (t->live < 0 || (size_t)t->live >= t->chat.n) {
        psy_tui_chat_add(t, PSY_TUI_ANSWER, "", running_turn(t));
        t->live = (long)t->chat.n - 1;
        t->chat.v[t->live].live = true;
        t->npartial = 0;
    }
    /* join the held-back bytes of the last token with this one */
    size_t n = strlen(text);
    char *joined = malloc(t->npartial + n + 1);
    if (!joined) return;
    memcpy(joined, t->partial, t->npartial);
    memcpy(joined + t->npartial, text, n + 1);
    n += t->npartial;
    size_t hold = incomplete_tail(joined, n);
    memcpy(t->partial, joined + n - hold, hold);
    t->npartial = hold;
    psy_tui_entry *e = &t->chat.v[t->live];
    if (e->len == 0) { /* an answer does not start with blank lines */
        size_t skip = 0;
        while (skip < n - hold && (joined[skip] == '\n' || joined[skip] == ' ')) skip++;
        entry_append(e, joined + skip, n - hold - skip);
    } else {
        entry_append(e, joined, n - hold);
    }
    free(joined);
    t->streamed = true;
}

/* The streamed text stops here (a tool runs): what follows is a new entry. */
static void end_segment(psy_tui *t)
{
    if (t->live >= 0 && (size_t)t->live < t->chat.n) {
        psy_tui_entry *e = &t->chat.v[t->live];
        if (t->npartial) entry_append(e, t->partial, t->npartial);
        entry_trim_end(e);
        e->live = false;
    }
    t->npartial = 0;
    t->live = -1;
}

static long last_answer_of(const psy_tui *t, unsigned turn)
{
    for (size_t i = t->chat.n; i-- > 0;)
        if (t->chat.v[i].kind == PSY_TUI_ANSWER && t->chat.v[i].turn == turn) return (long)i;
    return -1;
}

static void on_answer(psy_tui *t, const psy_event *ev)
{
    unsigned turn = running_turn(t);
    bool cut = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev->data, "interrupted"));
    const char *text = ev->text ? ev->text : "";
    long idx = turn ? last_answer_of(t, turn) : -1;
    if (t->streamed && idx >= 0) {
        psy_tui_entry *e = &t->chat.v[idx];
        if (t->npartial) entry_append(e, t->partial, t->npartial); /* shown as U+FFFD */
        /* a note the answer has that the stream did not ("[Generation timed out]") */
        const char *para = text;
        for (const char *p = strstr(text, "\n\n"); p; p = strstr(p + 2, "\n\n")) para = p + 2;
        while (*para == ' ' || *para == '\n') para++;
        char *clean = psy_tui_sanitize(para, strlen(para));
        if (clean && *clean == '[' && !strstr(e->text, clean)) {
            entry_trim_end(e);
            entry_append(e, "\n\n", 2);
            entry_append(e, para, strlen(para));
        }
        free(clean);
        entry_trim_end(e);
        e->cut = cut;
    } else if (*text || cut) {
        psy_tui_chat_add(t, PSY_TUI_ANSWER, text, turn);
        if (t->chat.n) t->chat.v[t->chat.n - 1].cut = cut;
    }
    for (size_t i = 0; i < t->chat.n; i++) t->chat.v[i].live = false; /* running tools too */
    t->live = -1;
    t->npartial = 0;
    t->streamed = false;
    if (t->answered != t->submitted) t->answered++;
    t->busy_since = psy_tui_now(); /* the next queued turn, if any, starts now */
}

static psy_tui_entry *find_live(psy_tui_log *l, psy_tui_kind kind)
{
    for (size_t i = l->n; i-- > 0;)
        if (l->v[i].kind == kind && l->v[i].live) return &l->v[i];
    return NULL;
}

static void set_text(psy_tui_entry *e, const char *text)
{
    e->cache_width = 0; /* the same length may wrap differently */
    e->len = 0;
    e->text[0] = 0;
    entry_append(e, text, strlen(text));
}

static void on_tool(psy_tui *t, const psy_event *ev, bool start)
{
    const char *line = ev->text ? ev->text : "a tool";
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(ev->data, "name");
    bool ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev->data, "success"));
    if (psy_tui_busy(t)) {
        psy_tui_entry *e = start ? NULL : find_live(&t->chat, PSY_TUI_TOOL);
        if (!e) {
            psy_tui_chat_add(t, PSY_TUI_TOOL, line, running_turn(t));
            e = t->chat.n ? &t->chat.v[t->chat.n - 1] : NULL;
            if (!e) return;
            snprintf(e->label, sizeof e->label, "%s", cJSON_IsString(name) ? name->valuestring : "tool");
        } else {
            set_text(e, line);
        }
        e->live = start;
        e->ok = ok;
        end_segment(t); /* text after the tool is a new paragraph below it */
        return;
    }
    /* an idle thought's tool */
    psy_tui_entry *e = NULL;
    if (!start)
        for (size_t i = t->thoughts.n; i-- > 0;)
            if (t->thoughts.v[i].live) {
                e = &t->thoughts.v[i];
                break;
            }
    if (!e) {
        e = thought_add(t, PSY_TUI_EVENT, "tool", line);
        if (!e) return;
    } else {
        set_text(e, line);
    }
    e->live = start;
    e->ok = ok;
}

static void on_thought(psy_tui *t, const psy_event *ev)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(ev->data, "kind");
    const cJSON *theme = cJSON_GetObjectItemCaseSensitive(ev->data, "theme");
    if (cJSON_IsString(kind) && !strcmp(kind->valuestring, "dream")) {
        char label[64];
        snprintf(label, sizeof label, "dream%s%s", cJSON_IsString(theme) ? ": " : "",
                 cJSON_IsString(theme) ? theme->valuestring : "");
        thought_add(t, PSY_TUI_DREAM, label, ev->text);
    } else {
        thought_add(t, PSY_TUI_REFLECTION, "reflection", ev->text);
    }
}

static void on_status(psy_tui *t, const psy_event *ev)
{
    if (!cJSON_IsObject(ev->data)) return;
    char before[32];
    snprintf(before, sizeof before, "%s", psy_tui_state(t));
    cJSON_Delete(t->status);
    t->status = cJSON_Duplicate(ev->data, 1);
    const char *now = psy_tui_state(t);
    if (strcmp(before, now) && !strcmp(now, "consolidating"))
        thought_add(t, PSY_TUI_EVENT, "memory", "consolidating memories");
}

/* A child's news: a first start goes to the thought panel, a restart is a
 * quiet line in the chat, anything else (died, could not start) a warning
 * with the last lines of its log (in the text; at most 12 lines shown). */
static void on_child(psy_tui *t, const psy_event *ev)
{
    const char *event = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev->data, "event"));
    const char *text = ev->text ? ev->text : "a child changed state";
    if (event && !strcmp(event, "started")) {
        thought_add(t, PSY_TUI_EVENT, "child", text);
        return;
    }
    size_t n = 0;
    int lines = 0;
    while (text[n] && lines < 12) lines += text[n++] == '\n';
    char *msg = strndup(text, n);
    if (!msg) return;
    psy_tui_chat_add(t, PSY_TUI_CHILD, msg, 0);
    free(msg);
    if (event && !strcmp(event, "restarted") && t->chat.n) t->chat.v[t->chat.n - 1].ok = true;
}

static void take_emotion(psy_tui *t, double now)
{
    if (!t->emotion_next) return;
    cJSON_Delete(t->emotion);
    t->emotion = t->emotion_next;
    t->emotion_next = NULL;
    t->emotion_at = now;
}

/* Returns false on PSY_EV_QUIT. */
static bool on_event(psy_tui *t, const psy_event *ev)
{
    const char *text = ev->text ? ev->text : "";
    switch (ev->kind) {
    case PSY_EV_TOKEN: on_token(t, text); break;
    case PSY_EV_ANSWER: on_answer(t, ev); break;
    case PSY_EV_REASONING: thought_add(t, PSY_TUI_REASONING, "reasoning", text); break;
    case PSY_EV_THOUGHT: on_thought(t, ev); break;
    case PSY_EV_TOOL_START: on_tool(t, ev, true); break;
    case PSY_EV_TOOL_END: on_tool(t, ev, false); break;
    case PSY_EV_EMOTION:
        if (cJSON_IsObject(ev->data)) {
            cJSON_Delete(t->emotion_next);
            t->emotion_next = cJSON_Duplicate(ev->data, 1);
            double now = psy_tui_now();
            if (!t->emotion || now - t->emotion_at >= 1.0) take_emotion(t, now);
        }
        break;
    case PSY_EV_MEMORY:
        thought_add(t, PSY_TUI_EVENT, "memory", text);
        if (psy_tui_busy(t) || t->quitting) psy_tui_chat_add(t, PSY_TUI_MEMORY, text, running_turn(t));
        break;
    case PSY_EV_STATUS: on_status(t, ev); break;
    case PSY_EV_CHILD: on_child(t, ev); break;
    case PSY_EV_ERROR: psy_tui_chat_add(t, PSY_TUI_ERROR, text, running_turn(t)); break;
    case PSY_EV_INFO: psy_tui_chat_add(t, PSY_TUI_INFO, text, 0); break;
    case PSY_EV_QUIT: return false;
    }
    return true;
}

/* --------------------------------------------------------------- resizes */

static int winch_pipe[2] = {-1, -1};

static void on_winch(int sig)
{
    (void)sig;
    int saved = errno;
    if (winch_pipe[1] >= 0) {
        ssize_t r = write(winch_pipe[1], "w", 1); /* full pipe: a wake-up is already pending */
        (void)r;
    }
    errno = saved;
}

static int winch_install(struct sigaction *old)
{
    if (pipe2(winch_pipe, O_CLOEXEC | O_NONBLOCK)) return -errno;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_winch;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    return sigaction(SIGWINCH, &sa, old) ? -errno : 0;
}

static void winch_remove(const struct sigaction *old)
{
    sigaction(SIGWINCH, old, NULL);
    for (int i = 0; i < 2; i++)
        if (winch_pipe[i] >= 0) close(winch_pipe[i]), winch_pipe[i] = -1;
}

/* ------------------------------------------------------------------ loop */

/* Wide characters need a UTF-8 LC_CTYPE; a bare C/POSIX locale (common
 * under tmux, ssh and service managers) gets C.UTF-8 for LC_CTYPE. */
static void setup_locale(void)
{
    setlocale(LC_ALL, "");
    const char *cs = nl_langinfo(CODESET);
    if (!cs || strcmp(cs, "UTF-8")) {
        if (!setlocale(LC_CTYPE, "C.UTF-8")) setlocale(LC_CTYPE, "en_US.UTF-8");
    }
}

/* Milliseconds until something on screen changes by itself, or -1. */
static int next_timeout(const psy_tui *t, double now)
{
    double due = INFINITY;
    if (psy_tui_busy(t) && !t->quitting) due = t->busy_since + floor(now - t->busy_since) + 1.0; /* elapsed seconds */
    if (t->notice_until > now && t->notice_until < due) due = t->notice_until;
    if (t->emotion_next && t->emotion_at + 1.0 < due) due = t->emotion_at + 1.0;
    if (t->stdin_gone && !t->quitting && t->gone_at + 2.0 < due) due = t->gone_at + 2.0;
    if (due == INFINITY) return -1;
    double ms = ceil((due - now) * 1000);
    return ms < 1 ? 1 : ms > 60000 ? 60000 : (int)ms;
}

static void tui_free(psy_tui *t)
{
    log_free(&t->chat);
    log_free(&t->thoughts);
    psy_tui_input_free(&t->input);
    cJSON_Delete(t->status);
    cJSON_Delete(t->emotion);
    cJSON_Delete(t->emotion_next);
}

/* Reads every key that is waiting. Returns how many. */
static int read_keys(psy_tui *t)
{
    int got = 0;
    for (;;) {
        wint_t ch;
        int type = get_wch(&ch);
        if (type == ERR) break;
        got++;
        if (type == KEY_CODE_YES && ch == KEY_RESIZE) {
            psy_tui_view_resize();
            continue;
        }
        psy_agent_typing(t->agent);
        psy_tui_on_key(t, type, ch);
    }
    return got;
}

int psy_tui_run(psy_agent *a)
{
    setup_locale();
    if (!isatty(0) || !isatty(1)) {
        fprintf(stderr, "psyche: the terminal UI needs a terminal; use --repl or -p for pipes\n");
        return 1;
    }
    psy_tui t;
    memset(&t, 0, sizeof t);
    t.agent = a;
    t.live = -1;
    t.chat.max = CHAT_MAX;
    t.thoughts.max = THOUGHTS_MAX;
    psy_tui_input_init(&t.input);
    psy_tui_ctrlc_init(&t.ctrlc);
    /* no psy_agent_status() here: the agent reports its status as events from the start */
    t.emotion = psy_agent_emotion(a);
    if (psy_tui_view_open() < 0) {
        fprintf(stderr, "psyche: cannot set up the terminal (TERM=%s)\n", getenv("TERM") ? getenv("TERM") : "");
        tui_free(&t);
        return 1;
    }
    struct sigaction old_winch;
    winch_install(&old_winch);
    psy_tui_keys_init();
    psy_tui_chat_add(&t, PSY_TUI_INFO,
             "Psyche: an AI companion with feelings and a long memory. Type a message and press Enter; "
             "/help lists the commands.",
             0);

    bool running = true, dirty = true;
    int empty_reads = 0;
    while (running) {
        double now = psy_tui_now();
        if (t.emotion_next && now - t.emotion_at >= 1.0) {
            take_emotion(&t, now);
            dirty = true;
        }
        if (t.notice_until && now >= t.notice_until) {
            t.notice_until = 0;
            dirty = true;
        }
        if (dirty) psy_tui_view_draw(&t, now);
        dirty = false;

        struct pollfd pf[3] = {{.fd = psy_agent_fd(a), .events = POLLIN},
                               {.fd = winch_pipe[0], .events = POLLIN},
                               {.fd = t.stdin_gone ? -1 : 0, .events = POLLIN}};
        int n = poll(pf, 3, next_timeout(&t, now));
        if (n < 0 && errno != EINTR) break;
        if (n <= 0) {
            dirty = true; /* a timer: elapsed time, notices, the emotion */
            continue;
        }
        if (pf[1].revents & POLLIN) {
            char drain[64];
            while (read(winch_pipe[0], drain, sizeof drain) > 0) {
            }
            psy_tui_view_resize();
            dirty = true;
        }
        if (pf[2].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) {
            int got = read_keys(&t);
            int avail = 0;
            if (got || ioctl(0, FIONREAD, &avail) || avail) empty_reads = 0;
            else empty_reads++; /* readable with nothing to read: the end of the input */
            if ((pf[2].revents & (POLLHUP | POLLERR | POLLNVAL)) || empty_reads >= 3) {
                /* The terminal went away. Stop reading it; a SIGHUP has usually
                 * started the shutdown already (main.c), and a second
                 * psy_agent_quit would cut it short, so give it a moment. */
                t.stdin_gone = true;
                t.gone_at = now;
            }
            dirty = true;
        }
        if (t.stdin_gone && !t.quitting && now - t.gone_at >= 2.0) {
            if (strcmp(psy_tui_state(&t), "stopping")) psy_tui_quit(&t);
            else t.quitting = true;
        }
        if (pf[0].revents & POLLIN) {
            psy_event *ev;
            while ((ev = psy_agent_next_event(a))) {
                running = on_event(&t, ev) && running;
                psy_event_free(ev);
                dirty = true;
            }
        }
    }
    psy_tui_view_close();
    winch_remove(&old_winch);
    tui_free(&t);
    return 0;
}
