/* test_psyche_serve.c - the pieces of psyche serve that need no network:
 * API-key matching, the loopback check that guards binding, the channel
 * between the worker and a connection (cancel vs interrupt, close from
 * another thread), the metrics registry's Prometheus text, that the
 * listener refuses a public address without keys, and the conversation
 * table (keys per user, idle and LRU eviction), and the ring of the
 * server's thoughts (numbering, since, the bound, JSON as data). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../psyche/http.h"
#include "../../psyche/serve_conv.h"
#include "../../psyche/serve_metrics.h"
#include "../../psyche/serve_thoughts.h"

static void test_key_match(void **state)
{
    (void)state;
    char *keys[] = {"key-aaaaaaaaaaaaaaaa", "key-bbbbbbbbbbbbbbbbbbbb"};
    assert_int_equal(psy_http_key_match(keys, 2, "key-aaaaaaaaaaaaaaaa"), 0);
    assert_int_equal(psy_http_key_match(keys, 2, "key-bbbbbbbbbbbbbbbbbbbb"), 1);
    assert_int_equal(psy_http_key_match(keys, 2, "key-aaaaaaaaaaaaaaab"), -1);
    assert_int_equal(psy_http_key_match(keys, 2, "key-aaaaaaaaaaaaaaaa "), -1); /* a longer key is not a prefix match */
    assert_int_equal(psy_http_key_match(keys, 2, "key-aaaaaaaaaaaaaaa"), -1);
    assert_int_equal(psy_http_key_match(keys, 2, ""), -1);
    assert_int_equal(psy_http_key_match(keys, 2, NULL), -1);
    assert_int_equal(psy_http_key_match(keys, 0, "key-aaaaaaaaaaaaaaaa"), -1);
}

static void test_loopback(void **state)
{
    (void)state;
    assert_true(psy_http_is_loopback("127.0.0.1"));
    assert_true(psy_http_is_loopback("127.1.2.3"));
    assert_true(psy_http_is_loopback("::1"));
    assert_false(psy_http_is_loopback("0.0.0.0"));
    assert_false(psy_http_is_loopback("::"));
    assert_false(psy_http_is_loopback("192.168.1.10"));
    assert_false(psy_http_is_loopback("not an address!"));
}

static void noop_handler(void *ud, const psy_http_req *req, psy_http_reply *rep)
{
    (void)ud, (void)req;
    rep->status = 204;
}

static void test_public_address_needs_keys(void **state)
{
    (void)state;
    psy_http_cfg cfg = {.host = "0.0.0.0",
                        .port = 0,
                        .max_body = 1024,
                        .body_timeout_s = 5,
                        .idle_timeout_s = 5,
                        .max_connections = 4,
                        .handler = noop_handler};
    psy_http *h = NULL;
    char err[512] = "";
    assert_int_equal(psy_http_start(&h, &cfg, err, sizeof err), -EACCES);
    assert_null(h);
    assert_non_null(strstr(err, "--api-key-file"));
    /* loopback without keys is fine, and port 0 picks a free port */
    cfg.host = "127.0.0.1";
    assert_int_equal(psy_http_start(&h, &cfg, err, sizeof err), 0);
    assert_true(psy_http_port(h) > 0);
    psy_http_stop(h);
}

static void *producer(void *arg)
{
    psy_chan *c = arg;
    for (int i = 0; i < 100; i++) psy_chan_write(c, "ab", 2);
    psy_chan_set_status(c, 201);
    psy_chan_close(c);
    psy_chan_unref(c);
    return NULL;
}

static void test_chan_across_threads(void **state)
{
    (void)state;
    psy_chan *c = psy_chan_new();
    psy_chan_ref(c); /* the producer's */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, producer, c), 0);
    while (!psy_chan_wait_closed(c, 100)) {
    }
    pthread_join(t, NULL);
    int status;
    char *body;
    size_t len;
    assert_int_equal(psy_chan_take(c, &status, &body, &len), 0);
    assert_int_equal(status, 201);
    assert_int_equal(len, 200);
    assert_int_equal((int)strlen(body), 200);
    free(body);
    psy_chan_unref(c);
}

static void test_chan_cancel_and_interrupt(void **state)
{
    (void)state;
    psy_chan *c = psy_chan_new();
    const int *flag = psy_chan_cancel_flag(c);
    assert_int_equal(*flag, 0);
    psy_chan_interrupt(c); /* the producer stops itself: the reader still gets its text */
    assert_int_not_equal(*flag, 0);
    assert_false(psy_chan_cancelled(c));
    assert_int_equal(psy_chan_write(c, "x", 1), 0);
    psy_chan_unref(c);

    c = psy_chan_new();
    flag = psy_chan_cancel_flag(c);
    psy_chan_cancel(c); /* the reader left */
    assert_int_not_equal(*flag, 0);
    assert_true(psy_chan_cancelled(c));
    assert_int_equal(psy_chan_write(c, "x", 1), -EPIPE);
    assert_false(psy_chan_wait_closed(c, 1));
    psy_chan_close(c);
    assert_true(psy_chan_wait_closed(c, 1));
    psy_chan_unref(c);
}

static void test_metrics_text(void **state)
{
    (void)state;
    psy_metrics m;
    psy_metrics_init(&m);
    psy_metrics_request(&m, "chat", 200, 0.3);
    psy_metrics_request(&m, "chat", 200, 2.0);
    psy_metrics_request(&m, "chat", 429, 0.001);
    psy_metrics_request(&m, "nonsense", 404, 0.001);
    psy_metrics_generation(&m, "stop", 70, 8, 69);
    psy_metrics_generation(&m, "cancelled", 0, 0, 0);
    psy_metrics_queue(&m, 3);
    psy_metrics_restart(&m, "elpis");
    buf b = BUF_INIT;
    assert_int_equal(psy_metrics_render(&m, &b), 0);
    const char *t = buf_str(&b);
    static const char *const want[] = {
        "psyche_http_requests_total{route=\"chat\",status=\"200\"} 2\n",
        "psyche_http_requests_total{route=\"chat\",status=\"429\"} 1\n",
        "psyche_http_requests_total{route=\"other\",status=\"404\"} 1\n",
        "psyche_http_request_duration_seconds_bucket{route=\"chat\",le=\"0.005\"} 1\n",
        "psyche_http_request_duration_seconds_bucket{route=\"chat\",le=\"0.5\"} 2\n",
        "psyche_http_request_duration_seconds_bucket{route=\"chat\",le=\"+Inf\"} 3\n",
        "psyche_http_request_duration_seconds_count{route=\"chat\"} 3\n",
        "psyche_tokens_total{kind=\"cached\"} 69\n",
        "psyche_chat_completions_total{finish=\"cancelled\"} 1\n",
        "psyche_queue_depth 3\n",
        "psyche_child_restarts_total{child=\"elpis\"} 1\n",
        "# TYPE psyche_http_request_duration_seconds histogram\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(t, want[i])) fail_msg("missing %s in:\n%s", want[i], t);
    buf_free(&b);
    psy_metrics_free(&m);
}

static void test_conversations(void **state)
{
    (void)state;
    char a[PSY_CONV_KEY], b[PSY_CONV_KEY], c[PSY_CONV_KEY];
    psy_conv_key(0, 'h', "chat-1", a);
    psy_conv_key(1, 'h', "chat-1", b); /* the same id under another API key is another conversation */
    psy_conv_key(0, 'u', "chat-1", c);
    assert_string_not_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strncmp(a, "0:h:", 4), 0);
    assert_int_equal((int)strlen(a), 4 + 16);

    psy_conv_table t;
    assert_int_equal(psy_convs_init(&t, 2, 100), 0);
    assert_int_equal(psy_convs_touch(&t, a, 10)->requests, 1);
    assert_int_equal(psy_convs_touch(&t, a, 20)->requests, 2);
    psy_convs_usage(&t, a, 70, 8, 69);
    psy_convs_touch(&t, b, 30);
    assert_int_equal(t.n, 2);
    psy_convs_touch(&t, c, 40); /* full: a (used at 20) is the least recently used; b then c stay */
    assert_int_equal(t.n, 2);
    for (size_t i = 0; i < t.n; i++) assert_string_not_equal(t.v[i].key, a);
    assert_int_equal(psy_convs_touch(&t, a, 50)->requests, 1); /* forgotten, so it starts over (b goes) */
    assert_int_equal(psy_convs_evict_idle(&t, 145), 1);        /* c (40) is idle past 100 s, a (50) is not */
    assert_int_equal(t.n, 1);
    psy_convs_usage(&t, a, 5, 1, 4);
    assert_int_equal(t.v[0].cached_tokens, 4);
    psy_convs_usage(&t, b, 1, 1, 1); /* gone: nothing happens */
    assert_int_equal(psy_convs_evict_idle(&t, 1000), 1);
    assert_int_equal(t.n, 0);
    psy_convs_free(&t);
}

/* An evicted conversation's transcript waits in the gone list for its
 * summary (LRU, idle and all at once), cut to its last bytes at a character
 * boundary; one without a transcript leaves nothing. */
static void test_conversation_transcripts_outlive_eviction(void **state)
{
    (void)state;
    psy_conv_table t;
    assert_int_equal(psy_convs_init(&t, 2, 100), 0);
    psy_convs_touch(&t, "a", 10);
    psy_convs_touch(&t, "b", 20);
    psy_convs_set_transcript(&t, "a", 3, "user: hi\nassistant: hello\n");
    psy_convs_set_transcript(&t, "zz", 1, "not there: ignored");
    psy_convs_touch(&t, "c", 30); /* full: a goes, with its transcript */
    psy_conv_gone *g;
    size_t n;
    psy_convs_take_gone(&t, &g, &n);
    assert_int_equal(n, 1);
    assert_int_equal(g[0].user, 3);
    assert_string_equal(g[0].transcript, "user: hi\nassistant: hello\n");
    free(g[0].transcript);
    free(g);
    char big[PSY_CONV_TRANSCRIPT_MAX + 10];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    memcpy(big + 8, "\xc3\xa9", 2); /* an e-acute across the cut (at byte 9): not split */
    psy_convs_set_transcript(&t, "b", 1, big);
    psy_convs_evict_all(&t); /* b has a transcript, c none */
    psy_convs_take_gone(&t, &g, &n);
    assert_int_equal(n, 1);
    assert_int_equal(strlen(g[0].transcript), PSY_CONV_TRANSCRIPT_MAX - 1);
    assert_int_equal(g[0].transcript[0], 'x');
    free(g[0].transcript);
    free(g);
    assert_int_equal(t.n, 0);
    psy_convs_set_transcript(&t, "c", 1, "late"); /* nothing to attach to */
    psy_convs_touch(&t, "d", 40);
    psy_convs_set_transcript(&t, "d", 2, "kept until free");
    psy_convs_free(&t); /* frees what is left (LeakSanitizer checks) */
}

static void test_thoughts_ring(void **state)
{
    (void)state;
    psy_thought_ring r;
    memset(&r, 0, sizeof r);
    cJSON *o = psy_thoughts_since(&r, 0); /* empty: nothing, next 1 */
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "thoughts")), 0);
    assert_int_equal(cJSON_GetObjectItem(o, "next")->valueint, 1);
    cJSON_Delete(o);
    assert_int_equal(psy_thoughts_add(&r, 1000.5, "dream", "connection", "I dreamt \x1b[2J\"of\"\n you"), 0);
    assert_int_equal(psy_thoughts_add(&r, 1001, "memory", NULL, "kept an insight"), 0);
    o = psy_thoughts_since(&r, 0);
    const cJSON *list = cJSON_GetObjectItem(o, "thoughts");
    assert_int_equal(cJSON_GetArraySize(list), 2);
    const cJSON *d = cJSON_GetArrayItem(list, 0);
    assert_int_equal(cJSON_GetObjectItem(d, "seq")->valueint, 1);
    assert_true(cJSON_GetObjectItem(d, "time")->valuedouble == 1000.5);
    assert_string_equal(cJSON_GetObjectItem(d, "kind")->valuestring, "dream");
    assert_string_equal(cJSON_GetObjectItem(d, "theme")->valuestring, "connection");
    assert_string_equal(cJSON_GetObjectItem(d, "text")->valuestring, "I dreamt \x1b[2J\"of\"\n you"); /* data, as is */
    assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 1), "theme"));
    assert_int_equal(cJSON_GetObjectItem(o, "next")->valueint, 3);
    char *text = cJSON_PrintUnformatted(o); /* escaped in JSON: no raw control bytes */
    assert_null(strchr(text, 0x1b));
    assert_null(strchr(text, '\n'));
    free(text);
    cJSON_Delete(o);
    o = psy_thoughts_since(&r, 2); /* since: only what is new */
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "thoughts")), 1);
    cJSON_Delete(o);
    o = psy_thoughts_since(&r, 3);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "thoughts")), 0);
    assert_int_equal(cJSON_GetObjectItem(o, "next")->valueint, 3);
    cJSON_Delete(o);
    /* bounded: only the last PSY_THOUGHTS_KEEP are kept, the oldest go first */
    for (int i = 0; i < 2 * PSY_THOUGHTS_KEEP; i++) assert_int_equal(psy_thoughts_add(&r, 1002, "dream", NULL, "x"), 0);
    long next = 3 + 2 * PSY_THOUGHTS_KEEP;
    o = psy_thoughts_since(&r, 0);
    list = cJSON_GetObjectItem(o, "thoughts");
    assert_int_equal(cJSON_GetArraySize(list), PSY_THOUGHTS_KEEP);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "seq")->valueint, next - PSY_THOUGHTS_KEEP);
    assert_int_equal(cJSON_GetObjectItem(o, "next")->valueint, next);
    cJSON_Delete(o);
    o = psy_thoughts_since(&r, next + 5); /* a since from an older server: nothing, and the real next */
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "thoughts")), 0);
    assert_int_equal(cJSON_GetObjectItem(o, "next")->valueint, next);
    cJSON_Delete(o);
    psy_thoughts_free(&r);
    o = psy_thoughts_since(&r, 0);
    assert_int_equal(cJSON_GetObjectItem(o, "next")->valueint, 1);
    cJSON_Delete(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_match),
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_public_address_needs_keys),
        cmocka_unit_test(test_chan_across_threads),
        cmocka_unit_test(test_chan_cancel_and_interrupt),
        cmocka_unit_test(test_metrics_text),
        cmocka_unit_test(test_conversations),
        cmocka_unit_test(test_conversation_transcripts_outlive_eviction),
        cmocka_unit_test(test_thoughts_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
