/* test_psyche_remote.c - Hermes' client (psyche/http_remote.c) against a
 * listening socket in this process: a cancel that comes while a turn is
 * still queued ends it without a connection; a GET to a server that never
 * answers gives up at its timeout and says the server is not answering;
 * psy_remote_stop ends a GET in progress; the usage of a streamed answer
 * (asked for with stream_options.include_usage) reaches the sink's step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "../../psyche/http_remote.h"

/* What the sink heard. */
typedef struct heard {
    int steps, dones, done_rc;
    bool has_usage;
    psy_remote_tokens usage;
} heard;

static void on_step(void *ud, const psy_remote_tokens *u)
{
    heard *h = ud;
    h->steps++;
    if (u) h->usage = *u, h->has_usage = true;
}

static void on_done(void *ud, const psy_remote_result *res)
{
    heard *h = ud;
    h->dones++;
    h->done_rc = res->rc;
}

/* A client of http://127.0.0.1:port with no tools sandbox, its workspace
 * a fresh folder (removed by close_client). */
typedef struct client {
    char url[64], ws[64];
    heard h;
    psy_remote *r;
    int listen_fd; /* listening, never accepting unless a test does */
} client;

static void open_client(client *c)
{
    memset(c, 0, sizeof *c);
    c->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->listen_fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(c->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(c->listen_fd, 8), 0);
    assert_int_equal(getsockname(c->listen_fd, (struct sockaddr *)&a, &len), 0);
    snprintf(c->url, sizeof c->url, "http://127.0.0.1:%d", ntohs(a.sin_port));
    snprintf(c->ws, sizeof c->ws, "/tmp/psyche-remote-test-XXXXXX");
    assert_non_null(mkdtemp(c->ws));
    psy_remote_opts o = {.url = c->url, .workspace = c->ws, .no_sandbox = true};
    psy_remote_sink sink = {.step = on_step, .done = on_done, .ud = &c->h};
    char err[512] = "";
    assert_int_equal(psy_remote_open(&o, &sink, &c->r, err, sizeof err), 0);
}

static void close_client(client *c)
{
    psy_remote_free(c->r);
    close(c->listen_fd);
    rmdir(c->ws);
}

/* A connection waiting in the listen queue (none: false). */
static bool connection_waiting(int listen_fd)
{
    int fl = fcntl(listen_fd, F_GETFL);
    fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK);
    int fd = accept(listen_fd, NULL, NULL);
    fcntl(listen_fd, F_SETFL, fl);
    if (fd < 0) return false;
    close(fd);
    return true;
}

static void test_cancel_while_queued_sends_nothing(void **state)
{
    (void)state;
    client c;
    open_client(&c);
    psy_remote_queued(c.r, true); /* handed to the worker... */
    psy_remote_cancel(c.r);       /* ...and Esc before it starts the turn */
    assert_int_equal(psy_remote_turn(c.r, "hello"), -ECANCELED);
    assert_int_equal(c.h.dones, 1);
    assert_int_equal(c.h.done_rc, -ECANCELED);
    assert_int_equal(c.h.steps, 0);
    assert_false(connection_waiting(c.listen_fd)); /* the server was asked nothing */
    close_client(&c);
}

static void test_hung_server_get_times_out(void **state)
{
    (void)state;
    client c;
    open_client(&c); /* the kernel completes the connection; nobody ever answers */
    cJSON *o = NULL;
    long status = 0;
    char err[1200] = "";
    assert_int_equal(psy_remote_get(c.r, "/health", 300, &o, &status, err, sizeof err), -EHOSTUNREACH);
    assert_null(o);
    assert_non_null(strstr(err, "not answering"));
    assert_non_null(strstr(err, c.url));
    close_client(&c);
}

static void *stop_soon(void *arg)
{
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
    psy_remote_stop(arg);
    return NULL;
}

static void test_stop_ends_a_get(void **state)
{
    (void)state;
    client c;
    open_client(&c);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stop_soon, c.r), 0);
    cJSON *o = NULL;
    long status = 0;
    char err[1200] = "";
    /* without the stop this would end at its (long) timeout as -EHOSTUNREACH */
    assert_int_equal(psy_remote_get(c.r, "/health", 600000, &o, &status, err, sizeof err), -ECANCELED);
    pthread_join(th, NULL);
    close_client(&c);
}

/* The server of test_usage: one connection, the request kept, a canned stream. */
typedef struct canned {
    int listen_fd;
    char request[65536];
} canned;

/* Reads the request into k->request: the headers, then Content-Length
 * bytes of body (a 100 Continue first when curl waits for one). */
static void read_request(canned *k, int fd)
{
    size_t got = 0, want = 0;
    const char *body = NULL;
    while (got + 1 < sizeof k->request && (!body || got < want)) {
        ssize_t n = read(fd, k->request + got, sizeof k->request - 1 - got);
        if (n <= 0) return;
        got += (size_t)n;
        k->request[got] = 0;
        if (body || !(body = strstr(k->request, "\r\n\r\n"))) continue;
        body += 4;
        const char *cl = strcasestr(k->request, "\r\nContent-Length:");
        want = (size_t)(body - k->request) + (cl ? strtoul(cl + 17, NULL, 10) : 0);
        if (strcasestr(k->request, "\r\nExpect: 100-continue") && write(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0)
            return;
    }
}

static void *serve_once(void *arg)
{
    canned *k = arg;
    int fd = accept(k->listen_fd, NULL, NULL);
    if (fd < 0) return NULL;
    read_request(k, fd);
    static const char reply[] =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi.\"}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1234,\"completion_tokens\":56,\"total_tokens\":1290,"
        "\"prompt_tokens_details\":{\"cached_tokens\":1200}}}\n\n"
        "data: [DONE]\n\n";
    if (write(fd, reply, sizeof reply - 1) < 0) perror("serve_once");
    close(fd);
    return NULL;
}

static void test_usage_reaches_the_step(void **state)
{
    (void)state;
    client c;
    open_client(&c);
    canned k = {.listen_fd = c.listen_fd};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, serve_once, &k), 0);
    assert_int_equal(psy_remote_turn(c.r, "count"), 0);
    pthread_join(th, NULL);
    assert_non_null(strstr(k.request, "\"stream_options\":{\"include_usage\":true}"));
    assert_int_equal(c.h.steps, 1);
    assert_true(c.h.has_usage);
    assert_int_equal(c.h.usage.prompt_tokens, 1234);
    assert_int_equal(c.h.usage.completion_tokens, 56);
    assert_int_equal(c.h.usage.cached_tokens, 1200);
    assert_int_equal(c.h.done_rc, 0);
    close_client(&c);
}

int main(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cancel_while_queued_sends_nothing),
        cmocka_unit_test(test_hung_server_get_times_out),
        cmocka_unit_test(test_stop_ends_a_get),
        cmocka_unit_test(test_usage_reaches_the_step),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
