/* test_common_mcp_client.c - several threads calling one mcp_client at once:
 * answers out of order, interleaved progress to the right callback, the
 * cancel of one call leaving another alone, and the child's death failing
 * every pending call. The server is a small python script (a thread per
 * call) whose "hold" calls answer only when released, so nothing here
 * depends on timing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mcp_client.h"

/* hold {tag}: progress "<tag>0", waits for release {tag} (or its cancel),
 * progress "<tag>1", answers {tag}. wait_holds {n}: answers when n holds
 * wait. cancelled: the ids cancelled so far. die {n}: exits once n holds wait. */
static const char SERVER[] =
    "import sys, json, threading, os\n"
    "out = threading.Lock(); cv = threading.Condition()\n"
    "released = set(); cancelled = []; waiting = [0]\n"
    "def send(m):\n"
    "    with out:\n"
    "        sys.stdout.write(json.dumps(m) + '\\n'); sys.stdout.flush()\n"
    "def handle(m):\n"
    "    p = m.get('params', {}); a = p.get('arguments', {}); name = p.get('name')\n"
    "    tok = p.get('_meta', {}).get('progressToken')\n"
    "    def prog(text):\n"
    "        if tok is not None:\n"
    "            send({'jsonrpc': '2.0', 'method': 'notifications/progress',\n"
    "                  'params': {'progressToken': tok, 'progress': 1, 'message': text}})\n"
    "    res = {}\n"
    "    if name == 'hold':\n"
    "        prog(a['tag'] + '0')\n"
    "        with cv:\n"
    "            waiting[0] += 1; cv.notify_all()\n"
    "            while a['tag'] not in released and m['id'] not in cancelled: cv.wait()\n"
    "            waiting[0] -= 1\n"
    "            if m['id'] in cancelled: return\n"
    "        prog(a['tag'] + '1'); res = {'tag': a['tag']}\n"
    "    elif name == 'release':\n"
    "        with cv: released.add(a['tag']); cv.notify_all()\n"
    "    elif name == 'wait_holds':\n"
    "        with cv:\n"
    "            while waiting[0] < a['n']: cv.wait()\n"
    "    elif name == 'cancelled':\n"
    "        with cv: res = {'n': len(cancelled)}\n"
    "    elif name == 'die':\n"
    "        with cv:\n"
    "            while waiting[0] < a['n']: cv.wait()\n"
    "        os._exit(0)\n"
    "    send({'jsonrpc': '2.0', 'id': m['id'], 'result': {'content': [], 'structuredContent': res}})\n"
    "for line in sys.stdin:\n"
    "    m = json.loads(line); meth = m.get('method')\n"
    "    if meth == 'initialize':\n"
    "        send({'jsonrpc': '2.0', 'id': m['id'], 'result': {'protocolVersion': '2025-06-18',\n"
    "              'capabilities': {}, 'serverInfo': {'name': 'fake', 'version': '1'}}})\n"
    "    elif meth == 'notifications/cancelled':\n"
    "        with cv: cancelled.append(m['params']['requestId']); cv.notify_all()\n"
    "    elif meth == 'tools/call':\n"
    "        threading.Thread(target=handle, args=(m,), daemon=True).start()\n";

#define TIMEOUT_MS 20000

static mcp_client *start_server(void)
{
    char *argv[] = {"python3", "-c", (char *)SERVER, NULL};
    mcp_client *c = NULL;
    char err[256];
    assert_int_equal(mcp_client_spawn(&c, argv, NULL, err, sizeof err), 0);
    assert_int_equal(mcp_client_initialize(c, "test", TIMEOUT_MS, err, sizeof err), 0);
    return c;
}

/* A call with one int argument; returns its rc and frees the result. */
static int simple(mcp_client *c, const char *tool, const char *key, int n, cJSON **out)
{
    cJSON *args = cJSON_CreateObject();
    if (key) cJSON_AddNumberToObject(args, key, n);
    cJSON *res = NULL;
    char err[256];
    int rc = mcp_client_call(c, tool, args, TIMEOUT_MS, NULL, NULL, NULL, &res, err, sizeof err);
    if (out) *out = res;
    else cJSON_Delete(res);
    return rc;
}

static void release(mcp_client *c, const char *tag)
{
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "tag", tag);
    cJSON *res = NULL;
    char err[256];
    assert_int_equal(mcp_client_call(c, "release", args, TIMEOUT_MS, NULL, NULL, NULL, &res, err, sizeof err), 0);
    cJSON_Delete(res);
}

/* One "hold" call on its own thread. */
typedef struct holder {
    mcp_client *c;
    const char *tag;
    int cancel;
    int rc;
    char tag_back[16]; /* the answer's tag */
    char seen[8][16];  /* progress messages, in order */
    int n_seen;
    pthread_t th;
    int done; /* atomic: the call returned */
} holder;

static void on_progress(void *ud, double progress, const char *message)
{
    holder *h = ud;
    (void)progress;
    if (message && h->n_seen < 8) snprintf(h->seen[h->n_seen++], sizeof h->seen[0], "%s", message);
}

static void *hold_main(void *arg)
{
    holder *h = arg;
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "tag", h->tag);
    cJSON *res = NULL;
    char err[256];
    h->rc = mcp_client_call(h->c, "hold", args, TIMEOUT_MS, on_progress, h, &h->cancel, &res, err, sizeof err);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(res, "tag");
    if (cJSON_IsString(t)) snprintf(h->tag_back, sizeof h->tag_back, "%s", t->valuestring);
    cJSON_Delete(res);
    __atomic_store_n(&h->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void hold_start(holder *h, mcp_client *c, const char *tag)
{
    memset(h, 0, sizeof *h);
    h->c = c;
    h->tag = tag;
    assert_int_equal(pthread_create(&h->th, NULL, hold_main, h), 0);
}

static void test_out_of_order_and_progress(void **state)
{
    (void)state;
    mcp_client *c = start_server();
    holder a, b;
    hold_start(&a, c, "a");
    hold_start(&b, c, "b");
    assert_int_equal(simple(c, "wait_holds", "n", 2, NULL), 0);
    release(c, "b"); /* the later call answers first */
    pthread_join(b.th, NULL);
    assert_int_equal(b.rc, 0);
    assert_string_equal(b.tag_back, "b");
    assert_int_equal(__atomic_load_n(&a.done, __ATOMIC_ACQUIRE), 0); /* a still waits */
    release(c, "a");
    pthread_join(a.th, NULL);
    assert_int_equal(a.rc, 0);
    assert_string_equal(a.tag_back, "a");
    /* each call's progress went to its own callback, in order */
    assert_int_equal(a.n_seen, 2);
    assert_string_equal(a.seen[0], "a0");
    assert_string_equal(a.seen[1], "a1");
    assert_int_equal(b.n_seen, 2);
    assert_string_equal(b.seen[0], "b0");
    assert_string_equal(b.seen[1], "b1");
    mcp_client_close(c, 1000);
}

static void test_cancel_one(void **state)
{
    (void)state;
    mcp_client *c = start_server();
    holder a, b;
    hold_start(&a, c, "a");
    hold_start(&b, c, "b");
    assert_int_equal(simple(c, "wait_holds", "n", 2, NULL), 0);
    __atomic_store_n(&a.cancel, 1, __ATOMIC_RELEASE);
    pthread_join(a.th, NULL);
    assert_int_equal(a.rc, -ECANCELED);
    /* the server heard of it (the notification goes out before the call returns) */
    cJSON *res = NULL;
    assert_int_equal(simple(c, "cancelled", NULL, 0, &res), 0);
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(res, "n")->valuedouble, 1);
    cJSON_Delete(res);
    assert_int_equal(__atomic_load_n(&b.done, __ATOMIC_ACQUIRE), 0); /* b is untouched */
    release(c, "b");
    pthread_join(b.th, NULL);
    assert_int_equal(b.rc, 0);
    assert_string_equal(b.tag_back, "b");
    mcp_client_close(c, 1000);
}

static void test_death_fails_all(void **state)
{
    (void)state;
    mcp_client *c = start_server();
    holder a, b;
    hold_start(&a, c, "a");
    hold_start(&b, c, "b");
    assert_int_equal(simple(c, "die", "n", 2, NULL), -EPIPE);
    pthread_join(a.th, NULL);
    pthread_join(b.th, NULL);
    assert_int_equal(a.rc, -EPIPE);
    assert_int_equal(b.rc, -EPIPE);
    assert_false(mcp_client_alive(c));
    assert_int_equal(simple(c, "wait_holds", "n", 0, NULL), -EPIPE); /* later calls fail at once */
    mcp_client_close(c, 1000);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_out_of_order_and_progress),
        cmocka_unit_test(test_cancel_one),
        cmocka_unit_test(test_death_fails_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
