/* elpis_bench.c - what elpis costs over bare llama.cpp, measured in one run.
 *
 * Prints three ratios (figures, not pass/fail; docs/benchmarks-elpis.md):
 *  (a) tokens/s streamed through elpis over MCP (a child build/bin/elpis
 *      driven by common/mcp_client.h, greedy, every token pushed as
 *      notifications/progress) / tokens/s of a bare libllama decode loop in
 *      this process, same model, prompt, context layout and threads.
 *      Target >= 0.95. Also shown: the same generation without a
 *      progressToken, which separates the server's cost per request from
 *      the cost of pushing each token.
 *  (b) prompt tokens evaluated on turn N / new tokens in turn N over a
 *      multi-turn conversation through elpis (prefix reuse). "New" is what
 *      the prompt grew by since turn N-1 (the reply fed back plus the next
 *      user message). Target <= 1.05.
 *  (c) throughput with n_threads = cores / n_threads = 1, through elpis, for
 *      generation and for prompt evaluation.
 *
 * The tiny test model (2 layers, n_embd 64) decodes a token in ~0.4 ms, so
 * any per-token cost of the server is as visible as it can ever be. The
 * bench also writes a larger random-weight model (n_embd 256, 4 layers,
 * ctx 1024; --medium-only / --tiny-only) from the tiny one's vocabulary
 * (mkmodel has no size option) where a token costs milliseconds, as with a
 * real model. Both run: the tiny one bounds the overhead from above.
 *
 * Bare and elpis runs alternate rep by rep so that load from other jobs on
 * a shared machine hits both alike; figures are medians.
 *
 * Only main's thread calls llama_* here (and elpis's engine thread, in the
 * child). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <ggml.h>
#include <gguf.h>
#include <llama.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "mcp_client.h"
#include "util.h"

#define N_SEQ 2 /* elpis's context layout: conversation + background */

static bool any_failed; /* keeps the children's log for a look afterwards */
#define MAX_REPS 32

typedef struct opts {
    char build[1024];
    int tokens; /* generated per (a)/(c) run */
    int reps;
    int turns;   /* (b) */
    int threads; /* 0 = cores */
    bool tiny, medium;
} opts;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double best(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        if (v[i] > m) m = v[i];
    return m;
}

static double median(const double *v, int n)
{
    double s[MAX_REPS];
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void silent_log(enum ggml_log_level level, const char *text, void *ud)
{
    (void)ud;
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

/* ---------------------------------------------------- a larger model */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

typedef struct gen_model {
    struct gguf_context *g;
    struct ggml_context *meta;
    float *data[64];
    int n;
    uint64_t rng;
} gen_model;

static int add_tensor(gen_model *m, const char *name, int64_t ne0, int64_t ne1, float std, bool constant)
{
    struct ggml_tensor *t =
        ne1 ? ggml_new_tensor_2d(m->meta, GGML_TYPE_F32, ne0, ne1) : ggml_new_tensor_1d(m->meta, GGML_TYPE_F32, ne0);
    size_t n = (size_t)ggml_nelements(t);
    float *d = malloc(n * sizeof *d);
    if (!d || m->n >= 64) {
        free(d);
        return -ENOMEM;
    }
    float a = std * sqrtf(3.0f);
    for (size_t i = 0; i < n; i++)
        d[i] = constant ? std : a * ((float)(rng_next(&m->rng) >> 40) * (2.0f / 16777216.0f) - 1.0f);
    ggml_set_name(t, name);
    t->data = d;
    m->data[m->n++] = d;
    gguf_add_tensor(m->g, t);
    return 0;
}

/* Writes a llama-architecture random model with the tokenizer (and chat
 * template) of vocab_from. Returns 0 or a negative errno. */
static int write_model(const char *vocab_from, const char *out, int embd, int layers, int heads, int ff, int ctx)
{
    struct gguf_init_params ip = {.no_alloc = true, .ctx = NULL};
    struct gguf_context *src = gguf_init_from_file(vocab_from, ip);
    if (!src) return -EINVAL;
    gen_model m = {.rng = 0x5eed};
    struct ggml_init_params gp = {.mem_size = 64 * ggml_tensor_overhead(), .mem_buffer = NULL, .no_alloc = true};
    m.meta = ggml_init(gp);
    m.g = gguf_init_empty();
    int64_t tid = gguf_find_key(src, "tokenizer.ggml.tokens");
    int64_t n_vocab = tid >= 0 ? (int64_t)gguf_get_arr_n(src, tid) : 0;
    gguf_set_kv(m.g, src); /* every key, tokenizer.* included; the model keys are
                              overwritten below */
    gguf_set_val_str(m.g, "general.name", "bench-medium");
    gguf_set_val_str(m.g, "general.description", "elpis_bench: random weights");
    gguf_set_val_u32(m.g, "llama.context_length", (uint32_t)ctx);
    gguf_set_val_u32(m.g, "llama.embedding_length", (uint32_t)embd);
    gguf_set_val_u32(m.g, "llama.block_count", (uint32_t)layers);
    gguf_set_val_u32(m.g, "llama.feed_forward_length", (uint32_t)ff);
    gguf_set_val_u32(m.g, "llama.attention.head_count", (uint32_t)heads);
    gguf_set_val_u32(m.g, "llama.attention.head_count_kv", (uint32_t)heads);
    gguf_set_val_u32(m.g, "llama.rope.dimension_count", (uint32_t)(embd / heads));
    int rc = n_vocab > 0 ? 0 : -EINVAL;
    const float s = 0.02f;
    if (!rc) rc = add_tensor(&m, "token_embd.weight", embd, n_vocab, s, false);
    if (!rc) rc = add_tensor(&m, "output_norm.weight", embd, 0, 1.0f, true);
    if (!rc) rc = add_tensor(&m, "output.weight", embd, n_vocab, s, false);
    char nm[64];
    for (int il = 0; il < layers && !rc; il++) {
        static const struct {
            const char *name;
            int in_ff, out_ff;
            bool norm;
        } t[] = {
            {"attn_norm", 0, 0, true}, {"attn_q", 0, 0, false},      {"attn_k", 0, 0, false},
            {"attn_v", 0, 0, false},   {"attn_output", 0, 0, false}, {"ffn_norm", 0, 0, true},
            {"ffn_gate", 0, 1, false}, {"ffn_up", 0, 1, false},      {"ffn_down", 1, 0, false},
        };
        for (size_t k = 0; k < sizeof t / sizeof t[0] && !rc; k++) {
            snprintf(nm, sizeof nm, "blk.%d.%s.weight", il, t[k].name);
            if (t[k].norm) rc = add_tensor(&m, nm, embd, 0, 1.0f, true);
            else rc = add_tensor(&m, nm, t[k].in_ff ? ff : embd, t[k].out_ff ? ff : embd, s, false);
        }
    }
    if (!rc) {
        char tmp[1200];
        snprintf(tmp, sizeof tmp, "%s.tmp.%d", out, (int)getpid());
        rc = gguf_write_to_file(m.g, tmp, false) && rename(tmp, out) == 0 ? 0 : -EIO;
        if (rc) unlink(tmp);
    }
    for (int i = 0; i < m.n; i++) free(m.data[i]);
    gguf_free(m.g);
    ggml_free(m.meta);
    gguf_free(src);
    return rc;
}

/* ------------------------------------------------------- bare llama */

typedef struct bare {
    struct llama_model *model;
    struct llama_context *ctx;
    const struct llama_vocab *vocab;
    const char *tmpl;
    int n_ctx;
} bare;

static int bare_open(bare *b, const char *path, int n_ctx, int threads)
{
    memset(b, 0, sizeof *b);
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    b->model = llama_model_load_from_file(path, mp);
    if (!b->model) return -EINVAL;
    b->vocab = llama_model_get_vocab(b->model);
    int train = llama_model_n_ctx_train(b->model);
    if (n_ctx <= 0 || n_ctx > train) n_ctx = train;
    b->n_ctx = n_ctx;
    /* What elpis's engine creates (elpis/engine.c load()). */
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)(n_ctx * N_SEQ);
    cp.n_seq_max = N_SEQ;
    cp.kv_unified = false;
    cp.n_batch = cp.n_ubatch = 512;
    cp.n_threads = cp.n_threads_batch = threads;
    cp.no_perf = true;
    b->ctx = llama_init_from_model(b->model, cp);
    if (!b->ctx) return -ENOMEM;
    b->tmpl = llama_model_chat_template(b->model, NULL);
    if (!b->tmpl) b->tmpl = "chatml";
    return 0;
}

static void bare_close(bare *b)
{
    if (b->ctx) llama_free(b->ctx);
    if (b->model) llama_model_free(b->model);
}

/* One user message through the chat template, tokenized as elpis does. */
static int bare_prompt(bare *b, const char *user, llama_token *toks, int cap)
{
    struct llama_chat_message m = {"user", user};
    char text[4096];
    int32_t len = llama_chat_apply_template(b->tmpl, &m, 1, true, text, sizeof text);
    if (len < 0 || len >= (int32_t)sizeof text) return -EINVAL;
    return llama_tokenize(b->vocab, text, len, toks, cap, true, true);
}

/* Prompt + n greedy tokens on sequence 0 from an empty cache, as elpis's
 * run_generate does (sample, detokenize, decode; the last token is not
 * decoded). Returns tokens generated; *secs the wall time; text (optional). */
static int bare_generate(bare *b, const char *user, int n, double *secs, char *text, size_t textcap)
{
    llama_token toks[1024];
    int np = bare_prompt(b, user, toks, 1024);
    if (np <= 0) return -EINVAL;
    double t0 = now_s();
    llama_memory_seq_rm(llama_get_memory(b->ctx), 0, -1, -1);
    struct llama_batch batch = llama_batch_init(512, 0, 1);
    for (int k = 0; k < np; k++) {
        batch.token[k] = toks[k];
        batch.pos[k] = k;
        batch.n_seq_id[k] = 1;
        batch.seq_id[k][0] = 0;
        batch.logits[k] = k == np - 1;
    }
    batch.n_tokens = np;
    int rc = llama_decode(b->ctx, batch);
    struct llama_sampler *smp = llama_sampler_chain_init(llama_sampler_chain_default_params());
    llama_sampler_chain_add(smp, llama_sampler_init_greedy());
    int pos = np, got = 0;
    size_t tl = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        llama_token t = llama_sampler_sample(smp, b->ctx, -1);
        if (llama_vocab_is_eog(b->vocab, t)) break;
        char piece[256];
        int32_t pl = llama_token_to_piece(b->vocab, t, piece, sizeof piece, 0, false);
        if (text && pl > 0 && tl + (size_t)pl < textcap) {
            memcpy(text + tl, piece, (size_t)pl);
            tl += (size_t)pl;
        }
        got++;
        if (i + 1 == n || pos >= b->n_ctx) break;
        batch.n_tokens = 1;
        batch.token[0] = t;
        batch.pos[0] = pos++;
        batch.logits[0] = 1;
        rc = llama_decode(b->ctx, batch);
    }
    *secs = now_s() - t0;
    if (text) text[tl] = '\0';
    llama_sampler_free(smp);
    llama_batch_free(batch);
    return rc == 0 ? got : -EIO;
}

/* -------------------------------------------------------- elpis child */

typedef struct progress_count {
    int n;
    double last;
} progress_count;

static void on_progress(void *ud, double progress, const char *message)
{
    progress_count *p = ud;
    (void)message;
    p->n++;
    p->last = progress;
}

static mcp_client *elpis_start(const opts *o, const char *model, int threads, int n_ctx)
{
    char bin[1100], th[16], cx[16], log[64];
    snprintf(bin, sizeof bin, "%s/bin/elpis", o->build);
    snprintf(th, sizeof th, "%d", threads);
    snprintf(cx, sizeof cx, "%d", n_ctx);
    snprintf(log, sizeof log, "/tmp/elpis_bench.%d.log", (int)getpid());
    char *argv[] = {bin, "--model", (char *)model, "--threads", th, "--ctx", cx, "--log-level", "warn", NULL};
    /* An empty config: a user's elpis.toml must not change the figures. */
    static char cfg[64];
    snprintf(cfg, sizeof cfg, "/tmp/elpis_bench.%d.toml", (int)getpid());
    FILE *f = fopen(cfg, "w");
    if (f) (void)fclose(f); /* empty: nothing written to lose */
    setenv("ELPIS_CONFIG", cfg, 1);
    mcp_client *c = NULL;
    char err[512];
    if (mcp_client_spawn(&c, argv, log, err, sizeof err) ||
        mcp_client_initialize(c, "elpis_bench", 60000, err, sizeof err)) {
        fprintf(stderr, "elpis_bench: cannot start %s: %s (log: %s)\n", bin, err, log);
        any_failed = true;
        if (c) mcp_client_close(c, 1000);
        return NULL;
    }
    return c;
}

static cJSON *messages_one(const char *user)
{
    cJSON *a = cJSON_CreateArray();
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddStringToObject(m, "content", user);
    cJSON_AddItemToArray(a, m);
    return a;
}

/* generate over MCP; returns completion tokens, *secs the wall time of the
 * call. */
static int elpis_generate(mcp_client *c, cJSON *messages /* owned */, int n, bool progress, double *secs, cJSON **out)
{
    cJSON *args = cJSON_CreateObject();
    cJSON_AddItemToObject(args, "messages", messages);
    cJSON_AddNumberToObject(args, "max_tokens", n);
    cJSON_AddNumberToObject(args, "temperature", 0);
    progress_count pc = {0, 0};
    cJSON *res = NULL;
    char err[512];
    double t0 = now_s();
    int rc =
        mcp_client_call(c, "generate", args, 600000, progress ? on_progress : NULL, &pc, NULL, &res, err, sizeof err);
    *secs = now_s() - t0;
    if (rc) {
        fprintf(stderr, "elpis_bench: generate failed (%d): %s (log: /tmp/elpis_bench.%d.log)\n", rc, err,
                (int)getpid());
        any_failed = true;
        cJSON_Delete(res);
        return -EIO;
    }
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(res, "usage");
    int got = cJSON_GetObjectItemCaseSensitive(u, "completion_tokens")->valueint;
    if (progress && pc.n == 0) fprintf(stderr, "elpis_bench: no progress notifications arrived\n");
    if (out) *out = res;
    else cJSON_Delete(res);
    return got;
}

/* ---------------------------------------------------------- the runs */

/* (a): returns the ratio. */
static double run_stream_ratio(const opts *o, const char *model, int threads, int n_ctx, int n)
{
    bare b;
    if (bare_open(&b, model, n_ctx, threads)) {
        fprintf(stderr, "elpis_bench: cannot load %s\n", model);
        return NAN;
    }
    mcp_client *c = elpis_start(o, model, threads, n_ctx);
    if (!c) {
        bare_close(&b);
        return NAN;
    }
    double bare_tps[MAX_REPS], elpis_tps[MAX_REPS], quiet_tps[MAX_REPS];
    int reps = o->reps, same = 0;
    /* Warm both (page cache, first-call allocations), not timed. */
    double s;
    bare_generate(&b, "warm up", 16, &s, NULL, 0);
    elpis_generate(c, messages_one("warm up"), 16, true, &s, NULL);
    for (int r = 0; r < reps; r++) {
        char user[64], text[65536];
        snprintf(user, sizeof user, "Benchmark prompt number %d. Tell me a long story.", r);
        int k = bare_generate(&b, user, n, &s, text, sizeof text);
        bare_tps[r] = k / s;
        cJSON *res = NULL;
        int k2 = elpis_generate(c, messages_one(user), n, true, &s, &res);
        elpis_tps[r] = k2 / s;
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(res, "content");
        /* elpis hands out valid UTF-8 (stray bytes become U+FFFD): compare like
         * with like. */
        buf clean = BUF_INIT;
        size_t used;
        bool sane = !utf8_append_sanitized(&clean, text, strlen(text), true, &used);
        if (sane && cJSON_IsString(content) && k == k2 && !strcmp(content->valuestring, buf_str(&clean))) same++;
        buf_free(&clean);
        cJSON_Delete(res);
        /* The same call without a progressToken: the server's cost apart from pushing tokens. */
        snprintf(user, sizeof user, "Quiet benchmark prompt %d. Tell me a long story.", r);
        int k3 = elpis_generate(c, messages_one(user), n, false, &s, NULL);
        quiet_tps[r] = k3 / s;
    }
    double mb = median(bare_tps, reps), me = median(elpis_tps, reps), mq = median(quiet_tps, reps);
    double bb = best(bare_tps, reps), be = best(elpis_tps, reps), bq = best(quiet_tps, reps);
    printf("  bare libllama loop   %8.0f tok/s  median of %d runs of %d tokens (best %.0f)\n", mb, reps, n, bb);
    printf("  elpis over MCP       %8.0f tok/s  every token pushed as notifications/progress (best %.0f)\n", me, be);
    printf("  elpis, no progress   %8.0f tok/s  the whole reply at the end (best %.0f): %.3f of bare, best %.3f\n", mq,
           bq, mq / mb, bq / bb);
    printf("  same text both ways  %d of %d runs\n", same, reps);
    printf("  (a) ratio            %8.3f   (target >= 0.95); best against best %.3f\n", me / mb, be / bb);
    mcp_client_close(c, 5000);
    bare_close(&b);
    return me / mb;
}

/* (b): returns the mean ratio over turns 2..T. Two readings of "new tokens
 * in turn N": the growth of the prompt since turn N-1 (the reply fed back
 * plus the new user message), and the tokens the model has never seen (that
 * growth minus the reply's tokens, which were generated into the cache). The
 * first is the target's; the second is stricter: above 1 it shows what is
 * evaluated again (the reply's last token, never decoded, and any reply text
 * that does not tokenize back to the tokens generated). */
static double run_prefix_ratio(const opts *o, const char *model, int threads, int n_ctx, int reply_tokens)
{
    mcp_client *c = elpis_start(o, model, threads, n_ctx);
    if (!c) return NAN;
    cJSON *conv = cJSON_CreateArray();
    cJSON *sys = cJSON_CreateObject();
    cJSON_AddStringToObject(sys, "role", "system");
    cJSON_AddStringToObject(sys, "content",
                            "You are Psyche, a companion with memory and moods. Answer briefly and "
                            "kindly. "
                            "Keep track of what the user told you earlier in the conversation.");
    cJSON_AddItemToArray(conv, sys);
    int prev_prompt = 0, prev_reply = 0;
    double sum = 0, worst = 0, sum2 = 0, worst2 = 0;
    int counted = 0;
    printf("  turn  prompt  cached  evaluated  growth  unseen  evaluated/growth  "
           "evaluated/unseen\n");
    for (int t = 1; t <= o->turns; t++) {
        cJSON *u = cJSON_CreateObject();
        char text[128];
        snprintf(text, sizeof text, "This is turn %d. What do you remember so far, and what is new?", t);
        cJSON_AddStringToObject(u, "role", "user");
        cJSON_AddStringToObject(u, "content", text);
        cJSON_AddItemToArray(conv, u);
        double s;
        cJSON *res = NULL;
        if (elpis_generate(c, cJSON_Duplicate(conv, 1), reply_tokens, false, &s, &res) < 0) break;
        const cJSON *us = cJSON_GetObjectItemCaseSensitive(res, "usage");
        int prompt = cJSON_GetObjectItemCaseSensitive(us, "prompt_tokens")->valueint;
        int cached = cJSON_GetObjectItemCaseSensitive(us, "cached_tokens")->valueint;
        int reply = cJSON_GetObjectItemCaseSensitive(us, "completion_tokens")->valueint;
        int evaluated = prompt - cached, growth = prompt - prev_prompt, unseen = growth - prev_reply;
        if (t > 1) {
            double r1 = (double)evaluated / growth, r2 = (double)evaluated / unseen;
            sum += r1, sum2 += r2;
            counted++;
            if (r1 > worst) worst = r1;
            if (r2 > worst2) worst2 = r2;
            printf("  %4d  %6d  %6d  %9d  %6d  %6d  %16.3f  %16.3f\n", t, prompt, cached, evaluated, growth, unseen, r1,
                   r2);
        } else {
            printf("  %4d  %6d  %6d  %9d  %6d  %6s  (first turn)\n", t, prompt, cached, evaluated, growth, "");
        }
        prev_prompt = prompt;
        prev_reply = reply;
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "role", "assistant");
        cJSON_AddStringToObject(a, "content", cJSON_GetObjectItemCaseSensitive(res, "content")->valuestring);
        cJSON_AddItemToArray(conv, a);
        cJSON_Delete(res);
        if (prompt + 3 * reply_tokens + 40 > n_ctx) break; /* the next turn would not fit */
    }
    cJSON_Delete(conv);
    mcp_client_close(c, 5000);
    double mean = counted ? sum / counted : NAN;
    printf("  (b) ratio            %8.3f mean over turns 2..%d, worst %.3f   "
           "(target <= 1.05)\n",
           mean, counted + 1, worst);
    printf("      stricter         %8.3f mean, worst %.3f (evaluated / tokens "
           "never seen)\n",
           counted ? sum2 / counted : NAN, worst2);
    return mean;
}

/* (c): generation and prompt evaluation, elpis with `cores` threads vs 1. */
static void run_thread_ratio(const opts *o, const char *model, int n_ctx, int n, double *gen_ratio,
                             double *prompt_ratio)
{
    int nt[2] = {o->threads > 0 ? o->threads : cores(), 1};
    mcp_client *c[2];
    for (int i = 0; i < 2; i++) c[i] = elpis_start(o, model, nt[i], n_ctx);
    if (!c[0] || !c[1]) {
        for (int i = 0; i < 2; i++)
            if (c[i]) mcp_client_close(c[i], 5000);
        *gen_ratio = *prompt_ratio = NAN;
        return;
    }
    double g[2][MAX_REPS], p[2][MAX_REPS];
    /* A prompt of about 3/4 of the context, evaluated from scratch each time
     * (max_tokens 1). */
    char *big = malloc(65536);
    for (int r = 0; r < o->reps; r++) {
        for (int i = 0; i < 2; i++) {
            double s;
            char user[64];
            snprintf(user, sizeof user, "Thread run %d. Tell me a long story.", r);
            int k = elpis_generate(c[i], messages_one(user), n, false, &s, NULL);
            g[i][r] = k / s;
            /* distinct first word: no prefix reuse between reps */
            size_t len = (size_t)snprintf(big, 65536, "%d", r);
            for (int w = 0; len < 65000 && w < n_ctx / 7; w++)
                len += (size_t)snprintf(big + len, 65536 - len, " word%d", w % 97);
            cJSON *res = NULL;
            elpis_generate(c[i], messages_one(big), 1, false, &s, &res);
            const cJSON *us = cJSON_GetObjectItemCaseSensitive(res, "usage");
            int prompt = us ? cJSON_GetObjectItemCaseSensitive(us, "prompt_tokens")->valueint : 0;
            p[i][r] = prompt / s;
            cJSON_Delete(res);
        }
    }
    free(big);
    double mg[2] = {median(g[0], o->reps), median(g[1], o->reps)};
    double mp[2] = {median(p[0], o->reps), median(p[1], o->reps)};
    printf("  generation           %8.0f tok/s with %d threads, %8.0f with 1\n", mg[0], nt[0], mg[1]);
    printf("  prompt evaluation    %8.0f tok/s with %d threads, %8.0f with 1\n", mp[0], nt[0], mp[1]);
    *gen_ratio = mg[0] / mg[1];
    *prompt_ratio = mp[0] / mp[1];
    printf("  (c) ratio            %8.3f generation, %.3f prompt evaluation (%d "
           "threads / 1)\n",
           *gen_ratio, *prompt_ratio, nt[0]);
    for (int i = 0; i < 2; i++) mcp_client_close(c[i], 5000);
}

static void describe_machine(int threads)
{
    struct utsname u;
    uname(&u);
    char cpu[256] = "?";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "model name", 10)) {
                char *p = strchr(line, ':');
                if (p) snprintf(cpu, sizeof cpu, "%s", p + 2);
                cpu[strcspn(cpu, "\n")] = '\0';
                break;
            }
        (void)fclose(f); /* read-only */
    }
    double load[3] = {0};
    if (getloadavg(load, 3) < 0) load[0] = -1;
    printf("machine: %s, %d cores online, %s %s; load average %.2f at start\n", cpu, cores(), u.sysname, u.release,
           load[0]);
    printf("llama.cpp: %s; threads %d\n", llama_print_system_info(), threads);
}

static void usage(void)
{
    fprintf(stderr, "usage: elpis_bench [--build DIR] [--tokens N] [--reps R] "
                    "[--turns T] [--threads N]\n"
                    "                   [--tiny-only | --medium-only]\n");
}

/* The options into *o. Returns -1 to go on, else the exit status (--help: 0, a bad option: 2). */
static int parse_opts(int argc, char **argv, opts *o)
{
    /* Default build folder: the one this binary lives in
     * (BUILD/bench/elpis_bench). */
    snprintf(o->build, sizeof o->build, "%s", argv[0]);
    char *slash = strrchr(o->build, '/');
    if (slash) *slash = '\0';
    slash = strrchr(o->build, '/');
    if (slash) *slash = '\0';
    else snprintf(o->build, sizeof o->build, "build");
    static const struct option lo[] = {{"build", 1, 0, 'b'},       {"tokens", 1, 0, 'n'},  {"reps", 1, 0, 'r'},
                                       {"turns", 1, 0, 't'},       {"threads", 1, 0, 'j'}, {"tiny-only", 0, 0, 'T'},
                                       {"medium-only", 0, 0, 'M'}, {"help", 0, 0, 'h'},    {0, 0, 0, 0}};
    int ch, optidx = 0, bad = 0;
    while ((ch = getopt_long(argc, argv, "", lo, &optidx)) != -1) {
        switch (ch) {
        case 'b': snprintf(o->build, sizeof o->build, "%s", optarg); break;
        case 'n': bad |= parse_int(optarg, 1, INT_MAX, &o->tokens); break;
        case 'r': bad |= parse_int(optarg, 1, INT_MAX, &o->reps); break;
        case 't': bad |= parse_int(optarg, 1, INT_MAX, &o->turns); break;
        case 'j': bad |= parse_int(optarg, 0, INT_MAX, &o->threads); break;
        case 'T': o->medium = false; break;
        case 'M': o->tiny = false; break;
        default: usage(); return ch == 'h' ? 0 : 2;
        }
        if (bad) {
            fprintf(stderr, "elpis_bench: --%s wants a positive whole number, got '%s'\n", lo[optidx].name, optarg);
            return 2;
        }
    }
    if (o->reps < 1) o->reps = 1;
    if (o->reps > MAX_REPS) o->reps = MAX_REPS;
    if (o->tokens < 8) o->tokens = 8;
    return -1;
}

/* The model paths under o->build; writes bench-medium.gguf when it is wanted and missing. 0 or 1 (reported). */
static int prepare_models(const opts *o, char *tiny, char *medium, size_t len)
{
    snprintf(tiny, len, "%s/models/tiny-chat.gguf", o->build);
    snprintf(medium, len, "%s/models/bench-medium.gguf", o->build);
    struct stat st;
    if (stat(tiny, &st) != 0) {
        fprintf(stderr, "elpis_bench: %s is missing: run make test-models\n", tiny);
        return 1;
    }
    if (o->medium && stat(medium, &st) != 0) {
        double t0 = now_s();
        int rc = write_model(tiny, medium, 256, 4, 8, 768, 1024);
        if (rc) {
            fprintf(stderr, "elpis_bench: cannot write %s: %s\n", medium, strerror(-rc));
            return 1;
        }
        printf("wrote %s (llama, n_embd 256, 4 layers, n_ff 768, ctx 1024, random "
               "F32) in %.1f s\n",
               medium, now_s() - t0);
    }
    return 0;
}

int main(int argc, char **argv)
{
    opts o = {.tokens = 400, .reps = 7, .turns = 12, .threads = 0, .tiny = true, .medium = true};
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0) return rc;
    int threads = o.threads > 0 ? o.threads : cores();
    llama_log_set(silent_log, NULL);
    llama_backend_init();
    describe_machine(threads);

    char tiny[1100], medium[1100];
    if (prepare_models(&o, tiny, medium, sizeof tiny)) return 1;
    struct {
        const char *name, *path;
        int ctx, tokens, reply;
        bool on;
    } models[] = {
        {"tiny-chat (n_embd 64, 2 layers, ctx 512)", tiny, 512, o.tokens, 24, o.tiny},
        {"bench-medium (n_embd 256, 4 layers, ctx 1024)", medium, 1024, o.tokens / 2, 32, o.medium},
    };
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        if (!models[i].on) continue;
        int n = models[i].tokens < models[i].ctx - 64 ? models[i].tokens : models[i].ctx - 64;
        printf("\n== %s\n", models[i].name);
        printf("(a) streaming throughput, %d threads\n", threads);
        double a = run_stream_ratio(&o, models[i].path, threads, models[i].ctx, n);
        if (threads != 1) {
            printf("(a') the same with 1 thread (no OpenMP barriers to share the "
                   "cores with other jobs)\n");
            run_stream_ratio(&o, models[i].path, 1, models[i].ctx, n);
        }
        printf("(b) prefix reuse over a conversation, replies of %d tokens\n", models[i].reply);
        double b = run_prefix_ratio(&o, models[i].path, threads, models[i].ctx, models[i].reply);
        printf("(c) threads\n");
        double cg, cp;
        run_thread_ratio(&o, models[i].path, models[i].ctx, n / 2, &cg, &cp);
        printf("summary %s: a=%.3f b=%.3f c_gen=%.3f c_prompt=%.3f\n", models[i].path, a, b, cg, cp);
    }
    double load[3] = {0};
    if (getloadavg(load, 3) < 0) load[0] = -1;
    printf("\nload average %.2f at the end\n", load[0]);
    char tmp[64];
    snprintf(tmp, sizeof tmp, "/tmp/elpis_bench.%d.toml", (int)getpid());
    unlink(tmp);
    snprintf(tmp, sizeof tmp, "/tmp/elpis_bench.%d.log", (int)getpid());
    if (!any_failed) unlink(tmp);
    llama_backend_free();
    return 0;
}
