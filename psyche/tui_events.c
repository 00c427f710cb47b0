/* tui_events.c - the agent's events into the terminal UI's screen model:
 * streamed tokens and answers into the chat, tools as running lines,
 * thoughts, reasoning and memory news into the thought panel, status and
 * emotion for the sidebar, children's news with their cause in full.
 * Calls only tui_model.c and tui_text.c; main thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "front_child.h"
#include "model.h"
#include "tui.h"
#include "utf8.h"

/* ---------------------------------------------------------- agent events */

static void on_token(psy_tui *t, const char *text)
{
    if (t->live < 0 || (size_t)t->live >= t->chat.n) {
        psy_tui_chat_add(t, PSY_TUI_ANSWER, "", psy_tui_running_turn(t));
        t->live = (long)t->chat.n - 1;
        t->chat.v[t->live].live = true;
        term_safe_init(&t->stream);
    }
    /* cleaned across tokens: a sequence or a character split between two is held back */
    buf b = BUF_INIT;
    term_safe_feed(&t->stream, text, strlen(text), &b);
    psy_tui_entry *e = &t->chat.v[t->live];
    size_t skip = 0;
    if (e->len == 0) /* an answer does not start with blank lines */
        while (skip < b.len && (b.data[skip] == '\n' || b.data[skip] == ' ')) skip++;
    if (b.len > skip) psy_tui_entry_append(e, b.data + skip, b.len - skip);
    buf_free(&b);
    t->streamed = true;
}

/* The end of the streamed text: what the cleaning held back (an incomplete
 * character shows as U+FFFD, an unfinished sequence is dropped) goes to e
 * (may be NULL), and the state starts over. */
static void flush_stream(psy_tui *t, psy_tui_entry *e)
{
    buf b = BUF_INIT;
    term_safe_finish(&t->stream, &b);
    if (e && b.len) psy_tui_entry_append(e, b.data, b.len);
    buf_free(&b);
}

/* The streamed text stops here (a tool runs): what follows is a new entry. */
static void end_segment(psy_tui *t)
{
    psy_tui_entry *e = t->live >= 0 && (size_t)t->live < t->chat.n ? &t->chat.v[t->live] : NULL;
    flush_stream(t, e);
    if (e) {
        psy_tui_entry_trim(e);
        e->live = false;
    }
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
    unsigned turn = psy_tui_running_turn(t);
    bool cut = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev->data, "interrupted"));
    const char *text = ev->text ? ev->text : "";
    long idx = turn ? last_answer_of(t, turn) : -1;
    if (t->streamed && idx >= 0) {
        psy_tui_entry *e = &t->chat.v[idx];
        flush_stream(t, e);
        /* a note the answer has that the stream did not ("[Generation timed out]") */
        const char *para = text;
        for (const char *p = strstr(text, "\n\n"); p; p = strstr(p + 2, "\n\n")) para = p + 2;
        while (*para == ' ' || *para == '\n') para++;
        char *clean = psy_tui_sanitize(para, strlen(para));
        if (clean && *clean == '[' && !strstr(e->text, clean)) {
            psy_tui_entry_trim(e);
            psy_tui_entry_append(e, "\n\n", 2);
            psy_tui_entry_append(e, para, strlen(para));
        }
        free(clean);
        psy_tui_entry_trim(e);
        e->cut = cut;
    } else if (*text || cut) {
        psy_tui_chat_add(t, PSY_TUI_ANSWER, text, turn);
        if (t->chat.n) t->chat.v[t->chat.n - 1].cut = cut;
    }
    for (size_t i = 0; i < t->chat.n; i++) t->chat.v[i].live = false; /* running tools too */
    t->live = -1;
    term_safe_init(&t->stream);
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

static void on_tool(psy_tui *t, const psy_event *ev, bool start)
{
    const char *line = ev->text ? ev->text : "a tool";
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(ev->data, "name");
    bool ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev->data, "success"));
    if (psy_tui_busy(t)) {
        psy_tui_entry *e = start ? NULL : find_live(&t->chat, PSY_TUI_TOOL);
        if (!e) {
            psy_tui_chat_add(t, PSY_TUI_TOOL, line, psy_tui_running_turn(t));
            e = t->chat.n ? &t->chat.v[t->chat.n - 1] : NULL;
            if (!e) return;
            snprintf(e->label, sizeof e->label, "%s", cJSON_IsString(name) ? name->valuestring : "tool");
        } else {
            psy_tui_entry_set_text(e, line);
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
        e = psy_tui_thought_add(t, PSY_TUI_EVENT, "tool", line);
        if (!e) return;
    } else {
        psy_tui_entry_set_text(e, line);
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
        psy_tui_thought_add(t, PSY_TUI_DREAM, label, ev->text);
    } else {
        psy_tui_thought_add(t, PSY_TUI_REFLECTION, "reflection", ev->text);
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
        psy_tui_thought_add(t, PSY_TUI_EVENT, "memory", "consolidating memories");
}

/* A child's news: a first start goes to the thought panel, a restart is a
 * quiet line in the chat, anything else (died, could not start) a warning
 * with the last lines of its log (in the text; at most 12 lines shown). */
static void on_child(psy_tui *t, const psy_event *ev)
{
    const char *event = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev->data, "event"));
    const char *child = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev->data, "child"));
    const char *text = ev->text ? ev->text : "a child changed state";
    char *slot = !child                        ? NULL
                 : !strcmp(child, "elpis")     ? t->child_cause[0]
                 : !strcmp(child, "mnemosyne") ? t->child_cause[1]
                                               : NULL;
    if (slot && event && (!strcmp(event, "started") || !strcmp(event, "restarted"))) slot[0] = 0;
    if (event && !strcmp(event, "started")) {
        psy_tui_thought_add(t, PSY_TUI_EVENT, "child", text);
        return;
    }
    buf b = BUF_INIT;
    char *cause = NULL;
    bool no_model = false;
    if (event && !strcmp(event, "start_failed") && psy_front_child_cause(ev->data, &cause, &no_model) == 0) {
        if (slot) snprintf(slot, sizeof t->child_cause[0], "%s", cause);           /* for the sidebar */
        if (slot) utf8_trim_partial(slot);                                         /* whole characters */
        buf_printf(&b, "%s cannot start: %s\n", child ? child : "a child", cause); /* the cause first, in full */
        if (no_model)
            buf_puts(&b, "Get a model with " PSY_MODEL_PULL_HINT ", or start psyche with --model "
                         "FILE.gguf (a GGUF chat model).\n");
    }
    free(cause);
    size_t n = 0;
    int lines = 0;
    while (text[n] && lines < 12) lines += text[n++] == '\n';
    buf_append(&b, text, n);
    psy_tui_chat_add(t, PSY_TUI_CHILD, buf_str(&b), 0);
    buf_free(&b);
    if (event && !strcmp(event, "restarted") && t->chat.n) t->chat.v[t->chat.n - 1].ok = true;
}

/* Command output; the answer to /status gets the lines saying where
 * memories, logs and config live. */
static void on_info(psy_tui *t, const psy_event *ev)
{
    const char *text = ev->text ? ev->text : "";
    if (!t->status_asked || !t->where || !cJSON_GetObjectItemCaseSensitive(ev->data, "children")) {
        psy_tui_chat_add(t, PSY_TUI_INFO, text, 0);
        return;
    }
    t->status_asked = false;
    buf b = BUF_INIT;
    buf_printf(&b, "%s\n%s", text, t->where);
    psy_tui_chat_add(t, PSY_TUI_INFO, buf_str(&b), 0);
    buf_free(&b);
}

/* Returns false on PSY_EV_QUIT. */
bool psy_tui_on_event(psy_tui *t, const psy_event *ev)
{
    const char *text = ev->text ? ev->text : "";
    switch (ev->kind) {
    case PSY_EV_TOKEN: on_token(t, text); break;
    case PSY_EV_ANSWER: on_answer(t, ev); break;
    case PSY_EV_REASONING: psy_tui_thought_add(t, PSY_TUI_REASONING, "reasoning", text); break;
    case PSY_EV_THOUGHT: on_thought(t, ev); break;
    case PSY_EV_TOOL_START: on_tool(t, ev, true); break;
    case PSY_EV_TOOL_END: on_tool(t, ev, false); break;
    case PSY_EV_EMOTION:
        if (cJSON_IsObject(ev->data)) {
            cJSON_Delete(t->emotion_next);
            t->emotion_next = cJSON_Duplicate(ev->data, 1);
            double now = psy_tui_now();
            if (!t->emotion || now - t->emotion_at >= 1.0) psy_tui_take_emotion(t, now);
        }
        break;
    case PSY_EV_MEMORY:
        psy_tui_thought_add(t, PSY_TUI_EVENT, "memory", text);
        if (psy_tui_busy(t) || t->quitting) psy_tui_chat_add(t, PSY_TUI_MEMORY, text, psy_tui_running_turn(t));
        break;
    case PSY_EV_STATUS: on_status(t, ev); break;
    case PSY_EV_CHILD: on_child(t, ev); break;
    case PSY_EV_ERROR: psy_tui_chat_add(t, PSY_TUI_ERROR, text, psy_tui_running_turn(t)); break;
    case PSY_EV_INFO: on_info(t, ev); break;
    case PSY_EV_QUIT: return false;
    }
    return true;
}
