/* mkmodel.c - writes the tiny random-weight GGUF models the tests run on.
 *
 * No pretrained model can be downloaded where Psyche is built and tested, so
 * this tool makes stand-ins from llama.cpp's vocabulary-only GGUF files:
 *
 *   OUT/tiny-chat.gguf      llama architecture, phi-3 tokenizer and chat template
 *   OUT/tiny-embed.gguf     BERT embedding model (mean pooling), bert-bge tokenizer
 *   OUT/cvec/<emotion>.gguf control vectors for tiny-chat, in cvector-generator's format
 *
 * The weights are noise, so the text is gibberish, but every llama.cpp code
 * path we use (tokenizer, chat template, decode, sampling, embeddings, control
 * vectors) runs for real. Output is a pure function of the vocab files and
 * --seed: the same seed gives byte-identical files, and each tensor draws from
 * its own stream keyed by its name, so adding a tensor never changes the others.
 * Files are written to a temporary name and renamed, so a reader never sees a
 * half-written model. Only gguf/ggml are used here; llama_* is never called. */
#include "buf.h"
#include "fs.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ggml.h"
#include "gguf.h"

#define MAX_TENSORS 128
#define WEIGHT_STD 0.02f /* like the usual transformer initialisation */

/* ---- deterministic random numbers ------------------------------------------ */

/* splitmix64: tiny, fast, and the same on every platform. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* FNV-1a over a string, mixed with a starting value: names a random stream. */
static uint64_t stream_id(uint64_t seed, const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    uint64_t s = h;
    return splitmix64(&s);
}

/* Uniform in [-1, 1), exactly representable (24 random bits). */
static float uniform_pm1(uint64_t *state) { return (float)(splitmix64(state) >> 40) * (2.0f / 16777216.0f) - 1.0f; }

/* ---- model builder -------------------------------------------------------- */

/* A gguf context plus the tensor data it points at. The builder owns both:
 * model_free() releases everything. */
struct model {
    struct gguf_context *gguf;
    struct ggml_context *meta; /* tensor headers only; data lives in data[] */
    float *data[MAX_TENSORS];
    int n_tensors;
    uint64_t seed;
    size_t n_bytes; /* tensor data, for the summary line */
};

static int model_init(struct model *m, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->seed = seed;
    struct ggml_init_params p = {
        .mem_size = MAX_TENSORS * ggml_tensor_overhead(),
        .mem_buffer = NULL,
        .no_alloc = true,
    };
    m->meta = ggml_init(p);
    m->gguf = gguf_init_empty();
    if (!m->meta || !m->gguf) {
        if (m->meta) ggml_free(m->meta);
        if (m->gguf) gguf_free(m->gguf);
        return -ENOMEM;
    }
    return 0;
}

static void model_free(struct model *m)
{
    for (int i = 0; i < m->n_tensors; i++) free(m->data[i]);
    gguf_free(m->gguf);
    ggml_free(m->meta);
    memset(m, 0, sizeof *m);
}

/* Adds an F32 tensor of ne0 x ne1 (ne1 == 0: one-dimensional) and returns its
 * data for the caller to fill, or NULL when out of memory. Shapes follow ggml:
 * ne0 is the row length, so a {n_embd, n_vocab} matrix has n_vocab rows. */
static float *model_tensor(struct model *m, const char *name, int64_t ne0, int64_t ne1)
{
    if (m->n_tensors >= MAX_TENSORS) return NULL;
    struct ggml_tensor *t = ne1 > 0 ? ggml_new_tensor_2d(m->meta, GGML_TYPE_F32, ne0, ne1)
                                    : ggml_new_tensor_1d(m->meta, GGML_TYPE_F32, ne0);
    if (!t) return NULL;
    size_t n = (size_t)ggml_nelements(t);
    float *d = malloc(n * sizeof *d);
    if (!d) return NULL;
    ggml_set_name(t, name);
    t->data = d;
    m->data[m->n_tensors++] = d;
    m->n_bytes += n * sizeof *d;
    gguf_add_tensor(m->gguf, t);
    return d;
}

/* Uniform noise with standard deviation std, from the tensor's own stream. */
static int add_random(struct model *m, const char *name, int64_t ne0, int64_t ne1, float std)
{
    float *d = model_tensor(m, name, ne0, ne1);
    if (!d) return -ENOMEM;
    uint64_t s = stream_id(m->seed, name);
    float a = std * sqrtf(3.0f); /* U(-a, a) has standard deviation a/sqrt(3) */
    size_t n = (size_t)ne0 * (size_t)(ne1 > 0 ? ne1 : 1);
    for (size_t i = 0; i < n; i++) d[i] = a * uniform_pm1(&s);
    return 0;
}

static int add_const(struct model *m, const char *name, int64_t ne0, int64_t ne1, float v)
{
    float *d = model_tensor(m, name, ne0, ne1);
    if (!d) return -ENOMEM;
    size_t n = (size_t)ne0 * (size_t)(ne1 > 0 ? ne1 : 1);
    for (size_t i = 0; i < n; i++) d[i] = v;
    return 0;
}

/* "blk.<il>.<what>.<kind>", the llama.cpp per-layer tensor name. */
static const char *blk_name(char *out, size_t n, int il, const char *what, const char *kind)
{
    snprintf(out, n, "blk.%d.%s.%s", il, what, kind);
    return out;
}

/* Copies one key/value pair, arrays included. Returns 0 or -EINVAL for a
 * type this tool does not know (nested arrays never occur in vocab files). */
static int copy_kv(struct gguf_context *dst, const struct gguf_context *src, int64_t id)
{
    const char *key = gguf_get_key(src, id);
    switch (gguf_get_kv_type(src, id)) {
    case GGUF_TYPE_UINT8: gguf_set_val_u8(dst, key, gguf_get_val_u8(src, id)); return 0;
    case GGUF_TYPE_INT8: gguf_set_val_i8(dst, key, gguf_get_val_i8(src, id)); return 0;
    case GGUF_TYPE_UINT16: gguf_set_val_u16(dst, key, gguf_get_val_u16(src, id)); return 0;
    case GGUF_TYPE_INT16: gguf_set_val_i16(dst, key, gguf_get_val_i16(src, id)); return 0;
    case GGUF_TYPE_UINT32: gguf_set_val_u32(dst, key, gguf_get_val_u32(src, id)); return 0;
    case GGUF_TYPE_INT32: gguf_set_val_i32(dst, key, gguf_get_val_i32(src, id)); return 0;
    case GGUF_TYPE_FLOAT32: gguf_set_val_f32(dst, key, gguf_get_val_f32(src, id)); return 0;
    case GGUF_TYPE_UINT64: gguf_set_val_u64(dst, key, gguf_get_val_u64(src, id)); return 0;
    case GGUF_TYPE_INT64: gguf_set_val_i64(dst, key, gguf_get_val_i64(src, id)); return 0;
    case GGUF_TYPE_FLOAT64: gguf_set_val_f64(dst, key, gguf_get_val_f64(src, id)); return 0;
    case GGUF_TYPE_BOOL: gguf_set_val_bool(dst, key, gguf_get_val_bool(src, id)); return 0;
    case GGUF_TYPE_STRING: gguf_set_val_str(dst, key, gguf_get_val_str(src, id)); return 0;
    case GGUF_TYPE_ARRAY: {
        enum gguf_type at = gguf_get_arr_type(src, id);
        size_t n = gguf_get_arr_n(src, id);
        if (at == GGUF_TYPE_ARRAY) return -EINVAL;
        if (at != GGUF_TYPE_STRING) {
            gguf_set_arr_data(dst, key, at, gguf_get_arr_data(src, id), n);
            return 0;
        }
        const char **v = malloc((n ? n : 1) * sizeof *v);
        if (!v) return -ENOMEM;
        for (size_t i = 0; i < n; i++) v[i] = gguf_get_arr_str(src, id, i);
        gguf_set_arr_str(dst, key, v, n); /* copies the strings */
        free(v);
        return 0;
    }
    default: return -EINVAL;
    }
}

/* ---- vocabulary ------------------------------------------------------------ */

struct vocab {
    struct gguf_context *gguf;
    char path[4096];
    int64_t n_vocab;
};

static int vocab_open(struct vocab *v, const char *dir, const char *name)
{
    memset(v, 0, sizeof *v);
    snprintf(v->path, sizeof v->path, "%s/ggml-vocab-%s.gguf", dir, name);
    if (access(v->path, R_OK) != 0) {
        int err = errno;
        fprintf(stderr,
                "mkmodel: cannot read vocab file %s: %s\n"
                "mkmodel: --vocab-dir must be llama.cpp's vocab folder, e.g. "
                "$LLAMA_PREFIX/share/llama-vocab (installed by scripts/build-llama.sh)\n",
                v->path, strerror(err));
        return -err;
    }
    struct gguf_init_params p = {.no_alloc = true, .ctx = NULL};
    v->gguf = gguf_init_from_file(v->path, p);
    if (!v->gguf) {
        fprintf(stderr, "mkmodel: %s is not a valid GGUF file\n", v->path);
        return -EINVAL;
    }
    int64_t id = gguf_find_key(v->gguf, "tokenizer.ggml.tokens");
    if (id < 0 || gguf_get_kv_type(v->gguf, id) != GGUF_TYPE_ARRAY) {
        fprintf(stderr, "mkmodel: %s has no tokenizer.ggml.tokens\n", v->path);
        gguf_free(v->gguf);
        v->gguf = NULL;
        return -EINVAL;
    }
    v->n_vocab = (int64_t)gguf_get_arr_n(v->gguf, id);
    return 0;
}

/* Copies every tokenizer.* key (tokens, scores, types, merges, special ids,
 * chat template) so llama.cpp tokenizes exactly like the real model. */
static int vocab_copy_tokenizer(const struct vocab *v, struct gguf_context *dst)
{
    for (int64_t i = 0; i < gguf_get_n_kv(v->gguf); i++) {
        if (strncmp(gguf_get_key(v->gguf, i), "tokenizer.", 10) != 0) continue;
        int rc = copy_kv(dst, v->gguf, i);
        if (rc) {
            fprintf(stderr, "mkmodel: cannot copy %s from %s\n", gguf_get_key(v->gguf, i), v->path);
            return rc;
        }
    }
    return 0;
}

/* ---- writing ------------------------------------------------------------- */

/* Writes to "<path>.tmp.<pid>", syncs, then renames over path. */
static int write_atomic(const struct gguf_context *g, const char *path, long *size)
{
    buf tmp = BUF_INIT;
    if (buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid())) return -ENOMEM;
    int rc = 0;
    FILE *f = fopen(tmp.data, "wb");
    if (!f) {
        rc = -errno;
        fprintf(stderr, "mkmodel: cannot create %s: %s\n", tmp.data, strerror(-rc));
        buf_free(&tmp);
        return rc;
    }
    errno = 0;
    bool ok = gguf_write_to_file_ptr(g, f, false);
    if (ok && fflush(f) != 0) ok = false;
    if (ok && fsync(fileno(f)) != 0) ok = false;
    if (ok) *size = ftell(f);
    if (!ok) rc = errno ? -errno : -EIO;
    if (fclose(f) != 0 && !rc) rc = -errno;
    if (!rc && rename(tmp.data, path) != 0) rc = -errno;
    if (rc) {
        fprintf(stderr, "mkmodel: cannot write %s: %s\n", path, strerror(-rc));
        unlink(tmp.data);
    }
    buf_free(&tmp);
    return rc;
}

static int make_dir(const char *path)
{
    int rc = fs_mkdir_p(path, 0755);
    if (!rc) return 0;
    fprintf(stderr, "mkmodel: cannot create directory %s: %s\n", path, strerror(-rc));
    return rc;
}

static int finish(struct model *m, const char *dir, const char *file, const char *what)
{
    buf path = BUF_INIT;
    if (buf_printf(&path, "%s/%s", dir, file)) return -ENOMEM;
    long size = 0;
    int rc = write_atomic(m->gguf, path.data, &size);
    if (!rc && size >= 100000)
        printf("wrote %s (%.1f MB, %d tensors): %s\n", path.data, (double)size / 1e6, m->n_tensors, what);
    else if (!rc) printf("wrote %s (%ld bytes, %d tensors): %s\n", path.data, size, m->n_tensors, what);
    buf_free(&path);
    return rc;
}

/* ---- the models ------------------------------------------------------------ */

/* tiny-chat: a llama-architecture decoder. */
enum {
    CHAT_EMBD = 64,
    CHAT_LAYERS = 2,
    CHAT_HEADS = 4,
    CHAT_HEADS_KV = 4,
    CHAT_FF = 128,
    CHAT_CTX = 512,
};

/* Opens the vocabulary vocab_name (*v) and starts the model *m with its
 * general.* keys. 0, or a negative errno with nothing left to free. */
static int model_begin(struct vocab *v, struct model *m, const char *vocab_dir, const char *vocab_name,
                       const char *arch, const char *name, uint64_t seed)
{
    int rc = vocab_open(v, vocab_dir, vocab_name);
    if (rc) return rc;
    rc = model_init(m, seed);
    if (rc) {
        gguf_free(v->gguf);
        return rc;
    }
    char desc[128];
    snprintf(desc, sizeof desc, "Psyche test model: random weights (mkmodel seed %llu)", (unsigned long long)seed);
    gguf_set_val_str(m->gguf, "general.architecture", arch);
    gguf_set_val_str(m->gguf, "general.name", name);
    gguf_set_val_str(m->gguf, "general.description", desc);
    gguf_set_val_u32(m->gguf, "general.file_type", 0); /* LLAMA_FTYPE_ALL_F32 */
    gguf_set_val_u32(m->gguf, "general.quantization_version", 2);
    return 0;
}

/* Writes <out_dir>/<name>.gguf when rc is 0, and frees what model_begin made. */
static int model_end(struct vocab *v, struct model *m, int rc, const char *out_dir, const char *name, const char *what)
{
    char file[64];
    snprintf(file, sizeof file, "%s.gguf", name);
    if (rc == -ENOMEM) fprintf(stderr, "mkmodel: out of memory building %s\n", name);
    if (!rc) rc = finish(m, out_dir, file, what);
    model_free(m);
    gguf_free(v->gguf);
    return rc;
}

static int make_chat(const char *vocab_dir, const char *out_dir, uint64_t seed)
{
    struct vocab v;
    struct model m;
    int rc = model_begin(&v, &m, vocab_dir, "phi-3", "llama", "tiny-chat", seed);
    if (rc) return rc;
    struct gguf_context *g = m.gguf;
    gguf_set_val_u32(g, "llama.vocab_size", (uint32_t)v.n_vocab);
    gguf_set_val_u32(g, "llama.context_length", CHAT_CTX);
    gguf_set_val_u32(g, "llama.embedding_length", CHAT_EMBD);
    gguf_set_val_u32(g, "llama.block_count", CHAT_LAYERS);
    gguf_set_val_u32(g, "llama.feed_forward_length", CHAT_FF);
    gguf_set_val_u32(g, "llama.attention.head_count", CHAT_HEADS);
    gguf_set_val_u32(g, "llama.attention.head_count_kv", CHAT_HEADS_KV);
    gguf_set_val_f32(g, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    gguf_set_val_u32(g, "llama.rope.dimension_count", CHAT_EMBD / CHAT_HEADS);
    gguf_set_val_f32(g, "llama.rope.freq_base", 10000.0f);
    rc = vocab_copy_tokenizer(&v, g);

    const int64_t E = CHAT_EMBD, F = CHAT_FF, N = v.n_vocab;
    const int64_t KV = (int64_t)CHAT_EMBD / CHAT_HEADS * CHAT_HEADS_KV;
    if (!rc) rc = add_random(&m, "token_embd.weight", E, N, WEIGHT_STD);
    if (!rc) rc = add_const(&m, "output_norm.weight", E, 0, 1.0f);
    if (!rc) rc = add_random(&m, "output.weight", E, N, WEIGHT_STD);
    char nm[64];
    for (int il = 0; il < CHAT_LAYERS && !rc; il++) {
        rc = add_const(&m, blk_name(nm, sizeof nm, il, "attn_norm", "weight"), E, 0, 1.0f);
        if (!rc) rc = add_random(&m, blk_name(nm, sizeof nm, il, "attn_q", "weight"), E, E, WEIGHT_STD);
        if (!rc) rc = add_random(&m, blk_name(nm, sizeof nm, il, "attn_k", "weight"), E, KV, WEIGHT_STD);
        if (!rc) rc = add_random(&m, blk_name(nm, sizeof nm, il, "attn_v", "weight"), E, KV, WEIGHT_STD);
        if (!rc) rc = add_random(&m, blk_name(nm, sizeof nm, il, "attn_output", "weight"), E, E, WEIGHT_STD);
        if (!rc) rc = add_const(&m, blk_name(nm, sizeof nm, il, "ffn_norm", "weight"), E, 0, 1.0f);
        if (!rc) rc = add_random(&m, blk_name(nm, sizeof nm, il, "ffn_gate", "weight"), E, F, WEIGHT_STD);
        if (!rc) rc = add_random(&m, blk_name(nm, sizeof nm, il, "ffn_up", "weight"), E, F, WEIGHT_STD);
        if (!rc) rc = add_random(&m, blk_name(nm, sizeof nm, il, "ffn_down", "weight"), F, E, WEIGHT_STD);
    }
    char what[160];
    snprintf(what, sizeof what, "llama, n_vocab %lld, n_embd %d, %d layers, %d heads (%d kv), n_ff %d, ctx %d",
             (long long)N, CHAT_EMBD, CHAT_LAYERS, CHAT_HEADS, CHAT_HEADS_KV, CHAT_FF, CHAT_CTX);
    return model_end(&v, &m, rc, out_dir, "tiny-chat", what);
}

/* tiny-embed: a BERT encoder; llama.cpp mean-pools its last hidden states. */
enum {
    EMBED_EMBD = 64,
    EMBED_LAYERS = 2,
    EMBED_HEADS = 4,
    EMBED_FF = 128,
    EMBED_CTX = 512,
    POOLING_MEAN = 1, /* LLAMA_POOLING_TYPE_MEAN */
};

/* A LayerNorm: weight 1, bias 0, so it normalises and nothing more. */
static int add_layer_norm(struct model *m, const char *prefix, int64_t n)
{
    char nm[96];
    snprintf(nm, sizeof nm, "%s.weight", prefix);
    int rc = add_const(m, nm, n, 0, 1.0f);
    snprintf(nm, sizeof nm, "%s.bias", prefix);
    if (!rc) rc = add_const(m, nm, n, 0, 0.0f);
    return rc;
}

/* A linear layer "<prefix>.weight" {in, out} with its bias {out}. */
static int add_linear(struct model *m, const char *prefix, int64_t in, int64_t out)
{
    char nm[96];
    snprintf(nm, sizeof nm, "%s.weight", prefix);
    int rc = add_random(m, nm, in, out, WEIGHT_STD);
    snprintf(nm, sizeof nm, "%s.bias", prefix);
    if (!rc) rc = add_random(m, nm, out, 0, WEIGHT_STD);
    return rc;
}

static int make_embed(const char *vocab_dir, const char *out_dir, uint64_t seed)
{
    struct vocab v;
    struct model m;
    int rc = model_begin(&v, &m, vocab_dir, "bert-bge", "bert", "tiny-embed", seed);
    if (rc) return rc;
    struct gguf_context *g = m.gguf;
    gguf_set_val_u32(g, "bert.context_length", EMBED_CTX);
    gguf_set_val_u32(g, "bert.embedding_length", EMBED_EMBD);
    gguf_set_val_u32(g, "bert.block_count", EMBED_LAYERS);
    gguf_set_val_u32(g, "bert.feed_forward_length", EMBED_FF);
    gguf_set_val_u32(g, "bert.attention.head_count", EMBED_HEADS);
    gguf_set_val_f32(g, "bert.attention.layer_norm_epsilon", 1e-12f);
    gguf_set_val_bool(g, "bert.attention.causal", false);
    gguf_set_val_u32(g, "bert.pooling_type", POOLING_MEAN);
    rc = vocab_copy_tokenizer(&v, g);

    /* The bert loader needs the token type count; bert-bge's vocab has it. */
    uint32_t n_types = 2;
    int64_t id = gguf_find_key(g, "tokenizer.ggml.token_type_count");
    if (id >= 0 && gguf_get_kv_type(g, id) == GGUF_TYPE_UINT32) n_types = gguf_get_val_u32(g, id);
    else gguf_set_val_u32(g, "tokenizer.ggml.token_type_count", n_types);

    const int64_t E = EMBED_EMBD, F = EMBED_FF, N = v.n_vocab;
    if (!rc) rc = add_random(&m, "token_embd.weight", E, N, WEIGHT_STD);
    if (!rc) rc = add_random(&m, "token_types.weight", E, n_types, WEIGHT_STD);
    if (!rc) rc = add_random(&m, "position_embd.weight", E, EMBED_CTX, WEIGHT_STD);
    if (!rc) rc = add_layer_norm(&m, "token_embd_norm", E);
    char nm[64];
    for (int il = 0; il < EMBED_LAYERS && !rc; il++) {
        snprintf(nm, sizeof nm, "blk.%d.attn_q", il);
        rc = add_linear(&m, nm, E, E);
        snprintf(nm, sizeof nm, "blk.%d.attn_k", il);
        if (!rc) rc = add_linear(&m, nm, E, E);
        snprintf(nm, sizeof nm, "blk.%d.attn_v", il);
        if (!rc) rc = add_linear(&m, nm, E, E);
        snprintf(nm, sizeof nm, "blk.%d.attn_output", il);
        if (!rc) rc = add_linear(&m, nm, E, E);
        snprintf(nm, sizeof nm, "blk.%d.attn_output_norm", il);
        if (!rc) rc = add_layer_norm(&m, nm, E);
        snprintf(nm, sizeof nm, "blk.%d.ffn_up", il);
        if (!rc) rc = add_linear(&m, nm, E, F);
        snprintf(nm, sizeof nm, "blk.%d.ffn_down", il);
        if (!rc) rc = add_linear(&m, nm, F, E);
        snprintf(nm, sizeof nm, "blk.%d.layer_output_norm", il);
        if (!rc) rc = add_layer_norm(&m, nm, E);
    }
    char what[160];
    snprintf(what, sizeof what, "bert, n_vocab %lld, n_embd %d, %d layers, %d heads, n_ff %d, ctx %d, mean pooling",
             (long long)N, EMBED_EMBD, EMBED_LAYERS, EMBED_HEADS, EMBED_FF, EMBED_CTX);
    return model_end(&v, &m, rc, out_dir, "tiny-embed", what);
}

/* ---- control vectors -------------------------------------------------------- */

/* Each layer gets two random orthonormal axes, arousal and valence, and each
 * emotion is a vector in their plane: excited (+a,+v), frustrated (+a,-v),
 * calm (-a,+v), depleted (-a,-v). So opposite emotions are exact negations,
 * which makes "does the vector push the right way" testable.
 * cvector-generator writes unit vectors, but tiny-chat's hidden states are
 * small (norm ~0.3), and at unit norm any strength over ~0.3 collapses the
 * text into one repeated token. At CVEC_NORM, strength 1 changes the text
 * while keeping it varied, and strength 4+ shows the collapse. */
#define CVEC_NORM 0.1f
struct emotion {
    const char *name;
    float arousal, valence;
};

static const struct emotion EMOTIONS[] = {
    {"excited", 1.0f, 1.0f},
    {"frustrated", 1.0f, -1.0f},
    {"calm", -1.0f, 1.0f},
    {"depleted", -1.0f, -1.0f},
};

static void random_unit(float *x, int n, uint64_t stream)
{
    double norm = 0;
    for (int i = 0; i < n; i++) {
        x[i] = uniform_pm1(&stream);
        norm += (double)x[i] * x[i];
    }
    float k = (float)(1.0 / sqrt(norm));
    for (int i = 0; i < n; i++) x[i] *= k;
}

static int make_cvecs(const char *out_dir, uint64_t seed)
{
    buf dir = BUF_INIT;
    if (buf_printf(&dir, "%s/cvec", out_dir)) return -ENOMEM;
    int rc = make_dir(dir.data);
    float a[CHAT_LAYERS + 1][CHAT_EMBD], v[CHAT_LAYERS + 1][CHAT_EMBD];
    char nm[64];
    for (int il = 1; il <= CHAT_LAYERS; il++) {
        snprintf(nm, sizeof nm, "cvec.arousal.%d", il);
        random_unit(a[il], CHAT_EMBD, stream_id(seed, nm));
        snprintf(nm, sizeof nm, "cvec.valence.%d", il);
        random_unit(v[il], CHAT_EMBD, stream_id(seed, nm));
        double dot = 0, norm = 0; /* Gram-Schmidt: valence orthogonal to arousal */
        for (int i = 0; i < CHAT_EMBD; i++) dot += (double)a[il][i] * v[il][i];
        for (int i = 0; i < CHAT_EMBD; i++) {
            v[il][i] -= (float)dot * a[il][i];
            norm += (double)v[il][i] * v[il][i];
        }
        for (int i = 0; i < CHAT_EMBD; i++) v[il][i] *= (float)(1.0 / sqrt(norm));
    }
    for (size_t e = 0; e < sizeof EMOTIONS / sizeof EMOTIONS[0] && !rc; e++) {
        const struct emotion *em = &EMOTIONS[e];
        struct model m;
        rc = model_init(&m, seed);
        if (rc) break;
        gguf_set_val_str(m.gguf, "general.architecture", "controlvector");
        gguf_set_val_str(m.gguf, "controlvector.model_hint", "llama");
        gguf_set_val_i32(m.gguf, "controlvector.layer_count", CHAT_LAYERS);
        const float k = CVEC_NORM / sqrtf(2.0f);
        for (int il = 1; il <= CHAT_LAYERS && !rc; il++) {
            snprintf(nm, sizeof nm, "direction.%d", il);
            float *d = model_tensor(&m, nm, CHAT_EMBD, 0);
            if (!d) {
                rc = -ENOMEM;
                break;
            }
            for (int i = 0; i < CHAT_EMBD; i++) d[i] = k * (em->arousal * a[il][i] + em->valence * v[il][i]);
        }
        buf file = BUF_INIT;
        char what[96];
        snprintf(what, sizeof what, "control vector, arousal %+g valence %+g, norm %g, layers 1..%d", em->arousal,
                 em->valence, CVEC_NORM, CHAT_LAYERS);
        if (!rc && buf_printf(&file, "%s.gguf", em->name)) rc = -ENOMEM;
        if (!rc) rc = finish(&m, dir.data, file.data, what);
        buf_free(&file);
        model_free(&m);
    }
    buf_free(&dir);
    return rc;
}

/* ---- main ------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f, "usage: mkmodel [--vocab-dir DIR] --out-dir OUT [--seed N]\n"
               "  Writes OUT/tiny-chat.gguf, OUT/tiny-embed.gguf and\n"
               "  OUT/cvec/{excited,frustrated,calm,depleted}.gguf: random-weight test models\n"
               "  built on DIR/ggml-vocab-phi-3.gguf and DIR/ggml-vocab-bert-bge.gguf.\n"
               "  The same seed (default 42) gives byte-identical files.\n"
               "  DIR defaults to ../share/psyche/vocab next to this program (where\n"
               "  make install puts the two files).\n");
}

/* The installed vocab folder: <bindir>/../share/psyche/vocab, found from this
 * executable's own path so that a DESTDIR or relocated install works too.
 * Writes into out (size n); returns 0 or a negative errno. */
static int default_vocab_dir(char *out, size_t n)
{
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len < 0) return -errno;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return -ENOENT;
    *slash = '\0';
    int w = snprintf(out, n, "%s/../share/psyche/vocab", exe);
    return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

int main(int argc, char **argv)
{
    const char *vocab_dir = NULL, *out_dir = NULL;
    uint64_t seed = 42;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "mkmodel: unknown option or missing value: %s\n", arg);
            usage(stderr);
            return 2;
        }
        const char *val = argv[++i];
        if (!strcmp(arg, "--vocab-dir")) {
            vocab_dir = val;
        } else if (!strcmp(arg, "--out-dir")) {
            out_dir = val;
        } else if (!strcmp(arg, "--seed")) {
            char *end = NULL;
            errno = 0;
            seed = strtoull(val, &end, 0);
            if (errno || !end || *end || *val == '-') {
                fprintf(stderr, "mkmodel: --seed wants a non-negative integer, got '%s'\n", val);
                return 2;
            }
        } else {
            fprintf(stderr, "mkmodel: unknown option: %s\n", arg);
            usage(stderr);
            return 2;
        }
    }
    if (!out_dir) {
        fprintf(stderr, "mkmodel: --out-dir is required (the folder to write the models into)\n");
        usage(stderr);
        return 2;
    }
    char installed[4096 + 32];
    if (!vocab_dir) {
        if (default_vocab_dir(installed, sizeof installed)) {
            fprintf(stderr, "mkmodel: cannot find this program's folder; give --vocab-dir DIR\n");
            return 2;
        }
        vocab_dir = installed;
    }
    /* Check both vocab files before touching the output folder. */
    struct vocab v;
    if (vocab_open(&v, vocab_dir, "phi-3")) return 1;
    gguf_free(v.gguf);
    if (vocab_open(&v, vocab_dir, "bert-bge")) return 1;
    gguf_free(v.gguf);
    if (make_dir(out_dir)) return 1;
    if (make_chat(vocab_dir, out_dir, seed)) return 1;
    if (make_embed(vocab_dir, out_dir, seed)) return 1;
    if (make_cvecs(out_dir, seed)) return 1;
    return 0;
}
