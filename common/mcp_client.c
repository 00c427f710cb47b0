/* mcp_client.c - synchronous MCP calls over a child's pipes, with progress,
 * timeouts and cancellation; several threads may wait on one client at once
 * (a table of pending calls, one reader at a time: see mcp_client.h). */
#include "mcp_client.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "linereader.h"
#include "log.h"
#include "mcp.h"
#include "proc.h"
#include "util.h"

/* One call waiting for its answer; lives on its caller's stack and is in
 * the client's list (under mu) while the caller waits. */
typedef struct pending {
    long id;
    mcp_progress_cb progress; /* NULL: no progress token was sent */
    void *progress_ud;
    cJSON *answer; /* set by the reader; the caller takes it */
    struct pending *next;
} pending;

struct mcp_client {
    proc p;
    line_reader lr;       /* touched only by the thread holding the reader role */
    char server_name[64]; /* set once by initialize */
    pthread_mutex_t wmu;  /* one message written at a time */
    pthread_mutex_t mu;   /* guards what follows */
    pthread_cond_t cv;    /* an answer came, the reader role was released, or the child died */
    long next_id;
    bool dead;
    bool reading; /* a waiting thread holds the reader role */
    pending *calls;
};

int mcp_client_spawn(mcp_client **out, char *const argv[], const char *stderr_log, char *err, size_t errlen)
{
    mcp_client *c = calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    int rc = proc_spawn(&c->p, argv, stderr_log);
    if (rc) {
        snprintf(err, errlen, "cannot start %s: %s", argv[0], strerror(-rc));
        free(c);
        return rc;
    }
    lr_init(&c->lr, MCP_MAX_MESSAGE_DEFAULT * 2);
    pthread_mutex_init(&c->wmu, NULL);
    pthread_mutex_init(&c->mu, NULL);
    cond_init_monotonic(&c->cv);
    c->next_id = 1;
    *out = c;
    return 0;
}

static void mark_dead(mcp_client *c)
{
    pthread_mutex_lock(&c->mu);
    c->dead = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* Writes msg (consumed) as one line; whole messages never interleave. */
static int send_json(mcp_client *c, cJSON *msg)
{
    char *text = cJSON_PrintUnformatted(msg);
    cJSON_Delete(msg);
    if (!text) return -ENOMEM;
    size_t n = strlen(text);
    text[n] = '\n';
    const char *p = text;
    size_t left = n + 1;
    int rc = 0;
    pthread_mutex_lock(&c->wmu);
    while (left) {
        ssize_t w = write(c->p.to_child, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            rc = -EPIPE;
            break;
        }
        p += w, left -= (size_t)w;
    }
    pthread_mutex_unlock(&c->wmu);
    free(text);
    if (rc) mark_dead(c);
    return rc;
}

static pending *find_call(mcp_client *c, long id)
{
    for (pending *q = c->calls; q; q = q->next)
        if (q->id == id) return q;
    return NULL;
}

/* A progress notification: to the callback of the call whose token it
 * carries (the token is the call's id). Called with mu held. */
static void dispatch_progress(mcp_client *c, const cJSON *m)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(m, "params");
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(p, "progressToken");
    const cJSON *prog = cJSON_GetObjectItemCaseSensitive(p, "progress");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(p, "message");
    pending *q = cJSON_IsNumber(tok) ? find_call(c, (long)tok->valuedouble) : NULL;
    if (q && q->progress && !q->answer)
        q->progress(q->progress_ud, cJSON_IsNumber(prog) ? prog->valuedouble : 0,
                    cJSON_IsString(msg) ? msg->valuestring : NULL);
}

static void on_line(void *ud, char *line, size_t len)
{
    mcp_client *c = ud;
    cJSON *m = cJSON_ParseWithLength(line, len);
    if (!m) {
        log_warn("%s sent a line that is not JSON (%zu bytes); ignored", c->server_name, len);
        return;
    }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "id");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(m, "method");
    pthread_mutex_lock(&c->mu);
    pending *q = !method && cJSON_IsNumber(id) ? find_call(c, (long)id->valuedouble) : NULL;
    if (q && !q->answer) {
        q->answer = m;
        m = NULL;
        pthread_cond_broadcast(&c->cv);
    } else if (cJSON_IsString(method) && !strcmp(method->valuestring, "notifications/progress")) {
        dispatch_progress(c, m);
    }
    pthread_mutex_unlock(&c->mu);
    cJSON_Delete(m); /* other notifications, stale answers */
}

static void on_oversize(void *ud, size_t len)
{
    mcp_client *c = ud;
    log_warn("%s sent a message of %zu bytes, over the limit; dropped", c->server_name, len);
}

/* The reader role: waits up to ms for output and dispatches what came.
 * Called without mu. 0, -EPIPE (the child closed its output) or -ENOMEM. */
static int read_once(mcp_client *c, int ms)
{
    char chunk[65536];
    struct pollfd pfd = {.fd = c->p.from_child, .events = POLLIN};
    int n = poll(&pfd, 1, ms);
    if (n < 0 && errno != EINTR) return -errno;
    if (n <= 0) return 0;
    ssize_t r = read(c->p.from_child, chunk, sizeof chunk);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
    if (r <= 0) return -EPIPE;
    return lr_feed(&c->lr, chunk, (size_t)r, on_line, on_oversize, c) ? -ENOMEM : 0;
}

/* Waits (mu held) up to ms on the condition variable. */
static void wait_cv(mcp_client *c, int ms)
{
    struct timespec ts;
    mono_deadline(&ts, ms);
    pthread_cond_timedwait(&c->cv, &c->mu, &ts);
}

/* Waits for q's answer (mu held): reading for every call when no other
 * thread does, else waiting for the reader, checking cancel and the
 * deadline every 20 ms. */
static int pump(mcp_client *c, pending *q, int timeout_ms, const int *cancel)
{
    int64_t deadline = now_mono_ms() + timeout_ms;
    while (!q->answer) {
        if (c->dead) return -EPIPE;
        if (cancel && __atomic_load_n(cancel, __ATOMIC_ACQUIRE)) return -ECANCELED;
        int64_t left = deadline - now_mono_ms();
        if (left <= 0) return -ETIMEDOUT;
        int ms = left < 20 ? (int)left : 20;
        if (c->reading) {
            wait_cv(c, ms);
            continue;
        }
        c->reading = true;
        pthread_mutex_unlock(&c->mu);
        int rc = read_once(c, ms);
        pthread_mutex_lock(&c->mu);
        c->reading = false;
        if (rc == -EPIPE) c->dead = true;
        pthread_cond_broadcast(&c->cv); /* the role is free: another waiter may take it */
        if (rc && !q->answer) return rc;
    }
    return 0;
}

static void send_cancelled(mcp_client *c, long id, int why)
{
    cJSON *n = cJSON_CreateObject();
    cJSON_AddStringToObject(n, "jsonrpc", "2.0");
    cJSON_AddStringToObject(n, "method", "notifications/cancelled");
    cJSON *p = cJSON_AddObjectToObject(n, "params");
    cJSON_AddNumberToObject(p, "requestId", (double)id);
    cJSON_AddStringToObject(p, "reason", why == -ECANCELED ? "cancelled by the user" : "timed out");
    send_json(c, n);
}

/* Sends method with params (consumed) and waits for its answer. With
 * progress, params (an object) gets _meta.progressToken = the request's id. */
static int request(mcp_client *c, const char *method, cJSON *params, int timeout_ms, const int *cancel,
                   mcp_progress_cb progress, void *ud, cJSON **result, char *err, size_t errlen)
{
    *result = NULL;
    pending q = {.progress = progress, .progress_ud = ud};
    pthread_mutex_lock(&c->mu);
    bool dead = c->dead;
    if (!dead) {
        q.id = c->next_id++;
        q.next = c->calls;
        c->calls = &q;
    }
    pthread_mutex_unlock(&c->mu);
    if (dead) {
        cJSON_Delete(params);
        snprintf(err, errlen, "%s is not running", c->server_name[0] ? c->server_name : "the server");
        return -EPIPE;
    }
    if (progress && params)
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(params, "_meta"), "progressToken", (double)q.id);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "jsonrpc", "2.0");
    cJSON_AddNumberToObject(m, "id", (double)q.id);
    cJSON_AddStringToObject(m, "method", method);
    if (params) cJSON_AddItemToObject(m, "params", params);
    int rc = send_json(c, m);
    pthread_mutex_lock(&c->mu);
    if (!rc) rc = pump(c, &q, timeout_ms, cancel);
    for (pending **pp = &c->calls; *pp; pp = &(*pp)->next)
        if (*pp == &q) {
            *pp = q.next;
            break;
        }
    pthread_mutex_unlock(&c->mu);
    cJSON *ans = q.answer;
    if (rc == -ECANCELED || rc == -ETIMEDOUT) send_cancelled(c, q.id, rc);
    if (rc) {
        snprintf(err, errlen, "%s: %s", method,
                 rc == -ETIMEDOUT ? "timed out"
                 : rc == -EPIPE   ? "the server exited"
                                  : strerror(-rc));
        return rc;
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(ans, "error");
    if (e) {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
        snprintf(err, errlen, "%s", cJSON_IsString(msg) ? msg->valuestring : "error without a message");
        cJSON_Delete(ans);
        return -EPROTO;
    }
    *result = cJSON_DetachItemFromObjectCaseSensitive(ans, "result");
    cJSON_Delete(ans);
    if (!*result) *result = cJSON_CreateObject();
    return 0;
}

int mcp_client_request(mcp_client *c, const char *method, cJSON *params, int timeout_ms, cJSON **result, char *err,
                       size_t errlen)
{
    return request(c, method, params, timeout_ms, NULL, NULL, NULL, result, err, errlen);
}

int mcp_client_initialize(mcp_client *c, const char *client_name, int timeout_ms, char *err, size_t errlen)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "protocolVersion", MCP_PROTOCOL_LATEST);
    cJSON_AddObjectToObject(p, "capabilities");
    cJSON *ci = cJSON_AddObjectToObject(p, "clientInfo");
    cJSON_AddStringToObject(ci, "name", client_name);
    cJSON_AddStringToObject(ci, "version", "0.1.0");
    cJSON *r = NULL;
    int rc = request(c, "initialize", p, timeout_ms, NULL, NULL, NULL, &r, err, errlen);
    if (rc) return rc;
    const cJSON *si = cJSON_GetObjectItemCaseSensitive(r, "serverInfo");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(si, "name");
    snprintf(c->server_name, sizeof c->server_name, "%s", cJSON_IsString(name) ? name->valuestring : "server");
    cJSON_Delete(r);
    cJSON *n = cJSON_CreateObject();
    cJSON_AddStringToObject(n, "jsonrpc", "2.0");
    cJSON_AddStringToObject(n, "method", "notifications/initialized");
    return send_json(c, n);
}

int mcp_client_call(mcp_client *c, const char *tool, cJSON *args, int timeout_ms, mcp_progress_cb progress, void *ud,
                    const int *cancel, cJSON **result, char *err, size_t errlen)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "name", tool);
    cJSON_AddItemToObject(p, "arguments", args ? args : cJSON_CreateObject());
    cJSON *r = NULL;
    int rc = request(c, "tools/call", p, timeout_ms, cancel, progress, ud, &r, err, errlen);
    *result = NULL;
    if (rc) return rc;
    cJSON *sc = cJSON_DetachItemFromObjectCaseSensitive(r, "structuredContent");
    if (!sc) { /* servers that send only text content */
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(r, "content");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(content, 0), "text");
        sc = cJSON_IsString(text) ? cJSON_Parse(text->valuestring) : NULL;
        if (!sc) {
            sc = cJSON_CreateObject();
            cJSON_AddStringToObject(sc, "text", cJSON_IsString(text) ? text->valuestring : "");
        }
    }
    bool is_error = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "isError"));
    cJSON_Delete(r);
    *result = sc;
    if (is_error) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(sc, "error");
        snprintf(err, errlen, "%s", cJSON_IsString(e) ? e->valuestring : "tool failed");
        return MCP_CLIENT_TOOL_ERROR;
    }
    return 0;
}

bool mcp_client_alive(mcp_client *c)
{
    pthread_mutex_lock(&c->mu);
    bool alive = !c->dead && proc_alive(&c->p);
    pthread_mutex_unlock(&c->mu);
    return alive;
}
pid_t mcp_client_pid(const mcp_client *c) { return c->p.pid; }
const char *mcp_client_server_name(const mcp_client *c) { return c->server_name; }
int mcp_client_exit_status(const mcp_client *c) { return c->p.status; }

int mcp_client_close(mcp_client *c, int grace_ms)
{
    if (!c) return 0;
    int st = proc_stop(&c->p, grace_ms);
    lr_free(&c->lr);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->wmu);
    free(c);
    return st;
}
