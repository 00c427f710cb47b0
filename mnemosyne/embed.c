/* embed.c - hashed-feature and libllama embeddings (see embed.h).
 *
 * Only the thread that owns a llama embedder calls llama_* here; in the
 * mnemosyne program that is the MCP/protocol thread. */
#include "embed.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <llama.h>

#include "log.h"
#include "words.h"

enum { KIND_HASHED = 0, KIND_LLAMA = 1 };

struct mem_embedder {
    int kind;
    int dim;
    char name[300];
    /* llama only */
    struct llama_model *model;
    struct llama_context *ctx;
    const struct llama_vocab *vocab;
    int n_ctx;
    bool encoder_only;
};

void mem_embed_default_params(mem_embed_params *p)
{
    p->model_path = NULL;
    p->dim = 256;
    p->n_ctx = 512;
    p->n_threads = 2;
    p->gpu_layers = 0;
}

/* ---------------------------------------------------------------- vectors */

typedef float v4f __attribute__((vector_size(16)));

float mem_vec_dot(const float *a, const float *b, int dim)
{
    v4f s0 = {0, 0, 0, 0}, s1 = {0, 0, 0, 0};
    int i = 0;
    for (; i + 8 <= dim; i += 8) {
        v4f x0, y0, x1, y1;
        memcpy(&x0, a + i, sizeof x0);
        memcpy(&y0, b + i, sizeof y0);
        memcpy(&x1, a + i + 4, sizeof x1);
        memcpy(&y1, b + i + 4, sizeof y1);
        s0 += x0 * y0;
        s1 += x1 * y1;
    }
    v4f s = s0 + s1;
    float r = s[0] + s[1] + s[2] + s[3];
    for (; i < dim; i++) r += a[i] * b[i];
    return r;
}

double mem_vec_normalise(float *v, int dim)
{
    double n = 0;
    for (int i = 0; i < dim; i++) n += (double)v[i] * v[i];
    n = sqrt(n);
    if (n > 0 && isfinite(n))
        for (int i = 0; i < dim; i++) v[i] = (float)(v[i] / n);
    else memset(v, 0, sizeof *v * (size_t)dim);
    return n;
}

/* ------------------------------------------------------- hashed embedding */

static uint64_t fnv1a(uint64_t seed, const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    /* final avalanche so nearby keys spread over the buckets */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static void add_feature(float *out, int dim, uint64_t seed, const char *s, size_t n, float w)
{
    uint64_t h = fnv1a(seed, s, n);
    int idx = (int)(h % (uint64_t)dim);
    out[idx] += (h >> 63) ? -w : w;
}

void mem_embed_hashed(const char *text, size_t len, int dim, float *out)
{
    memset(out, 0, sizeof *out * (size_t)dim);
    char prev[MEM_WORD_MAX + 2];
    size_t prevn = 0;
    size_t pos = 0;
    mem_word word;
    while (mem_next_word(text, len, &pos, &word)) {
        if (word.stop) {
            prevn = 0; /* a stop word breaks the bigram chain */
            continue;
        }
        char *w = word.text;
        size_t n = mem_fold_plural(w, word.len);
        add_feature(out, dim, 1, w, n, 1.0f);
        if (prevn) {
            char bi[2 * MEM_WORD_MAX + 1];
            memcpy(bi, prev, prevn);
            bi[prevn] = ' ';
            memcpy(bi + prevn + 1, w, n);
            add_feature(out, dim, 2, bi, prevn + 1 + n, 0.5f);
        }
        memcpy(prev, w, n);
        prevn = n;
        /* character trigrams of "<word>", together worth about 0.6 of the word */
        char b[MEM_WORD_MAX + 2];
        b[0] = '<';
        memcpy(b + 1, w, n);
        b[n + 1] = '>';
        size_t bn = n + 2;
        if (bn >= 3) {
            size_t ntri = bn - 2;
            float tw = 0.6f / sqrtf((float)ntri);
            for (size_t k = 0; k + 3 <= bn; k++) add_feature(out, dim, 3, b + k, 3, tw);
        }
    }
    mem_vec_normalise(out, dim);
}

/* ------------------------------------------------------------------ llama */

static void llama_log_cb(enum ggml_log_level level, const char *text, void *ud)
{
    (void)ud;
    size_t n = strlen(text);
    while (n && text[n - 1] == '\n') n--;
    if (!n) return;
    if (level == GGML_LOG_LEVEL_ERROR) log_error("llama: %.*s", (int)n, text);
    else if (level == GGML_LOG_LEVEL_WARN) log_debug("llama: %.*s", (int)n, text);
}

static int open_llama(const mem_embed_params *p, mem_embedder *e, char *err, size_t errlen)
{
    static bool backend_ready;
    struct stat st;
    if (stat(p->model_path, &st) != 0) {
        int rc = -errno;
        snprintf(err, errlen,
                 "embedding model %s: %s (set [storage] embedding_model to an embedding GGUF, or \"\" for the built-in "
                 "hashed embedding)",
                 p->model_path, strerror(errno));
        return rc;
    }
    if (!backend_ready) {
        llama_log_set(llama_log_cb, NULL);
        llama_backend_init();
        backend_ready = true;
    }
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = p->gpu_layers;
    e->model = llama_model_load_from_file(p->model_path, mp);
    if (!e->model) {
        snprintf(err, errlen, "embedding model %s could not be loaded (not a GGUF llama.cpp can read?)", p->model_path);
        return -EINVAL;
    }
    int n_train = llama_model_n_ctx_train(e->model);
    int n_ctx = p->n_ctx > 0 ? p->n_ctx : 512;
    if (n_train > 0 && n_ctx > n_train) n_ctx = n_train;
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)n_ctx;
    cp.n_batch = (uint32_t)n_ctx;
    cp.n_ubatch = (uint32_t)n_ctx;
    cp.n_seq_max = 1;
    cp.n_threads = p->n_threads > 0 ? p->n_threads : 2;
    cp.n_threads_batch = cp.n_threads;
    cp.embeddings = true;
    cp.pooling_type = LLAMA_POOLING_TYPE_MEAN;
    e->ctx = llama_init_from_model(e->model, cp);
    if (!e->ctx) {
        snprintf(err, errlen, "embedding model %s: could not create a context of %d tokens", p->model_path, n_ctx);
        return -EINVAL;
    }
    e->n_ctx = (int)llama_n_ctx(e->ctx);
    e->vocab = llama_model_get_vocab(e->model);
    e->dim = llama_model_n_embd_out(e->model);
    if (e->dim <= 0) e->dim = llama_model_n_embd(e->model);
    if (e->dim < 1 || e->dim > MEM_EMBED_DIM_MAX) {
        snprintf(err, errlen, "embedding model %s has %d dimensions; Mnemosyne takes 1..%d", p->model_path, e->dim,
                 MEM_EMBED_DIM_MAX);
        return -EINVAL;
    }
    e->encoder_only = llama_model_has_encoder(e->model) && !llama_model_has_decoder(e->model);
    const char *base = strrchr(p->model_path, '/');
    base = base ? base + 1 : p->model_path;
    snprintf(e->name, sizeof e->name, "gguf:%s/%d", base, e->dim);
    log_info("embedding model %s: %d dimensions, %d tokens per text", p->model_path, e->dim, e->n_ctx);
    return 0;
}

static int embed_llama(mem_embedder *e, const char *text, size_t len, float *out)
{
    memset(out, 0, sizeof *out * (size_t)e->dim);
    if (len > (size_t)INT32_MAX - 16) len = (size_t)INT32_MAX - 16;
    int cap = (int)len + 16;
    llama_token *toks = malloc(sizeof *toks * (size_t)cap);
    if (!toks) return -ENOMEM;
    int n = llama_tokenize(e->vocab, text, (int32_t)len, toks, cap, true, false);
    if (n < 0) { /* cannot happen with len+16 slots, but be safe */
        free(toks);
        return -EINVAL;
    }
    if (n > e->n_ctx) {
        log_debug("embedding: text of %d tokens truncated to %d", n, e->n_ctx);
        n = e->n_ctx;
    }
    if (n == 0) {
        free(toks);
        return 0;
    }
    llama_memory_clear(llama_get_memory(e->ctx), true);
    struct llama_batch b = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; i++) {
        b.token[i] = toks[i];
        b.pos[i] = i;
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = 0;
        b.logits[i] = 1;
    }
    b.n_tokens = n;
    free(toks);
    int rc = e->encoder_only ? llama_encode(e->ctx, b) : llama_decode(e->ctx, b);
    if (rc != 0) {
        llama_batch_free(b);
        log_error("embedding: llama %s returned %d", e->encoder_only ? "encode" : "decode", rc);
        return -EINVAL;
    }
    const float *v = llama_get_embeddings_seq(e->ctx, 0);
    if (!v) v = llama_get_embeddings_ith(e->ctx, n - 1);
    if (!v) {
        llama_batch_free(b);
        return -EINVAL;
    }
    memcpy(out, v, sizeof *out * (size_t)e->dim);
    llama_batch_free(b);
    mem_vec_normalise(out, e->dim);
    return 0;
}

/* ----------------------------------------------------------------- handle */

int mem_embedder_open(const mem_embed_params *p, mem_embedder **out, char *err, size_t errlen)
{
    *out = NULL;
    mem_embedder *e = calloc(1, sizeof *e);
    if (!e) return -ENOMEM;
    if (p->model_path && *p->model_path) {
        e->kind = KIND_LLAMA;
        int rc = open_llama(p, e, err, errlen);
        if (rc) {
            mem_embedder_free(e);
            return rc;
        }
    } else {
        if (p->dim < MEM_EMBED_DIM_MIN || p->dim > MEM_EMBED_DIM_MAX) {
            snprintf(err, errlen, "embedding dimension %d is outside %d..%d", p->dim, MEM_EMBED_DIM_MIN,
                     MEM_EMBED_DIM_MAX);
            free(e);
            return -EINVAL;
        }
        e->kind = KIND_HASHED;
        e->dim = p->dim;
        snprintf(e->name, sizeof e->name, "hashed-ngram-v1/%d", e->dim);
    }
    *out = e;
    return 0;
}

void mem_embedder_free(mem_embedder *e)
{
    if (!e) return;
    if (e->ctx) llama_free(e->ctx);
    if (e->model) llama_model_free(e->model);
    free(e);
}

int mem_embedder_dim(const mem_embedder *e) { return e->dim; }
bool mem_embedder_is_llama(const mem_embedder *e) { return e->kind == KIND_LLAMA; }
const char *mem_embedder_name(const mem_embedder *e) { return e->name; }

int mem_embed(mem_embedder *e, const char *text, size_t len, float *out)
{
    if (e->kind == KIND_LLAMA) return embed_llama(e, text, len, out);
    mem_embed_hashed(text, len, e->dim, out);
    return 0;
}
