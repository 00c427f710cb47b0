/* http_remote.c - Hermes: `psyche --connect URL [--api-key-file F]` with the
 * line front-ends (-p MESSAGE, --repl) against a `psyche serve`.
 *
 * Owns the client side of the OpenAI wire format: the conversation history
 * (kept here, sent whole with each request under one X-Psyche-Conversation
 * id so the server reuses its state and elpis's KV prefix), the streamed
 * response (SSE chunks: content deltas printed as they come, tool-call
 * deltas merged per index), and the standard tool round trip: the client's
 * own tools (psyche/tools.h, confined to the client's workspace under the
 * client's sandbox) are offered to the model; the calls the server returns
 * run HERE and their results go back in the next request.
 *
 * HTTP is libcurl. Ctrl+C cancels the generation by closing the stream (the
 * server cancels elpis when its client goes away); a cancel that comes
 * while a turn is still queued (psy_remote_queued) ends that turn before
 * it sends anything. A request that cannot connect, or gets 429/503, is
 * retried with backoff before anything of the answer was shown. Each
 * request asks for its `usage`, which goes to the sink per request. What
 * a turn produces goes to a psy_remote_sink: the line front-ends print it
 * (print_sink below); front_remote.c turns it into the agent's events for
 * the full-screen TUI. */
#include "http_remote.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "buf.h"
#include "http.h"
#include "log.h"
#include "termsafe.h"
#include "tools.h"
#include "util.h"

#define EMOTION_POST_MS 2000 /* a tool's emotion event is worth a short wait, never a stuck turn */

#define REMOTE_MAX_STEPS 8 /* tool rounds per user message */
#define REMOTE_RETRIES 5   /* tries of one request (backoff 0.5, 1, 2, 4 s) */
#define REMOTE_BODY_MAX (1 << 20)

enum { EXIT_TURN = 1, EXIT_USAGE = 2, EXIT_UNAVAILABLE = 69, EXIT_CANCELLED = 130 };

static volatile sig_atomic_t g_cancel;

static void on_sigint(int sig)
{
    (void)sig;
    g_cancel = 1;
}

struct psy_remote {
    const char *url; /* base URL as given, e.g. http://127.0.0.1:8741 (no trailing /v1) */
    psy_remote_sink sink;
    unsigned long queued;      /* [atomic] turns announced (psy_remote_queued, or by the turn itself) */
    unsigned long cancel_upto; /* [atomic] the turns numbered up to this one are cancelled */
    unsigned long running;     /* the number of the running (or last) turn; psy_remote_turn's thread */
    int stopping;              /* [atomic] psy_remote_stop: every turn and GET ends */
    char *auth;                /* owned: "Authorization: Bearer KEY", or NULL */
    char conv_id[40];          /* this session's conversation id */
    psy_tools *tools;          /* owned: the local tools */
    cJSON *tool_defs;          /* owned: the tools in OpenAI's shape */
    cJSON *messages;           /* owned: the conversation so far */
};
typedef struct psy_remote remote;

/* One streamed response. */
typedef struct stream {
    remote *r;
    CURL *curl;
    long status;      /* HTTP status, 0 until the headers arrived */
    buf line;         /* a partial SSE line */
    buf body;         /* the body of a non-200 answer */
    buf content;      /* the answer's text */
    cJSON *calls;     /* owned: [{id, type, function: {name, arguments}}] by index */
    char finish[24];  /* finish_reason */
    char err[512];    /* an error event's message */
    bool done, shown; /* [DONE] seen; some content handed to the sink */
    bool has_usage;   /* usage below came with the stream */
    psy_remote_tokens usage;
} stream;

static bool stopping(const remote *r) { return __atomic_load_n(&r->stopping, __ATOMIC_ACQUIRE); }

/* The running turn was cancelled (Ctrl+C in -p/--repl, psy_remote_cancel,
 * or psy_remote_stop). Only on psy_remote_turn's thread. */
static bool cancelled(const remote *r)
{
    return g_cancel || stopping(r) || __atomic_load_n(&r->cancel_upto, __ATOMIC_ACQUIRE) >= r->running;
}

static const char *json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Appends s to the string item key of o (created if missing). 0 or -ENOMEM. */
static int append_str(cJSON *o, const char *key, const char *s)
{
    const char *old = json_str(o, key);
    size_t a = old ? strlen(old) : 0, b = strlen(s);
    char *joined = malloc(a + b + 1);
    if (!joined) return -ENOMEM;
    memcpy(joined, old ? old : "", a);
    memcpy(joined + a, s, b + 1);
    cJSON *v = cJSON_CreateString(joined);
    free(joined);
    if (!v) return -ENOMEM;
    if (cJSON_GetObjectItemCaseSensitive(o, key)) cJSON_ReplaceItemInObjectCaseSensitive(o, key, v);
    else cJSON_AddItemToObject(o, key, v);
    return 0;
}

/* Merges one tool_calls delta ({index, id?, type?, function: {name?, arguments?}}). */
static int merge_call(stream *s, const cJSON *d)
{
    const cJSON *ix = cJSON_GetObjectItemCaseSensitive(d, "index");
    int i = cJSON_IsNumber(ix) ? ix->valueint : 0;
    if (i < 0 || i > 64) return -EPROTO;
    while (cJSON_GetArraySize(s->calls) <= i) {
        cJSON *c = cJSON_CreateObject(), *f = cJSON_AddObjectToObject(c, "function");
        if (!f || !cJSON_AddStringToObject(c, "type", "function")) {
            cJSON_Delete(c);
            return -ENOMEM;
        }
        cJSON_AddItemToArray(s->calls, c);
    }
    cJSON *c = cJSON_GetArrayItem(s->calls, i), *f = cJSON_GetObjectItemCaseSensitive(c, "function");
    const cJSON *df = cJSON_GetObjectItemCaseSensitive(d, "function");
    int rc = 0;
    if (json_str(d, "id")) rc |= append_str(c, "id", json_str(d, "id"));
    if (json_str(df, "name")) rc |= append_str(f, "name", json_str(df, "name"));
    if (json_str(df, "arguments")) rc |= append_str(f, "arguments", json_str(df, "arguments"));
    return rc ? -ENOMEM : 0;
}

static long usage_num(const cJSON *o, const char *key, long missing)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && v->valuedouble >= 0 ? (long)v->valuedouble : missing;
}

/* The usage of a chunk (the last one before [DONE] when asked for). */
static void take_usage(stream *s, const cJSON *u)
{
    if (!cJSON_IsObject(u)) return;
    const cJSON *details = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens_details");
    s->usage.prompt_tokens = usage_num(u, "prompt_tokens", 0);
    s->usage.completion_tokens = usage_num(u, "completion_tokens", 0);
    s->usage.cached_tokens = usage_num(details, "cached_tokens", -1);
    s->has_usage = true;
}

/* One `data:` payload of the stream. */
static void on_event(stream *s, const char *data)
{
    if (!strcmp(data, "[DONE]")) {
        s->done = true;
        return;
    }
    cJSON *o = cJSON_Parse(data);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    if (!o || e) {
        snprintf(s->err, sizeof s->err, "%s",
                 !o                       ? "the server sent a chunk that is not JSON"
                 : json_str(e, "message") ? json_str(e, "message")
                                          : "error");
        cJSON_Delete(o);
        return;
    }
    const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "choices"), 0);
    const cJSON *delta = cJSON_GetObjectItemCaseSensitive(ch, "delta"), *tc;
    const char *text = json_str(delta, "content"), *fin = json_str(ch, "finish_reason");
    if (text && *text) {
        buf_puts(&s->content, text);
        if (s->r->sink.text) s->r->sink.text(s->r->sink.ud, text);
        s->shown = true;
    }
    cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(delta, "tool_calls"))
    {
        if (merge_call(s, tc)) snprintf(s->err, sizeof s->err, "a tool-call delta the client cannot merge");
    }
    if (fin) snprintf(s->finish, sizeof s->finish, "%s", fin);
    take_usage(s, cJSON_GetObjectItemCaseSensitive(o, "usage"));
    cJSON_Delete(o);
}

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    stream *s = ud;
    size_t len = size * n;
    if (!s->status) curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
    if (s->status != 200) {
        if (s->body.len + len <= REMOTE_BODY_MAX && buf_append(&s->body, p, len)) return 0;
        return len;
    }
    if (buf_append(&s->line, p, len)) return 0;
    char *nl;
    while ((nl = memchr(s->line.data, '\n', s->line.len))) {
        size_t l = (size_t)(nl - s->line.data);
        *nl = 0;
        if (l && nl[-1] == '\r') nl[-1] = 0;
        if (!strncmp(s->line.data, "data:", 5)) on_event(s, s->line.data + 5 + (s->line.data[5] == ' '));
        buf_consume(&s->line, l + 1);
    }
    return len;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    return cancelled(ud) ? 1 : 0; /* non-zero aborts the transfer: the stream is closed */
}

static int on_get_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    return stopping(ud) ? 1 : 0;
}

/* A curl handle for base URL + path with the session's headers. *hdrs is
 * the owned header list to free after the transfer. */
static CURL *open_request(const remote *r, const char *path, struct curl_slist **hdrs, char *url, size_t urllen)
{
    CURL *c = curl_easy_init();
    if (!c) return NULL;
    size_t l = strlen(r->url);
    snprintf(url, urllen, "%.*s%s", (int)(l && r->url[l - 1] == '/' ? l - 1 : l), r->url, path);
    char conv[80];
    snprintf(conv, sizeof conv, "X-Psyche-Conversation: %s", r->conv_id);
    *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    *hdrs = curl_slist_append(*hdrs, conv);
    if (r->auth) *hdrs = curl_slist_append(*hdrs, r->auth);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    return c;
}

/* Why a GET got no answer, in err. */
static void describe_get_failure(const remote *r, CURLcode cc, int timeout_ms, const char *url, char *err,
                                 size_t errlen)
{
    if (cc == CURLE_OPERATION_TIMEDOUT)
        snprintf(err, errlen, "the server at %s is not answering (nothing within %.1f s; is it stuck or overloaded?)",
                 r->url, timeout_ms / 1000.0);
    else
        snprintf(err, errlen, "cannot reach the server at %s: %s (is `psyche serve` running there?)", url,
                 curl_easy_strerror(cc));
}

/* GET (body NULL) or POST body to base URL + path within timeout_ms: *out
 * the parsed answer (caller frees; NULL when it is not JSON), *status the
 * HTTP status. 0, or -EHOSTUNREACH (no answer; why in err), -ECANCELED or
 * -ENOMEM. */
static int exchange(remote *r, const char *path, const char *body, int timeout_ms, cJSON **out, long *status, char *err,
                    size_t errlen)
{
    char url[1024];
    struct curl_slist *hdrs = NULL;
    stream s = {.r = r, .status = -1}; /* status -1: collect the body whatever the status */
    CURL *c = open_request(r, path, &hdrs, url, sizeof url);
    *out = NULL;
    *status = 0;
    if (!c) return -ENOMEM;
    s.curl = c;
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_get_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, r);
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    int rc = 0;
    if (cc == CURLE_ABORTED_BY_CALLBACK) {
        snprintf(err, errlen, "stopped");
        rc = -ECANCELED;
    } else if (cc != CURLE_OK) {
        describe_get_failure(r, cc, timeout_ms, url, err, errlen);
        rc = -EHOSTUNREACH;
    } else {
        *out = cJSON_Parse(buf_str(&s.body));
    }
    buf_free(&s.body);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return rc;
}

int psy_remote_get(remote *r, const char *path, int timeout_ms, cJSON **out, long *status, char *err, size_t errlen)
{
    return exchange(r, path, NULL, timeout_ms, out, status, err, errlen);
}

int psy_remote_post(remote *r, const char *path, const char *body, int timeout_ms, cJSON **out, long *status, char *err,
                    size_t errlen)
{
    return exchange(r, path, body, timeout_ms, out, status, err, errlen);
}

int psy_remote_health(remote *r, int timeout_ms, cJSON **health, char *err, size_t errlen)
{
    cJSON *o;
    long status;
    int rc = psy_remote_get(r, "/health", timeout_ms, &o, &status, err, errlen);
    if (!rc && status != 200) {
        snprintf(err, errlen, "the server at %s is not ready (HTTP %ld, status %s); try again in a moment", r->url,
                 status, json_str(o, "status") ? json_str(o, "status") : "unknown");
        rc = -EAGAIN;
    }
    if (health && !rc) *health = o;
    else cJSON_Delete(o);
    return rc;
}

/* Says in s->err why a request failed: curl's reason, the server's error
 * message with the HTTP status, or a stream cut before [DONE]. */
static void describe_failure(stream *s, CURLcode cc)
{
    if (cc != CURLE_OK) {
        snprintf(s->err, sizeof s->err, "%s", curl_easy_strerror(cc));
    } else if (s->status != 200) {
        cJSON *o = cJSON_Parse(buf_str(&s->body));
        const char *m = json_str(cJSON_GetObjectItemCaseSensitive(o, "error"), "message");
        snprintf(s->err, sizeof s->err, "%s (HTTP %ld)", m ? m : "the server refused the request", s->status);
        cJSON_Delete(o);
    } else {
        snprintf(s->err, sizeof s->err, "the stream ended before [DONE] (did the server stop?)");
    }
}

/* One POST of the conversation, streamed. Returns 0 (s filled), -EAGAIN
 * (may be retried: no connection, 429, 503), -ECANCELED, or -EPROTO with
 * the reason in s->err. */
static int post_once(remote *r, stream *s)
{
    if (cancelled(r)) return -ECANCELED; /* before anything is sent: a cancel while the turn was queued */
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "model", "psyche");
    cJSON_AddBoolToObject(req, "stream", true);
    cJSON_AddBoolToObject(cJSON_AddObjectToObject(req, "stream_options"), "include_usage", true);
    cJSON_AddItemReferenceToObject(req, "messages", r->messages);
    if (r->tool_defs) cJSON_AddItemReferenceToObject(req, "tools", r->tool_defs);
    char *body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    char url[1024];
    struct curl_slist *hdrs = NULL;
    CURL *c = body ? open_request(r, "/v1/chat/completions", &hdrs, url, sizeof url) : NULL;
    if (!c) {
        free(body);
        return -ENOMEM;
    }
    s->curl = c;
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, r);
    CURLcode cc = curl_easy_perform(c);
    if (!s->status) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &s->status);
    int rc = 0;
    if (cancelled(r)) rc = -ECANCELED;
    else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_OPERATION_TIMEDOUT || s->status == 429 || s->status == 503)
        rc = -EAGAIN;
    else if (cc != CURLE_OK || s->status != 200 || s->err[0] || !s->done)
        rc = -EPROTO; /* a transfer or HTTP failure, an error event, or a stream that was cut */
    if (rc && rc != -ECANCELED && !s->err[0]) describe_failure(s, cc);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    free(body);
    return rc;
}

static void stream_free(stream *s)
{
    buf_free(&s->line);
    buf_free(&s->body);
    buf_free(&s->content);
    cJSON_Delete(s->calls);
}

/* Sleeps ms unless Ctrl+C comes first. */
static void backoff_sleep(const remote *r, int ms)
{
    for (int t = 0; t < ms && !cancelled(r); t += 50) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* post_once with retries (backoff 0.5, 1, 2, 4 s) while nothing of the
 * answer was shown. s is reset before each try. */
static int post(remote *r, stream *s)
{
    int rc = -EAGAIN;
    for (int attempt = 0; attempt < REMOTE_RETRIES; attempt++) {
        stream_free(s);
        memset(s, 0, sizeof *s);
        s->r = r;
        if (!(s->calls = cJSON_CreateArray())) return -ENOMEM;
        rc = post_once(r, s);
        if (rc != -EAGAIN || s->shown || attempt + 1 == REMOTE_RETRIES) break;
        int ms = 500 << attempt;
        char msg[700];
        snprintf(msg, sizeof msg, "the server is unavailable (%s); retrying in %.1f s", s->err, ms / 1000.0);
        if (r->sink.notice) r->sink.notice(r->sink.ud, msg);
        backoff_sleep(r, ms);
        if (cancelled(r)) return -ECANCELED;
    }
    return rc;
}

/* Tells the server's emotion how a local tool went, as the local agent
 * tells elpis (psy_tool_emotion). Advisory: a failure is only logged. */
static void report_tool_emotion(remote *r, const char *name, bool ok, psy_tool_outcome oc)
{
    double intensity;
    const char *event = psy_tool_emotion(ok, oc, &intensity);
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "event_type", event);
    cJSON_AddNumberToObject(b, "intensity", intensity);
    cJSON_AddStringToObject(b, "context", name);
    char *text = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    cJSON *out = NULL;
    long status = 0;
    char err[1200] = "";
    if (!text) return;
    if (psy_remote_post(r, "/v1/psyche/emotion", text, EMOTION_POST_MS, &out, &status, err, sizeof err) ||
        status != 200)
        log_debug("the server did not take the %s event of %s: %s", event, name, *err ? err : "refused");
    cJSON_Delete(out);
    free(text);
}

/* Runs the calls the model asked for in the local workspace and appends
 * the assistant's tool_calls message and one tool message per call. */
static int run_calls(remote *r, stream *s)
{
    cJSON *am = cJSON_CreateObject();
    if (!am) return -ENOMEM;
    cJSON_AddStringToObject(am, "role", "assistant");
    cJSON_AddNullToObject(am, "content");
    cJSON_AddItemToObject(am, "tool_calls", cJSON_Duplicate(s->calls, true));
    cJSON_AddItemToArray(r->messages, am);
    const cJSON *c;
    cJSON_ArrayForEach(c, s->calls)
    {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(c, "function");
        const char *name = json_str(f, "name") ? json_str(f, "name") : "", *id = json_str(c, "id");
        const char *argtext = json_str(f, "arguments") ? json_str(f, "arguments") : "";
        cJSON *args = *argtext ? cJSON_Parse(argtext) : cJSON_CreateObject();
        if (r->sink.tool) r->sink.tool(r->sink.ud, name, argtext, NULL);
        char *result;
        bool ok = false;
        psy_tool_outcome oc = PSY_TOOL_REFUSED;
        if (!args) {
            result = strdup("{\"success\":false,\"error\":\"the arguments are not valid JSON; send a JSON object\"}");
        } else {
            cJSON *w = psy_tools_call(r->tools, name, args, id, 0);
            result = w ? cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(w, "result")) : NULL;
            ok = w && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(w, "success"));
            if (w) oc = psy_tools_last_outcome(r->tools);
            cJSON_Delete(w);
        }
        if (!cancelled(r)) report_tool_emotion(r, name, ok, oc);
        cJSON_Delete(args);
        cJSON *tm = cJSON_CreateObject();
        if (!result || !tm) {
            free(result);
            cJSON_Delete(tm);
            return -ENOMEM;
        }
        cJSON_AddStringToObject(tm, "role", "tool");
        cJSON_AddStringToObject(tm, "tool_call_id", id ? id : "");
        cJSON_AddStringToObject(tm, "content", result);
        cJSON_AddItemToArray(r->messages, tm);
        if (r->sink.tool) r->sink.tool(r->sink.ud, name, argtext, result);
        free(result);
    }
    return 0;
}

/* One user message: requests until the model answers without tool calls;
 * the sink hears every piece and, once, how it ended. Returns 0,
 * -ECANCELED, or another -errno. */
/* Atomically raises *v to at least to. */
static void raise_to(unsigned long *v, unsigned long to)
{
    unsigned long cur = __atomic_load_n(v, __ATOMIC_ACQUIRE);
    while (cur < to && !__atomic_compare_exchange_n(v, &cur, to, true, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    }
}

int psy_remote_turn(remote *r, const char *text)
{
    r->running++;
    raise_to(&r->queued, r->running); /* a turn nobody announced announces itself */
    psy_tools_reset_cancel(r->tools); /* a cancel meant for this turn comes after: cancelled() sees it */
    cJSON *um = cJSON_CreateObject();
    if (!um) return -ENOMEM;
    cJSON_AddStringToObject(um, "role", "user");
    cJSON_AddStringToObject(um, "content", text);
    cJSON_AddItemToArray(r->messages, um);
    for (int step = 0;; step++) {
        stream s = {0};
        int rc = post(r, &s);
        if (!rc && r->sink.step) r->sink.step(r->sink.ud, s.has_usage ? &s.usage : NULL);
        if (!rc && !strcmp(s.finish, "tool_calls") && cJSON_GetArraySize(s.calls) > 0) {
            if (step + 1 < REMOTE_MAX_STEPS) {
                rc = run_calls(r, &s);
                stream_free(&s);
                if (!rc && cancelled(r)) rc = -ECANCELED; /* during the tools: no next request */
                if (!rc) continue;
                memset(&s, 0, sizeof s);
            } else {
                snprintf(s.err, sizeof s.err, "the model asked for tools %d times in a row; stopping this turn",
                         REMOTE_MAX_STEPS);
                rc = -ELOOP;
            }
        } else if (!rc) {
            cJSON *am = cJSON_CreateObject();
            cJSON_AddStringToObject(am, "role", "assistant");
            cJSON_AddStringToObject(am, "content", buf_str(&s.content));
            cJSON_AddItemToArray(r->messages, am);
        }
        if (rc == -ENOMEM && !s.err[0]) snprintf(s.err, sizeof s.err, "out of memory");
        psy_remote_result res = {
            .rc = rc, .answer = buf_str(&s.content), .finish = s.finish, .err = s.err, .shown = s.shown};
        if (r->sink.done) r->sink.done(r->sink.ud, &res);
        stream_free(&s);
        return rc;
    }
}

void psy_remote_queued(remote *r, bool queued)
{
    if (queued) __atomic_add_fetch(&r->queued, 1, __ATOMIC_ACQ_REL);
    else __atomic_sub_fetch(&r->queued, 1, __ATOMIC_ACQ_REL);
}

void psy_remote_cancel(remote *r)
{
    raise_to(&r->cancel_upto, __atomic_load_n(&r->queued, __ATOMIC_ACQUIRE));
    psy_tools_cancel(r->tools); /* a running execute_bash is killed too */
}

void psy_remote_stop(remote *r)
{
    __atomic_store_n(&r->stopping, 1, __ATOMIC_RELEASE);
    psy_tools_cancel(r->tools);
}

void psy_remote_clear(remote *r)
{
    cJSON *fresh = cJSON_CreateArray();
    if (!fresh) return;
    cJSON_Delete(r->messages);
    r->messages = fresh;
    uuid4(r->conv_id); /* the server's state of the old conversation is left to its idle eviction */
}

/* The local tools in OpenAI's shape: [{type: function, function: {name, description, parameters}}]. */
static cJSON *openai_tools(const psy_tools *t)
{
    cJSON *list = psy_tools_schemas(t, false), *out = cJSON_CreateArray(), *d;
    cJSON_ArrayForEach(d, list)
    {
        cJSON *o = cJSON_CreateObject(), *f = cJSON_AddObjectToObject(o, "function");
        cJSON_AddStringToObject(o, "type", "function");
        cJSON_AddStringToObject(f, "name", json_str(d, "name"));
        cJSON_AddStringToObject(f, "description", json_str(d, "description"));
        cJSON_AddItemToObject(f, "parameters",
                              cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(d, "inputSchema"), true));
        cJSON_AddItemToArray(out, o);
    }
    cJSON_Delete(list);
    return out;
}

void psy_remote_usage(FILE *f)
{
    fprintf(f,
            "usage: psyche --connect URL [--api-key-file FILE] [--workspace DIR] [--no-sandbox] [-p MESSAGE | --repl]\n"
            "  URL               a psyche serve, e.g. http://127.0.0.1:8741\n"
            "  --api-key-file    file whose first key (one per line, # comments) is sent as the Bearer token\n"
            "  --workspace DIR   where the model's file and shell tools run (default: the current directory)\n"
            "  --no-sandbox      run execute_bash without the sandbox\n"
            "  -p MESSAGE        one message, the answer on stdout\n"
            "  --repl            one message per input line\n"
            "Without -p or --repl the full-screen terminal UI runs against the server (emotion sidebar,\n"
            "streaming, /status, /emotion, /clear, /quit; Esc or Ctrl+C cancels the remote generation).\n"
            "The tools run on this machine; the server only sees their results.\n");
}

bool psy_remote_wanted(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--connect")) return true;
    return false;
}

int psy_remote_parse(int argc, char **argv, psy_remote_opts *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = !strcmp(a, "--connect")                     ? &o->url
                           : !strcmp(a, "--api-key-file")              ? &o->key_file
                           : !strcmp(a, "-p") || !strcmp(a, "--print") ? &o->message
                           : !strcmp(a, "--workspace")                 ? &o->workspace
                                                                       : NULL;
        if (dst && i + 1 < argc && strncmp(argv[i + 1], "--", 2)) *dst = argv[++i];
        else if (!strcmp(a, "--repl")) o->repl = true;
        else if (!strcmp(a, "--no-sandbox")) o->no_sandbox = true;
        else {
            fprintf(stderr, "psyche: %s '%s' with --connect\n", dst ? "missing value for" : "unknown option", a);
            return -EINVAL;
        }
    }
    if (strncmp(o->url, "http://", 7) && strncmp(o->url, "https://", 8)) {
        fprintf(stderr, "psyche: --connect needs an http:// or https:// URL, got '%s'\n", o->url);
        return -EINVAL;
    }
    if (o->message && o->repl) {
        fprintf(stderr, "psyche: --connect takes -p MESSAGE or --repl, not both\n");
        return -EINVAL;
    }
    return 0;
}

/* The API key (first of key_file). Returns 0 or -errno with why in err. */
static int load_key(remote *r, const char *key_file, char *err, size_t errlen)
{
    char **keys;
    size_t n;
    int rc = psy_http_load_keys(key_file, &keys, &n, err, errlen);
    if (rc) return rc;
    size_t l = strlen(keys[0]) + 32;
    if ((r->auth = malloc(l))) snprintf(r->auth, l, "Authorization: Bearer %s", keys[0]);
    for (size_t i = 0; i < n; i++) free(keys[i]);
    free(keys);
    return r->auth ? 0 : -ENOMEM;
}

/* The local tools and an empty conversation. Returns 0 or -errno with why in err. */
static int open_tools(remote *r, const psy_remote_opts *o, char *err, size_t errlen)
{
    char why[512] = "";
    psy_tools_config tc;
    psy_tools_default_config(&tc);
    char cwd[4096];
    tc.workspace = o->workspace ? o->workspace : getcwd(cwd, sizeof cwd);
    tc.sandbox = !o->no_sandbox;
    int rc = tc.workspace ? psy_tools_new(&tc, &r->tools, why, sizeof why) : -errno;
    if (rc) {
        snprintf(err, errlen, "the local tools: %s", why[0] ? why : strerror(-rc));
        return rc;
    }
    r->tool_defs = openai_tools(r->tools);
    r->messages = cJSON_CreateArray();
    uuid4(r->conv_id);
    return r->tool_defs && r->messages ? 0 : -ENOMEM;
}

void psy_remote_free(remote *r)
{
    if (!r) return;
    free(r->auth);
    psy_tools_free(r->tools);
    cJSON_Delete(r->tool_defs);
    cJSON_Delete(r->messages);
    free(r);
}

int psy_remote_open(const psy_remote_opts *o, const psy_remote_sink *sink, remote **out, char *err, size_t errlen)
{
    remote *r = calloc(1, sizeof *r);
    *out = NULL;
    if (!r) return -ENOMEM;
    r->url = o->url;
    if (sink) r->sink = *sink;
    int rc = o->key_file ? load_key(r, o->key_file, err, errlen) : 0;
    if (!rc) rc = open_tools(r, o, err, errlen);
    if (rc) {
        if (rc == -ENOMEM && !err[0]) snprintf(err, errlen, "out of memory");
        psy_remote_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

/* ------------------------------------------------- -p and --repl: printed */

typedef struct print_sink {
    term_safe clean; /* the model's text reaches the terminal without escape sequences (zeroed = initialised) */
} print_sink;

static void print_text(void *ud, const char *text)
{
    print_sink *p = ud;
    buf shown = BUF_INIT; /* the hostile text, cleaned of control and escape sequences */
    if (!term_safe_feed(&p->clean, text, strlen(text), &shown)) fputs(buf_str(&shown), stdout);
    buf_free(&shown);
    (void)fflush(stdout);
}

static void print_tool(void *ud, const char *name, const char *args, const char *result)
{
    (void)ud;
    if (!result) fprintf(stderr, "[tool] %s %s\n", name, args);
}

static void print_notice(void *ud, const char *msg)
{
    (void)ud;
    fprintf(stderr, "psyche: %s\n", msg);
}

static void print_done(void *ud, const psy_remote_result *res)
{
    print_sink *p = ud;
    buf rest = BUF_INIT;
    if (!term_safe_finish(&p->clean, &rest)) fputs(buf_str(&rest), stdout);
    buf_free(&rest);
    memset(&p->clean, 0, sizeof p->clean);
    const char *nl = res->shown ? "\n" : "";
    if (!res->rc) {
        printf("%s", nl);
        if (!strcmp(res->finish, "length")) fprintf(stderr, "psyche: the answer was cut at the length limit\n");
    } else if (res->rc == -ECANCELED) {
        fprintf(stderr, "%s[cancelled]\n", nl);
    } else {
        fprintf(stderr, "%spsyche: %s\n", nl, res->err);
    }
}

/* --repl: one message per line until EOF or /quit; Ctrl+C cancels a turn. */
static int repl(remote *r)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int status = 0;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (!n) continue;
        if (!strcmp(line, "/quit")) break;
        g_cancel = 0;
        int rc = psy_remote_turn(r, line);
        status = rc && rc != -ECANCELED ? EXIT_TURN : 0;
        if (rc == -ENOMEM) break;
    }
    free(line);
    return status;
}

int psy_remote_lines(const psy_remote_opts *o)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
        fprintf(stderr, "psyche: libcurl could not start\n");
        return EXIT_UNAVAILABLE;
    }
    print_sink ps;
    memset(&ps, 0, sizeof ps);
    psy_remote_sink sink = {
        .text = print_text, .tool = print_tool, .notice = print_notice, .done = print_done, .ud = &ps};
    remote *r = NULL;
    int status = 0;
    char err[1200] = "";
    log_set_level(LOG_WARN); /* the tools' notices (sandbox details) would interleave with the answer */
    if (psy_remote_open(o, &sink, &r, err, sizeof err)) {
        fprintf(stderr, "psyche: %s\n", err);
        status = EXIT_USAGE;
    } else if (psy_remote_health(r, PSY_REMOTE_WAIT_MS, NULL, err, sizeof err)) {
        fprintf(stderr, "psyche: %s\n", err);
        status = EXIT_UNAVAILABLE;
    } else {
        struct sigaction sa = {.sa_handler = on_sigint};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        if (o->message) {
            int rc = psy_remote_turn(r, o->message);
            status = !rc ? 0 : rc == -ECANCELED ? EXIT_CANCELLED : EXIT_TURN;
        } else {
            status = repl(r);
        }
    }
    psy_remote_free(r);
    curl_global_cleanup();
    return status;
}
