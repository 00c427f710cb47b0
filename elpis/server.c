/* server.c - the elpis tools: generation (whole, pushed and polled),
 * function calling, token counting, the emotional state and its resources.
 *
 * Runs on the protocol thread, except the gen_call callbacks (on_piece,
 * on_done), which run on the engine thread: they touch only their own call,
 * the stream table (under st_mu) and the emotion (under emo_mu), and write to
 * the client through the thread-safe mcp_reply/mcp_progress. */
#include "server.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "toolcalls.h"
#include "util.h"
#include "version.h"

struct gen_call {
    gen_job job;
    elpis *app;
    mcp_request *req; /* direct generate/function_call: the request (ref held) */
    cJSON *messages;  /* owned: what the engine renders */
    cJSON *tools;     /* function_call: owned copy of the tool list */
    int max_calls;    /* function_call: 1 with parallel_tool_calls false, else 0 (any) */
    double temperature, top_p;
    double last_progress; /* engine thread only: last progress value sent */
    double last_sent;     /* engine thread only: when (monotonic) */
    double interval;      /* seconds: pieces closer than this go out together */
    buf delta;            /* engine thread only: text not yet sent as progress */
    /* streams */
    bool is_stream;
    char id[37];
    buf text;        /* all text so far (guarded by st_mu) */
    size_t read_off; /* what generate_stream_read returned already */
    int tokens;      /* completion tokens so far (guarded by st_mu) */
    bool complete;
    bool in_table;
    double last_access; /* monotonic */
    int refs;           /* table + job, guarded by st_mu */
    cJSON *final_state; /* emotional_state at completion */
    gen_call *next;
};

/* ------------------------------------------------------------ emotion */

static cJSON *emotion_state(elpis *app)
{
    pthread_mutex_lock(&app->emo_mu);
    cJSON *j = emotion_to_json(&app->emo, now_wall());
    pthread_mutex_unlock(&app->emo_mu);
    return j;
}

/* ---------------------------------------------------------- gen calls */

static void call_free(gen_call *c)
{
    cJSON_Delete(c->messages);
    cJSON_Delete(c->tools);
    cJSON_Delete(c->final_state);
    buf_free(&c->job.content);
    buf_free(&c->text);
    buf_free(&c->delta);
    free(c);
}

static bool req_cancelled(gen_job *job)
{
    gen_call *c = job->userdata;
    return c->req && mcp_request_cancelled(c->req);
}

static cJSON *usage_json(const gen_job *j)
{
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", j->prompt_tokens);
    cJSON_AddNumberToObject(u, "cached_tokens", j->cached_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", j->completion_tokens);
    return u;
}

/* After a finished generation: let the text move the emotion (whole words). */
static void analyse(elpis *app, const gen_job *j)
{
    if (j->finish == GEN_ERROR || j->finish == GEN_CANCELLED || !j->content.len) return;
    double intensity = 0;
    const char *ev = emotion_analyze(j->content.data, &intensity);
    if (!ev) return;
    pthread_mutex_lock(&app->emo_mu);
    emotion_event(&app->emo, ev, intensity, now_wall());
    pthread_mutex_unlock(&app->emo_mu);
    log_debug("response analysis: %s x%.2f", ev, intensity);
}

/* Engine thread: sends the text held in c->delta as one progress notification. */
static void send_delta(gen_call *c, gen_job *job)
{
    if (!c->delta.len) return;
    /* progress must grow: the final flush of held-back bytes comes with the
     * same token count as the piece before it. */
    double p = job->completion_tokens;
    if (p <= c->last_progress) p = c->last_progress + 0.5;
    c->last_progress = p;
    mcp_progress(c->req, p, buf_str(&c->delta));
    buf_reset(&c->delta);
    c->last_sent = now_mono();
}

static void on_piece(gen_job *job, const char *text, size_t len)
{
    gen_call *c = job->userdata;
    if (c->is_stream) {
        pthread_mutex_lock(&c->app->st_mu);
        buf_append(&c->text, text, len);
        c->tokens = job->completion_tokens;
        pthread_mutex_unlock(&c->app->st_mu);
    } else if (c->req && mcp_request_wants_progress(c->req)) {
        /* Pieces closer than c->interval apart go out together (the first
         * at once): a notification costs ~65 us here plus a wake-up of every
         * process it passes through, which a fast model feels. */
        buf_append(&c->delta, text, len);
        if (now_mono() - c->last_sent >= c->interval) send_delta(c, job);
    }
}

static void stream_unref_locked(elpis *app, gen_call *c)
{
    (void)app;
    if (--c->refs == 0) call_free(c);
}

static void on_done(gen_job *job)
{
    gen_call *c = job->userdata;
    elpis *app = c->app;
    analyse(app, job);
    if (c->is_stream) {
        cJSON *st = emotion_state(app);
        pthread_mutex_lock(&app->st_mu);
        c->complete = true;
        c->final_state = st;
        stream_unref_locked(app, c);
        pthread_mutex_unlock(&app->st_mu);
        return;
    }
    mcp_request *req = c->req;
    if (mcp_request_wants_progress(req)) send_delta(c, job); /* every piece before the result */
    if (job->finish == GEN_ERROR) {
        mcp_reply_tool_error(req, "%s", job->error);
    } else if (job->finish == GEN_CANCELLED) {
        mcp_reply_tool_error(req, "generation cancelled");
    } else {
        cJSON *r = cJSON_CreateObject();
        if (c->tools) {
            cJSON *calls = tool_calls_parse(buf_str(&job->content), c->tools, c->max_calls);
            cJSON_AddItemToObject(r, "tool_calls", calls ? calls : cJSON_CreateNull());
        }
        cJSON_AddStringToObject(r, "content", buf_str(&job->content));
        cJSON_AddItemToObject(r, "emotional_state", emotion_state(app));
        if (!c->tools) {
            cJSON *mp = cJSON_AddObjectToObject(r, "modulated_params");
            cJSON_AddNumberToObject(mp, "temperature", round(c->temperature * 1000) / 1000);
            cJSON_AddNumberToObject(mp, "top_p", round(c->top_p * 1000) / 1000);
        }
        cJSON_AddItemToObject(r, "usage", usage_json(job));
        cJSON_AddStringToObject(r, "finish_reason", gen_finish_name(job->finish));
        mcp_reply_result(req, r);
    }
    mcp_request_unref(req);
    call_free(c);
}

/* Validates messages beyond the schema and fills a call from tool args. */
static gen_call *call_new(elpis *app, mcp_request *req, const cJSON *args, char *err, size_t errlen)
{
    const elpis_settings *cfg = app->cfg;
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(args, "messages");
    const cJSON *m;
    int i = 0;
    cJSON_ArrayForEach(m, msgs)
    {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsString(content) && !cJSON_IsNull(content) && content) {
            snprintf(err, errlen, "messages[%d].content must be a string", i);
            return NULL;
        }
        i++;
    }
    if (i == 0) {
        snprintf(err, errlen, "messages is empty: give at least one {role, content}");
        return NULL;
    }
    gen_call *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->app = app;
    c->messages = cJSON_Duplicate(msgs, 1);
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(args, "max_tokens");
    /* Clamp as a double: a huge request means "as many as allowed", and casting
     * it to int first would be undefined. */
    double want = cJSON_IsNumber(mt) ? mt->valuedouble : cfg->max_tokens;
    int max_tokens = want >= cfg->max_tokens ? cfg->max_tokens : want < 1 ? 1 : (int)want;
    const cJSON *temp = cJSON_GetObjectItemCaseSensitive(args, "temperature");
    const cJSON *mod = cJSON_GetObjectItemCaseSensitive(args, "emotional_modulation");
    bool modulate = !cJSON_IsFalse(mod);
    double t = cfg->temperature, p = cfg->top_p;
    float steer[4] = {0};
    pthread_mutex_lock(&app->emo_mu);
    double now = now_wall();
    if (modulate && !cJSON_IsNumber(temp)) emotion_sampling(&app->emo, now, &t, &p);
    double coef[4];
    emotion_steering(&app->emo, now, coef);
    pthread_mutex_unlock(&app->emo_mu);
    if (cJSON_IsNumber(temp)) t = temp->valuedouble; /* an explicit 0 means greedy, not "unset" */
    const cJSON *top_p = cJSON_GetObjectItemCaseSensitive(args, "top_p");
    if (cJSON_IsNumber(top_p)) p = top_p->valuedouble; /* the caller's, over the emotion's or the default */
    for (int k = 0; k < 4; k++) steer[k] = (float)coef[k];
    c->temperature = t;
    c->top_p = p;
    const cJSON *iv = cJSON_GetObjectItemCaseSensitive(args, "progress_interval_ms");
    c->interval = cJSON_IsNumber(iv) ? iv->valuedouble / 1000.0 : 0.001; /* the schema bounds it to 0..1000 */
    gen_job *j = &c->job;
    j->kind = JOB_GENERATE;
    j->messages = c->messages;
    j->max_tokens = max_tokens;
    j->temperature = (float)t;
    j->top_p = (float)p;
    const cJSON *bg = cJSON_GetObjectItemCaseSensitive(args, "background");
    j->background = cJSON_IsTrue(bg);
    const cJSON *session = cJSON_GetObjectItemCaseSensitive(args, "session");
    if (cJSON_IsString(session)) snprintf(j->session, sizeof j->session, "%s", session->valuestring);
    j->steer = modulate;
    memcpy(j->steering, steer, sizeof steer);
    j->on_piece = on_piece;
    j->on_done = on_done;
    j->is_cancelled = req_cancelled;
    j->userdata = c;
    if (req) c->req = mcp_request_ref(req);
    return c;
}

static int submit_or_fail(elpis *app, mcp_request *req, gen_call *c)
{
    c->job.tag = mcp_request_serial(req);
    if (engine_submit(app->eng, &c->job) == 0) return MCP_ASYNC;
    mcp_reply_tool_error(req, "the inference engine is shutting down");
    if (c->req) mcp_request_unref(c->req);
    call_free(c);
    return 0;
}

static int tool_generate(mcp_request *req, const cJSON *args, void *ud)
{
    elpis *app = ud;
    char err[256];
    gen_call *c = call_new(app, req, args, err, sizeof err);
    if (!c) return mcp_reply_error(req, MCP_INVALID_PARAMS, "generate: %s", err), 0;
    return submit_or_fail(app, req, c);
}

static int tool_function_call(mcp_request *req, const cJSON *args, void *ud)
{
    elpis *app = ud;
    char err[256];
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(args, "tools");
    if (cJSON_GetArraySize(tools) == 0)
        return mcp_reply_error(req, MCP_INVALID_PARAMS, "function_call: tools is empty"), 0;
    gen_call *c = call_new(app, req, args, err, sizeof err);
    if (!c) return mcp_reply_error(req, MCP_INVALID_PARAMS, "function_call: %s", err), 0;
    c->tools = cJSON_Duplicate(tools, 1);
    c->max_calls = cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(args, "parallel_tool_calls")) ? 1 : 0;
    /* Describe the tools in a system message placed first. */
    buf sys = BUF_INIT;
    char *tl = cJSON_PrintUnformatted(tools);
    buf_printf(&sys,
               "You can call these tools (OpenAI function format):\n%s\nTo call one, answer with only a JSON object "
               "{\"name\": \"<tool>\", \"arguments\": {...}}.%s Otherwise answer normally.",
               tl ? tl : "[]", c->max_calls == 1 ? "" : " To call several at once, write one such object per line.");
    free(tl);
    cJSON *sm = cJSON_CreateObject();
    cJSON_AddStringToObject(sm, "role", "system");
    cJSON_AddStringToObject(sm, "content", buf_str(&sys));
    buf_free(&sys);
    cJSON_InsertItemInArray(c->messages, 0, sm);
    if (!cJSON_GetObjectItemCaseSensitive(args, "max_tokens") && c->job.max_tokens > 512) c->job.max_tokens = 512;
    return submit_or_fail(app, req, c);
}

/* --------------------------------------------------------------- streams */

/* Caller holds st_mu. Drops streams nobody read for stream_idle_seconds. */
static void evict_idle_locked(elpis *app, double now)
{
    gen_call **pp = &app->streams;
    while (*pp) {
        gen_call *c = *pp;
        if (now - c->last_access > app->cfg->stream_idle_seconds) {
            *pp = c->next;
            c->in_table = false;
            app->n_streams--;
            log_info("stream %s evicted after %d s without a read", c->id, app->cfg->stream_idle_seconds);
            engine_cancel(&c->job);
            stream_unref_locked(app, c);
        } else {
            pp = &c->next;
        }
    }
}

static gen_call *stream_find_locked(elpis *app, const char *id)
{
    for (gen_call *c = app->streams; c; c = c->next)
        if (!strcmp(c->id, id)) return c;
    return NULL;
}

static void stream_remove_locked(elpis *app, gen_call *c)
{
    for (gen_call **pp = &app->streams; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    c->in_table = false;
    app->n_streams--;
    stream_unref_locked(app, c);
}

static int tool_stream_start(mcp_request *req, const cJSON *args, void *ud)
{
    elpis *app = ud;
    char err[256];
    pthread_mutex_lock(&app->st_mu);
    evict_idle_locked(app, now_mono());
    int n = app->n_streams;
    pthread_mutex_unlock(&app->st_mu);
    if (n >= app->cfg->max_streams)
        return mcp_reply_tool_error(req, "Maximum concurrent streams (%d) reached: read or cancel a stream first",
                                    app->cfg->max_streams),
               0;
    gen_call *c = call_new(app, NULL, args, err, sizeof err);
    if (!c) return mcp_reply_error(req, MCP_INVALID_PARAMS, "generate_stream_start: %s", err), 0;
    c->is_stream = true;
    c->job.is_cancelled = NULL;
    uuid4(c->id);
    c->last_access = now_mono();
    c->refs = 2; /* the table and the job */
    c->job.tag = mcp_request_serial(req);
    c->in_table = true;
    pthread_mutex_lock(&app->st_mu);
    c->next = app->streams;
    app->streams = c;
    app->n_streams++;
    pthread_mutex_unlock(&app->st_mu);
    if (engine_submit(app->eng, &c->job)) {
        pthread_mutex_lock(&app->st_mu);
        c->refs--; /* the job's reference: it never ran */
        stream_remove_locked(app, c);
        pthread_mutex_unlock(&app->st_mu);
        return mcp_reply_tool_error(req, "the inference engine is shutting down"), 0;
    }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "stream_id", c->id);
    cJSON_AddStringToObject(r, "status", "started");
    cJSON_AddItemToObject(r, "emotional_state", emotion_state(app));
    return mcp_reply_result(req, r), 0;
}

/* The stream args' stream_id names, with st_mu held (the caller unlocks);
 * NULL, unlocked and with the tool error replied, when there is none. */
static gen_call *stream_lock(elpis *app, mcp_request *req, const cJSON *args)
{
    const char *id = cJSON_GetObjectItemCaseSensitive(args, "stream_id")->valuestring;
    pthread_mutex_lock(&app->st_mu);
    gen_call *c = stream_find_locked(app, id);
    if (!c) {
        pthread_mutex_unlock(&app->st_mu);
        mcp_reply_tool_error(req, "Unknown stream_id: %s", id);
    }
    return c;
}

static int tool_stream_read(mcp_request *req, const cJSON *args, void *ud)
{
    elpis *app = ud;
    gen_call *c = stream_lock(app, req, args);
    if (!c) return 0;
    c->last_access = now_mono();
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "new_content", buf_str(&c->text) + c->read_off);
    c->read_off = c->text.len;
    cJSON_AddBoolToObject(r, "is_complete", c->complete);
    if (c->complete) {
        /* The engine is done with the job: its fields are stable now. */
        cJSON_AddNumberToObject(r, "total_tokens", c->job.completion_tokens);
        if (c->job.finish == GEN_ERROR) cJSON_AddStringToObject(r, "error", c->job.error);
        cJSON_AddStringToObject(r, "full_content", buf_str(&c->text));
        cJSON_AddItemToObject(r, "emotional_state", c->final_state);
        c->final_state = NULL;
        cJSON_AddItemToObject(r, "usage", usage_json(&c->job));
        cJSON_AddStringToObject(r, "finish_reason", gen_finish_name(c->job.finish));
        stream_remove_locked(app, c);
    } else {
        cJSON_AddNumberToObject(r, "total_tokens", c->tokens);
    }
    pthread_mutex_unlock(&app->st_mu);
    return mcp_reply_result(req, r), 0;
}

static int tool_stream_cancel(mcp_request *req, const cJSON *args, void *ud)
{
    elpis *app = ud;
    gen_call *c = stream_lock(app, req, args);
    if (!c) return 0;
    engine_cancel(&c->job);
    stream_remove_locked(app, c);
    pthread_mutex_unlock(&app->st_mu);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "status", "cancelled");
    cJSON_AddStringToObject(r, "stream_id", cJSON_GetObjectItemCaseSensitive(args, "stream_id")->valuestring);
    return mcp_reply_result(req, r), 0;
}

/* ---------------------------------------------------------- other tools */

static int tool_update_emotion(mcp_request *req, const cJSON *args, void *ud)
{
    elpis *app = ud;
    const char *ev = cJSON_GetObjectItemCaseSensitive(args, "event_type")->valuestring;
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(args, "intensity");
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(args, "context");
    double intensity = cJSON_IsNumber(in) ? in->valuedouble : 1.0;
    double dv, da;
    bool known = emotion_event_delta(ev, &dv, &da) == 1;
    pthread_mutex_lock(&app->emo_mu);
    emotion_event(&app->emo, ev, intensity, now_wall());
    pthread_mutex_unlock(&app->emo_mu);
    log_info("emotion event %s x%.2f%s%s%s", ev, intensity, known ? "" : " (unknown type: arousal +0.05)",
             cJSON_IsString(ctx) ? ": " : "", cJSON_IsString(ctx) ? ctx->valuestring : "");
    return mcp_reply_result(req, emotion_state(app)), 0;
}

static int tool_reset_emotion(mcp_request *req, const cJSON *args, void *ud)
{
    (void)args;
    elpis *app = ud;
    pthread_mutex_lock(&app->emo_mu);
    emotion_reset(&app->emo, now_wall());
    pthread_mutex_unlock(&app->emo_mu);
    return mcp_reply_result(req, emotion_state(app)), 0;
}

static int tool_get_emotion(mcp_request *req, const cJSON *args, void *ud)
{
    (void)args;
    return mcp_reply_result(req, emotion_state(ud)), 0;
}

static int tool_get_capabilities(mcp_request *req, const cJSON *args, void *ud)
{
    (void)args;
    elpis *app = ud;
    const engine_info *in = engine_get_info(app->eng);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddNumberToObject(r, "context_length", in->n_ctx);
    cJSON_AddNumberToObject(r, "max_tokens", app->cfg->max_tokens);
    cJSON_AddStringToObject(r, "backend", in->backend);
    if (in->ctx_estimated) cJSON_AddBoolToObject(r, "context_length_estimated", 1);
    if (in->upstream_slots) cJSON_AddNumberToObject(r, "upstream_slots", in->upstream_slots);
    cJSON_AddStringToObject(r, "llama_cpp_version", LLAMA_CPP_VERSION);
    cJSON_AddStringToObject(r, "model_path", in->model_path);
    cJSON *m = cJSON_AddObjectToObject(r, "model");
    cJSON_AddStringToObject(m, "arch", in->arch);
    cJSON_AddStringToObject(m, "description", in->desc);
    cJSON_AddNumberToObject(m, "n_params", (double)in->n_params);
    cJSON_AddNumberToObject(m, "n_layer", in->n_layer);
    cJSON_AddNumberToObject(m, "size_bytes", (double)in->size_bytes);
    cJSON_AddNumberToObject(m, "n_ctx_train", in->n_ctx_train);
    cJSON_AddStringToObject(m, "chat_template", in->chat_template);
    cJSON_AddNumberToObject(r, "temperature", app->cfg->temperature);
    cJSON_AddNumberToObject(r, "top_p", app->cfg->top_p);
    cJSON_AddNumberToObject(r, "n_threads", in->n_threads);
    cJSON_AddBoolToObject(r, "gpu_offload_supported", in->gpu_offload_supported);
    cJSON_AddNumberToObject(r, "gpu_layers", in->gpu_layers);
    cJSON_AddStringToObject(r, "modulation", in->steering ? "sampling+steering" : "sampling");
    cJSON_AddBoolToObject(r, "background_sequence", 1);
    cJSON_AddNumberToObject(r, "slots", in->n_slots);
    return mcp_reply_result(req, r), 0;
}

static void count_done(gen_job *job)
{
    gen_call *c = job->userdata;
    if (job->finish == GEN_ERROR) mcp_reply_tool_error(c->req, "%s", job->error);
    else if (job->finish == GEN_CANCELLED) mcp_reply_tool_error(c->req, "cancelled");
    else {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddNumberToObject(r, "tokens", job->prompt_tokens);
        if (job->estimated) cJSON_AddBoolToObject(r, "estimated", 1);
        mcp_reply_result(c->req, r);
    }
    mcp_request_unref(c->req);
    call_free(c);
}

static int tool_count_tokens(mcp_request *req, const cJSON *args, void *ud)
{
    elpis *app = ud;
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(args, "messages");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(args, "text");
    if (!msgs && !text)
        return mcp_reply_error(req, MCP_INVALID_PARAMS, "count_tokens: give 'messages' (array) or 'text' (string)"), 0;
    gen_call *c = calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    c->app = app;
    c->job.kind = JOB_COUNT_TOKENS;
    if (msgs) {
        c->messages = cJSON_Duplicate(msgs, 1);
        c->job.messages = c->messages;
    } else {
        c->messages = cJSON_CreateString(text->valuestring); /* keeps the text alive */
        c->job.text = c->messages->valuestring;
    }
    c->job.on_done = count_done;
    c->job.is_cancelled = req_cancelled;
    c->job.userdata = c;
    c->req = mcp_request_ref(req);
    return submit_or_fail(app, req, c);
}

/* ------------------------------------------------------------ resources */

static char *res_state(void *ud, const char **err)
{
    (void)err;
    cJSON *j = emotion_state(ud);
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    return s;
}

static char *res_events(void *ud, const char **err)
{
    (void)ud, (void)err;
    cJSON *j = emotion_events_json();
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    return s;
}

static void tick(void *ud)
{
    elpis *app = ud;
    pthread_mutex_lock(&app->st_mu);
    evict_idle_locked(app, now_mono());
    pthread_mutex_unlock(&app->st_mu);
}

/* -------------------------------------------------------------- schemas */

#define MESSAGES_SCHEMA                                                                                                \
    "\"messages\":{\"type\":\"array\",\"description\":\"chat messages\",\"items\":{\"type\":\"object\","               \
    "\"properties\":{\"role\":{\"type\":\"string\"},\"content\":{\"type\":[\"string\",\"null\"]}},"                    \
    "\"required\":[\"role\"]}}"
#define PROGRESS_INTERVAL                                                                                              \
    "\"progress_interval_ms\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":1000,\"default\":1,"                     \
    "\"description\":\"with a progressToken: text generated within this many milliseconds of the last "                \
    "notification waits for the next (the first piece goes at once)\"}"
#define GEN_PROPS                                                                                                      \
    MESSAGES_SCHEMA ",\"max_tokens\":{\"type\":\"integer\",\"minimum\":1,\"default\":2048},"                           \
                    "\"temperature\":{\"type\":[\"number\",\"null\"],\"minimum\":0,\"maximum\":5,"                     \
                    "\"description\":\"absent or null: set by the emotional state; 0 = greedy\"},"                     \
                    "\"top_p\":{\"type\":[\"number\",\"null\"],\"minimum\":0,\"maximum\":1,"                           \
                    "\"description\":\"absent or null: set by the emotional state\"},"                                 \
                    "\"emotional_modulation\":{\"type\":\"boolean\",\"default\":true}," PROGRESS_INTERVAL ","          \
                    "\"background\":{\"type\":\"boolean\",\"default\":false,\"description\":\"run on the "             \
                    "background KV sequence so the conversation's cache is kept\"},"                                   \
                    "\"session\":{\"type\":\"string\",\"maxLength\":63,\"description\":\"optional conversation "       \
                    "id: keeps the conversation on the slot that caches its prefix\"}"
#define STREAM_ID                                                                                                      \
    "{\"type\":\"object\",\"properties\":{\"stream_id\":{\"type\":\"string\"}},\"required\":[\"stream_id\"]}"
#define EMPTY "{\"type\":\"object\",\"properties\":{}}"

static const mcp_tool tools[] = {
    {"generate",
     "Generate a reply to chat messages; sampling follows the emotional state. With "
     "_meta.progressToken, text deltas arrive as notifications/progress.",
     "{\"type\":\"object\",\"properties\":{" GEN_PROPS "},\"required\":[\"messages\"]}", tool_generate},
    {"function_call", "Generate with OpenAI-format tools offered; returns tool_calls (one or more, in order) or null.",
     "{\"type\":\"object\",\"properties\":{" MESSAGES_SCHEMA ",\"tools\":{\"type\":\"array\",\"items\":{\"type\":"
     "\"object\"}},\"temperature\":{\"type\":[\"number\",\"null\"],\"minimum\":0,\"maximum\":5},\"top_p\":{\"type\":"
     "[\"number\",\"null\"],\"minimum\":0,\"maximum\":1},\"max_tokens\":{"
     "\"type\":\"integer\",\"minimum\":1},\"parallel_tool_calls\":{\"type\":\"boolean\",\"default\":true,"
     "\"description\":\"false: at most one call\"}," PROGRESS_INTERVAL "},\"required\":[\"messages\",\"tools\"]}",
     tool_function_call},
    {"update_emotion", "Apply an emotional event (success, failure, insight, ... see emotion://events).",
     "{\"type\":\"object\",\"properties\":{\"event_type\":{\"type\":\"string\"},\"intensity\":{\"type\":\"number\","
     "\"default\":1.0},\"context\":{\"type\":\"string\"}},\"required\":[\"event_type\"]}",
     tool_update_emotion},
    {"reset_emotion", "Return the emotional state to its baseline.", EMPTY, tool_reset_emotion},
    {"get_emotion", "The current emotional state (decayed to now).", EMPTY, tool_get_emotion},
    {"generate_stream_start", "Start a generation to poll with generate_stream_read.",
     "{\"type\":\"object\",\"properties\":{" GEN_PROPS "},\"required\":[\"messages\"]}", tool_stream_start},
    {"generate_stream_read", "New text of a stream since the last read.", STREAM_ID, tool_stream_read},
    {"generate_stream_cancel", "Stop a stream and forget it.", STREAM_ID, tool_stream_cancel},
    {"get_capabilities", "Model, context and backend facts.", EMPTY, tool_get_capabilities},
    {"count_tokens", "Real token count of messages (as templated for generation) or of plain text.",
     "{\"type\":\"object\",\"properties\":{" MESSAGES_SCHEMA ",\"text\":{\"type\":\"string\"}}}", tool_count_tokens},
};

static const mcp_resource resources[] = {
    {"emotion://state", "emotional_state", "The current emotional state", "application/json", res_state},
    {"emotion://events", "emotion_events", "Event types and their (valence, arousal) deltas", "application/json",
     res_events},
};

int elpis_server_init(elpis *app, engine *eng, const elpis_settings *cfg)
{
    memset(app, 0, sizeof *app);
    app->eng = eng;
    app->cfg = cfg;
    pthread_mutex_init(&app->emo_mu, NULL);
    pthread_mutex_init(&app->st_mu, NULL);
    emotion_params ep;
    emotion_default_params(&ep);
    ep.baseline_valence = cfg->baseline_valence;
    ep.baseline_arousal = cfg->baseline_arousal;
    ep.decay_rate = cfg->decay_rate;
    ep.max_delta = cfg->max_delta;
    ep.steering_strength = cfg->steering_strength;
    ep.base_temperature = cfg->temperature;
    ep.base_top_p = cfg->top_p;
    ep.trend_threshold = cfg->trend_threshold;
    ep.momentum_threshold = cfg->momentum_threshold;
    ep.history_size = cfg->history_size;
    ep.velocity_window = cfg->velocity_window;
    ep.spiral_window = cfg->spiral_window;
    ep.spiral_min_increases = cfg->spiral_min_increases;
    emotion_init(&app->emo, &ep, now_wall());

    mcp_server_params p;
    mcp_server_default_params(&p);
    p.name = "elpis-inference";
    p.version = psy_version();
    p.instructions = "Local LLM inference whose sampling follows a valence-arousal emotional state.";
    p.tools = tools;
    p.n_tools = sizeof tools / sizeof tools[0];
    p.resources = resources;
    p.n_resources = sizeof resources / sizeof resources[0];
    p.userdata = app;
    p.max_message = (size_t)cfg->max_message_mb << 20;
    p.tick_ms = 1000;
    p.tick = tick;
    app->srv = mcp_server_new(&p);
    return app->srv ? 0 : -ENOMEM;
}

int elpis_server_run(elpis *app, int in_fd, int out_fd) { return mcp_server_run(app->srv, in_fd, out_fd); }

void elpis_server_free(elpis *app)
{
    pthread_mutex_lock(&app->st_mu);
    while (app->streams) stream_remove_locked(app, app->streams);
    pthread_mutex_unlock(&app->st_mu);
    mcp_server_free(app->srv);
    pthread_mutex_destroy(&app->emo_mu);
    pthread_mutex_destroy(&app->st_mu);
}
