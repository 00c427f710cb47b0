/* tui_model.c - the terminal UI's screen model: the chat and thought logs
 * (sanitized entries that the view draws), the notice line, the turn
 * counters and the newest status and emotion. Everything above it (events,
 * keys, view, the loop) changes or reads the screen through these
 * functions and the psy_tui fields; it calls nothing but tui_text.c.
 * Main thread only. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tui.h"
#include "utf8.h"

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

unsigned psy_tui_running_turn(const psy_tui *t) { return psy_tui_busy(t) ? t->answered + 1 : 0; }

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

void psy_tui_entry_append(psy_tui_entry *e, const char *text, size_t n)
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

void psy_tui_entry_trim(psy_tui_entry *e)
{
    while (e->len && (e->text[e->len - 1] == '\n' || e->text[e->len - 1] == ' ')) e->text[--e->len] = 0;
}

void psy_tui_chat_add(psy_tui *t, psy_tui_kind kind, const char *text, unsigned turn)
{
    size_t before = t->chat.n;
    psy_tui_entry *e = log_add(&t->chat, kind, text, turn);
    if (e && e->kind != PSY_TUI_ANSWER) psy_tui_entry_trim(e);
    if (t->chat.n < before + 1 && t->live >= 0) { /* old entries were dropped */
        long dropped = (long)(before + 1 - t->chat.n);
        t->live = t->live >= dropped ? t->live - dropped : -1;
    }
}

psy_tui_entry *psy_tui_thought_add(psy_tui *t, psy_tui_kind kind, const char *label, const char *text)
{
    psy_tui_entry *e = log_add(&t->thoughts, kind, text, 0);
    if (!e) return NULL;
    psy_tui_entry_trim(e);
    snprintf(e->label, sizeof e->label, "%s", label);
    utf8_trim_partial(e->label); /* a long dream theme: cut between characters */
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
    term_safe_init(&t->stream);
    t->chat_scroll = 0;
}

void psy_tui_entry_set_text(psy_tui_entry *e, const char *text)
{
    e->cache_width = 0; /* the same length may wrap differently */
    e->len = 0;
    e->text[0] = 0;
    psy_tui_entry_append(e, text, strlen(text));
}

void psy_tui_take_emotion(psy_tui *t, double now)
{
    if (!t->emotion_next) return;
    cJSON_Delete(t->emotion);
    t->emotion = t->emotion_next;
    t->emotion_next = NULL;
    t->emotion_at = now;
}

void psy_tui_model_init(psy_tui *t, const psy_front *f, const char *where)
{
    memset(t, 0, sizeof *t);
    t->front = f;
    t->where = where;
    t->live = -1;
    t->show_reasoning = true;
    t->chat.max = CHAT_MAX;
    t->thoughts.max = THOUGHTS_MAX;
    psy_tui_input_init(&t->input);
    psy_tui_ctrlc_init(&t->ctrlc);
}

void psy_tui_model_free(psy_tui *t)
{
    log_free(&t->chat);
    log_free(&t->thoughts);
    psy_tui_input_free(&t->input);
    cJSON_Delete(t->status);
    cJSON_Delete(t->emotion);
    cJSON_Delete(t->emotion_next);
}
