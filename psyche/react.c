/* react.c - one user message, start to answer (see react.h): the ReAct loop
 * over one conversation.
 *
 * Owns the turn. Never sleeps and never blocks on anything but a child call
 * that watches the turn's cancel flag, so new input abandons a turn within
 * ~20 ms. Never crashes on model output: whatever the model writes ends as
 * an answer, a tool call, or "[Error: ...]". */
#include "react.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "filter.h"
#include "generate.h"
#include "log.h"
#include "utf8.h"
#include "prompt.h"
#include "toolcall.h"
#include "util.h"

/* Tokens kept free for the template around the answer. */
#define ANSWER_SLACK_TOKENS 16
/* The least an answer may ask for (elpis reports an overflow clearly if even that does not fit). */
#define ANSWER_MIN_TOKENS 16
/* A tool result is cut to about this many characters per token of room. */
#define CHARS_PER_TOKEN 3
/* A re-cut tool result aims this far below the measured fit. */
#define CUT_MARGIN 0.9
/* Tokens of room kept for the truncation note and the template. */
#define TOOL_NOTE_TOKENS 32
/* A tool result keeps at least this many characters (compaction shortens it further if need be). */
#define TOOL_RESULT_MIN_CHARS 100
/* Tool results kept for the importance heuristic. */
#define RESULTS_KEPT_BYTES 65536

typedef struct turn {
    psy_env *e;
    psy_conv *c;
    const char *text; /* the user's message */
    int seq;          /* cancel_seq at the start */
    buf answer;       /* the visible answer so far */
    buf results;      /* tool results, for the importance heuristic */
    int tools_used;
} turn;

static void compact(psy_env *e, psy_conv *c)
{
    psy_context *ctx = &c->ctx;
    if (!psy_context_over_budget(ctx)) return;
    bool summarize = psy_settings_summarize(e->cfg);
    long shortened = ctx->shortened;
    int n = psy_context_compact(ctx, psy_mem_flush, summarize ? psy_mem_summarize : NULL, e->mem);
    if (ctx->shortened > shortened) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddNumberToObject(d, "shortened", (double)(ctx->shortened - shortened));
        cJSON_AddNumberToObject(d, "tokens", (double)ctx->total_tokens);
        psy_emit(e->bus, PSY_EV_MEMORY, "shortened a tool result in place to fit the context", d);
    }
    if (n > 0) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddNumberToObject(d, "dropped", n);
        cJSON_AddNumberToObject(d, "staged", (double)ctx->n_staged);
        cJSON_AddNumberToObject(d, "tokens", (double)ctx->total_tokens);
        buf b = BUF_INIT;
        buf_printf(&b, "compacted the conversation: %d older message%s moved toward memory", n, n == 1 ? "" : "s");
        psy_emit(e->bus, PSY_EV_MEMORY, b.data, d);
        buf_free(&b);
    }
}

/* Adds a tool's result to the context, cut to what the context can hold
 * next to the messages compaction must keep ([agent] tool_result_max_chars
 * at most): about CHARS_PER_TOKEN characters per token, checked against the
 * real count. Returns the text added (caller frees). */
static char *add_tool_result(turn *t, const char *name, const cJSON *wrapper)
{
    psy_context *ctx = &t->c->ctx;
    long room = (long)psy_context_room(ctx) - TOOL_NOTE_TOKENS;
    long fit = room > 0 ? room * CHARS_PER_TOKEN : 0;
    if (fit < TOOL_RESULT_MIN_CHARS) fit = TOOL_RESULT_MIN_CHARS;
    char *msg = NULL;
    for (int attempt = 0; attempt < 3; attempt++) {
        free(msg);
        msg = psy_tool_result_text(name, wrapper, t->e->cfg->tool_result_max_chars, fit);
        if (!msg || psy_context_add(ctx, "user", msg, NULL, PSY_MSG_TOOL_RESULT)) break;
        const psy_msg *m = &ctx->msgs[ctx->n - 1];
        if (m->estimated || m->tokens <= room || fit <= TOOL_RESULT_MIN_CHARS) break;
        /* denser than CHARS_PER_TOKEN: cut by the measured ratio and try again */
        size_t chars = utf8_count(msg, strlen(msg));
        long nf = (long)((double)chars * (double)(room > 0 ? room : 0) / (double)m->tokens * CUT_MARGIN);
        if (nf >= fit) nf = fit * 8 / 10;
        fit = nf < TOOL_RESULT_MIN_CHARS ? TOOL_RESULT_MIN_CHARS : nf;
        if (attempt < 2) psy_context_pop(ctx);
    }
    return msg;
}

/* The answer's budget: [agent] max_tokens, capped by the context's reserve
 * (so one answer can never crowd out the next prompt) and by what is left. */
static long answer_cap(const psy_env *e, const psy_context *ctx)
{
    long m = e->cfg->max_tokens;
    if (ctx->reserve_tokens >= ANSWER_MIN_TOKENS && ctx->reserve_tokens < m) m = ctx->reserve_tokens;
    return m;
}

static int max_answer_tokens(const psy_env *e, const psy_context *ctx)
{
    long m = answer_cap(e, ctx);
    long left = (long)ctx->context_length - ctx->total_tokens - ANSWER_SLACK_TOKENS;
    if (left < m) m = left;
    return m < ANSWER_MIN_TOKENS ? ANSWER_MIN_TOKENS : (int)m;
}

/* Makes the prompt plus its answer fit before a generation; tells the user
 * what had to give way. Returns the answer's budget, or -E2BIG. */
static int fit_for_answer(psy_env *e, psy_conv *c)
{
    psy_context *ctx = &c->ctx;
    psy_fit_report rep;
    int rc = psy_context_fit(ctx, (int)answer_cap(e, ctx), &rep);
    if (rep.dropped || rep.shortened_results) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddNumberToObject(d, "dropped", rep.dropped);
        cJSON_AddNumberToObject(d, "shortened", rep.shortened_results);
        cJSON_AddNumberToObject(d, "tokens", (double)ctx->total_tokens);
        buf b = BUF_INIT;
        buf_printf(&b, "made room for the answer: %d older message%s moved toward memory, %d tool result%s shortened",
                   rep.dropped, rep.dropped == 1 ? "" : "s", rep.shortened_results,
                   rep.shortened_results == 1 ? "" : "s");
        psy_emit(e->bus, PSY_EV_MEMORY, buf_str(&b), d);
        buf_free(&b);
    }
    if (rep.chars_cut)
        psy_emitf(e->bus, PSY_EV_INFO,
                  "(your message was too long for the model's context of %d tokens: its last %zu characters were left "
                  "out; send the rest in another message)",
                  ctx->context_length, rep.chars_cut);
    return rc ? rc : max_answer_tokens(e, ctx);
}

/* Ends the turn with its one ANSWER event. extra: a note for the end of the
 * answer ("[Generation timed out]"), also given as data.note so front-ends
 * that streamed the text can show just the note. */
static void finish(turn *t, const char *extra, bool interrupted)
{
    if (extra) {
        if (t->answer.len) buf_puts(&t->answer, "\n\n");
        buf_puts(&t->answer, extra);
    }
    cJSON *d = NULL;
    if (interrupted || extra) d = cJSON_CreateObject();
    if (interrupted) cJSON_AddBoolToObject(d, "interrupted", 1);
    if (extra) cJSON_AddStringToObject(d, "note", extra);
    psy_emit(t->e->bus, PSY_EV_ANSWER, buf_str(&t->answer), d);
}

static void append_visible(turn *t, const char *text)
{
    char *v = psy_filter_visible(text);
    if (v && *v) {
        if (t->answer.len) buf_puts(&t->answer, "\n\n");
        buf_puts(&t->answer, v);
    }
    free(v);
}

/* Runs one tool call; returns the wrapper (caller frees), never NULL. */
static cJSON *run_tool(psy_env *e, const psy_toolcall *tc)
{
    char line[PSY_TOOL_LINE_MAX];
    psy_set_state(e->bus, "running tool");
    cJSON *wrapper = psy_toolset_run(e->tools, tc->name, tc->arguments, 0, true, line, sizeof line);
    bool ok = wrapper && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(wrapper, "success"));
    /* three outcomes: success; failure (the tool ran and failed); exception
     * (it could not run as asked: unknown tool, bad arguments, timed out or
     * cancelled) - each moves the emotion differently */
    psy_tool_outcome oc = wrapper ? psy_toolset_last_outcome(e->tools) : PSY_TOOL_REFUSED;
    if (!wrapper) {
        wrapper = cJSON_CreateObject();
        cJSON_AddStringToObject(wrapper, "tool_call_id", "none");
        cJSON_AddBoolToObject(wrapper, "success", 0);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(wrapper, "result"), "error", "the tool could not be run");
    }
    double intensity;
    const char *event = psy_tool_emotion(ok, oc, &intensity);
    psy_emotion_event(e->links, event, intensity, tc->name);
    psy_note_tool(e->bus, line, ok);
    return wrapper;
}

/* The model asked for a tool: run it (unless the user interrupted) and add
 * its result. out is cut after the call. Returns true when the turn is over. */
static bool step_tool(turn *t, char *out, psy_toolcall *tc)
{
    psy_context *ctx = &t->c->ctx;
    /* what the model said before the call stays in the chat; the call itself is not shown */
    out[tc->end < strlen(out) ? tc->end : strlen(out)] = 0;
    append_visible(t, out);
    psy_context_add(ctx, "assistant", out, NULL, PSY_MSG_TOOL_CALL);
    /* A cancel or new input from before this point must not be lost: the
     * flag is cleared first, then the turn's own markers are checked (they
     * are set before the flag), and a later cancel stays set for the tool. */
    psy_toolset_rearm(t->e->tools);
    if (psy_turn_aborted(t->e->bus, t->seq)) {
        buf m = BUF_INIT;
        buf_printf(&m, "[Tool result for %s]: not run: the user interrupted", tc->name);
        psy_context_add(ctx, "user", m.data, NULL, PSY_MSG_TOOL_RESULT);
        buf_free(&m);
        finish(t, NULL, true);
        return true;
    }
    cJSON *wrapper = run_tool(t->e, tc);
    if (strcmp(tc->name, "store_memory") && strcmp(tc->name, "recall_memory"))
        psy_mem_turn_untrusted(t->e->mem); /* tool output is in the context now (recall marks itself) */
    char *msg = add_tool_result(t, tc->name, wrapper);
    if (msg && t->results.len < RESULTS_KEPT_BYTES) buf_puts(&t->results, msg);
    free(msg);
    cJSON_Delete(wrapper);
    t->tools_used++;
    compact(t->e, t->c);
    psy_emit_status(t->e->bus);
    return false;
}

/* The model's tool call could not be parsed: tell it, let it retry. */
static void step_bad_call(turn *t, const char *out, const char *perr)
{
    psy_context *ctx = &t->c->ctx;
    append_visible(t, out);
    psy_context_add(ctx, "assistant", out, NULL, PSY_MSG_TOOL_CALL);
    buf m = BUF_INIT;
    buf_printf(&m, "[Tool error]: %s", perr);
    psy_context_add(ctx, "user", m.data, NULL, PSY_MSG_TOOL_RESULT);
    psy_emitf(t->e->bus, PSY_EV_INFO, "(the model's tool call could not be used: %s; it may retry)", perr);
    buf_free(&m);
    psy_emotion_event(t->e->links, "frustration", PSY_EMOTION_MEDIUM, "unparseable tool call");
    compact(t->e, t->c);
}

/* A generation that did not end normally. Returns true (the turn is over). */
static bool step_failed(turn *t, int rc, const char *out, const char *err)
{
    psy_context *ctx = &t->c->ctx;
    if (rc == -ECANCELED) {
        if (out && *out) psy_context_add(ctx, "assistant", out, NULL, 0);
        if (out) append_visible(t, out);
        finish(t, NULL, true);
    } else if (rc == -ETIMEDOUT) {
        buf m = BUF_INIT;
        buf_printf(&m, "%s\n\n[Generation timed out]", out ? out : "");
        psy_context_add(ctx, "assistant", m.data, NULL, 0);
        if (out) append_visible(t, out);
        buf_free(&m);
        finish(t, "[Generation timed out]", false);
    } else {
        psy_emitf(t->e->bus, PSY_EV_ERROR, "[Error: %s]", err);
        finish(t, NULL, true);
    }
    return true;
}

/* One generation and what follows from it. Returns true when the turn is over. */
static bool step(turn *t)
{
    psy_env *e = t->e;
    psy_context *ctx = &t->c->ctx;
    psy_set_state(e->bus, "generating");
    int budget = fit_for_answer(e, t->c);
    if (budget < 0) {
        psy_emitf(e->bus, PSY_EV_ERROR,
                  "[Error: the system prompt alone fills the model's context of %d tokens; use a model with a larger "
                  "context ([model] path)]",
                  ctx->context_length);
        finish(t, NULL, true);
        return true;
    }
    char *out = NULL, err[1024];
    size_t rendered = ctx->n;
    psy_gen_params p = psy_gen_default_params(e->cfg);
    p.max_tokens = budget;
    p.stream = true;
    p.session = t->c->session;
    psy_gen_usage u;
    int rc = psy_generate(e->links, psy_context_render(ctx), &p, &out, &u, err, sizeof err);
    psy_conv_note_usage(t->c, rendered, rc == 0 ? u.prompt_tokens : -1, rc == 0 ? u.completion_tokens : -1);
    bool over;
    psy_toolcall tc;
    char perr[512];
    int prc = rc ? 0 : psy_toolcall_parse(out, strlen(out), &tc, perr, sizeof perr);
    if (rc) {
        over = step_failed(t, rc, out, err);
    } else if (prc == 1) {
        over = step_tool(t, out, &tc);
        psy_toolcall_clear(&tc);
    } else if (prc == -EBADMSG) {
        step_bad_call(t, out, perr);
        psy_toolcall_clear(&tc);
        over = false;
    } else {
        psy_context_add(ctx, "assistant", out, NULL, 0);
        append_visible(t, out);
        finish(t, NULL, false);
        psy_mem_consider_exchange(e->mem, t->text, out, t->tools_used, t->results.data);
        compact(e, t->c);
        over = true;
    }
    free(out);
    return over;
}

/* Recalled memories and mood go next to the user's message. Returns 0, or
 * -E2BIG when the message alone is larger than the whole context (refused,
 * with advice). */
static int add_user_message(psy_env *e, psy_conv *c, const char *text)
{
    cJSON *mems = NULL;
    if (e->cfg->memory && e->cfg->auto_retrieval && psy_child_up(&e->links->mnemo) &&
        psy_mem_search(e->mem, text, e->cfg->retrieval_count, &mems) == 0) {
        int n = cJSON_GetArraySize(mems);
        if (n > 0) {
            buf b = BUF_INIT;
            buf_printf(&b, "recalled %d memor%s", n, n == 1 ? "y" : "ies");
            psy_emit(e->bus, PSY_EV_MEMORY, b.data, cJSON_Duplicate(mems, 1));
            buf_free(&b);
        }
    }
    cJSON *emo = psy_links_emotion_copy(e->links);
    char *extra = psy_prompt_volatile(mems, emo);
    cJSON_Delete(emo);
    cJSON_Delete(mems);
    psy_context_add(&c->ctx, "user", text, extra, 0);
    free(extra);
    const psy_msg *m = &c->ctx.msgs[c->ctx.n - 1];
    if (c->ctx.n > 1 && m->tokens >= c->ctx.context_length) {
        psy_emitf(e->bus, PSY_EV_ERROR,
                  "[Error: your message is about %d tokens, more than the model's whole context of %d tokens; send it "
                  "in smaller parts, or use a model with a larger context ([model] path)]",
                  m->tokens, c->ctx.context_length);
        psy_context_pop(&c->ctx);
        return -E2BIG;
    }
    compact(e, c);
    psy_emit_status(e->bus);
    return 0;
}

void psy_react_turn(psy_env *e, psy_conv *c, const char *text, int cancel_seq)
{
    turn t = {.e = e, .c = c, .text = text, .seq = cancel_seq, .answer = BUF_INIT, .results = BUF_INIT};
    psy_toolset_rearm(e->tools); /* a cancel of an earlier activity */
    psy_idle_user_message(e->idle, now_mono());
    psy_mem_turn_begin(e->mem, text);
    for (size_t i = 0; i < c->ctx.n; i++) /* tool output from an earlier turn is still in the context */
        if (c->ctx.msgs[i].flags & PSY_MSG_TOOL_RESULT) psy_mem_turn_untrusted(e->mem);
    psy_activity_begin(e->bus, PSY_ACT_TURN, true);
    psy_set_state(e->bus, "thinking");
    c->usage.turns++;
    if (!psy_child_up(&e->links->elpis)) {
        const psy_child *el = &e->links->elpis;
        psy_emitf(e->bus, PSY_EV_ERROR, "[Error: the inference server elpis is not running%s%s]",
                  el->last_error[0] ? ": " : "", el->last_error);
        finish(&t, NULL, true); /* every turn ends with one ANSWER */
        psy_activity_end(e->bus);
        return;
    }
    if (strchr(text, '?')) psy_emotion_event(e->links, "user_question", PSY_EMOTION_FULL, NULL);
    bool over = add_user_message(e, c, text) != 0;
    if (over) finish(&t, NULL, true);
    for (int iter = 0; iter < e->cfg->max_iterations && !over; iter++) {
        psy_activity_rearm(e->bus);
        if (psy_turn_aborted(e->bus, t.seq)) {
            finish(&t, NULL, true);
            over = true;
        } else {
            over = step(&t);
        }
    }
    if (!over) finish(&t, "[Max tool iterations reached]", false);
    buf_free(&t.answer);
    buf_free(&t.results);
    psy_activity_end(e->bus);
    psy_emit_status(e->bus);
}
