/* test_alloc_failure.c - fails the Nth allocation, for every N, in three
 * paths: the TOML parser and config loader, the MCP layer's request path
 * (parse, validate, dispatch, reply), and mnemosyne's store/search path.
 * Each run must end in success or in a clear error (a negative errno with a
 * message, or a JSON-RPC error reply), never a crash, a hang or a request
 * left unanswered; run under ASan, LeakSanitizer checks nothing leaks.
 *
 * Each walk runs once with a single failure (transient) and once with every
 * allocation failing from N on (persistent). Prints "alloc: N passed, N
 * failed" (one count per walk). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "config.h"
#include "failmalloc.h"
#include "log.h"
#include "mcp.h"
#include "../../mnemosyne/store.h"
#include "toml.h"

#define WALK_LIMIT 200000 /* more allocations than any path here makes */

typedef int (*scenario_fn)(char *why, size_t whylen);

static int failures;

static void report(const char *walk, long n, bool persistent, const char *why)
{
    fprintf(stderr, "FAIL %s: allocation %ld failing (%s): %s\n", walk, n, persistent ? "persistent" : "once", why);
    failures++;
}

/* Runs fn with allocation n failing, for n = 0, 1, ... until a run makes
 * fewer than n+1 allocations (the failure never fired). fn returns 0 when
 * the run ended acceptably, or -1 with why set. Returns 0 or -1. */
static int walk(const char *name, scenario_fn fn, bool persistent)
{
    char why[512];
    int before = failures;
    long n;
    for (n = 0; n < WALK_LIMIT; n++) {
        why[0] = '\0';
        failmalloc_arm(n, persistent);
        int rc = fn(why, sizeof why);
        failmalloc_disarm();
        if (rc) report(name, n, persistent, why);
        if (!failmalloc_fired()) break; /* ran to the end with nothing failing */
    }
    printf("%s (%s): %ld allocation points, %s\n", name, persistent ? "persistent" : "once", n,
           failures == before ? "ok" : "FAILED");
    return failures == before ? 0 : -1;
}

static int why_fail(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int why_fail(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Runs that ended in a bare -ENOMEM (no message beside the code). */
static long bare_enomem;

/* An error must be a negative errno; any but -ENOMEM (which speaks for
 * itself through strerror) needs a message saying what went wrong. */
static int check_error(int rc, const char *msg, char *why, size_t whylen)
{
    if (rc == 0) return 0;
    if (rc > 0) return why_fail(why, whylen, "positive return %d", rc);
    if (msg && *msg) return 0;
    if (rc == -ENOMEM) {
        bare_enomem++;
        return 0;
    }
    return why_fail(why, whylen, "error %d (%s) without a message", rc, strerror(-rc));
}

/* ---- TOML and config ------------------------------------------------- */

static const char toml_doc[] =
    "# a config\n"
    "top = 1\n"
    "[model]\n"
    "path = \"/models/m\\u00e9.gguf\"\n"
    "ctx = 4096\n"
    "temp = 0.7\n"
    "gpu = true\n"
    "[children]\n"
    "cmd = [\"a\", 'b',\n  \"c\", # comment\n]\n"
    "[logging]\n"
    "level = \"debug\"\n";

static int collect(void *ud, const toml_item *it, char *err, size_t errlen)
{
    buf *b = ud;
    int rc = buf_printf(b, "%s.%s;", it->section, it->key ? it->key : "");
    if (rc) snprintf(err, errlen, "out of memory");
    return rc;
}

static int toml_scenario(char *why, size_t whylen)
{
    buf b = BUF_INIT;
    char err[256] = "";
    int rc = toml_parse(toml_doc, sizeof toml_doc - 1, "t.toml", collect, &b, err, sizeof err);
    buf_free(&b);
    if (rc && rc != -ENOMEM) return why_fail(why, whylen, "toml_parse: %d %s", rc, err);
    return check_error(rc, err, why, whylen);
}

static struct {
    char *path, *level;
    int ctx;
    double temp;
    bool gpu;
    cfg_strlist cmd;
} conf;

static const cfg_key conf_keys[] = {
    {"model", "path", CFG_STRING, &conf.path, "", 0, 0, "model"},
    {"model", "ctx", CFG_INT, &conf.ctx, "512", 1, 1 << 20, "ctx"},
    {"model", "temp", CFG_DOUBLE, &conf.temp, "0.5", 0, 2, "temp"},
    {"model", "gpu", CFG_BOOL, &conf.gpu, "false", 0, 0, "gpu"},
    {"children", "cmd", CFG_STRLIST, &conf.cmd, "x, y", 0, 0, "cmd"},
    {"logging", "level", CFG_STRING, &conf.level, "info", 0, 0, "level"},
    {"", "top", CFG_INT, &conf.ctx, "0", 0, 0, "top"},
};

static char conf_path[64];

static int config_scenario(char *why, size_t whylen)
{
    char err[512] = "";
    size_t n = sizeof conf_keys / sizeof conf_keys[0];
    int rc = cfg_load(conf_keys, n, conf_path, true, "ALLOCTEST", err, sizeof err);
    if (!rc) rc = cfg_set(conf_keys, n, "model.path", "/other.gguf", "--model", err, sizeof err);
    cfg_free(conf_keys, n);
    return check_error(rc, err, why, whylen);
}

/* ---- the MCP request path ------------------------------------------- */

static int tool_echo(mcp_request *req, const cJSON *args, void *ud)
{
    (void)ud;
    cJSON *copy = cJSON_Duplicate(args, 1);
    if (!copy) return -ENOMEM;
    return mcp_reply_result(req, copy);
}

static const mcp_tool mcp_tools[] = {
    {"echo", "echo", "{\"type\":\"object\",\"required\":[\"s\"],\"properties\":{\"s\":{\"type\":\"string\"},"
                     "\"n\":{\"type\":\"integer\",\"minimum\":1},\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}",
     tool_echo},
};

static const char mcp_input[] =
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-11-25\"}}\n"
    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}\n"
    "{\"jsonrpc\":\"2.0\",\"id\":12345678901234567890,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\","
    "\"arguments\":{\"s\":\"caf\\u00e9\",\"n\":3,\"tags\":[\"a\",\"b\"],\"x\":null}}}\n"
    "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"n\":0}}}\n"
    "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\"} {\"trailing\":1}\n";

/* The ids a run must answer, in order. */
static const char *const mcp_ids[] = {"1", "2", "12345678901234567890", "4", "5"};

/* Reads all of fd into b (the server has finished and closed its end). */
static int drain(int fd, buf *b)
{
    char chunk[4096];
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return r < 0 ? -errno : 0;
        if (buf_append(b, chunk, (size_t)r)) return -ENOMEM;
    }
}

/* Each id answered, in order, by a result or by an error with a message. */
static int check_replies(const char *out, char *why, size_t whylen)
{
    const char *p = out;
    for (size_t i = 0; i < sizeof mcp_ids / sizeof mcp_ids[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "\"id\":%s,", mcp_ids[i]);
        const char *nl = strchr(p, '\n');
        if (!nl) return why_fail(why, whylen, "request %s got no answer; output: %.300s", mcp_ids[i], out);
        if (!memmem(p, (size_t)(nl - p), want, strlen(want)))
            return why_fail(why, whylen, "answer %zu is not for id %s: %.*s", i, mcp_ids[i], (int)(nl - p), p);
        if (memmem(p, (size_t)(nl - p), "\"error\"", 7) && !memmem(p, (size_t)(nl - p), "\"message\":\"", 11))
            return why_fail(why, whylen, "error without a message: %.*s", (int)(nl - p), p);
        p = nl + 1;
    }
    if (*p) return why_fail(why, whylen, "unexpected extra output: %.300s", p);
    return 0;
}

static int mcp_scenario(char *why, size_t whylen)
{
    int in[2], out[2];
    if (pipe(in) || pipe(out)) return why_fail(why, whylen, "pipe: %s", strerror(errno));
    fcntl(out[1], F_SETPIPE_SZ, 1 << 20);
    if (write(in[1], mcp_input, sizeof mcp_input - 1) != (ssize_t)(sizeof mcp_input - 1))
        return why_fail(why, whylen, "write: %s", strerror(errno));
    close(in[1]); /* the server reads the lines, then EOF */
    mcp_server_params p;
    mcp_server_default_params(&p);
    p.tools = mcp_tools;
    p.n_tools = 1;
    mcp_server *s = mcp_server_new(&p);
    int rc = s ? mcp_server_run(s, in[0], out[1]) : -ENOMEM;
    mcp_server_free(s);
    close(in[0]);
    close(out[1]);
    bool fired = failmalloc_fired();
    failmalloc_disarm(); /* the checks below allocate freely; "fired" stays set for the walk */
    buf b = BUF_INIT;
    int drc = drain(out[0], &b);
    close(out[0]);
    int result = 0;
    if (drc) result = why_fail(why, whylen, "reading the output: %s", strerror(-drc));
    else if (!s || rc == -ENOMEM) result = fired ? 0 : why_fail(why, whylen, "-ENOMEM without a failure");
    else if (rc) result = why_fail(why, whylen, "mcp_server_run: %s", strerror(-rc));
    else result = check_replies(buf_str(&b), why, whylen);
    buf_free(&b);
    return result;
}

/* ---- mnemosyne's store and search path ------------------------------ */

static char db_dir[64];

static int mnemo_scenario(char *why, size_t whylen)
{
    char path[128], err[1024] = "";
    snprintf(path, sizeof path, "%s/m.db", db_dir);
    unlink(path);
    char side[160];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    mem_store_params p;
    mem_store_default_params(&p);
    p.path = path;
    p.synchronous_full = false;
    mem_store *s = NULL;
    int rc = mem_store_open(&p, &s, err, sizeof err);
    if (rc) return check_error(rc, err, why, whylen);
    mem_store_set_time(s, 1800000000.0);
    const char *tags[] = {"tea", "preference"};
    mem_new m = {.content = "The user likes green tea in the morning", .tags = tags, .n_tags = 2};
    mem_record r;
    memset(&r, 0, sizeof r);
    rc = mem_store_add(s, &m, &r);
    mem_record_clear(&r);
    if (!rc) {
        mem_new m2 = {.content = "My cat is called Tom", .memory_type = "semantic"};
        rc = mem_store_add(s, &m2, NULL);
    }
    if (!rc) {
        mem_query q;
        mem_query_default(&q);
        q.text = "green tea";
        mem_record *res = NULL;
        size_t n = 0;
        rc = mem_store_search(s, &q, &res, &n);
        mem_records_free(res, n);
    }
    int result = check_error(rc, rc ? mem_store_errmsg(s) : "", why, whylen);
    mem_store_close(s);
    return result;
}

int main(void)
{
    if (failmalloc_install()) {
        fprintf(stderr, "cannot install the allocation hooks (SQLite was used first?)\n");
        return 1;
    }
    log_init("alloc", LOG_OFF, NULL);
    snprintf(conf_path, sizeof conf_path, "/tmp/psyche-alloc-%d.toml", (int)getpid());
    FILE *f = fopen(conf_path, "w");
    if (!f || fputs(toml_doc, f) < 0 || fclose(f)) {
        fprintf(stderr, "cannot write %s\n", conf_path);
        return 1;
    }
    /* tmpfs when there is one: thousands of databases are created and synced */
    snprintf(db_dir, sizeof db_dir, "%s/psyche-alloc-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(db_dir)) return 1;
    static const struct {
        const char *name;
        scenario_fn fn;
    } walks[] = {
        {"toml", toml_scenario},
        {"config", config_scenario},
        {"mcp request path", mcp_scenario},
        {"mnemosyne store/search", mnemo_scenario},
    };
    int passed = 0, failed = 0;
    const char *only = getenv("ALLOC_ONLY"); /* a substring of a walk's name, to run just that one */
    for (size_t i = 0; i < sizeof walks / sizeof walks[0]; i++)
        for (int persistent = 0; persistent <= 1 && (!only || strstr(walks[i].name, only)); persistent++) {
            if (walk(walks[i].name, walks[i].fn, persistent)) failed++;
            else passed++;
        }
    unlink(conf_path);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", db_dir);
    if (system(cmd)) fprintf(stderr, "cannot remove %s\n", db_dir);
    if (bare_enomem)
        printf("note: %ld runs ended in -ENOMEM with an empty message (callers must then print strerror)\n",
               bare_enomem);
    printf("alloc: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
