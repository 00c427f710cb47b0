/* cvec.h - emotion control vectors: loading and blending.
 *
 * Four GGUF control vectors (excited, frustrated, calm, depleted), in the
 * format llama.cpp's cvector-generator writes (tensors "direction.<layer>",
 * one float per embedding dimension, layers from 1). Per request the engine
 * blends them with the emotional steering coefficients and hands the result
 * to llama_set_adapter_cvec. Pure data: no llama_* calls here. */
#ifndef ELPIS_CVEC_H
#define ELPIS_CVEC_H

#include <stdbool.h>
#include <stddef.h>

#define CVEC_N 4

typedef struct cvec_set {
    int n_embd;
    int n_layer;        /* the model's layers; buffers hold layers 1..n_layer */
    float *dir[CVEC_N]; /* owned; n_embd * n_layer floats each; NULL when not loaded */
    int loaded;         /* how many of the four were found */
} cvec_set;

extern const char *const cvec_names[CVEC_N]; /* excited, frustrated, calm, depleted */

/* Loads DIR/<name>.gguf for each emotion. A missing directory or file is not
 * an error (loaded says how many); a file that does not fit the model is.
 * Returns 0 or a negative errno with a message in err. */
int cvec_load(cvec_set *cv, const char *dir, int n_embd, int n_layer, char *err, size_t errlen);
void cvec_free(cvec_set *cv);

/* out (n_embd * n_layer floats) = sum of coef[i] * dir[i] over the loaded
 * vectors with coef >= 0.01; then each layer's vector is scaled down to at
 * most max_norm (0 = no cap). Returns false when nothing was blended. */
bool cvec_blend(const cvec_set *cv, const float coef[CVEC_N], double max_norm, float *out);

#endif
