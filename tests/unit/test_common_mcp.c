/* test_common_mcp.c - JSON-RPC framing and the MCP server layer: partial
 * lines, oversized lines, invalid JSON, unknown methods, schema validation,
 * version negotiation, async replies, progress and cancellation. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "linereader.h"
#include "log.h"
#include "mcp.h"

/* ------------------------------------------------------------ line reader */

typedef struct {
    char lines[8][64];
    int n;
    size_t oversize[4];
    int n_over;
} lines_seen;

static void collect(void *ud, char *line, size_t len)
{
    lines_seen *s = ud;
    assert_true(len < 64);
    memcpy(s->lines[s->n], line, len + 1);
    s->n++;
}

static void over(void *ud, size_t len)
{
    lines_seen *s = ud;
    s->oversize[s->n_over++] = len;
}

static void test_linereader_partial_and_crlf(void **st)
{
    (void)st;
    line_reader lr;
    lr_init(&lr, 32);
    lines_seen s = {0};
    assert_int_equal(lr_feed(&lr, "ab", 2, collect, over, &s), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(lr_feed(&lr, "c\r\nde", 5, collect, over, &s), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.lines[0], "abc");
    assert_int_equal(lr_feed(&lr, "\n\nx", 3, collect, over, &s), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.lines[1], "de");
    assert_string_equal(s.lines[2], "");
    lr_finish(&lr, collect, over, &s);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.lines[3], "x");
    lr_free(&lr);
}

static void test_linereader_oversize_skips_to_next_line(void **st)
{
    (void)st;
    line_reader lr;
    lr_init(&lr, 8);
    lines_seen s = {0};
    lr_feed(&lr, "0123456", 7, collect, over, &s);
    lr_feed(&lr, "789abcdef", 9, collect, over, &s); /* now over the cap, no newline yet */
    assert_int_equal(s.n_over, 0);
    lr_feed(&lr, "gh\nok\n", 6, collect, over, &s);
    assert_int_equal(s.n_over, 1);
    assert_int_equal(s.oversize[0], 18);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.lines[0], "ok");
    /* exactly max is fine */
    lr_feed(&lr, "12345678\n", 9, collect, over, &s);
    assert_int_equal(s.n, 2);
    lr_free(&lr);
}

/* ------------------------------------------------------------ the server */

typedef struct {
    mcp_server *srv;
    int in_w, out_r; /* our ends */
    pthread_t th;
    int rc;
    buf pending;
    mcp_request *held; /* an async request kept by tool_hold */
    int cancels;
} harness;

static int tool_echo(mcp_request *req, const cJSON *args, void *ud)
{
    (void)ud;
    return mcp_reply_result(req, cJSON_Duplicate(args, 1)), 0;
}

static int tool_fail(mcp_request *req, const cJSON *args, void *ud)
{
    (void)args, (void)ud;
    return mcp_reply_tool_error(req, "it failed: %d", 42), 0;
}

static int tool_hold(mcp_request *req, const cJSON *args, void *ud)
{
    (void)args;
    harness *h = ud;
    h->held = mcp_request_ref(req);
    return MCP_ASYNC;
}

static void on_cancel(mcp_request *req, void *ud)
{
    harness *h = ud;
    assert_true(mcp_request_cancelled(req));
    h->cancels++;
}

static char *res_read(void *ud, const char **err)
{
    (void)ud, (void)err;
    return strdup("{\"x\":1}");
}

static const mcp_tool tools[] = {
    {"echo", "echo the arguments",
     "{\"type\":\"object\",\"properties\":{\"s\":{\"type\":\"string\"},\"n\":{\"type\":\"integer\",\"minimum\":1,"
     "\"maximum\":100},\"kind\":{\"type\":\"string\",\"enum\":[\"a\",\"b\"]},\"t\":{\"type\":[\"number\",\"null\"]},"
     "\"msgs\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"role\":{\"type\":\"string\"}},"
     "\"required\":[\"role\"]}}},\"required\":[\"s\"]}",
     tool_echo},
    {"fail", "always fails", NULL, tool_fail},
    {"hold", "replies later", NULL, tool_hold},
};
static const mcp_resource resources[] = {{"test://r", "r", "a resource", "application/json", res_read}};

typedef struct {
    harness *h;
    int in_r, out_w;
} run_args;

static void *server_main(void *arg)
{
    run_args *ra = arg;
    ra->h->rc = mcp_server_run(ra->h->srv, ra->in_r, ra->out_w);
    close(ra->out_w);
    close(ra->in_r);
    free(ra);
    return NULL;
}

static void start(harness *h, size_t max_message)
{
    memset(h, 0, sizeof *h);
    mcp_server_params p;
    mcp_server_default_params(&p);
    p.name = "test-server";
    p.version = "9.9";
    p.tools = tools;
    p.n_tools = 3;
    p.resources = resources;
    p.n_resources = 1;
    p.userdata = h;
    p.on_cancel = on_cancel;
    if (max_message) p.max_message = max_message;
    h->srv = mcp_server_new(&p);
    assert_non_null(h->srv);
    int a[2], b[2];
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(b), 0);
    fcntl(a[1], F_SETPIPE_SZ, 1 << 20);
    run_args *ra = malloc(sizeof *ra);
    ra->h = h;
    ra->in_r = a[0];
    ra->out_w = b[1];
    h->in_w = a[1];
    h->out_r = b[0];
    pthread_create(&h->th, NULL, server_main, ra);
}

static void send_text(harness *h, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(h->in_w, s, n);
        assert_true(w > 0);
        s += w, n -= (size_t)w;
    }
}

static void sends(harness *h, const char *s) { send_text(h, s, strlen(s)); }

/* Reads one message (a line) with a 10 s timeout; caller frees. */
static cJSON *recv_msg(harness *h)
{
    for (;;) {
        char *nl = h->pending.data ? memchr(h->pending.data, '\n', h->pending.len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - h->pending.data);
            cJSON *m = cJSON_ParseWithLength(h->pending.data, n);
            assert_non_null(m);
            buf_consume(&h->pending, n + 1);
            return m;
        }
        struct pollfd pfd = {.fd = h->out_r, .events = POLLIN};
        assert_int_equal(poll(&pfd, 1, 10000), 1);
        char chunk[4096];
        ssize_t r = read(h->out_r, chunk, sizeof chunk);
        assert_true(r > 0);
        buf_append(&h->pending, chunk, (size_t)r);
    }
}

/* Reads one line as sent (without its newline), 10 s timeout; caller frees. */
static char *recv_line(harness *h)
{
    for (;;) {
        char *nl = h->pending.data ? memchr(h->pending.data, '\n', h->pending.len) : NULL;
        if (nl) {
            char *line = strndup(h->pending.data, (size_t)(nl - h->pending.data));
            buf_consume(&h->pending, (size_t)(nl - h->pending.data) + 1);
            return line;
        }
        struct pollfd pfd = {.fd = h->out_r, .events = POLLIN};
        assert_int_equal(poll(&pfd, 1, 10000), 1);
        char chunk[4096];
        ssize_t r = read(h->out_r, chunk, sizeof chunk);
        assert_true(r > 0);
        buf_append(&h->pending, chunk, (size_t)r);
    }
}

static void stop(harness *h)
{
    close(h->in_w); /* EOF: the server returns 0 */
    pthread_join(h->th, NULL);
    assert_int_equal(h->rc, 0);
    if (h->held) mcp_request_unref(h->held);
    mcp_server_free(h->srv);
    close(h->out_r);
    buf_free(&h->pending);
}

static int error_code(const cJSON *m)
{
    const cJSON *e = cJSON_GetObjectItem(m, "error");
    assert_non_null(e);
    return (int)cJSON_GetObjectItem(e, "code")->valuedouble;
}

static const char *error_message(const cJSON *m)
{
    return cJSON_GetObjectItem(cJSON_GetObjectItem(m, "error"), "message")->valuestring;
}

static void test_initialize_negotiates_version(void **st)
{
    (void)st;
    harness h;
    start(&h, 0);
    const char *cases[][2] = {{"2025-11-25", "2025-11-25"},
                              {"2025-06-18", "2025-06-18"},
                              {"2025-03-26", "2025-03-26"},
                              {"2024-11-05", "2024-11-05"},
                              {"1999-01-01", MCP_PROTOCOL_LATEST}};
    for (int i = 0; i < 5; i++) {
        char line[256];
        snprintf(line, sizeof line,
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"%s\","
                 "\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}\n",
                 i, cases[i][0]);
        sends(&h, line);
        cJSON *m = recv_msg(&h);
        cJSON *r = cJSON_GetObjectItem(m, "result");
        assert_string_equal(cJSON_GetObjectItem(r, "protocolVersion")->valuestring, cases[i][1]);
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "serverInfo"), "name")->valuestring,
                            "test-server");
        assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "capabilities"), "tools"));
        assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "capabilities"), "resources"));
        assert_int_equal((int)cJSON_GetObjectItem(m, "id")->valuedouble, i);
        cJSON_Delete(m);
    }
    stop(&h);
}

static void test_framing_errors_keep_serving(void **st)
{
    (void)st;
    harness h;
    start(&h, 0);
    /* a message split over many writes */
    const char *ping = "{\"jsonrpc\":\"2.0\",\"id\":\"p1\",\"method\":\"ping\"}\n";
    for (size_t i = 0; ping[i]; i++) send_text(&h, ping + i, 1);
    cJSON *m = recv_msg(&h);
    assert_string_equal(cJSON_GetObjectItem(m, "id")->valuestring, "p1");
    assert_non_null(cJSON_GetObjectItem(m, "result"));
    cJSON_Delete(m);
    /* invalid JSON */
    sends(&h, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\n");
    m = recv_msg(&h);
    assert_int_equal(error_code(m), MCP_PARSE_ERROR);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(m, "id")));
    cJSON_Delete(m);
    /* unknown method */
    sends(&h, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"no/such\"}\n");
    m = recv_msg(&h);
    assert_int_equal(error_code(m), MCP_METHOD_NOT_FOUND);
    assert_non_null(strstr(error_message(m), "no/such"));
    cJSON_Delete(m);
    /* batch, wrong jsonrpc, params not an object */
    sends(&h, "[{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}]\n");
    m = recv_msg(&h);
    assert_int_equal(error_code(m), MCP_INVALID_REQUEST);
    cJSON_Delete(m);
    sends(&h, "{\"jsonrpc\":\"1.0\",\"id\":4,\"method\":\"ping\"}\n");
    m = recv_msg(&h);
    assert_int_equal(error_code(m), MCP_INVALID_REQUEST);
    cJSON_Delete(m);
    sends(&h, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\",\"params\":[1]}\n");
    m = recv_msg(&h);
    assert_int_equal(error_code(m), MCP_INVALID_PARAMS);
    cJSON_Delete(m);
    /* invalid UTF-8 and \u0000 are refused with the request's id; an escaped backslash before u0000 is fine */
    sends(&h, "{\"jsonrpc\":\"2.0\",\"id\":40,\"method\":\"tools/"
              "call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"s\":\"a\xff\"}}}\n");
    m = recv_msg(&h);
    assert_int_equal(error_code(m), MCP_PARSE_ERROR);
    assert_int_equal((int)cJSON_GetObjectItem(m, "id")->valuedouble, 40);
    assert_non_null(strstr(error_message(m), "UTF-8"));
    cJSON_Delete(m);
    sends(&h, "{\"jsonrpc\":\"2.0\",\"id\":41,\"method\":\"tools/"
              "call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"s\":\"ab\\u0000cd\"}}}\n");
    m = recv_msg(&h);
    assert_int_equal(error_code(m), MCP_PARSE_ERROR);
    assert_int_equal((int)cJSON_GetObjectItem(m, "id")->valuedouble, 41);
    cJSON_Delete(m);
    sends(&h, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"tools/"
              "call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"s\":\"ab\\\\u0000cd\"}}}\n");
    m = recv_msg(&h);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "structuredContent"), "s")
            ->valuestring,
        "ab\\u0000cd");
    cJSON_Delete(m);
    /* notifications get no answer; blank lines are ignored; the next ping still works */
    sends(&h, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/whatever\"}\n\n   \n");
    sends(&h, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"ping\"}\n");
    m = recv_msg(&h);
    assert_int_equal((int)cJSON_GetObjectItem(m, "id")->valuedouble, 6);
    cJSON_Delete(m);
    stop(&h);
}

typedef struct {
    int fd;
    size_t n;
} writer_args;

static void *big_writer(void *arg)
{
    writer_args *w = arg;
    char *big = malloc(w->n);
    memset(big, ' ', w->n);
    const char *head =
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"s\":\"";
    memcpy(big, head, strlen(head));
    memset(big + strlen(head), 'x', w->n - strlen(head) - 8);
    memcpy(big + w->n - 8, "\"}}}\n", 5);
    size_t len = w->n - 3, off = 0;
    while (off < len) {
        ssize_t r = write(w->fd, big + off, len - off);
        if (r <= 0) break;
        off += (size_t)r;
    }
    free(big);
    return NULL;
}

static void test_16mib_message_accepted_and_larger_rejected(void **st)
{
    (void)st;
    harness h;
    start(&h, 0);
    /* a message just under 16 MiB is served */
    writer_args w = {h.in_w, MCP_MAX_MESSAGE_DEFAULT - 16};
    pthread_t t;
    pthread_create(&t, NULL, big_writer, &w);
    cJSON *m = recv_msg(&h);
    pthread_join(t, NULL);
    cJSON *sc = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "structuredContent");
    assert_true(strlen(cJSON_GetObjectItem(sc, "s")->valuestring) > 16000000);
    cJSON_Delete(m);
    stop(&h);

    /* with a small cap, a larger line gets an error and the next message is served */
    start(&h, 1024);
    char line[4096];
    memset(line, 'y', sizeof line);
    line[sizeof line - 1] = '\n';
    send_text(&h, line, sizeof line);
    m = recv_msg(&h);
    assert_int_equal(error_code(m), MCP_INVALID_REQUEST);
    assert_non_null(strstr(error_message(m), "exceeds the limit"));
    cJSON_Delete(m);
    sends(&h, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"ping\"}\n");
    m = recv_msg(&h);
    assert_int_equal((int)cJSON_GetObjectItem(m, "id")->valuedouble, 8);
    cJSON_Delete(m);
    stop(&h);
}

static cJSON *call(harness *h, int id, const char *tool, const char *args)
{
    char line[2048];
    snprintf(
        line, sizeof line,
        "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":\"%s\",\"arguments\":%s}}\n", id,
        tool, args);
    sends(h, line);
    return recv_msg(h);
}

static void test_tools_list_and_call(void **st)
{
    (void)st;
    harness h;
    start(&h, 0);
    sends(&h, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}\n");
    cJSON *m = recv_msg(&h);
    cJSON *ts = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "tools");
    assert_int_equal(cJSON_GetArraySize(ts), 3);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(ts, 0), "name")->valuestring, "echo");
    assert_non_null(cJSON_GetObjectItem(cJSON_GetArrayItem(ts, 0), "inputSchema"));
    cJSON_Delete(m);

    /* success: text content equals structuredContent; extra fields are accepted */
    m = call(&h, 2, "echo", "{\"s\":\"hi\",\"extra\":{\"deep\":[1,2]},\"t\":null}");
    cJSON *r = cJSON_GetObjectItem(m, "result");
    cJSON *sc = cJSON_GetObjectItem(r, "structuredContent");
    assert_string_equal(cJSON_GetObjectItem(sc, "s")->valuestring, "hi");
    const char *text =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "content"), 0), "text")->valuestring;
    cJSON *parsed = cJSON_Parse(text);
    assert_true(cJSON_Compare(parsed, sc, 1));
    cJSON_Delete(parsed);
    assert_null(cJSON_GetObjectItem(r, "isError"));
    cJSON_Delete(m);

    /* tool failure: isError with {"error": ...} */
    m = call(&h, 3, "fail", "{}");
    r = cJSON_GetObjectItem(m, "result");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "isError")));
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "structuredContent"), "error")->valuestring,
                        "it failed: 42");
    cJSON_Delete(m);

    /* unknown tool, missing and mistyped arguments: -32602 naming the field */
    struct {
        const char *tool, *args, *needle;
    } bad[] = {
        {"nope", "{}", "Unknown tool: nope"},
        {"echo", "{}", "'s'"},
        {"echo", "{\"s\":5}", "'s' must be a string, got number"},
        {"echo", "{\"s\":\"x\",\"n\":1.5}", "'n' must be an integer"},
        {"echo", "{\"s\":\"x\",\"n\":0}", "'n' must be in 1..100"},
        {"echo", "{\"s\":\"x\",\"kind\":\"c\"}", "one of: a, b"},
        {"echo", "{\"s\":\"x\",\"t\":\"warm\"}", "'t' must be a number or null"},
        {"echo", "{\"s\":\"x\",\"msgs\":[{\"content\":\"no role\"}]}", "msgs[0]"},
        {"echo", "[1,2]", "'arguments' must be an object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        m = call(&h, 10 + (int)i, bad[i].tool, bad[i].args);
        assert_int_equal(error_code(m), MCP_INVALID_PARAMS);
        if (!strstr(error_message(m), bad[i].needle))
            fail_msg("case %zu: '%s' lacks '%s'", i, error_message(m), bad[i].needle);
        cJSON_Delete(m);
    }
    /* missing arguments altogether = {} */
    sends(&h, "{\"jsonrpc\":\"2.0\",\"id\":30,\"method\":\"tools/call\",\"params\":{\"name\":\"fail\"}}\n");
    m = recv_msg(&h);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "isError")));
    cJSON_Delete(m);
    stop(&h);
}

static void test_resources(void **st)
{
    (void)st;
    harness h;
    start(&h, 0);
    sends(&h, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/list\"}\n");
    cJSON *m = recv_msg(&h);
    cJSON *rs = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "resources");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(rs, 0), "uri")->valuestring, "test://r");
    cJSON_Delete(m);
    sends(&h, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"resources/read\",\"params\":{\"uri\":\"test://r\"}}\n");
    m = recv_msg(&h);
    cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "result"), "contents"), 0);
    assert_string_equal(cJSON_GetObjectItem(c, "text")->valuestring, "{\"x\":1}");
    cJSON_Delete(m);
    sends(&h, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"resources/read\",\"params\":{\"uri\":\"test://none\"}}\n");
    m = recv_msg(&h);
    assert_int_equal(error_code(m), MCP_RESOURCE_NOT_FOUND);
    cJSON_Delete(m);
    stop(&h);
}

static void test_async_progress_and_cancel(void **st)
{
    (void)st;
    harness h;
    start(&h, 0);
    sends(&h, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"hold\",\"arguments\":{},"
              "\"_meta\":{\"progressToken\":\"tok\"}}}\n");
    sends(&h, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\n");
    cJSON *m = recv_msg(&h); /* the ping is answered while the first call is pending */
    assert_int_equal((int)cJSON_GetObjectItem(m, "id")->valuedouble, 2);
    cJSON_Delete(m);
    assert_non_null(h.held);
    assert_true(mcp_request_wants_progress(h.held));
    mcp_progress(h.held, 1, "a");
    mcp_progress(h.held, 1, "not monotonic: dropped");
    mcp_progress(h.held, 2, "b");
    m = recv_msg(&h);
    cJSON *p = cJSON_GetObjectItem(m, "params");
    assert_string_equal(cJSON_GetObjectItem(m, "method")->valuestring, "notifications/progress");
    assert_string_equal(cJSON_GetObjectItem(p, "progressToken")->valuestring, "tok");
    assert_string_equal(cJSON_GetObjectItem(p, "message")->valuestring, "a");
    cJSON_Delete(m);
    m = recv_msg(&h);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "params"), "message")->valuestring, "b");
    cJSON_Delete(m);
    mcp_reply_result(h.held, cJSON_CreateObject());
    m = recv_msg(&h);
    assert_int_equal((int)cJSON_GetObjectItem(m, "id")->valuedouble, 1);
    cJSON_Delete(m);
    assert_int_equal(mcp_reply_result(h.held, NULL), -EALREADY); /* a second reply is refused */
    mcp_request_unref(h.held);
    h.held = NULL;

    /* cancellation: the flag is set, on_cancel runs, and the late reply is dropped */
    sends(&h, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"hold\"}}\n");
    sends(&h, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":3}}\n");
    sends(&h, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\"}\n");
    m = recv_msg(&h);
    assert_int_equal((int)cJSON_GetObjectItem(m, "id")->valuedouble, 4);
    cJSON_Delete(m);
    assert_int_equal(h.cancels, 1);
    assert_true(mcp_request_cancelled(h.held));
    mcp_reply_result(h.held, cJSON_CreateObject());
    sends(&h, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\"}\n");
    m = recv_msg(&h); /* the next message is the ping's answer, not id 3 */
    assert_int_equal((int)cJSON_GetObjectItem(m, "id")->valuedouble, 5);
    cJSON_Delete(m);
    stop(&h);
}

static void test_set_level(void **st)
{
    (void)st;
    harness h;
    start(&h, 0);
    sends(&h, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"logging/setLevel\",\"params\":{\"level\":\"error\"}}\n");
    cJSON *m = recv_msg(&h);
    assert_non_null(cJSON_GetObjectItem(m, "result"));
    assert_int_equal(log_get_level(), LOG_ERROR);
    cJSON_Delete(m);
    sends(&h, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"logging/setLevel\",\"params\":{\"level\":\"loud\"}}\n");
    m = recv_msg(&h);
    assert_int_equal(error_code(m), MCP_INVALID_PARAMS);
    cJSON_Delete(m);
    log_set_level(LOG_WARN);
    stop(&h);
}

/* Ids come back exactly as sent: no rounding through a double. */
static void test_ids_echoed_exactly(void **st)
{
    (void)st;
    harness h;
    start(&h, 0);
    static const char *const ids[] = {"12345678901234567890", "1e400",     "-0", "1.50", "-1.5E+3",
                                      "\"caf\\u00e9\"",       "\"a\\/b\"", "0"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char line[256], want[128];
        snprintf(line, sizeof line, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"ping\"}\n", ids[i]);
        sends(&h, line);
        char *got = recv_line(&h);
        snprintf(want, sizeof want, "\"id\":%s,", ids[i]);
        if (!strstr(got, want)) fail_msg("sent id %s, got %s", ids[i], got);
        free(got);
        /* a tool call and an error reply too */
        snprintf(line, sizeof line,
                 "{\"jsonrpc\":\"2.0\",\"id\": %s ,\"method\":\"tools/call\",\"params\":{\"name\":\"nope\"}}\n",
                 ids[i]);
        sends(&h, line);
        got = recv_line(&h);
        if (!strstr(got, want) || !strstr(got, "Unknown tool")) fail_msg("sent id %s, got %s", ids[i], got);
        free(got);
    }
    /* cancellation matches the exact id: ...891 does not cancel ...890 (equal as doubles) */
    sends(
        &h,
        "{\"jsonrpc\":\"2.0\",\"id\":12345678901234567890,\"method\":\"tools/call\",\"params\":{\"name\":\"hold\"}}\n");
    sends(&h, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/"
              "cancelled\",\"params\":{\"requestId\":12345678901234567891}}\n");
    sends(&h, "{\"jsonrpc\":\"2.0\",\"id\":\"sync\",\"method\":\"ping\"}\n");
    char *got = recv_line(&h); /* the ping is answered after both were handled */
    assert_non_null(strstr(got, "\"sync\""));
    free(got);
    assert_int_equal(h.cancels, 0);
    sends(&h, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/"
              "cancelled\",\"params\":{\"requestId\":12345678901234567890}}\n");
    sends(&h, "{\"jsonrpc\":\"2.0\",\"id\":\"sync2\",\"method\":\"ping\"}\n");
    got = recv_line(&h);
    assert_non_null(strstr(got, "\"sync2\""));
    free(got);
    assert_int_equal(h.cancels, 1);
    stop(&h);
}

/* A raw control byte in a string, \u0000, and a second object on the line are
 * -32700 for the line (with the first object's id), never a truncation. */
static void test_protocol_exactness(void **st)
{
    (void)st;
    harness h;
    start(&h, 0);
    static const struct {
        const char *line;
        size_t len;
        const char *why;
    } cases[] = {
#define L(s, why) {s, sizeof s - 1, why}
        L("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/"
          "call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"s\":\"secret\0tail\"}}}\n",
          "raw control character 0x00"),
        L("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/"
          "call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"s\":\"a\001b\"}}}\n",
          "raw control character 0x01"),
        L("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/"
          "call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"s\":\"a\tb\"}}}\n",
          "raw control character 0x09"),
        L("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/"
          "call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"s\":\"secret\\u0000tail\"}}}\n",
          "\\u0000"),
        L("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"} {\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"ping\"}\n",
          "trailing data"),
        L("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}x\n", "trailing data"),
        L("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/"
          "call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"s\":\"\\udc00\"}}}\n",
          "unpaired surrogate"),
#undef L
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        send_text(&h, cases[i].line, cases[i].len);
        cJSON *m = recv_msg(&h);
        assert_int_equal(error_code(m), MCP_PARSE_ERROR);
        if ((int)cJSON_GetObjectItem(m, "id")->valuedouble != 7) fail_msg("case %zu: id lost: %s", i, error_message(m));
        if (!strstr(error_message(m), cases[i].why)) fail_msg("case %zu: %s", i, error_message(m));
        cJSON_Delete(m);
    }
    /* whitespace around the object is fine, and the server goes on */
    sends(&h, "  {\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"} \t\r\n");
    cJSON *m = recv_msg(&h);
    assert_int_equal((int)cJSON_GetObjectItem(m, "id")->valuedouble, 9);
    assert_non_null(cJSON_GetObjectItem(m, "result"));
    cJSON_Delete(m);
    stop(&h);
}

int main(void)
{
    log_init("test", LOG_WARN, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linereader_partial_and_crlf),
        cmocka_unit_test(test_linereader_oversize_skips_to_next_line),
        cmocka_unit_test(test_initialize_negotiates_version),
        cmocka_unit_test(test_framing_errors_keep_serving),
        cmocka_unit_test(test_16mib_message_accepted_and_larger_rejected),
        cmocka_unit_test(test_tools_list_and_call),
        cmocka_unit_test(test_resources),
        cmocka_unit_test(test_async_progress_and_cancel),
        cmocka_unit_test(test_set_level),
        cmocka_unit_test(test_ids_echoed_exactly),
        cmocka_unit_test(test_protocol_exactness),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
