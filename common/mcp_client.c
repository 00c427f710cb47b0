/* mcp_client.c - synchronous MCP calls over a child's pipes, with progress,
 * timeouts and cancellation. */
#include "mcp_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "linereader.h"
#include "log.h"
#include "mcp.h"
#include "proc.h"
#include "util.h"

struct mcp_client {
    proc p;
    line_reader lr;
    long next_id;
    bool dead;
    char server_name[64];
    /* the call being waited for */
    long want_id;
    cJSON *answer;
    long progress_token;
    mcp_progress_cb progress;
    void *progress_ud;
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
    c->next_id = 1;
    *out = c;
    return 0;
}

static int send_json(mcp_client *c, cJSON *msg)
{
    char *text = cJSON_PrintUnformatted(msg);
    cJSON_Delete(msg);
    if (!text) return -ENOMEM;
    size_t n = strlen(text);
    text[n] = '\n';
    const char *p = text;
    size_t left = n + 1;
    while (left) {
        ssize_t w = write(c->p.to_child, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            free(text);
            c->dead = true;
            return -EPIPE;
        }
        p += w, left -= (size_t)w;
    }
    free(text);
    return 0;
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
    if (!method && cJSON_IsNumber(id) && (long)id->valuedouble == c->want_id && !c->answer) {
        c->answer = m;
        return;
    }
    if (cJSON_IsString(method) && !strcmp(method->valuestring, "notifications/progress") && c->progress) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(m, "params");
        const cJSON *tok = cJSON_GetObjectItemCaseSensitive(p, "progressToken");
        const cJSON *prog = cJSON_GetObjectItemCaseSensitive(p, "progress");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(p, "message");
        if (cJSON_IsNumber(tok) && (long)tok->valuedouble == c->progress_token)
            c->progress(c->progress_ud, cJSON_IsNumber(prog) ? prog->valuedouble : 0,
                        cJSON_IsString(msg) ? msg->valuestring : NULL);
    }
    cJSON_Delete(m); /* other notifications, stale answers */
}

static void on_oversize(void *ud, size_t len)
{
    mcp_client *c = ud;
    log_warn("%s sent a message of %zu bytes, over the limit; dropped", c->server_name, len);
}

/* Waits for the answer to c->want_id. */
static int pump(mcp_client *c, int timeout_ms, const int *cancel, cJSON **answer)
{
    int64_t deadline = now_mono_ms() + timeout_ms;
    char chunk[65536];
    while (!c->answer) {
        if (cancel && __atomic_load_n(cancel, __ATOMIC_ACQUIRE)) return -ECANCELED;
        int64_t left = deadline - now_mono_ms();
        if (left <= 0) return -ETIMEDOUT;
        struct pollfd pfd = {.fd = c->p.from_child, .events = POLLIN};
        int n = poll(&pfd, 1, left < 20 ? (int)left : 20);
        if (n < 0 && errno != EINTR) return -errno;
        if (n <= 0) continue;
        ssize_t r = read(c->p.from_child, chunk, sizeof chunk);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r <= 0) {
            c->dead = true;
            return -EPIPE;
        }
        if (lr_feed(&c->lr, chunk, (size_t)r, on_line, on_oversize, c)) return -ENOMEM;
    }
    *answer = c->answer;
    c->answer = NULL;
    return 0;
}

static int request(mcp_client *c, const char *method, cJSON *params, int timeout_ms, const int *cancel, cJSON **result,
                   char *err, size_t errlen)
{
    *result = NULL;
    if (c->dead) {
        cJSON_Delete(params);
        snprintf(err, errlen, "%s is not running", c->server_name[0] ? c->server_name : "the server");
        return -EPIPE;
    }
    long id = c->next_id++;
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "jsonrpc", "2.0");
    cJSON_AddNumberToObject(m, "id", (double)id);
    cJSON_AddStringToObject(m, "method", method);
    if (params) cJSON_AddItemToObject(m, "params", params);
    c->want_id = id;
    int rc = send_json(c, m);
    cJSON *ans = NULL;
    if (!rc) rc = pump(c, timeout_ms, cancel, &ans);
    c->want_id = 0;
    if (rc == -ECANCELED || rc == -ETIMEDOUT) {
        cJSON *n = cJSON_CreateObject();
        cJSON_AddStringToObject(n, "jsonrpc", "2.0");
        cJSON_AddStringToObject(n, "method", "notifications/cancelled");
        cJSON *p = cJSON_AddObjectToObject(n, "params");
        cJSON_AddNumberToObject(p, "requestId", (double)id);
        cJSON_AddStringToObject(p, "reason", rc == -ECANCELED ? "cancelled by the user" : "timed out");
        send_json(c, n);
    }
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
    return request(c, method, params, timeout_ms, NULL, result, err, errlen);
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
    int rc = request(c, "initialize", p, timeout_ms, NULL, &r, err, errlen);
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
    if (progress) {
        c->progress_token = c->next_id; /* the id this request will get: unique per call */
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(p, "_meta"), "progressToken", (double)c->progress_token);
    }
    c->progress = progress;
    c->progress_ud = ud;
    cJSON *r = NULL;
    int rc = request(c, "tools/call", p, timeout_ms, cancel, &r, err, errlen);
    c->progress = NULL;
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

bool mcp_client_alive(mcp_client *c) { return !c->dead && proc_alive(&c->p); }
pid_t mcp_client_pid(const mcp_client *c) { return c->p.pid; }
const char *mcp_client_server_name(const mcp_client *c) { return c->server_name; }
int mcp_client_exit_status(const mcp_client *c) { return c->p.status; }

int mcp_client_close(mcp_client *c, int grace_ms)
{
    if (!c) return 0;
    int st = proc_stop(&c->p, grace_ms);
    lr_free(&c->lr);
    cJSON_Delete(c->answer);
    free(c);
    return st;
}
