/* budget.h - what a model costs in memory, read from its GGUF header alone.
 *
 * The original's user had to work out by hand why a model did not fit: VRAM
 * holds the offloaded weights, the KV cache and the compute buffers. This
 * module reads the GGUF metadata (no weights are loaded, no llama_* calls, so
 * any thread may use it) and estimates each part; `elpis --doctor` prints it
 * and `gpu_layers = auto` picks the most layers that fit. */
#ifndef ELPIS_BUDGET_H
#define ELPIS_BUDGET_H

#include <stddef.h>
#include <stdint.h>

typedef struct model_meta {
    char arch[64];
    char name[128];
    int n_layer, n_embd, n_head, n_head_kv, n_ctx_train, n_vocab;
    uint64_t n_params;
    uint64_t tensor_bytes; /* all weights */
    uint64_t layer_bytes;  /* weights of the repeating blocks, all layers */
    uint64_t file_bytes;
} model_meta;

/* Returns 0 or a negative errno with a message in err. */
int model_meta_read(const char *path, model_meta *m, char *err, size_t errlen);

typedef struct mem_budget {
    int gpu_layers; /* layers offloaded (clamped to n_layer) */
    uint64_t weights_gpu, weights_cpu;
    uint64_t kv_bytes;      /* f16 K and V for every sequence */
    uint64_t compute_bytes; /* estimate of the scheduler's buffers */
    uint64_t gpu_total, cpu_total;
} mem_budget;

/* n_ctx_total: cells over all sequences. gpu_layers < 0 means all layers. */
void budget_compute(const model_meta *m, int n_ctx_total, int n_batch, int gpu_layers, mem_budget *b);

/* The largest layer count whose GPU total fits free_bytes minus a margin. */
int budget_auto_layers(const model_meta *m, int n_ctx_total, int n_batch, uint64_t free_bytes);

/* "1.25 GiB" */
void budget_fmt_bytes(uint64_t n, char *out, size_t outlen);

#endif
