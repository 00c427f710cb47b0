/* embed.h - text embeddings for Mnemosyne's vector leg and consolidation.
 *
 * Two kinds behind one handle:
 *  - hashed (default): a deterministic hashed-feature embedding. Words (minus
 *    a stop list, with plural folding), word bigrams and character trigrams
 *    are hashed (FNV-1a, signed) into `dim` buckets and the vector is
 *    L2-normalised. No model, no state, the same vector on every machine.
 *  - llama: an embedding GGUF loaded in-process with libllama; mean pooling
 *    over the tokens, L2-normalised.
 *
 * THREADING: a llama embedder may be used by one thread only, and in
 * Mnemosyne that is the MCP/protocol thread: nothing else in this program
 * calls llama_*. The hashed functions are pure and thread-safe.
 *
 * Errors: 0 or a negative errno, with a message in err. */
#ifndef MEM_EMBED_H
#define MEM_EMBED_H

#include <stdbool.h>
#include <stddef.h>

#define MEM_EMBED_DIM_MIN 16
#define MEM_EMBED_DIM_MAX 4096

typedef struct mem_embedder mem_embedder;

typedef struct mem_embed_params {
    const char *model_path; /* embedding GGUF; NULL or "" = hashed */
    int dim;                /* hashed dimension, default 256 */
    int n_ctx;              /* llama: tokens per text (longer texts are truncated), default 512 */
    int n_threads;          /* llama: threads, default 2 */
    int gpu_layers;         /* llama: layers offloaded, default 0 */
} mem_embed_params;

void mem_embed_default_params(mem_embed_params *p);

/* Opens an embedder. For a model: loads it (the llama backend is initialised
 * once per process), and fails with -ENOENT / -EINVAL and a message that
 * names the file when it cannot be loaded or has no embeddings. */
int mem_embedder_open(const mem_embed_params *p, mem_embedder **out, char *err, size_t errlen);
void mem_embedder_free(mem_embedder *e);

int mem_embedder_dim(const mem_embedder *e);
bool mem_embedder_is_llama(const mem_embedder *e);
/* Identity stored with every vector, e.g. "hashed-ngram-v1/256" or
 * "gguf:tiny-embed.gguf/64": vectors with another identity are recomputed. */
const char *mem_embedder_name(const mem_embedder *e);

/* Embeds text[0..len) into out[dim], L2-normalised (all zeros when the text
 * has no features). Returns 0, -EINVAL (decode failed) or -ENOMEM. */
int mem_embed(mem_embedder *e, const char *text, size_t len, float *out);

/* The hashed embedding on its own (pure). */
void mem_embed_hashed(const char *text, size_t len, int dim, float *out);

/* Normalises v in place; returns the norm it had. */
double mem_vec_normalise(float *v, int dim);

/* Dot product of two float vectors (the cosine of unit vectors). */
float mem_vec_dot(const float *a, const float *b, int dim);

#endif
