/* budget.c - GGUF metadata and the memory estimate behind --doctor and
 * gpu_layers = auto. */
#include "budget.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <ggml.h>
#include <gguf.h>

static int64_t kv_int(const struct gguf_context *g, const char *arch, const char *suffix, int64_t def)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int64_t id = gguf_find_key(g, key);
    if (id < 0) return def;
    switch (gguf_get_kv_type(g, id)) {
    case GGUF_TYPE_UINT32: return gguf_get_val_u32(g, id);
    case GGUF_TYPE_INT32: return gguf_get_val_i32(g, id);
    case GGUF_TYPE_UINT64: return (int64_t)gguf_get_val_u64(g, id);
    case GGUF_TYPE_INT64: return gguf_get_val_i64(g, id);
    default: return def;
    }
}

int model_meta_read(const char *path, model_meta *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        snprintf(err, errlen, "model file '%s': %s (point --model or [model] path to a GGUF file)", path, strerror(e));
        return -e;
    }
    m->file_bytes = (uint64_t)st.st_size;
    struct ggml_context *meta = NULL;
    struct gguf_init_params ip = {.no_alloc = true, .ctx = &meta};
    struct gguf_context *g = gguf_init_from_file(path, ip);
    if (!g) {
        snprintf(err, errlen, "model file '%s' is not a valid GGUF file", path);
        return -EINVAL;
    }
    int64_t id = gguf_find_key(g, "general.architecture");
    snprintf(m->arch, sizeof m->arch, "%s", id >= 0 ? gguf_get_val_str(g, id) : "unknown");
    id = gguf_find_key(g, "general.name");
    snprintf(m->name, sizeof m->name, "%s", id >= 0 ? gguf_get_val_str(g, id) : "");
    m->n_layer = (int)kv_int(g, m->arch, "block_count", 0);
    m->n_embd = (int)kv_int(g, m->arch, "embedding_length", 0);
    m->n_head = (int)kv_int(g, m->arch, "attention.head_count", 1);
    m->n_head_kv = (int)kv_int(g, m->arch, "attention.head_count_kv", m->n_head);
    m->n_ctx_train = (int)kv_int(g, m->arch, "context_length", 0);
    id = gguf_find_key(g, "tokenizer.ggml.tokens");
    m->n_vocab = id >= 0 ? (int)gguf_get_arr_n(g, id) : 0;
    for (int64_t i = 0; i < gguf_get_n_tensors(g); i++) {
        struct ggml_tensor *t = ggml_get_tensor(meta, gguf_get_tensor_name(g, i));
        if (!t) continue;
        m->n_params += (uint64_t)ggml_nelements(t);
        uint64_t bytes = (uint64_t)ggml_nbytes(t);
        m->tensor_bytes += bytes;
        if (!strncmp(t->name, "blk.", 4)) m->layer_bytes += bytes;
    }
    gguf_free(g);
    ggml_free(meta);
    if (m->n_head <= 0) m->n_head = 1;
    if (m->n_head_kv <= 0) m->n_head_kv = m->n_head;
    return 0;
}

void budget_compute(const model_meta *m, int n_ctx_total, int n_batch, int gpu_layers, mem_budget *b)
{
    memset(b, 0, sizeof *b);
    int L = m->n_layer > 0 ? m->n_layer : 1;
    if (gpu_layers < 0 || gpu_layers > L) gpu_layers = L;
    b->gpu_layers = gpu_layers;
    uint64_t per_layer = m->layer_bytes / (uint64_t)L;
    uint64_t rest = m->tensor_bytes - m->layer_bytes; /* embeddings, output head */
    b->weights_gpu = per_layer * (uint64_t)gpu_layers + (gpu_layers == L ? rest / 2 : 0);
    b->weights_cpu = m->tensor_bytes - b->weights_gpu;
    uint64_t n_embd_kv = (uint64_t)m->n_embd * (uint64_t)m->n_head_kv / (uint64_t)m->n_head;
    uint64_t kv_per_layer = 2ull * (uint64_t)n_ctx_total * n_embd_kv * 2ull; /* K and V, f16 */
    b->kv_bytes = kv_per_layer * (uint64_t)L;
    /* Compute buffers: logits for a batch, attention scores for a batch over
     * the context, and activations; an estimate, documented as such. */
    uint64_t nb = (uint64_t)(n_batch > 0 ? n_batch : 512);
    b->compute_bytes = nb * (uint64_t)m->n_vocab * 4ull + nb * (uint64_t)n_ctx_total * (uint64_t)m->n_head * 4ull +
                       nb * (uint64_t)m->n_embd * 4ull * 16ull;
    uint64_t kv_gpu = kv_per_layer * (uint64_t)gpu_layers;
    b->gpu_total = gpu_layers ? b->weights_gpu + kv_gpu + b->compute_bytes : 0;
    b->cpu_total = b->weights_cpu + (b->kv_bytes - kv_gpu) + (gpu_layers ? 0 : b->compute_bytes);
}

int budget_auto_layers(const model_meta *m, int n_ctx_total, int n_batch, uint64_t free_bytes)
{
    const uint64_t margin = 512ull << 20; /* driver, fragmentation, CUDA graphs */
    if (free_bytes <= margin) return 0;
    int best = 0;
    for (int l = 1; l <= m->n_layer; l++) {
        mem_budget b;
        budget_compute(m, n_ctx_total, n_batch, l, &b);
        if (b.gpu_total + margin <= free_bytes) best = l;
    }
    return best;
}

void budget_fmt_bytes(uint64_t n, char *out, size_t outlen)
{
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int i = 0;
    while (v >= 1024 && i < 4) v /= 1024, i++;
    snprintf(out, outlen, i ? "%.2f %s" : "%.0f %s", v, u[i]);
}
