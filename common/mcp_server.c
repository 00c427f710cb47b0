/* mcp_server.c - MCP/JSON-RPC server over a pair of file descriptors.
 *
 * Owns: the line reader, the table of in-flight requests (for
 * notifications/cancelled), and the output mutex. It never calls into a
 * program's engine except through the tool callbacks of mcp_server_params. */
#include "mcp.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "jsonschema.h"
#include "jsontext.h"
#include "linereader.h"
#include "log.h"
#include "util.h"

#define OUTPUT_POLL_MS 200       /* how long one wait for room in the output lasts */
#define OUTPUT_STALLS_AT_EXIT 10 /* waits (~2 s) before dropping output when shutting down */
#define READ_CHUNK 65536         /* bytes read from the input at a time */

struct mcp_request {
    int refs; /* guarded by s->mu */
    mcp_server *s;
    cJSON *id;             /* owned copy of the JSON-RPC id */
    cJSON *progress_token; /* owned copy, or NULL */
    char *tool;            /* owned */
    long serial;
    bool replied;         /* guarded by s->mu */
    int cancelled;        /* atomic */
    double last_progress; /* guarded by s->mu */
    void *data;
    struct mcp_request *next; /* in-flight list, guarded by s->mu */
};

struct mcp_server {
    mcp_server_params p;
    cJSON **schemas;    /* parsed input schemas, one per tool */
    pthread_mutex_t mu; /* output, in-flight list, refcounts */
    int out_fd;
    bool out_broken;
    int closing; /* atomic: the loop has ended; writes give up soon */
    int stop_pipe[2];
    mcp_request *inflight;
    long next_serial;
    char negotiated[16];
};

/* ------------------------------------------------------------------ output */

/* Caller holds s->mu. */
static int write_all_locked(mcp_server *s, const char *p, size_t n)
{
    /* We never make the output non-blocking (that flag would be shared with
     * every process writing to the same terminal or pipe). Instead we wait
     * for room with poll() and write at most PIPE_BUF bytes, which a pipe
     * reported writable accepts without blocking. A client that does not read
     * holds us back (backpressure), except once we are shutting down: then we
     * wait at most ~2 s and drop the rest, so a stuck client cannot keep the
     * process alive. */
    int stalls = 0;
    while (n > 0 && !s->out_broken) {
        struct pollfd pfd = {.fd = s->out_fd, .events = POLLOUT};
        int r = poll(&pfd, 1, OUTPUT_POLL_MS);
        if (r < 0 && errno != EINTR) {
            s->out_broken = true;
            return -errno;
        }
        if (r <= 0) {
            if (__atomic_load_n(&s->closing, __ATOMIC_ACQUIRE) && ++stalls > OUTPUT_STALLS_AT_EXIT) {
                s->out_broken = true;
                log_warn("the client is not reading its input; dropping output to shut down");
                return -EPIPE;
            }
            continue;
        }
        if (pfd.revents & (POLLERR | POLLNVAL)) {
            s->out_broken = true;
            log_warn("output closed");
            return -EPIPE;
        }
        ssize_t w = write(s->out_fd, p, n < PIPE_BUF ? n : PIPE_BUF);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            s->out_broken = true; /* client went away; reading will see EOF */
            log_warn("output closed: %s", strerror(errno));
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return s->out_broken ? -EPIPE : 0;
}

/* ---- building messages: every cJSON call can fail; a jb remembers it ---- */

/* A builder: after the calls, failed says whether any step ran out of
 * memory (the message is then incomplete and must not be sent). */
typedef struct jb {
    bool failed;
} jb;

/* Adds item to obj (an object, with key, or an array, key NULL); on failure
 * deletes item. Returns item, or NULL. obj may be NULL (its own creation failed). */
static cJSON *jb_add(jb *b, cJSON *obj, const char *key, cJSON *item)
{
    bool ok = obj && item && (key ? cJSON_AddItemToObject(obj, key, item) : cJSON_AddItemToArray(obj, item));
    if (ok) return item;
    cJSON_Delete(item);
    b->failed = true;
    return NULL;
}

static cJSON *jb_obj(jb *b, cJSON *obj, const char *key) { return jb_add(b, obj, key, cJSON_CreateObject()); }
static cJSON *jb_arr(jb *b, cJSON *obj, const char *key) { return jb_add(b, obj, key, cJSON_CreateArray()); }
static void jb_str(jb *b, cJSON *obj, const char *key, const char *v) { jb_add(b, obj, key, cJSON_CreateString(v)); }
static void jb_num(jb *b, cJSON *obj, const char *key, double v) { jb_add(b, obj, key, cJSON_CreateNumber(v)); }
static void jb_bool(jb *b, cJSON *obj, const char *key, bool v) { jb_add(b, obj, key, cJSON_CreateBool(v)); }

/* A new object, or NULL with b->failed. */
static cJSON *jb_root(jb *b)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) b->failed = true;
    return o;
}

/* The root when every step worked; else deletes it and returns NULL. */
static cJSON *jb_done(jb *b, cJSON *root)
{
    if (!b->failed) return root;
    cJSON_Delete(root);
    return NULL;
}

/* ---- writing ----------------------------------------------------------- */

#define ERROR_LINE_MAX 1024

/* An error reply written without allocating (for when memory ran out, or
 * before anything could be parsed). id: the exact text of the id, idlen
 * bytes, or NULL for null; message: plain text, escaped here. Caller holds
 * s->mu. */
static int send_error_text_locked(mcp_server *s, const char *id, size_t idlen, int code, const char *message)
{
    char line[ERROR_LINE_MAX];
    if (!id || idlen > ERROR_LINE_MAX / 4) id = "null", idlen = 4;
    size_t n =
        (size_t)snprintf(line, sizeof line, "{\"jsonrpc\":\"2.0\",\"id\":%.*s,\"error\":{\"code\":%d,\"message\":\"",
                         (int)idlen, id, code);
    for (const unsigned char *p = (const unsigned char *)message; *p && n + 16 < sizeof line; p++) {
        if (*p == '"' || *p == '\\') line[n++] = '\\', line[n++] = (char)*p;
        else if (*p < 0x20) n += (size_t)snprintf(line + n, sizeof line - n, "\\u%04x", *p);
        else line[n++] = (char)*p;
    }
    n += (size_t)snprintf(line + n, sizeof line - n, "\"}}\n");
    return write_all_locked(s, line, n);
}

/* The reply for when building the real one ran out of memory: never leaves
 * a request unanswered. id: the request's id (raw item or number), or NULL. */
static int send_oom_locked(mcp_server *s, const cJSON *id)
{
    char num[32];
    const char *text = NULL;
    if (cJSON_IsRaw(id)) text = id->valuestring;
    else if (cJSON_IsNumber(id)) snprintf(num, sizeof num, "%.17g", id->valuedouble), text = num;
    log_error("out of memory while answering a request; sent an internal error instead");
    return send_error_text_locked(s, text, text ? strlen(text) : 0, MCP_INTERNAL_ERROR, "out of memory");
}

/* Takes ownership of msg; NULL (its building failed) or a message that
 * cannot be printed is answered with send_oom_locked for id. */
static int send_msg(mcp_server *s, cJSON *msg, const cJSON *id, bool locked)
{
    char *text = msg ? cJSON_PrintUnformatted(msg) : NULL;
    cJSON_Delete(msg);
    if (!locked) pthread_mutex_lock(&s->mu);
    int rc;
    if (text) {
        size_t n = strlen(text);
        text[n] = '\n'; /* overwrite the NUL: we send n+1 bytes, never as a string */
        rc = write_all_locked(s, text, n + 1);
    } else {
        rc = send_oom_locked(s, id);
    }
    if (!locked) pthread_mutex_unlock(&s->mu);
    free(text);
    return rc;
}

/* {"jsonrpc":"2.0","id":id} in b. */
static cJSON *envelope(jb *b, const cJSON *id)
{
    cJSON *m = jb_root(b);
    jb_str(b, m, "jsonrpc", "2.0");
    jb_add(b, m, "id", id ? cJSON_Duplicate(id, 1) : cJSON_CreateNull());
    return m;
}

static cJSON *error_msg(const cJSON *id, int code, const char *message)
{
    jb b = {false};
    cJSON *m = envelope(&b, id);
    cJSON *e = jb_obj(&b, m, "error");
    jb_num(&b, e, "code", code);
    jb_str(&b, e, "message", message);
    return jb_done(&b, m);
}

static int send_error(mcp_server *s, const cJSON *id, int code, const char *message)
{
    return send_msg(s, error_msg(id, code, message), id, false);
}

/* send_error with a formatted message; out of memory, the reply says so. */
static int send_errorf(mcp_server *s, const cJSON *id, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int send_errorf(mcp_server *s, const cJSON *id, int code, const char *fmt, ...)
{
    buf m = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(&m, fmt, ap);
    va_end(ap);
    rc = rc ? send_msg(s, NULL, id, false) : send_error(s, id, code, buf_str(&m));
    buf_free(&m);
    return rc;
}

/* Takes ownership of result (NULL: {}); a failed builder passes failed. */
static int send_result(mcp_server *s, const cJSON *id, cJSON *result, bool failed)
{
    jb b = {failed};
    cJSON *m = envelope(&b, id);
    jb_add(&b, m, "result", result ? result : cJSON_CreateObject());
    return send_msg(s, jb_done(&b, m), id, false);
}

int mcp_notify(mcp_server *s, const char *method, cJSON *params)
{
    jb b = {false};
    cJSON *m = jb_root(&b);
    jb_str(&b, m, "jsonrpc", "2.0");
    jb_str(&b, m, "method", method);
    if (params) jb_add(&b, m, "params", params);
    m = jb_done(&b, m);
    if (!m) return -ENOMEM; /* a notification has no id to answer */
    return send_msg(s, m, NULL, false);
}

/* ---------------------------------------------------------------- requests */

/* tok: the progress token as exact_id made it, or NULL (copied). */
static mcp_request *request_new(mcp_server *s, const cJSON *id, const cJSON *tok, const char *tool)
{
    mcp_request *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->s = s;
    r->refs = 1;
    r->id = cJSON_Duplicate(id, 1);
    r->tool = strdup(tool ? tool : "");
    bool want_token = tok != NULL;
    if (want_token) r->progress_token = cJSON_Duplicate(tok, 1);
    if ((id && !r->id) || !r->tool || (want_token && !r->progress_token)) {
        cJSON_Delete(r->id);
        cJSON_Delete(r->progress_token);
        free(r->tool);
        free(r);
        return NULL;
    }
    r->last_progress = -INFINITY;
    pthread_mutex_lock(&s->mu);
    r->serial = ++s->next_serial;
    r->next = s->inflight;
    s->inflight = r;
    pthread_mutex_unlock(&s->mu);
    return r;
}

static void request_free(mcp_request *r)
{
    cJSON_Delete(r->id);
    cJSON_Delete(r->progress_token);
    free(r->tool);
    free(r);
}

mcp_request *mcp_request_ref(mcp_request *req)
{
    pthread_mutex_lock(&req->s->mu);
    req->refs++;
    pthread_mutex_unlock(&req->s->mu);
    return req;
}

void mcp_request_unref(mcp_request *req)
{
    if (!req) return;
    mcp_server *s = req->s;
    pthread_mutex_lock(&s->mu);
    int left = --req->refs;
    pthread_mutex_unlock(&s->mu);
    if (left == 0) request_free(req);
}

bool mcp_request_cancelled(const mcp_request *req) { return __atomic_load_n(&req->cancelled, __ATOMIC_ACQUIRE); }
bool mcp_request_wants_progress(const mcp_request *req) { return req->progress_token != NULL; }
const char *mcp_request_tool(const mcp_request *req) { return req->tool; }
long mcp_request_serial(const mcp_request *req) { return req->serial; }
mcp_server *mcp_request_server(const mcp_request *req) { return req->s; }
void mcp_request_set_data(mcp_request *req, void *data) { req->data = data; }
void *mcp_request_get_data(const mcp_request *req) { return req->data; }

/* Removes req from the in-flight list and sends msg (owned) unless cancelled.
 * Drops the server's reference. Returns -EALREADY on a second reply. */
static int finish(mcp_request *req, cJSON *msg)
{
    mcp_server *s = req->s;
    pthread_mutex_lock(&s->mu);
    if (req->replied) {
        pthread_mutex_unlock(&s->mu);
        cJSON_Delete(msg);
        return -EALREADY;
    }
    req->replied = true;
    for (mcp_request **pp = &s->inflight; *pp; pp = &(*pp)->next)
        if (*pp == req) {
            *pp = req->next;
            break;
        }
    int rc = 0;
    if (mcp_request_cancelled(req)) cJSON_Delete(msg);
    else rc = send_msg(s, msg, req->id, true); /* msg NULL: an out-of-memory error for the id */
    int left = --req->refs;
    pthread_mutex_unlock(&s->mu);
    if (left == 0) request_free(req);
    return rc;
}

int mcp_reply_raw(mcp_request *req, cJSON *result)
{
    jb b = {false};
    cJSON *m = envelope(&b, req->id);
    jb_add(&b, m, "result", result ? result : cJSON_CreateObject());
    return finish(req, jb_done(&b, m));
}

/* Takes ownership of structured; NULL when building failed. */
static cJSON *tool_result(cJSON *structured, bool is_error)
{
    jb b = {false};
    cJSON *res = jb_root(&b);
    cJSON *item = jb_add(&b, jb_arr(&b, res, "content"), NULL, cJSON_CreateObject());
    jb_str(&b, item, "type", "text");
    char *text = structured ? cJSON_PrintUnformatted(structured) : NULL;
    jb_add(&b, item, "text", text ? cJSON_CreateString(text) : NULL);
    free(text);
    jb_add(&b, res, "structuredContent", structured);
    if (is_error) jb_bool(&b, res, "isError", true);
    return jb_done(&b, res);
}

/* The reply for a tool result: an out-of-memory error when any part failed. */
static int reply_tool_result(mcp_request *req, cJSON *structured, bool is_error)
{
    cJSON *res = tool_result(structured, is_error);
    if (!res) return finish(req, NULL);
    return mcp_reply_raw(req, res);
}

int mcp_reply_result(mcp_request *req, cJSON *result)
{
    return reply_tool_result(req, result ? result : cJSON_CreateObject(), false);
}

int mcp_reply_tool_error(mcp_request *req, const char *fmt, ...)
{
    buf m = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(&m, fmt, ap);
    va_end(ap);
    if (rc) return finish(req, NULL);
    jb b = {false};
    cJSON *o = jb_root(&b);
    jb_str(&b, o, "error", buf_str(&m));
    log_info("request %ld %s: tool error: %s", req->serial, req->tool, buf_str(&m));
    buf_free(&m);
    o = jb_done(&b, o);
    return o ? reply_tool_result(req, o, true) : finish(req, NULL);
}

int mcp_reply_error(mcp_request *req, int code, const char *fmt, ...)
{
    buf m = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(&m, fmt, ap);
    va_end(ap);
    cJSON *msg = rc ? NULL : error_msg(req->id, code, buf_str(&m));
    buf_free(&m);
    return finish(req, msg);
}

int mcp_progress(mcp_request *req, double progress, const char *message)
{
    if (!req->progress_token) return 0;
    mcp_server *s = req->s;
    pthread_mutex_lock(&s->mu);
    if (req->replied || mcp_request_cancelled(req) || !(progress > req->last_progress)) {
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    req->last_progress = progress;
    jb b = {false};
    cJSON *m = jb_root(&b);
    jb_str(&b, m, "jsonrpc", "2.0");
    jb_str(&b, m, "method", "notifications/progress");
    cJSON *p = jb_obj(&b, m, "params");
    jb_add(&b, p, "progressToken", cJSON_Duplicate(req->progress_token, 1));
    jb_num(&b, p, "progress", progress);
    if (message) jb_str(&b, p, "message", message);
    m = jb_done(&b, m);
    /* progress is advisory: out of memory, this one is skipped */
    int rc = m ? send_msg(s, m, NULL, true) : -ENOMEM;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int mcp_validate_args(const cJSON *schema, const cJSON *args, char *err, size_t errlen)
{
    return jsonschema_validate(schema, args, err, errlen);
}

/* ----------------------------------------------------------------- methods */

static const char *const versions[] = {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};

const char *mcp_negotiate_version(const char *requested)
{
    if (requested)
        for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++)
            if (!strcmp(requested, versions[i])) return versions[i];
    return MCP_PROTOCOL_LATEST;
}

static void on_initialize(mcp_server *s, const cJSON *id, const cJSON *params)
{
    const cJSON *pv = cJSON_GetObjectItemCaseSensitive(params, "protocolVersion");
    const char *v = mcp_negotiate_version(cJSON_IsString(pv) ? pv->valuestring : NULL);
    snprintf(s->negotiated, sizeof s->negotiated, "%s", v);
    const cJSON *ci = cJSON_GetObjectItemCaseSensitive(params, "clientInfo");
    const cJSON *cn = cJSON_GetObjectItemCaseSensitive(ci, "name");
    log_info("initialize from %s, protocol %s (asked %s)", cJSON_IsString(cn) ? cn->valuestring : "?", v,
             cJSON_IsString(pv) ? pv->valuestring : "none");
    jb b = {false};
    cJSON *r = jb_root(&b);
    jb_str(&b, r, "protocolVersion", v);
    cJSON *caps = jb_obj(&b, r, "capabilities");
    jb_bool(&b, jb_obj(&b, caps, "tools"), "listChanged", false);
    if (s->p.n_resources) {
        cJSON *rc = jb_obj(&b, caps, "resources");
        jb_bool(&b, rc, "subscribe", false);
        jb_bool(&b, rc, "listChanged", false);
    }
    jb_obj(&b, caps, "logging");
    cJSON *si = jb_obj(&b, r, "serverInfo");
    jb_str(&b, si, "name", s->p.name);
    jb_str(&b, si, "version", s->p.version);
    if (s->p.instructions) jb_str(&b, r, "instructions", s->p.instructions);
    send_result(s, id, jb_done(&b, r), b.failed);
}

static void on_tools_list(mcp_server *s, const cJSON *id)
{
    jb b = {false};
    cJSON *r = jb_root(&b);
    cJSON *arr = jb_arr(&b, r, "tools");
    for (size_t i = 0; i < s->p.n_tools && !b.failed; i++) {
        cJSON *t = jb_add(&b, arr, NULL, cJSON_CreateObject());
        jb_str(&b, t, "name", s->p.tools[i].name);
        if (s->p.tools[i].description) jb_str(&b, t, "description", s->p.tools[i].description);
        jb_add(&b, t, "inputSchema", cJSON_Duplicate(s->schemas[i], 1));
    }
    send_result(s, id, jb_done(&b, r), b.failed);
}

/* tok: params._meta.progressToken as exact_id made it, or NULL. */
static void on_tools_call(mcp_server *s, const cJSON *id, const cJSON *params, const cJSON *tok)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(params, "name");
    if (!cJSON_IsString(name)) {
        send_error(s, id, MCP_INVALID_PARAMS, "tools/call needs params.name (a string)");
        return;
    }
    size_t i;
    for (i = 0; i < s->p.n_tools; i++)
        if (!strcmp(s->p.tools[i].name, name->valuestring)) break;
    if (i == s->p.n_tools) {
        send_errorf(s, id, MCP_INVALID_PARAMS, "Unknown tool: %s", name->valuestring);
        return;
    }
    /* The handler gets a checked copy without nulls: null means "absent" for
     * an optional argument, and required ones are never null. */
    const cJSON *given = cJSON_GetObjectItemCaseSensitive(params, "arguments");
    cJSON *args = NULL;
    char err[512];
    int vrc = jsonschema_check_args(s->schemas[i], cJSON_IsNull(given) ? NULL : given, 0, &args, err, sizeof err);
    if (vrc) {
        send_errorf(s, id, vrc == -ENOMEM ? MCP_INTERNAL_ERROR : MCP_INVALID_PARAMS, "%s: %s", name->valuestring, err);
        return;
    }
    mcp_request *req = request_new(s, id, tok, name->valuestring);
    if (!req) {
        send_error(s, id, MCP_INTERNAL_ERROR, "out of memory");
        cJSON_Delete(args);
        return;
    }
    log_debug("request %ld: tools/call %s", req->serial, req->tool);
    mcp_request_ref(req); /* keep it readable after a synchronous reply */
    int rc = s->p.tools[i].fn(req, args, s->p.userdata);
    pthread_mutex_lock(&s->mu);
    bool replied = req->replied;
    pthread_mutex_unlock(&s->mu);
    if (rc == MCP_ASYNC || replied) {
        /* a worker replies (or did already) */
    } else if (rc < 0) {
        mcp_reply_error(req, MCP_INTERNAL_ERROR, "%s failed: %s", req->tool, strerror(-rc));
    } else {
        /* Defensive: a handler that neither replied nor went async would leave the client waiting forever. */
        log_error("tool %s returned without replying (a bug); answering with an internal error", req->tool);
        mcp_reply_error(req, MCP_INTERNAL_ERROR, "%s did not produce a result", req->tool);
    }
    mcp_request_unref(req);
    cJSON_Delete(args);
}

static void on_resources_list(mcp_server *s, const cJSON *id)
{
    jb b = {false};
    cJSON *r = jb_root(&b);
    cJSON *arr = jb_arr(&b, r, "resources");
    for (size_t i = 0; i < s->p.n_resources && !b.failed; i++) {
        const mcp_resource *res = &s->p.resources[i];
        cJSON *o = jb_add(&b, arr, NULL, cJSON_CreateObject());
        jb_str(&b, o, "uri", res->uri);
        jb_str(&b, o, "name", res->name);
        if (res->description) jb_str(&b, o, "description", res->description);
        if (res->mime_type) jb_str(&b, o, "mimeType", res->mime_type);
    }
    send_result(s, id, jb_done(&b, r), b.failed);
}

static void on_resources_read(mcp_server *s, const cJSON *id, const cJSON *params)
{
    const cJSON *uri = cJSON_GetObjectItemCaseSensitive(params, "uri");
    if (!cJSON_IsString(uri)) {
        send_error(s, id, MCP_INVALID_PARAMS, "resources/read needs params.uri (a string)");
        return;
    }
    for (size_t i = 0; i < s->p.n_resources; i++) {
        const mcp_resource *res = &s->p.resources[i];
        if (strcmp(res->uri, uri->valuestring)) continue;
        const char *err = "resource unavailable";
        char *text = res->read(s->p.userdata, &err);
        if (!text) {
            send_error(s, id, MCP_INTERNAL_ERROR, err);
            return;
        }
        jb b = {false};
        cJSON *r = jb_root(&b);
        cJSON *c = jb_add(&b, jb_arr(&b, r, "contents"), NULL, cJSON_CreateObject());
        jb_str(&b, c, "uri", res->uri);
        if (res->mime_type) jb_str(&b, c, "mimeType", res->mime_type);
        jb_str(&b, c, "text", text);
        free(text);
        send_result(s, id, jb_done(&b, r), b.failed);
        return;
    }
    send_errorf(s, id, MCP_RESOURCE_NOT_FOUND, "Unknown resource: %s", uri->valuestring);
}

/* rid: the requestId as exact_id made it (compared by its text). */
static void on_cancelled(mcp_server *s, const cJSON *rid)
{
    if (!rid) return;
    mcp_request *hit = NULL;
    pthread_mutex_lock(&s->mu);
    for (mcp_request *r = s->inflight; r; r = r->next)
        if (cJSON_Compare(r->id, rid, 1)) {
            __atomic_store_n(&r->cancelled, 1, __ATOMIC_RELEASE);
            hit = r;
            hit->refs++;
            break;
        }
    pthread_mutex_unlock(&s->mu);
    if (!hit) return; /* already finished: nothing to stop */
    log_info("request %ld %s cancelled by the client", hit->serial, hit->tool);
    if (s->p.on_cancel) s->p.on_cancel(hit, s->p.userdata);
    mcp_request_unref(hit);
}

static void on_set_level(mcp_server *s, const cJSON *id, const cJSON *params)
{
    const cJSON *lv = cJSON_GetObjectItemCaseSensitive(params, "level");
    log_level l;
    if (!cJSON_IsString(lv) || log_level_parse(lv->valuestring, &l)) {
        send_error(
            s, id, MCP_INVALID_PARAMS,
            "logging/setLevel needs params.level: debug, info, notice, warning, error, critical, alert or emergency");
        return;
    }
    log_set_level(l);
    send_result(s, id, NULL, false);
}

/* An error reply for a line, with the line's own id when it can be read
 * (a well-formed number or string), else null. Allocates nothing. */
static void send_line_error(mcp_server *s, const char *line, size_t len, int code, const char *message)
{
    static const char *const id_path[] = {"id"};
    size_t at = 0, n = 0;
    bool ok = json_text_member(line, len, id_path, 1, &at, &n) == 0 && json_text_check(line + at, n, NULL, 0) == 0 &&
              (line[at] == '"' || line[at] == '-' || (line[at] >= '0' && line[at] <= '9'));
    pthread_mutex_lock(&s->mu);
    send_error_text_locked(s, ok ? line + at : NULL, n, code, message);
    pthread_mutex_unlock(&s->mu);
}

/* The id at path in the line as a raw item that prints exactly as it was
 * sent (12345678901234567890, 1e400, -0, 1.50, "caf\u00e9"); a copy of the
 * parsed value when its text cannot be used. NULL when parsed is NULL or on
 * -ENOMEM (*oom set). */
static cJSON *exact_id(const char *line, size_t len, const char *const *path, size_t depth, const cJSON *parsed,
                       bool *oom)
{
    if (!parsed) return NULL;
    size_t at, n;
    cJSON *r = NULL;
    if ((cJSON_IsNumber(parsed) || cJSON_IsString(parsed)) && json_text_member(line, len, path, depth, &at, &n) == 0 &&
        json_text_check(line + at, n, NULL, 0) == 0) {
        char *t = strndup(line + at, n);
        r = t ? cJSON_CreateRaw(t) : NULL;
        free(t);
    } else {
        r = cJSON_Duplicate(parsed, true);
    }
    if (!r) *oom = true;
    return r;
}

static void route(mcp_server *s, const cJSON *msg, const cJSON *id, const char *line, size_t len);

static void dispatch(mcp_server *s, const cJSON *msg, const char *line, size_t len)
{
    if (!cJSON_IsObject(msg)) {
        send_error(s, NULL, MCP_INVALID_REQUEST,
                   cJSON_IsArray(msg) ? "JSON-RPC batches are not supported: send one message per line"
                                      : "a JSON-RPC message must be an object");
        return;
    }
    const cJSON *parsed_id = cJSON_GetObjectItemCaseSensitive(msg, "id");
    if (parsed_id && !cJSON_IsString(parsed_id) && !cJSON_IsNumber(parsed_id) && !cJSON_IsNull(parsed_id)) {
        send_error(s, NULL, MCP_INVALID_REQUEST, "'id' must be a string or a number");
        return;
    }
    static const char *const id_path[] = {"id"};
    bool oom = false;
    cJSON *id = exact_id(line, len, id_path, 1, parsed_id, &oom);
    if (oom) send_line_error(s, line, len, MCP_INTERNAL_ERROR, "out of memory");
    else route(s, msg, id, line, len);
    cJSON_Delete(id);
}

/* A message whose id is known good (exact text, or NULL for a notification). */
static void route(mcp_server *s, const cJSON *msg, const cJSON *id, const char *line, size_t len)
{
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(msg, "method");
    const cJSON *jv = cJSON_GetObjectItemCaseSensitive(msg, "jsonrpc");
    if (!method) {
        /* A response to something we never send, or junk: no reply is possible for responses. */
        if (cJSON_GetObjectItemCaseSensitive(msg, "result") || cJSON_GetObjectItemCaseSensitive(msg, "error")) return;
        send_error(s, id, MCP_INVALID_REQUEST, "missing 'method'");
        return;
    }
    if (!cJSON_IsString(method) || !cJSON_IsString(jv) || strcmp(jv->valuestring, "2.0")) {
        if (id)
            send_error(s, id, MCP_INVALID_REQUEST,
                       "not a JSON-RPC 2.0 request ('jsonrpc' must be \"2.0\" and 'method' a string)");
        return;
    }
    const char *m = method->valuestring;
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
    if (params && !cJSON_IsObject(params)) {
        if (id) send_error(s, id, MCP_INVALID_PARAMS, "'params' must be an object");
        return;
    }
    if (!id) { /* notification */
        if (!strcmp(m, "notifications/cancelled")) {
            static const char *const rid_path[] = {"params", "requestId"};
            bool oom = false;
            cJSON *rid = exact_id(line, len, rid_path, 2, cJSON_GetObjectItemCaseSensitive(params, "requestId"), &oom);
            on_cancelled(s, rid);
            cJSON_Delete(rid);
        } else if (!strcmp(m, "notifications/initialized")) log_debug("client initialized");
        return; /* others are ignored, as JSON-RPC requires */
    }
    if (!strcmp(m, "initialize")) on_initialize(s, id, params);
    else if (!strcmp(m, "ping")) send_result(s, id, NULL, false);
    else if (!strcmp(m, "tools/list")) on_tools_list(s, id);
    else if (!strcmp(m, "tools/call")) {
        /* the progress token is echoed as exactly as the id (a string or a number) */
        static const char *const tok_path[] = {"params", "_meta", "progressToken"};
        const cJSON *t =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(params, "_meta"), "progressToken");
        bool oom = false;
        cJSON *tok = cJSON_IsString(t) || cJSON_IsNumber(t) ? exact_id(line, len, tok_path, 3, t, &oom) : NULL;
        if (oom) send_error(s, id, MCP_INTERNAL_ERROR, "out of memory");
        else on_tools_call(s, id, params, tok);
        cJSON_Delete(tok);
    } else if (!strcmp(m, "resources/list")) on_resources_list(s, id);
    else if (!strcmp(m, "resources/read")) on_resources_read(s, id, params);
    else if (!strcmp(m, "resources/templates/list")) {
        jb b = {false};
        cJSON *r = jb_root(&b);
        jb_arr(&b, r, "resourceTemplates");
        send_result(s, id, jb_done(&b, r), b.failed);
    } else if (!strcmp(m, "logging/setLevel")) on_set_level(s, id, params);
    else {
        send_errorf(s, id, MCP_METHOD_NOT_FOUND, "Method not found: %s", m);
    }
}

static void on_line(void *ud, char *line, size_t len)
{
    mcp_server *s = ud;
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) i++;
    if (i == len) return; /* blank lines are tolerated */
    char why[160], message[200];
    int bad = json_text_check(line, len, why, sizeof why);
    cJSON *msg = bad ? NULL : cJSON_ParseWithLength(line, len);
    if (msg) {
        dispatch(s, msg, line, len);
        cJSON_Delete(msg);
        return;
    }
    /* Refused before dispatch: no handler ever sees, cuts short or echoes
     * back such text. The reply needs no memory. It carries the line's id
     * when the JSON is well-formed up to the problem (a refused character,
     * trailing data after one complete object, or valid JSON that cJSON
     * could not hold in memory), so the caller is not left waiting; a
     * syntax error gets a null id. */
    bool id_readable = bad == 0 || bad == -EILSEQ || bad == -E2BIG;
    if (bad) snprintf(message, sizeof message, "Parse error: %s", why);
    else snprintf(message, sizeof message, "out of memory while parsing the message");
    if (id_readable) {
        send_line_error(s, line, len, bad ? MCP_PARSE_ERROR : MCP_INTERNAL_ERROR, message);
        return;
    }
    pthread_mutex_lock(&s->mu);
    send_error_text_locked(s, NULL, 0, MCP_PARSE_ERROR, message);
    pthread_mutex_unlock(&s->mu);
}

static void on_oversize(void *ud, size_t len)
{
    mcp_server *s = ud;
    log_warn("message of %zu bytes exceeds the limit of %zu bytes; it was discarded", len, s->p.max_message);
    send_errorf(s, NULL, MCP_INVALID_REQUEST, "message of %zu bytes exceeds the limit of %zu bytes; it was discarded",
                len, s->p.max_message);
}

/* ------------------------------------------------------------------ server */

void mcp_server_default_params(mcp_server_params *p)
{
    memset(p, 0, sizeof *p);
    p->name = "mcp-server";
    p->version = "0.0.0";
    p->max_message = MCP_MAX_MESSAGE_DEFAULT;
}

mcp_server *mcp_server_new(const mcp_server_params *p)
{
    mcp_server *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = *p;
    if (!s->p.max_message) s->p.max_message = MCP_MAX_MESSAGE_DEFAULT;
    s->stop_pipe[0] = s->stop_pipe[1] = -1;
    s->out_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    s->schemas =
        calloc(p->n_tools ? p->n_tools : 1,
               sizeof *s->schemas); // NOLINT(bugprone-sizeof-expression): schemas is an array of pointers, one per tool
    if (!s->schemas || pipe2(s->stop_pipe, O_CLOEXEC | O_NONBLOCK)) {
        mcp_server_free(s);
        return NULL;
    }
    for (size_t i = 0; i < p->n_tools; i++) {
        s->schemas[i] = cJSON_Parse(p->tools[i].input_schema ? p->tools[i].input_schema : "{\"type\":\"object\"}");
        if (!cJSON_IsObject(s->schemas[i])) {
            log_error("tool %s: input_schema is not a JSON object", p->tools[i].name);
            mcp_server_free(s);
            return NULL;
        }
    }
    return s;
}

void mcp_server_stop(mcp_server *s)
{
    char c = 1;
    ssize_t w = write(s->stop_pipe[1], &c, 1);
    (void)w;
}

int mcp_server_run(mcp_server *s, int in_fd, int out_fd)
{
    s->out_fd = out_fd;
    line_reader lr;
    lr_init(&lr, s->p.max_message);
    char *chunk = malloc(READ_CHUNK);
    int rc = 0;
    if (!chunk) return -ENOMEM;
    for (;;) {
        struct pollfd pfd[2] = {{.fd = in_fd, .events = POLLIN}, {.fd = s->stop_pipe[0], .events = POLLIN}};
        int n = poll(pfd, 2, s->p.tick_ms > 0 ? s->p.tick_ms : -1);
        if (n < 0 && errno != EINTR) {
            rc = -errno;
            break;
        }
        if (s->p.tick) s->p.tick(s->p.userdata);
        if (n <= 0) continue;
        if (pfd[1].revents) break;
        if (!pfd[0].revents) continue;
        ssize_t r = read(in_fd, chunk, READ_CHUNK);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            rc = -errno;
            break;
        }
        if (r == 0) {
            lr_finish(&lr, on_line, on_oversize, s);
            log_info("end of input: shutting down");
            break;
        }
        if (lr_feed(&lr, chunk, (size_t)r, on_line, on_oversize, s)) {
            rc = -ENOMEM;
            break;
        }
    }
    __atomic_store_n(&s->closing, 1, __ATOMIC_RELEASE);
    free(chunk);
    lr_free(&lr);
    return rc;
}

void mcp_server_free(mcp_server *s)
{
    if (!s) return;
    for (size_t i = 0; s->schemas && i < s->p.n_tools; i++) cJSON_Delete(s->schemas[i]);
    free(s->schemas);
    /* Requests still in flight belong to workers that must be stopped first;
     * drop the server's references to the ones nobody else holds. */
    mcp_request *r = s->inflight;
    while (r) {
        mcp_request *next = r->next;
        if (--r->refs == 0) request_free(r);
        r = next;
    }
    if (s->stop_pipe[0] >= 0) close(s->stop_pipe[0]);
    if (s->stop_pipe[1] >= 0) close(s->stop_pipe[1]);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
