/* react.c - one user message, start to answer: the ReAct loop, streaming
 * generation, the chat/reasoning/tool-call split of the streamed text.
 *
 * Owns the turn. Runs only on the agent thread; never sleeps and never
 * blocks on anything but a child call that watches the turn's cancel flag,
 * so new input abandons a turn within ~20 ms. Never crashes on model output:
 * whatever the model writes ends as an answer, a tool call, or "[Error: ...]". */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent_int.h"
#include "buf.h"
#include "log.h"
#include "prompt.h"
#include "toolcall.h"
#include "util.h"

/* --------------------------------------------------------- stream filter */

enum { F_TEXT = 0, F_REASON = 1, F_TOOL = 2 };

void psy_filter_init(psy_stream_filter *f) { memset(f, 0, sizeof *f); }

/* 1: raw at p starts with word (case-insensitive); 0: it does not;
 * -1: cannot tell yet (raw ends inside a prefix of word). */
static int starts(const char *p, size_t avail, const char *word)
{
    size_t n = strlen(word);
    size_t k = avail < n ? avail : n;
    if (strncasecmp(p, word, k)) return 0;
    return avail >= n ? 1 : -1;
}

void psy_filter_feed(psy_stream_filter *f, const char *raw, size_t len, bool final, void *vis_buf, void *reason_buf)
{
    buf *vis = vis_buf, *rsn = reason_buf;
    static const char *const open_tags[] = {"<reasoning>", "<thinking>"};
    static const char *const close_tags[] = {"</reasoning>", "</thinking>"};
    while (f->pos < len) {
        const char *p = raw + f->pos;
        size_t avail = len - f->pos;
        if (f->state == F_TOOL) {
            f->pos = len; /* nothing after a tool call is shown */
            break;
        }
        if (f->state == F_REASON) {
            /* look for either closing tag (mixing is allowed) */
            const char *best = NULL;
            size_t blen = 0;
            for (int i = 0; i < 2; i++) {
                const char *q = strcasestr(p, close_tags[i]);
                if (q && q + strlen(close_tags[i]) <= raw + len && (!best || q < best)) best = q, blen = strlen(close_tags[i]);
            }
            if (!best) {
                if (final) {
                    buf_append(rsn, raw + f->mark, len - f->mark);
                    buf_puts(rsn, "\n\n");
                    f->pos = len;
                }
                break;
            }
            buf_append(rsn, raw + f->mark, (size_t)(best - (raw + f->mark)));
            buf_puts(rsn, "\n\n");
            f->pos = (size_t)(best - raw) + blen;
            f->state = F_TEXT;
            continue;
        }
        /* F_TEXT: copy up to the next '<' or '`' */
        size_t run = strcspn(p, "<`");
        if (run > avail) run = avail;
        if (run) {
            buf_append(vis, p, run);
            f->pos += run;
            continue;
        }
        if (*p == '<') {
            int hit = 0, wait = 0;
            for (int i = 0; i < 2 && !hit; i++) {
                int s = starts(p, avail, open_tags[i]);
                if (s == 1) {
                    f->state = F_REASON;
                    f->pos += strlen(open_tags[i]);
                    f->mark = f->pos;
                    hit = 1;
                } else if (s == -1) wait = 1;
            }
            if (hit) continue;
            if (wait && !final) break;
            buf_putc(vis, '<');
            f->pos++;
            continue;
        }
        /* '`': a tool_call fence hides the rest; other fences are shown */
        int s = starts(p, avail, "```tool_call");
        if (s == 1) {
            f->state = F_TOOL;
            continue;
        }
        if (s == -1 && !final) break;
        size_t ticks = 0;
        while (ticks < avail && p[ticks] == '`') ticks++;
        if (ticks == avail && !final) break; /* more backticks may follow */
        buf_append(vis, p, ticks);
        f->pos += ticks;
    }
}

/* ------------------------------------------------------------ generation */

typedef struct gen_state {
    psy_agent *a;
    buf raw;
    psy_stream_filter f;
    bool stream;
    bool fence_stop;
    size_t fence_end;
} gen_state;

static void emit_filtered(gen_state *g, const char *text, size_t len, bool final)
{
    buf vis = BUF_INIT, rsn = BUF_INIT;
    psy_filter_feed(&g->f, text, len, final, &vis, &rsn);
    if (rsn.len) {
        while (rsn.len && isspace((unsigned char)rsn.data[rsn.len - 1])) rsn.data[--rsn.len] = 0;
        if (rsn.len) psy_emit(g->a, PSY_EV_REASONING, rsn.data, NULL);
    }
    if (vis.len) psy_emit(g->a, PSY_EV_TOKEN, vis.data, NULL);
    buf_free(&vis);
    buf_free(&rsn);
}

static void on_progress(void *ud, double progress, const char *message)
{
    gen_state *g = ud;
    if (!message || !*message || g->fence_stop) return;
    buf_puts(&g->raw, message);
    size_t end;
    if (psy_toolcall_stream_done(g->raw.data, g->raw.len, &end)) {
        /* the model should stop here; make sure it does */
        g->fence_stop = true;
        g->fence_end = end;
        if (g->a->active_cancel) __atomic_store_n((int *)g->a->active_cancel, 1, __ATOMIC_RELEASE);
    }
    /* hold back an incomplete UTF-8 sequence: deltas may split characters */
    size_t ok = utf8_complete_prefix(g->raw.data, g->fence_stop ? g->fence_end : g->raw.len);
    if (g->stream) emit_filtered(g, g->raw.data, ok, false);
}

int psy_generate(psy_agent *a, cJSON *messages, int max_tokens, double temperature, bool background, bool stream,
                 int timeout_s, char **out, char *err, size_t errlen)
{
    *out = NULL;
    cJSON *args = cJSON_CreateObject();
    cJSON_AddItemToObject(args, "messages", messages);
    cJSON_AddNumberToObject(args, "max_tokens", max_tokens);
    if (temperature >= 0) cJSON_AddNumberToObject(args, "temperature", temperature);
    cJSON_AddBoolToObject(args, "emotional_modulation", a->cfg->emotional_modulation);
    if (background) cJSON_AddBoolToObject(args, "background", 1);
    gen_state g = {.a = a, .stream = stream};
    if (!background) a->last_prompt_tokens = -1;
    psy_filter_init(&g.f);
    cJSON *res = NULL;
    int rc = psy_elpis(a, "generate", args, timeout_s * 1000, on_progress, &g, &res, err, errlen);
    const char *final = NULL;
    size_t flen = 0;
    if (g.fence_stop) {
        if (a->active_cancel) __atomic_store_n((int *)a->active_cancel, 0, __ATOMIC_RELEASE);
        final = g.raw.data;
        flen = g.fence_end;
        rc = 0;
    } else if (rc == 0) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(res, "content");
        final = cJSON_IsString(c) ? c->valuestring : "";
        flen = strlen(final);
        psy_note_emotion(a, cJSON_GetObjectItemCaseSensitive(res, "emotional_state"));
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(res, "usage");
        const cJSON *pt = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens");
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(u, "cached_tokens");
        if (cJSON_IsNumber(pt)) {
            log_debug("generation: %d prompt tokens (%d cached)", (int)pt->valuedouble,
                      cJSON_IsNumber(ct) ? (int)ct->valuedouble : 0);
            if (!background) a->last_prompt_tokens = (long)pt->valuedouble;
        }
    } else if (rc == -ETIMEDOUT || rc == -ECANCELED) {
        final = buf_str(&g.raw);
        flen = utf8_complete_prefix(final, g.raw.len);
    } else if (rc == MCP_CLIENT_TOOL_ERROR) {
        rc = -EIO; /* err has elpis's message (e.g. context overflow) */
    }
    if (final) {
        *out = strndup(final, flen);
        /* settle what the stream held back (or show it all when elpis did not stream) */
        if (stream && flen >= g.f.pos) emit_filtered(&g, *out, flen, true);
        if (!*out) rc = -ENOMEM;
    }
    cJSON_Delete(res);
    buf_free(&g.raw);
    return rc;
}

/* ------------------------------------------------------------- the turn */

/* Visible part of a model text: reasoning and the tool call removed, trimmed. */
static char *visible_text(const char *text)
{
    psy_stream_filter f;
    psy_filter_init(&f);
    buf vis = BUF_INIT, rsn = BUF_INIT;
    psy_filter_feed(&f, text, strlen(text), true, &vis, &rsn);
    buf_free(&rsn);
    const char *s = buf_str(&vis);
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) n--;
    char *r = strndup(s, n);
    buf_free(&vis);
    return r;
}

static void compact(psy_agent *a)
{
    if (!psy_context_over_budget(&a->ctx)) return;
    bool summarize = psy_settings_summarize(a->cfg);
    long shortened = a->ctx.shortened;
    int n = psy_context_compact(&a->ctx, psy_mem_flush, summarize ? psy_mem_summarize : NULL, a);
    if (a->ctx.shortened > shortened) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddNumberToObject(d, "shortened", (double)(a->ctx.shortened - shortened));
        cJSON_AddNumberToObject(d, "tokens", (double)a->ctx.total_tokens);
        psy_emit(a, PSY_EV_MEMORY, "shortened a tool result in place to fit the context", d);
    }
    if (n > 0) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddNumberToObject(d, "dropped", n);
        cJSON_AddNumberToObject(d, "staged", (double)a->ctx.n_staged);
        cJSON_AddNumberToObject(d, "tokens", (double)a->ctx.total_tokens);
        buf b = BUF_INIT;
        buf_printf(&b, "compacted the conversation: %d older messages moved toward memory", n);
        psy_emit(a, PSY_EV_MEMORY, b.data, d);
        buf_free(&b);
    }
}

char *psy_tool_result_text(const char *name, const cJSON *wrapper, long max_chars, long fit_chars)
{
    char *json = cJSON_PrintUnformatted(wrapper); /* compact: tokens are scarce */
    buf b = BUF_INIT;
    buf_printf(&b, "[Tool result for %s]:\n%s", name, json ? json : "{}");
    free(json);
    long cap = max_chars < 0 ? 0 : max_chars;
    bool to_fit = fit_chars >= 0 && fit_chars < cap;
    if (to_fit) cap = fit_chars;
    size_t chars = psy_utf8_chars(buf_str(&b), b.len);
    if (chars > (size_t)cap) {
        size_t keep = psy_utf8_offset(b.data, b.len, (size_t)cap);
        b.len = keep;
        b.data[keep] = 0;
        buf_printf(&b, "\n\n[... truncated, %zu chars omitted%s]", chars - (size_t)cap,
                   to_fit ? " to fit the context" : "");
    }
    if (!b.data) buf_puts(&b, "");
    return buf_detach(&b);
}

/* Adds a tool's result to the context, cut to what the context can hold
 * next to the messages compaction must keep ([agent] tool_result_max_chars
 * at most): about 3 characters per token, checked against the real count.
 * Returns the text added (caller frees). */
static char *add_tool_result(psy_agent *a, const char *name, const cJSON *wrapper)
{
    long room = (long)psy_context_room(&a->ctx) - 32; /* the note and the template */
    long fit = room > 0 ? room * 3 : 0;
    if (fit < 100) fit = 100; /* a stub at least: compaction shortens it further if need be */
    char *msg = NULL;
    for (int attempt = 0; attempt < 3; attempt++) {
        free(msg);
        msg = psy_tool_result_text(name, wrapper, a->cfg->tool_result_max_chars, fit);
        if (!msg || psy_context_add(&a->ctx, "user", msg, NULL, PSY_MSG_TOOL_RESULT)) break;
        const psy_msg *m = &a->ctx.msgs[a->ctx.n - 1];
        if (m->estimated || m->tokens <= room || fit <= 100) break;
        /* denser than 3 characters a token: cut by the measured ratio and try again */
        size_t chars = psy_utf8_chars(msg, strlen(msg));
        long nf = (long)((double)chars * (double)(room > 0 ? room : 0) / (double)m->tokens * 0.9);
        if (nf >= fit) nf = fit * 8 / 10;
        fit = nf < 100 ? 100 : nf;
        if (attempt < 2) psy_context_pop(&a->ctx);
    }
    return msg;
}

static int max_answer_tokens(psy_agent *a)
{
    long left = (long)a->context_length - a->ctx.total_tokens - 16;
    long m = a->cfg->max_tokens;
    if (left < m) m = left;
    return m < 16 ? 16 : (int)m; /* elpis reports an overflow clearly if even that does not fit */
}

/* Ends the turn with its one ANSWER event. extra: a note for the end of the
 * answer ("[Generation timed out]"), also given as data.note so front-ends
 * that streamed the text can show just the note. */
static void finish(psy_agent *a, buf *answer, const char *extra, bool interrupted)
{
    if (extra) {
        if (answer->len) buf_puts(answer, "\n\n");
        buf_puts(answer, extra);
    }
    cJSON *d = NULL;
    if (interrupted || extra) d = cJSON_CreateObject();
    if (interrupted) cJSON_AddBoolToObject(d, "interrupted", 1);
    if (extra) cJSON_AddStringToObject(d, "note", extra);
    psy_emit(a, PSY_EV_ANSWER, buf_str(answer), d);
}

static void append_visible(buf *answer, const char *text)
{
    char *v = visible_text(text);
    if (v && *v) {
        if (answer->len) buf_puts(answer, "\n\n");
        buf_puts(answer, v);
    }
    free(v);
}

/* Runs one tool call and adds its result to the context. Returns the wrapper (caller frees). */
static cJSON *run_tool(psy_agent *a, const psy_toolcall *tc)
{
    char line[320];
    psy_set_state(a, "running tool");
    cJSON *wrapper = psy_tools_run(a, tc->name, tc->arguments, 0, true, line, sizeof line);
    bool ok = wrapper && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(wrapper, "success"));
    /* the original's three outcomes: success; failure (the tool ran and
     * failed); exception (it could not run as asked: unknown tool, bad
     * arguments, timed out or cancelled) */
    psy_tool_outcome oc = wrapper && a->tools ? psy_tools_last_outcome(a->tools) : PSY_TOOL_REFUSED;
    if (!wrapper) {
        wrapper = cJSON_CreateObject();
        cJSON_AddStringToObject(wrapper, "tool_call_id", "none");
        cJSON_AddBoolToObject(wrapper, "success", 0);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(wrapper, "result"), "error", "the tool could not be run");
    }
    if (ok) psy_emotion_event(a, "success", 0.3, tc->name);
    else if (oc == PSY_TOOL_FAILED) psy_emotion_event(a, "failure", 0.5, tc->name);
    else psy_emotion_event(a, "frustration", 0.5, tc->name);
    psy_note_tool(a, line, ok);
    return wrapper;
}

void psy_react_turn(psy_agent *a, const char *text)
{
    int seq = __atomic_load_n(&a->cancel_seq, __ATOMIC_ACQUIRE);
    psy_tools_reset_cancel(a->tools); /* a cancel of an earlier activity */
    psy_idle_user_message(&a->idle, now_mono());
    a->active_cancel = &a->turn_cancel;
    __atomic_store_n(&a->turn_cancel, 0, __ATOMIC_RELEASE);
    psy_set_state(a, "thinking");
    if (!psy_child_up(&a->elpis)) {
        psy_emitf(a, PSY_EV_ERROR, "[Error: the inference server elpis is not running%s%s]",
                  a->elpis.last_error[0] ? ": " : "", a->elpis.last_error);
        cJSON *d = cJSON_CreateObject();
        cJSON_AddBoolToObject(d, "interrupted", 1);
        psy_emit(a, PSY_EV_ANSWER, "", d); /* every turn ends with one ANSWER */
        return;
    }
    if (strchr(text, '?')) psy_emotion_event(a, "user_question", 1.0, NULL);

    cJSON *mems = NULL;
    if (a->cfg->memory && a->cfg->auto_retrieval && psy_child_up(&a->mnemo)) {
        mems = psy_mem_search(a, text, a->cfg->retrieval_count);
        int n = cJSON_GetArraySize(mems);
        if (n > 0) {
            buf b = BUF_INIT;
            buf_printf(&b, "recalled %d memor%s", n, n == 1 ? "y" : "ies");
            psy_emit(a, PSY_EV_MEMORY, b.data, cJSON_Duplicate(mems, 1));
            buf_free(&b);
        }
    }
    cJSON *emo = psy_agent_emotion(a);
    char *extra = psy_prompt_volatile(mems, emo);
    cJSON_Delete(emo);
    cJSON_Delete(mems);
    psy_context_add(&a->ctx, "user", text, extra, 0);
    free(extra);
    compact(a);
    psy_emit_status(a);

    buf answer = BUF_INIT, results = BUF_INIT;
    int tools_used = 0;
    bool done = false;
    for (int iter = 0; iter < a->cfg->max_iterations && !done; iter++) {
        __atomic_store_n(&a->turn_cancel, 0, __ATOMIC_RELEASE);
        if (psy_turn_aborted(a, seq)) {
            finish(a, &answer, NULL, true);
            done = true;
            break;
        }
        psy_set_state(a, "generating");
        char *out = NULL, err[1024];
        size_t rendered = a->ctx.n;
        int rc = psy_generate(a, psy_context_render(&a->ctx), max_answer_tokens(a), -1, false, true,
                              a->cfg->generation_timeout_s, &out, err, sizeof err);
        if (rc == 0 && a->last_prompt_tokens > 0) psy_context_calibrate(&a->ctx, rendered, a->last_prompt_tokens);
        if (rc == -ECANCELED) {
            if (out && *out) psy_context_add(&a->ctx, "assistant", out, NULL, 0);
            if (out) append_visible(&answer, out);
            finish(a, &answer, NULL, true);
            free(out);
            done = true;
            break;
        }
        if (rc == -ETIMEDOUT) {
            buf t = BUF_INIT;
            buf_printf(&t, "%s\n\n[Generation timed out]", out ? out : "");
            psy_context_add(&a->ctx, "assistant", t.data, NULL, 0);
            if (out) append_visible(&answer, out);
            buf_free(&t);
            finish(a, &answer, "[Generation timed out]", false);
            free(out);
            done = true;
            break;
        }
        if (rc) {
            psy_emitf(a, PSY_EV_ERROR, "[Error: %s]", err);
            finish(a, &answer, NULL, true);
            free(out);
            done = true;
            break;
        }
        psy_toolcall tc;
        char perr[512];
        int prc = psy_toolcall_parse(out, strlen(out), &tc, perr, sizeof perr);
        if (prc == 1) {
            /* what the model said before the call stays in the chat; the call itself is not shown */
            out[tc.end < strlen(out) ? tc.end : strlen(out)] = 0;
            append_visible(&answer, out);
            psy_context_add(&a->ctx, "assistant", out, NULL, PSY_MSG_TOOL_CALL);
            /* A cancel or new input from before this point must not be lost:
             * the flag is cleared first, then the turn's own markers are
             * checked (they are set before the flag), and a later cancel
             * stays set for the tool to see. */
            psy_tools_reset_cancel(a->tools);
            if (psy_turn_aborted(a, seq)) {
                buf m = BUF_INIT;
                buf_printf(&m, "[Tool result for %s]: not run: the user interrupted", tc.name);
                psy_context_add(&a->ctx, "user", m.data, NULL, PSY_MSG_TOOL_RESULT);
                buf_free(&m);
                finish(a, &answer, NULL, true);
                psy_toolcall_clear(&tc);
                free(out);
                done = true;
                break;
            }
            cJSON *wrapper = run_tool(a, &tc);
            char *msg = add_tool_result(a, tc.name, wrapper);
            if (msg && results.len < 65536) buf_puts(&results, msg);
            free(msg);
            cJSON_Delete(wrapper);
            psy_toolcall_clear(&tc);
            tools_used++;
            compact(a);
            psy_emit_status(a);
        } else if (prc == -EBADMSG) {
            append_visible(&answer, out);
            psy_context_add(&a->ctx, "assistant", out, NULL, PSY_MSG_TOOL_CALL);
            buf m = BUF_INIT;
            buf_printf(&m, "[Tool error]: %s", perr);
            psy_context_add(&a->ctx, "user", m.data, NULL, PSY_MSG_TOOL_RESULT);
            psy_emitf(a, PSY_EV_INFO, "(the model's tool call could not be used: %s; it may retry)", perr);
            buf_free(&m);
            psy_emotion_event(a, "frustration", 0.5, "unparseable tool call");
            psy_toolcall_clear(&tc);
            compact(a);
        } else {
            psy_context_add(&a->ctx, "assistant", out, NULL, 0);
            append_visible(&answer, out);
            finish(a, &answer, NULL, false);
            psy_mem_consider_exchange(a, text, out, tools_used, results.data);
            compact(a);
            done = true;
        }
        free(out);
    }
    if (!done) finish(a, &answer, "[Max tool iterations reached]", false);
    buf_free(&answer);
    buf_free(&results);
    psy_emit_status(a);
}
