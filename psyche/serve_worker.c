/* serve_worker.c - the threads of `psyche serve` that talk to the
 * children. The worker starts and supervises elpis, runs the control jobs
 * (emotion, embeddings), dreams and conversation summaries; up to
 * `parallel` (elpis's slots) chat runners each take a chat job from the
 * bounded queue (fair between conversations, never two of one conversation
 * at once) and answer it through its channel, streaming chat completions
 * as SSE chunks while elpis decodes them in one batch with the others.
 *
 * Never called from libmicrohttpd's threads except psy_serve_submit and
 * psy_serve_idle, which only touch the queue under the mutex. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "mcp_client.h"
#include "prompt.h"
#include "serve_int.h"
#include "serve_memory.h"
#include "tools.h"
#include "utf8.h"
#include "util.h"

void psy_job_free(psy_job *j)
{
    if (!j) return;
    psy_chat_req_free(&j->req);
    cJSON_Delete(j->args);
    if (j->ch) {
        psy_chan_close(j->ch);
        psy_chan_unref(j->ch);
    }
    free(j);
}

/* ------------------------------------------------------------- queue */

int psy_serve_submit(psy_serve *s, psy_job *j)
{
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    /* reading the emotion (Hermes polls it every second) does not postpone
     * the next dream, or a connected client would keep the server from ever
     * dreaming; it still ends a dream in progress, as any request does */
    if (j->kind != JOB_EMOTION_GET) s->last_activity = now_mono();
    __atomic_store_n(&s->dream_cancel, 1, __ATOMIC_RELEASE); /* a dream in progress ends now */
    if (s->draining || s->stopping) rc = -ESHUTDOWN;
    else if (j->kind == JOB_CHAT && s->queued >= s->scfg->queue_max) rc = -EAGAIN;
    if (!rc && j->kind != JOB_CHAT) { /* control jobs are short: they go first */
        j->next = s->head;
        s->head = j;
    } else if (!rc) {
        psy_job **p = &s->head;
        while (*p) p = &(*p)->next;
        *p = j;
        s->queued++;
        psy_metrics_queue(&s->metrics, s->queued);
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (rc) psy_job_free(j);
    return rc;
}

bool psy_serve_idle(psy_serve *s)
{
    pthread_mutex_lock(&s->mu);
    bool idle = !s->head && !s->control && !s->n_running;
    pthread_mutex_unlock(&s->mu);
    return idle;
}

/* The next control job (they are at the head), or NULL. Called with mu held. */
static psy_job *pop_control(psy_serve *s)
{
    psy_job *j = s->head;
    if (!j || j->kind == JOB_CHAT) return NULL;
    s->head = j->next;
    j->next = NULL;
    return j;
}

static bool conv_running(const psy_serve *s, const char *conv)
{
    for (int i = 0; i < PSY_SERVE_RUNNERS_MAX; i++) /* not n_runners: it grows while the first runners run */
        if (s->running[i] && !strcmp(s->running[i]->conv, conv)) return true;
    return false;
}

/* The next chat job for a runner, or NULL when `parallel` run already or
 * none may start: never one of a conversation that is running (its KV
 * prefix and transcript depend on the answer before); among the others
 * the first of a conversation other than the one started last (so no
 * conversation starves another), else the first. Called with mu held. */
static psy_job *pop_chat(psy_serve *s)
{
    if (s->n_running >= s->parallel) return NULL;
    psy_job **pick = NULL;
    for (psy_job **p = &s->head; *p; p = &(*p)->next) {
        if ((*p)->kind != JOB_CHAT || conv_running(s, (*p)->conv)) continue;
        if (!pick) pick = p;
        if (strcmp((*p)->conv, s->last_conv)) {
            pick = p;
            break;
        }
    }
    if (!pick) return NULL;
    psy_job *j = *pick;
    *pick = j->next;
    j->next = NULL;
    s->queued--;
    snprintf(s->last_conv, sizeof s->last_conv, "%s", j->conv);
    psy_metrics_queue(&s->metrics, s->queued);
    return j;
}

/* ------------------------------------------------------------- replies */

static void reply_json(psy_job *j, int status, cJSON *o /* consumed */)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s) {
        status = 500;
        s = psy_oai_error_json(500, "out of memory while building the answer", NULL, NULL);
    }
    psy_chan_set_status(j->ch, status);
    if (s) psy_chan_write(j->ch, s, strlen(s));
    free(s);
}

/* An error: as the status and body of a plain answer, or as an SSE event
 * when the stream has started (its status is already sent). */
static void reply_error(psy_job *j, int status, const char *msg, const char *code)
{
    char *e = psy_oai_error_json(status, msg, NULL, code);
    if (!e) return;
    if (j->kind == JOB_CHAT && j->req.stream) {
        buf b = BUF_INIT;
        if (!buf_printf(&b, "data: %s\n\n", e)) psy_chan_write(j->ch, b.data, b.len);
        buf_free(&b);
    } else {
        psy_chan_set_status(j->ch, status);
        psy_chan_write(j->ch, e, strlen(e));
    }
    free(e);
}

static void send_chunk(psy_job *j, const char *role, const char *content, const char *finish, const psy_oai_usage *u)
{
    cJSON *c = psy_oai_chunk(j->id, j->created, j->req.model, role, content, finish, u);
    char *s = c ? psy_oai_sse(c) : NULL;
    cJSON_Delete(c);
    if (s) psy_chan_write(j->ch, s, strlen(s));
    free(s);
}

/* ------------------------------------------------------------- chat */

typedef struct gen {
    psy_job *j;
    buf raw;       /* everything elpis streamed so far (this round) */
    size_t sent;   /* bytes of raw already sent as chunks */
    bool tools;    /* tools are offered: text that is or may become a call is held */
    bool stop_hit; /* a stop sequence was found at raw[cut] */
    size_t cut;
    long tokens; /* completion tokens so far (progress) */
} gen;

/* Sends raw[sent..upto) as a content chunk. */
static void flush_text(gen *g, size_t upto)
{
    if (upto <= g->sent) return;
    if (g->j->req.stream) {
        char *piece = strndup(g->raw.data + g->sent, upto - g->sent);
        if (piece) send_chunk(g->j, NULL, piece, NULL, NULL);
        free(piece);
    }
    g->sent = upto;
}

static void on_delta(void *ud, double progress, const char *message)
{
    gen *g = ud;
    if (progress > 0) g->tokens = (long)progress;
    if (!message || g->stop_hit) return;
    buf_puts(&g->raw, message);
    size_t cut, safe;
    if (psy_oai_find_stop(g->raw.data, g->raw.len, g->j->req.stop, g->j->req.n_stop, &cut, &safe)) {
        g->stop_hit = true;
        g->cut = cut;
        psy_chan_interrupt(g->j->ch); /* elpis stops within a token */
    }
    if (g->tools) { /* a call is never shown: it goes out as tool_calls, or is a memory round */
        size_t t = psy_oai_tool_safe(g->raw.data, g->raw.len, g->sent);
        if (t < safe) safe = t;
    }
    flush_text(g, safe);
}

/* Automatic retrieval: the user's memories relevant to the newest user
 * message go in front of it, as in the terminal UI (the system prompt stays
 * a stable prefix for the KV cache). */
static void recall_into(psy_serve *s, psy_job *j, cJSON *msgs)
{
    cJSON *last = cJSON_GetArrayItem(msgs, cJSON_GetArraySize(msgs) - 1);
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(last, "role");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(last, "content");
    if (!cJSON_IsString(role) || strcmp(role->valuestring, "user") || !cJSON_IsString(content)) return;
    cJSON *mems = psy_serve_mem_recall(s, j->user, content->valuestring);
    if (!mems) return;
    char *note = psy_prompt_volatile(mems, NULL);
    psy_metrics_recalled(&s->metrics, cJSON_GetArraySize(mems));
    cJSON_Delete(mems);
    buf b = BUF_INIT;
    if (note && !buf_printf(&b, "%s\n\n%s", note, content->valuestring))
        cJSON_ReplaceItemInObjectCaseSensitive(last, "content", cJSON_CreateString(b.data));
    buf_free(&b);
    free(note);
}

static cJSON *chat_args(psy_serve *s, psy_job *j)
{
    cJSON *msgs = psy_oai_elpis_messages(s->system_prompt, &j->req);
    if (!msgs) return NULL;
    recall_into(s, j, msgs);
    cJSON *a = cJSON_CreateObject();
    cJSON_AddItemToObject(a, "messages", msgs);
    cJSON_AddNumberToObject(a, "max_tokens", j->req.max_tokens > 0 ? j->req.max_tokens : s->cfg->max_tokens);
    /* given: the client's sampling over the emotion's; absent: the emotion shapes it */
    if (j->req.has_temperature) cJSON_AddNumberToObject(a, "temperature", j->req.temperature);
    if (j->req.has_top_p) cJSON_AddNumberToObject(a, "top_p", j->req.top_p);
    /* a streamed answer's tokens may come gathered; with stop sequences each
     * one comes at once, so elpis stops within a token of one */
    if (j->req.stream && !j->req.n_stop)
        cJSON_AddNumberToObject(a, "progress_interval_ms", s->scfg->stream_interval_ms);
    if (j->req.tools) {
        cJSON_AddItemToObject(a, "tools", cJSON_Duplicate(j->req.tools, 1));
        if (j->req.single_call) cJSON_AddBoolToObject(a, "parallel_tool_calls", false);
    } else {
        cJSON_AddBoolToObject(a, "emotional_modulation", s->cfg->emotional_modulation);
    }
    if (psy_serve_memtools_offer(s, j, a)) {
        cJSON_Delete(a);
        return NULL;
    }
    return a;
}

static long num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : 0;
}

/* Prompt tokens of a generation elpis did not finish (a stop sequence). */
static long count_prompt(psy_serve *s, psy_job *j)
{
    cJSON *args = cJSON_CreateObject();
    cJSON_AddItemToObject(args, "messages", psy_oai_elpis_messages(s->system_prompt, &j->req));
    cJSON *res = NULL;
    char err[256];
    long n = 0;
    if (!mcp_client_call(s->elpis.c, "count_tokens", args, 10000, NULL, NULL, NULL, &res, err, sizeof err))
        n = num(res, "tokens");
    cJSON_Delete(res);
    return n;
}

/* The end of a successful chat: the rest of the text, the finish and usage. */
static void finish_chat(psy_serve *s, psy_job *j, gen *g, const char *content, const cJSON *tool_calls,
                        const char *finish, const psy_oai_usage *u)
{
    psy_metrics_generation(&s->metrics, !strcmp(finish, "tool_calls") ? "stop" : finish, u->prompt_tokens,
                           u->completion_tokens, u->cached_tokens);
    pthread_mutex_lock(&s->mu);
    psy_convs_usage(&s->convs, j->conv, u->prompt_tokens, u->completion_tokens, u->cached_tokens);
    pthread_mutex_unlock(&s->mu);
    if (!j->req.stream) {
        reply_json(j, 200, psy_oai_completion(j->id, j->created, j->req.model, content, tool_calls, finish, u));
        return;
    }
    int i = 0;
    const cJSON *call;
    cJSON_ArrayForEach(call, tool_calls) /* per index: id and name first, then the arguments */
    {
        for (int head = 1; head >= 0; head--) {
            cJSON *c = psy_oai_tool_chunk(j->id, j->created, j->req.model, i, call, head);
            char *sse = c ? psy_oai_sse(c) : NULL;
            cJSON_Delete(c);
            if (sse) psy_chan_write(j->ch, sse, strlen(sse));
            free(sse);
        }
        i++;
    }
    if (i) content = "";
    /* the stream held back at most a partial stop sequence or character; content is the truth */
    size_t clen = strlen(content);
    if (clen > g->sent) {
        send_chunk(j, NULL, content + g->sent, NULL, NULL);
        g->sent = clen;
    }
    send_chunk(j, NULL, NULL, finish, NULL);
    if (j->req.include_usage) send_chunk(j, NULL, NULL, NULL, u);
    psy_chan_write(j->ch, "data: [DONE]\n\n", 14);
}

/* The answer is out (the channel is closed first, so the client does not
 * wait for the store); then the exchange may become a memory. */
/* The conversation's transcript for its summary when it ends: its messages
 * (system ones left out, each cut at 500 bytes as the terminal UI's summary
 * does) and the answer. */
static void keep_transcript(psy_serve *s, psy_job *j, const char *answer)
{
    buf t = BUF_INIT;
    const cJSON *m;
    cJSON_ArrayForEach(m, j->req.messages)
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsString(role) || !cJSON_IsString(text) || !strcmp(role->valuestring, "system")) continue;
        buf_printf(&t, "%s: ", role->valuestring);
        utf8_append_cut(&t, text->valuestring, strlen(text->valuestring), 500, "..."); /* whole characters */
        buf_putc(&t, '\n');
    }
    buf_puts(&t, "assistant: ");
    utf8_append_cut(&t, answer, strlen(answer), 500, "...");
    buf_putc(&t, '\n');
    pthread_mutex_lock(&s->mu);
    psy_convs_set_transcript(&s->convs, j->conv, j->user, buf_str(&t));
    pthread_mutex_unlock(&s->mu);
    buf_free(&t);
}

static void remember(psy_serve *s, psy_job *j, const char *answer, const cJSON *emotion)
{
    psy_chan_close(j->ch);
    if (s->cfg->memory && s->cfg->summary) keep_transcript(s, j, answer);
    const cJSON *last = cJSON_GetArrayItem(j->req.messages, cJSON_GetArraySize(j->req.messages) - 1);
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(last, "role");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(last, "content");
    if (!cJSON_IsString(role) || strcmp(role->valuestring, "user") || !cJSON_IsString(text)) return;
    if (psy_serve_mem_store_exchange(s, j->user, text->valuestring, answer, emotion) == 1)
        psy_metrics_stored(&s->metrics);
}

static void chat_failed(psy_serve *s, psy_job *j, int rc, const char *err)
{
    char msg[768];
    if (psy_chan_cancelled(j->ch)) {
        psy_metrics_generation(&s->metrics, "cancelled", 0, 0, 0);
        log_info("%s: the client went away; generation cancelled", j->id);
        return;
    }
    psy_metrics_generation(&s->metrics, "error", 0, 0, 0);
    if (rc == MCP_CLIENT_TOOL_ERROR) {
        snprintf(msg, sizeof msg, "elpis refused the request: %s", err);
        reply_error(j, 400, msg, "context_length_exceeded");
    } else if (rc == -EPIPE || !psy_child_up(&s->elpis)) {
        reply_error(j, 503,
                    "the inference engine (elpis) stopped during the request and is being restarted; "
                    "retry in a few seconds",
                    "engine_restarting");
    } else {
        snprintf(msg, sizeof msg, "generation failed: %s", *err ? err : strerror(rc < 0 ? -rc : EIO));
        reply_error(j, 500, msg, rc == -ETIMEDOUT ? "timeout" : NULL);
    }
    log_warn("%s: generation failed: %s", j->id, *err ? err : strerror(rc < 0 ? -rc : EIO));
}

/* The generation: elpis's generate, or function_call when tools are
 * offered; both stream (on_delta), function_call's text held while it is or
 * may become a call. A call of the server's own memory tools is run here and
 * the model asked again (its text was never shown, beyond any prose before
 * the call); after PSY_SERVE_MEMTOOL_STEPS rounds they are withdrawn so the
 * next answer is text or a client's tool call. */
static int call_elpis(psy_serve *s, psy_job *j, cJSON *args /* consumed */, gen *g, cJSON **res, char *err,
                      size_t errlen)
{
    for (int step = 0;; step++) {
        if (step == PSY_SERVE_MEMTOOL_STEPS) psy_serve_memtools_withdraw(s, args);
        bool tools = cJSON_GetObjectItemCaseSensitive(args, "tools") != NULL;
        bool last = !tools || !s->scfg->memory_tools; /* no memory round can follow: hand args over */
        cJSON *sent = last ? args : cJSON_Duplicate(args, true);
        buf_reset(&g->raw); /* a round's text is its own: finish_chat counts from its start */
        g->sent = 0;
        g->tools = tools;
        /* pieces are needed to stream and to find stop sequences early; else elpis sends none */
        mcp_progress_cb progress = j->req.stream || j->req.n_stop ? on_delta : NULL;
        int rc = sent ? mcp_client_call(s->elpis.c, tools ? "function_call" : "generate", sent,
                                        s->cfg->generation_timeout_s * 1000, progress, g, psy_chan_cancel_flag(j->ch),
                                        res, err, errlen)
                      : -ENOMEM;
        if (last) return rc;
        bool again = false;
        if (!rc && (rc = psy_serve_memtools_take(s, j, args, *res, &again)))
            snprintf(err, errlen, "out of memory while running the model's memory tools");
        if (rc || !again) {
            cJSON_Delete(args);
            return rc;
        }
        cJSON_Delete(*res);
        *res = NULL;
    }
}

/* A question moves the emotion before it is answered, as in the terminal
 * UI (once: in a tool round the last message is the tool's result). */
static void note_question(psy_serve *s, psy_job *j)
{
    if (!j->req.question) return;
    cJSON *a = cJSON_CreateObject(), *res = NULL;
    cJSON_AddStringToObject(a, "event_type", "user_question");
    cJSON_AddNumberToObject(a, "intensity", PSY_EMOTION_FULL);
    char err[256];
    if (mcp_client_call(s->elpis.c, "update_emotion", a, 10000, NULL, NULL, psy_chan_cancel_flag(j->ch), &res, err,
                        sizeof err))
        log_debug("%s: the question's emotion event was not taken: %s", j->id, err);
    cJSON_Delete(res);
}

static void run_chat(psy_serve *s, psy_job *j)
{
    note_question(s, j);
    cJSON *args = chat_args(s, j);
    if (!args) {
        reply_error(j, 500, "out of memory while building the prompt", NULL);
        return;
    }
    gen g = {.j = j};
    if (j->req.stream) send_chunk(j, "assistant", "", NULL, NULL);
    cJSON *res = NULL;
    char err[512] = "";
    /* the channel's flag: set when the client leaves or a stop sequence is found.
     * With tools, elpis's function_call decides between a call and text at
     * the end; the text streams meanwhile, except what may be a call. */
    int rc = call_elpis(s, j, args, &g, &res, err, sizeof err);
    if (rc == 0 && !g.stop_hit) { /* elpis may not have streamed: look for stop sequences in the whole text */
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(res, "content");
        size_t safe;
        buf_reset(&g.raw);
        buf_puts(&g.raw, cJSON_IsString(c) ? c->valuestring : "");
        g.stop_hit = psy_oai_find_stop(g.raw.data, g.raw.len, j->req.stop, j->req.n_stop, &g.cut, &safe);
    }
    if ((rc == 0 || rc == -ECANCELED) && g.stop_hit && !psy_chan_cancelled(j->ch)) {
        /* a stop sequence: the text ends before it, even if elpis went on a little */
        g.raw.len = g.cut;
        g.raw.data[g.cut] = 0;
        const cJSON *us = cJSON_GetObjectItemCaseSensitive(res, "usage");
        psy_oai_usage u = {num(us, "prompt_tokens"), num(us, "completion_tokens"), num(us, "cached_tokens")};
        if (rc) u = (psy_oai_usage){.prompt_tokens = count_prompt(s, j), .completion_tokens = g.tokens};
        finish_chat(s, j, &g, g.raw.data, NULL, "stop", &u);
        remember(s, j, g.raw.data, cJSON_GetObjectItemCaseSensitive(res, "emotional_state"));
    } else if (rc == 0) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(res, "content");
        const cJSON *fr = cJSON_GetObjectItemCaseSensitive(res, "finish_reason");
        const cJSON *us = cJSON_GetObjectItemCaseSensitive(res, "usage");
        psy_oai_usage u = {num(us, "prompt_tokens"), num(us, "completion_tokens"), num(us, "cached_tokens")};
        const cJSON *calls = cJSON_GetObjectItemCaseSensitive(res, "tool_calls");
        bool called = cJSON_IsArray(calls) && cJSON_GetArraySize(calls) > 0;
        finish_chat(s, j, &g, cJSON_IsString(c) ? c->valuestring : "", called ? calls : NULL,
                    called ? "tool_calls" : psy_oai_finish_reason(cJSON_IsString(fr) ? fr->valuestring : NULL), &u);
        if (!called)
            remember(s, j, cJSON_IsString(c) ? c->valuestring : "",
                     cJSON_GetObjectItemCaseSensitive(res, "emotional_state"));
        log_info("%s: %ld prompt tokens (%ld cached), %ld generated", j->id, u.prompt_tokens, u.cached_tokens,
                 u.completion_tokens);
    } else {
        chat_failed(s, j, rc, err);
    }
    cJSON_Delete(res);
    buf_free(&g.raw);
}

/* ------------------------------------------------------------- emotion */

static void run_emotion(psy_serve *s, psy_job *j)
{
    bool post = j->kind == JOB_EMOTION_POST;
    cJSON *args = post ? j->args : cJSON_CreateObject();
    j->args = NULL;
    cJSON *res = NULL;
    char err[512] = "";
    int rc = mcp_client_call(s->elpis.c, post ? "update_emotion" : "get_emotion", args, 10000, NULL, NULL,
                             psy_chan_cancel_flag(j->ch), &res, err, sizeof err);
    if (!rc) {
        reply_json(j, 200, res);
        return;
    }
    cJSON_Delete(res);
    if (rc == MCP_CLIENT_TOOL_ERROR || rc == -EPROTO) {
        char msg[640];
        snprintf(msg, sizeof msg, "elpis refused the event: %s", err);
        reply_error(j, 400, msg, NULL);
    } else reply_error(j, 503, "the inference engine (elpis) is not answering; retry in a few seconds", NULL);
}

/* ---------------------------------------------------------- embeddings */

/* POST /v1/embeddings: mnemosyne's embed tool on the user's own mnemosyne. */
static void run_embed(psy_serve *s, psy_job *j)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j->args, "model");
    bool b64 = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j->args, "base64"));
    cJSON *args = cJSON_CreateObject(), *res = NULL;
    cJSON_AddItemToObject(args, "input", cJSON_DetachItemFromObjectCaseSensitive(j->args, "input"));
    char err[512] = "";
    int rc = psy_serve_mem_call(s, j->user, "embed", args, &res, err, sizeof err);
    cJSON *o = rc ? NULL : psy_oai_embeddings(res, cJSON_IsString(model) ? model->valuestring : "", b64);
    cJSON_Delete(res);
    if (o) {
        reply_json(j, 200, o);
    } else {
        char msg[700];
        snprintf(msg, sizeof msg,
                 "embedding failed: %s; embeddings come from the memory server (mnemosyne), so "
                 "[memory] enabled must be true",
                 rc ? err : "mnemosyne's answer has no embeddings");
        log_warn("%s", msg);
        reply_error(j, 503, msg, "embeddings_unavailable");
    }
}

/* ------------------------------------------------------------- the thread */

static void on_child(void *ud, psy_child *ch, const char *event, const char *text, const char *detail,
                     const char *log_tail)
{
    psy_serve *s = ud;
    (void)detail;
    log_notice("%s", text);
    if (!strcmp(event, "died") && log_tail && *log_tail) log_notice("%s's last log lines:\n%s", ch->name, log_tail);
    if (!strcmp(event, "restarted")) psy_metrics_restart(&s->metrics, ch->name);
}

/* elpis came up: what /health and /v1/models show. */
static void sync_elpis(psy_serve *s)
{
    cJSON *res = NULL;
    char err[256];
    long ctx = 0, slots = 0;
    char model[512] = "";
    if (!mcp_client_call(s->elpis.c, "get_capabilities", cJSON_CreateObject(), 10000, NULL, NULL, NULL, &res, err,
                         sizeof err)) {
        ctx = num(res, "context_length");
        slots = num(res, "slots");
        const cJSON *mp = cJSON_GetObjectItemCaseSensitive(res, "model_path");
        if (cJSON_IsString(mp)) snprintf(model, sizeof model, "%s", mp->valuestring);
    }
    cJSON_Delete(res);
    pthread_mutex_lock(&s->mu);
    s->context_length = ctx;
    s->slots = slots;
    /* elpis decodes `slots` requests in one batch: as many chat jobs run at once */
    s->parallel = slots < 1 ? 1 : slots > s->n_runners ? s->n_runners : (int)slots;
    snprintf(s->model_path, sizeof s->model_path, "%s", model);
    pthread_mutex_unlock(&s->mu);
}

static void publish(psy_serve *s)
{
    int mem = psy_serve_mem_running(s);
    pthread_mutex_lock(&s->mu);
    s->mem_running = mem;
    s->elpis_up = psy_child_up(&s->elpis) && mcp_client_alive(s->elpis.c); /* a runner may have seen it die */
    s->elpis_ever_up |= s->elpis_up;
    s->elpis_restarts = s->elpis.restarts;
    s->elpis_pid = (int)psy_child_pid(&s->elpis);
    pthread_mutex_unlock(&s->mu);
}

static void run_job(psy_serve *s, psy_job *j)
{
    if (psy_chan_cancelled(j->ch)) { /* the client left while it waited */
        if (j->kind == JOB_CHAT) psy_metrics_generation(&s->metrics, "cancelled", 0, 0, 0);
        return;
    }
    if (!psy_child_up(&s->elpis)) {
        reply_error(j, 503, "the inference engine (elpis) is starting or restarting; retry in a few seconds",
                    "engine_restarting");
        return;
    }
    if (j->kind == JOB_CHAT) run_chat(s, j);
    else if (j->kind == JOB_EMBED) run_embed(s, j);
    else run_emotion(s, j);
}

static void wait_for_work(psy_serve *s)
{
    double due = psy_child_next_due(&s->elpis, now_mono());
    int ms = due < 0 ? 1000 : due > 1 ? 1000 : (int)(due * 1000) + 1;
    struct timespec ts;
    mono_deadline(&ts, ms);
    pthread_cond_timedwait(&s->cv, &s->mu, &ts);
}

/* A conversation that ended (evicted, or SIGTERM): its summary goes into
 * its user's memories, as the terminal UI stores one at exit. */
static void summarise(psy_serve *s, const psy_conv_gone *g, int timeout_ms)
{
    if (!psy_child_up(&s->elpis)) {
        log_warn("a conversation ended without its summary: elpis is not running");
        return;
    }
    cJSON *args = cJSON_CreateObject(), *msgs = cJSON_AddArrayToObject(args, "messages");
    cJSON *sys = cJSON_CreateObject(), *usr = cJSON_CreateObject();
    cJSON_AddStringToObject(sys, "role", "system");
    cJSON_AddStringToObject(sys, "content", psy_prompt_summary_system());
    cJSON_AddStringToObject(usr, "role", "user");
    cJSON_AddStringToObject(usr, "content", g->transcript);
    cJSON_AddItemToArray(msgs, sys);
    cJSON_AddItemToArray(msgs, usr);
    cJSON_AddNumberToObject(args, "max_tokens", s->cfg->summary_max_tokens);
    cJSON_AddNumberToObject(args, "temperature", s->cfg->summary_temperature);
    cJSON_AddBoolToObject(args, "background", 1); /* the conversations' KV prefix stays */
    cJSON *res = NULL;
    char err[512] = "";
    int rc = mcp_client_call(s->elpis.c, "generate", args, timeout_ms, NULL, NULL, NULL, &res, err, sizeof err);
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(res, "content");
    if (!rc && cJSON_IsString(text) && *text->valuestring) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "content", text->valuestring);
        cJSON_AddStringToObject(m, "memory_type", "semantic");
        cJSON_AddItemToObject(m, "tags",
                              cJSON_CreateStringArray((const char *[]){"conversation_summary", "server"}, 2));
        if (!psy_serve_mem_store(s, g->user, m)) {
            psy_metrics_stored(&s->metrics);
            log_info("stored the summary of an ended conversation (user %d)", g->user);
        }
    } else {
        log_warn("a conversation's summary failed: %s", rc ? err : "the model returned nothing");
    }
    cJSON_Delete(res);
}

/* Milliseconds left until deadline (now_mono() time; < 0: none), at most
 * cap_ms; 0 when it has passed. */
static int ms_left(double deadline, int cap_ms)
{
    if (deadline < 0) return cap_ms;
    double left = (deadline - now_mono()) * 1000;
    return left <= 0 ? 0 : left < cap_ms ? (int)left : cap_ms;
}

/* Summarises the conversations that left the table (all of them when
 * stopping), each before deadline (< 0: none). Worker thread, without the
 * mutex. */
static void summarise_gone(psy_serve *s, bool all, double deadline)
{
    psy_conv_gone *list;
    size_t n;
    pthread_mutex_lock(&s->mu);
    if (all) psy_convs_evict_all(&s->convs);
    psy_convs_take_gone(&s->convs, &list, &n);
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < n; i++) {
        int ms = ms_left(deadline, s->cfg->generation_timeout_s * 1000);
        if (ms > 0) summarise(s, &list[i], ms);
        else
            log_warn("stopping: no time left ([server] drain_timeout_s) for a conversation's summary (user %d)",
                     list[i].user);
        free(list[i].transcript);
    }
    free(list);
}

/* What the terminal UI stores at exit, for every conversation and user:
 * the summaries of the open conversations, then consolidation where
 * mnemosyne recommends it ([shutdown] consolidate), all within
 * [server] drain_timeout_s. Worker thread, without the mutex. */
static void shutdown_work(psy_serve *s)
{
    double deadline = now_mono() + s->scfg->drain_timeout_s;
    summarise_gone(s, true, deadline);
    if (!s->cfg->shutdown_consolidate) return;
    int first = psy_serve_mem_next_active(s, -1);
    for (int u = first; u >= 0;) {
        int ms = ms_left(deadline, s->cfg->call_timeout_s * 1000);
        if (ms <= 0) {
            log_warn("stopping: no time left ([server] drain_timeout_s) to consolidate memories");
            return;
        }
        psy_serve_mem_consolidate(s, u, ms, NULL, NULL, 0);
        u = psy_serve_mem_next_active(s, u);
        if (u == first) break;
    }
}

/* Supervises elpis. A restart closes and replaces its client, so it runs
 * only while no runner is inside a call: when runners are, the worker
 * waits for them only if elpis is dead or down (their calls fail at once
 * with -EPIPE, or they answer 503 without calling). */
static void supervise_elpis(psy_serve *s)
{
    if (pthread_rwlock_trywrlock(&s->elpis_lock)) {
        if (s->elpis.c && mcp_client_alive(s->elpis.c)) return;
        pthread_rwlock_wrlock(&s->elpis_lock);
    }
    if (psy_child_tick(&s->elpis, &s->pol, now_mono(), &s->stop_flag, on_child, s)) sync_elpis(s);
    pthread_rwlock_unlock(&s->elpis_lock);
}

static void *worker_main(void *arg)
{
    psy_serve *s = arg;
    char err[1024];
    pthread_rwlock_wrlock(&s->elpis_lock);
    if (psy_child_start(&s->elpis, &s->pol, &s->stop_flag, err, sizeof err)) log_error("%s", err);
    else sync_elpis(s);
    pthread_rwlock_unlock(&s->elpis_lock);
    publish(s);
    for (;;) {
        supervise_elpis(s);
        psy_serve_mem_tick(s);
        publish(s);
        pthread_mutex_lock(&s->mu);
        size_t gone = psy_convs_evict_idle(&s->convs, now_mono());
        if (gone) log_info("%zu idle conversation(s) forgotten", gone);
        psy_job *j = s->stopping ? NULL : pop_control(s);
        bool dream = !j && !s->stopping && !s->head && !s->n_running && psy_serve_dream_due(s, now_mono());
        if (dream) {
            s->dreaming = true;
            s->dream_cancel = 0; /* under mu: a submit after this point cancels it */
        } else if (!j && !s->stopping) wait_for_work(s);
        bool stop = s->stopping;
        s->control = j;
        pthread_mutex_unlock(&s->mu);
        if (j) {
            run_job(s, j);
            /* a death during the job is published before its answer is released, so a
             * client that got 503 never reads a stale "ok" from /health */
            supervise_elpis(s);
            publish(s);
            pthread_mutex_lock(&s->mu);
            s->control = NULL; /* before the free: psy_serve_worker_stop may look at it */
            pthread_mutex_unlock(&s->mu);
            psy_job_free(j);
            pthread_mutex_lock(&s->mu);
            pthread_cond_broadcast(&s->cv);
            pthread_mutex_unlock(&s->mu);
        } else if (dream) {
            psy_serve_dream(s);
            pthread_mutex_lock(&s->mu);
            s->dreaming = false;
            s->last_dream = now_mono();
            pthread_mutex_unlock(&s->mu);
        } else if (stop) {
            shutdown_work(s);
            break;
        } else {
            summarise_gone(s, false, -1);
        }
    }
    return NULL;
}

/* A chat job on runner r: under elpis_lock (read), so the worker does not
 * replace elpis's client meanwhile. A death seen here is published (and the
 * worker woken to restart it) before the answer is released. */
static void runner_run(psy_runner *r, psy_job *j)
{
    psy_serve *s = r->s;
    pthread_rwlock_rdlock(&s->elpis_lock);
    run_job(s, j);
    bool died = s->elpis.c && !mcp_client_alive(s->elpis.c);
    pthread_rwlock_unlock(&s->elpis_lock);
    pthread_mutex_lock(&s->mu);
    if (died) s->elpis_up = false;
    s->running[r->index] = NULL; /* before the free: psy_serve_worker_stop may look at it */
    pthread_mutex_unlock(&s->mu);
    psy_job_free(j);
    pthread_mutex_lock(&s->mu);
    s->n_running--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void *runner_main(void *arg)
{
    psy_runner *r = arg;
    psy_serve *s = r->s;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        psy_job *j = pop_chat(s);
        if (!j) {
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        s->running[r->index] = j;
        s->n_running++;
        pthread_mutex_unlock(&s->mu);
        runner_run(r, j);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int psy_serve_worker_start(psy_serve *s)
{
    /* [server] slots runners (elpis's own slots when 0: the most it may have) */
    int n = s->scfg->slots > 0 ? s->scfg->slots : PSY_SERVE_RUNNERS_MAX;
    s->n_runners = 0;
    s->parallel = 1; /* until elpis says how many slots it has */
    for (int i = 0; i < n && i < PSY_SERVE_RUNNERS_MAX; i++) {
        s->runners[i] = (psy_runner){.s = s, .index = i};
        int rc = pthread_create(&s->runners[i].th, NULL, runner_main, &s->runners[i]);
        if (rc) {
            if (!i) return -rc;
            log_warn("started only %d chat runner(s): %s", i, strerror(rc));
            break;
        }
        s->n_runners++;
    }
    int rc = pthread_create(&s->worker, NULL, worker_main, s);
    if (rc) {
        psy_serve_worker_stop(s);
        return -rc;
    }
    s->worker_started = true;
    return 0;
}

void psy_serve_worker_stop(psy_serve *s)
{
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    __atomic_store_n(&s->stop_flag, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&s->dream_cancel, 1, __ATOMIC_RELEASE);
    for (psy_job *j = s->head; j; j = j->next) psy_chan_cancel(j->ch);
    /* the clients still get what was made */
    for (int i = 0; i < s->n_runners; i++)
        if (s->running[i]) psy_chan_interrupt(s->running[i]->ch);
    if (s->control) psy_chan_interrupt(s->control->ch);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->n_runners; i++) pthread_join(s->runners[i].th, NULL);
    s->n_runners = 0;
    if (s->worker_started) pthread_join(s->worker, NULL);
    s->worker_started = false;
    psy_job *j;
    while ((j = s->head)) {
        s->head = j->next;
        psy_job_free(j);
    }
    psy_child_stop(&s->elpis, s->cfg->stop_grace_ms);
    psy_serve_mem_stop(s);
}
