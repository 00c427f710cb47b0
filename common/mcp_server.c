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

struct mcp_request {
    int refs;                 /* guarded by s->mu */
    mcp_server *s;
    cJSON *id;                /* owned copy of the JSON-RPC id */
    cJSON *progress_token;    /* owned copy, or NULL */
    char *tool;               /* owned */
    long serial;
    bool replied;             /* guarded by s->mu */
    int cancelled;            /* atomic */
    double last_progress;     /* guarded by s->mu */
    void *data;
    struct mcp_request *next; /* in-flight list, guarded by s->mu */
};

struct mcp_server {
    mcp_server_params p;
    cJSON **schemas;          /* parsed input schemas, one per tool */
    pthread_mutex_t mu;       /* output, in-flight list, refcounts */
    int out_fd;
    bool out_broken;
    int closing;              /* atomic: the loop has ended; writes give up soon */
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
        int r = poll(&pfd, 1, 200);
        if (r < 0 && errno != EINTR) {
            s->out_broken = true;
            return -errno;
        }
        if (r <= 0) {
            if (__atomic_load_n(&s->closing, __ATOMIC_ACQUIRE) && ++stalls > 10) {
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

/* Takes ownership of msg. */
static int send_msg(mcp_server *s, cJSON *msg, bool locked)
{
    char *text = cJSON_PrintUnformatted(msg);
    cJSON_Delete(msg);
    if (!text) return -ENOMEM;
    size_t n = strlen(text);
    text[n] = '\n'; /* overwrite the NUL: we send n+1 bytes, never as a string */
    if (!locked) pthread_mutex_lock(&s->mu);
    int rc = write_all_locked(s, text, n + 1);
    if (!locked) pthread_mutex_unlock(&s->mu);
    free(text);
    return rc;
}

static cJSON *envelope(const cJSON *id)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "jsonrpc", "2.0");
    cJSON_AddItemToObject(m, "id", id ? cJSON_Duplicate(id, 1) : cJSON_CreateNull());
    return m;
}

static int send_error(mcp_server *s, const cJSON *id, int code, const char *message)
{
    cJSON *m = envelope(id);
    cJSON *e = cJSON_AddObjectToObject(m, "error");
    cJSON_AddNumberToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", message);
    return send_msg(s, m, false);
}

static int send_result(mcp_server *s, const cJSON *id, cJSON *result)
{
    cJSON *m = envelope(id);
    cJSON_AddItemToObject(m, "result", result ? result : cJSON_CreateObject());
    return send_msg(s, m, false);
}

int mcp_notify(mcp_server *s, const char *method, cJSON *params)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "jsonrpc", "2.0");
    cJSON_AddStringToObject(m, "method", method);
    if (params) cJSON_AddItemToObject(m, "params", params);
    return send_msg(s, m, false);
}

/* ---------------------------------------------------------------- requests */

static mcp_request *request_new(mcp_server *s, const cJSON *id, const cJSON *params, const char *tool)
{
    mcp_request *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->s = s;
    r->refs = 1;
    r->id = cJSON_Duplicate(id, 1);
    r->tool = strdup(tool ? tool : "");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(params, "_meta");
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(meta, "progressToken");
    if (tok && (cJSON_IsString(tok) || cJSON_IsNumber(tok))) r->progress_token = cJSON_Duplicate(tok, 1);
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
    if (mcp_request_cancelled(req))
        cJSON_Delete(msg);
    else
        rc = send_msg(s, msg, true);
    int left = --req->refs;
    pthread_mutex_unlock(&s->mu);
    if (left == 0) request_free(req);
    return rc;
}

int mcp_reply_raw(mcp_request *req, cJSON *result)
{
    cJSON *m = envelope(req->id);
    cJSON_AddItemToObject(m, "result", result ? result : cJSON_CreateObject());
    return finish(req, m);
}

static cJSON *tool_result(cJSON *structured, bool is_error)
{
    cJSON *res = cJSON_CreateObject();
    cJSON *content = cJSON_AddArrayToObject(res, "content");
    cJSON *item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "type", "text");
    char *text = cJSON_PrintUnformatted(structured);
    cJSON_AddStringToObject(item, "text", text ? text : "{}");
    free(text);
    cJSON_AddItemToArray(content, item);
    cJSON_AddItemToObject(res, "structuredContent", structured);
    if (is_error) cJSON_AddBoolToObject(res, "isError", 1);
    return res;
}

int mcp_reply_result(mcp_request *req, cJSON *result)
{
    if (!result) result = cJSON_CreateObject();
    return mcp_reply_raw(req, tool_result(result, false));
}

int mcp_reply_tool_error(mcp_request *req, const char *fmt, ...)
{
    buf b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", buf_str(&b));
    log_info("request %ld %s: tool error: %s", req->serial, req->tool, buf_str(&b));
    buf_free(&b);
    return mcp_reply_raw(req, tool_result(o, true));
}

int mcp_reply_error(mcp_request *req, int code, const char *fmt, ...)
{
    buf b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    cJSON *m = envelope(req->id);
    cJSON *e = cJSON_AddObjectToObject(m, "error");
    cJSON_AddNumberToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", buf_str(&b));
    buf_free(&b);
    return finish(req, m);
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
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "jsonrpc", "2.0");
    cJSON_AddStringToObject(m, "method", "notifications/progress");
    cJSON *p = cJSON_AddObjectToObject(m, "params");
    cJSON_AddItemToObject(p, "progressToken", cJSON_Duplicate(req->progress_token, 1));
    cJSON_AddNumberToObject(p, "progress", progress);
    if (message) cJSON_AddStringToObject(p, "message", message);
    int rc = send_msg(s, m, true);
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
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "protocolVersion", v);
    cJSON *caps = cJSON_AddObjectToObject(r, "capabilities");
    cJSON_AddBoolToObject(cJSON_AddObjectToObject(caps, "tools"), "listChanged", 0);
    if (s->p.n_resources) {
        cJSON *rc = cJSON_AddObjectToObject(caps, "resources");
        cJSON_AddBoolToObject(rc, "subscribe", 0);
        cJSON_AddBoolToObject(rc, "listChanged", 0);
    }
    cJSON_AddObjectToObject(caps, "logging");
    cJSON *si = cJSON_AddObjectToObject(r, "serverInfo");
    cJSON_AddStringToObject(si, "name", s->p.name);
    cJSON_AddStringToObject(si, "version", s->p.version);
    if (s->p.instructions) cJSON_AddStringToObject(r, "instructions", s->p.instructions);
    send_result(s, id, r);
}

static void on_tools_list(mcp_server *s, const cJSON *id)
{
    cJSON *r = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(r, "tools");
    for (size_t i = 0; i < s->p.n_tools; i++) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "name", s->p.tools[i].name);
        if (s->p.tools[i].description) cJSON_AddStringToObject(t, "description", s->p.tools[i].description);
        cJSON_AddItemToObject(t, "inputSchema", cJSON_Duplicate(s->schemas[i], 1));
        cJSON_AddItemToArray(arr, t);
    }
    send_result(s, id, r);
}

static void on_tools_call(mcp_server *s, const cJSON *id, const cJSON *params)
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
        buf m = BUF_INIT;
        buf_printf(&m, "Unknown tool: %s", name->valuestring);
        send_error(s, id, MCP_INVALID_PARAMS, buf_str(&m));
        buf_free(&m);
        return;
    }
    /* The handler gets a checked copy without nulls: null means "absent" for
     * an optional argument, and required ones are never null. */
    const cJSON *given = cJSON_GetObjectItemCaseSensitive(params, "arguments");
    cJSON *args = NULL;
    char err[512];
    int vrc = jsonschema_check_args(s->schemas[i], cJSON_IsNull(given) ? NULL : given, 0, &args, err, sizeof err);
    if (vrc) {
        buf m = BUF_INIT;
        buf_printf(&m, "%s: %s", name->valuestring, err);
        send_error(s, id, vrc == -ENOMEM ? MCP_INTERNAL_ERROR : MCP_INVALID_PARAMS, buf_str(&m));
        buf_free(&m);
        return;
    }
    mcp_request *req = request_new(s, id, params, name->valuestring);
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
    if (rc < 0 && !replied) {
        mcp_reply_error(req, MCP_INTERNAL_ERROR, "%s failed: %s", req->tool, strerror(-rc));
    } else if (rc == 0 && !replied) {
        /* Defensive: a handler that neither replied nor went async would leave the client waiting forever. */
        log_error("tool %s returned without replying (a bug); answering with an internal error", req->tool);
        mcp_reply_error(req, MCP_INTERNAL_ERROR, "%s did not produce a result", req->tool);
    }
    mcp_request_unref(req);
    cJSON_Delete(args);
}

static void on_resources_list(mcp_server *s, const cJSON *id)
{
    cJSON *r = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(r, "resources");
    for (size_t i = 0; i < s->p.n_resources; i++) {
        const mcp_resource *res = &s->p.resources[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "uri", res->uri);
        cJSON_AddStringToObject(o, "name", res->name);
        if (res->description) cJSON_AddStringToObject(o, "description", res->description);
        if (res->mime_type) cJSON_AddStringToObject(o, "mimeType", res->mime_type);
        cJSON_AddItemToArray(arr, o);
    }
    send_result(s, id, r);
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
        cJSON *r = cJSON_CreateObject();
        cJSON *arr = cJSON_AddArrayToObject(r, "contents");
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "uri", res->uri);
        if (res->mime_type) cJSON_AddStringToObject(c, "mimeType", res->mime_type);
        cJSON_AddStringToObject(c, "text", text);
        cJSON_AddItemToArray(arr, c);
        free(text);
        send_result(s, id, r);
        return;
    }
    buf m = BUF_INIT;
    buf_printf(&m, "Unknown resource: %s", uri->valuestring);
    send_error(s, id, MCP_RESOURCE_NOT_FOUND, buf_str(&m));
    buf_free(&m);
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
        send_error(s, id, MCP_INVALID_PARAMS,
                   "logging/setLevel needs params.level: debug, info, notice, warning, error, critical, alert or emergency");
        return;
    }
    log_set_level(l);
    send_result(s, id, NULL);
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
    if (oom) send_error(s, NULL, MCP_INTERNAL_ERROR, "out of memory");
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
        if (id) send_error(s, id, MCP_INVALID_REQUEST, "not a JSON-RPC 2.0 request ('jsonrpc' must be \"2.0\" and 'method' a string)");
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
        }
        else if (!strcmp(m, "notifications/initialized")) log_debug("client initialized");
        return; /* others are ignored, as JSON-RPC requires */
    }
    if (!strcmp(m, "initialize")) on_initialize(s, id, params);
    else if (!strcmp(m, "ping")) send_result(s, id, NULL);
    else if (!strcmp(m, "tools/list")) on_tools_list(s, id);
    else if (!strcmp(m, "tools/call")) on_tools_call(s, id, params);
    else if (!strcmp(m, "resources/list")) on_resources_list(s, id);
    else if (!strcmp(m, "resources/read")) on_resources_read(s, id, params);
    else if (!strcmp(m, "resources/templates/list")) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddArrayToObject(r, "resourceTemplates");
        send_result(s, id, r);
    } else if (!strcmp(m, "logging/setLevel")) on_set_level(s, id, params);
    else {
        buf e = BUF_INIT;
        buf_printf(&e, "Method not found: %s", m);
        send_error(s, id, MCP_METHOD_NOT_FOUND, buf_str(&e));
        buf_free(&e);
    }
}

/* The top-level id of a line that failed to parse, read from its text: a
 * raw item when it is a well-formed number or string, else NULL. */
static cJSON *line_id(const char *line, size_t len)
{
    static const char *const id_path[] = {"id"};
    size_t at, n;
    if (json_text_member(line, len, id_path, 1, &at, &n) || json_text_check(line + at, n, NULL, 0)) return NULL;
    if (line[at] != '"' && line[at] != '-' && (line[at] < '0' || line[at] > '9')) return NULL;
    char *t = strndup(line + at, n);
    cJSON *r = t ? cJSON_CreateRaw(t) : NULL;
    free(t);
    return r;
}

static void on_line(void *ud, char *line, size_t len)
{
    mcp_server *s = ud;
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) i++;
    if (i == len) return; /* blank lines are tolerated */
    char why[160];
    int bad = json_text_check(line, len, why, sizeof why);
    const char *end = NULL;
    cJSON *msg = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    if (bad || !msg) {
        /* Refused before dispatch: no handler ever sees, cuts short or echoes
         * back such text. When the JSON is well-formed up to a refused
         * character (or is one object and trailing data), answer with its id,
         * so the caller is not left waiting; a syntax error gets a null id. */
        cJSON *id = msg || bad == -EILSEQ ? line_id(line, len) : NULL;
        buf e = BUF_INIT;
        if (bad) buf_printf(&e, "Parse error: %s", why);
        else buf_printf(&e, "Parse error: invalid JSON at byte %zu of %zu", end ? (size_t)(end - line) : 0, len);
        send_error(s, id, MCP_PARSE_ERROR, buf_str(&e));
        buf_free(&e);
        cJSON_Delete(id);
        cJSON_Delete(msg);
        return;
    }
    dispatch(s, msg, line, len);
    cJSON_Delete(msg);
}

static void on_oversize(void *ud, size_t len)
{
    mcp_server *s = ud;
    buf e = BUF_INIT;
    buf_printf(&e, "message of %zu bytes exceeds the limit of %zu bytes; it was discarded", len, s->p.max_message);
    log_warn("%s", buf_str(&e));
    send_error(s, NULL, MCP_INVALID_REQUEST, buf_str(&e));
    buf_free(&e);
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
    s->schemas = calloc(p->n_tools ? p->n_tools : 1, sizeof *s->schemas);
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
    char *chunk = malloc(65536);
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
        ssize_t r = read(in_fd, chunk, 65536);
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
