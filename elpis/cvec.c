/* cvec.c - control vector files (gguf) and their per-request blend. */
#include "cvec.h"

#include "util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ggml.h>
#include <gguf.h>

const char *const cvec_names[CVEC_N] = {"excited", "frustrated", "calm", "depleted"};

static int load_one(const char *path, int n_embd, int n_layer, float *dst, char *err, size_t errlen)
{
    struct ggml_context *meta = NULL;
    struct gguf_init_params ip = {.no_alloc = false, .ctx = &meta};
    struct gguf_context *g = gguf_init_from_file(path, ip);
    if (!g) {
        snprintf(err, errlen, "%s: not a readable GGUF control vector", path);
        return -EINVAL;
    }
    int rc = 0, found = 0;
    for (int64_t i = 0; i < gguf_get_n_tensors(g); i++) {
        const char *name = gguf_get_tensor_name(g, i);
        int layer;
        if (strncmp(name, "direction.", 10) || parse_int(name + 10, INT_MIN, INT_MAX, &layer)) continue;
        struct ggml_tensor *t = ggml_get_tensor(meta, name);
        if (!t || t->type != GGML_TYPE_F32 || ggml_nelements(t) != n_embd) {
            snprintf(err, errlen, "%s: tensor %s must be %d float32 values (the model's n_embd)", path, name, n_embd);
            rc = -EINVAL;
            break;
        }
        if (layer < 1 || layer > n_layer) continue; /* a vector for more layers than we have: ignore the extra */
        memcpy(dst + (size_t)(layer - 1) * (size_t)n_embd, t->data, sizeof(float) * (size_t)n_embd);
        found++;
    }
    if (!rc && !found) {
        snprintf(err, errlen, "%s: no direction.<layer> tensors", path);
        rc = -EINVAL;
    }
    gguf_free(g);
    ggml_free(meta);
    return rc;
}

int cvec_load(cvec_set *cv, const char *dir, int n_embd, int n_layer, char *err, size_t errlen)
{
    memset(cv, 0, sizeof *cv);
    cv->n_embd = n_embd;
    cv->n_layer = n_layer;
    if (!dir || !*dir) return 0;
    for (int i = 0; i < CVEC_N; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.gguf", dir, cvec_names[i]);
        if (access(path, R_OK) != 0) continue;
        cv->dir[i] = calloc((size_t)n_embd * (size_t)n_layer, sizeof(float));
        if (!cv->dir[i]) {
            cvec_free(cv);
            return -ENOMEM;
        }
        int rc = load_one(path, n_embd, n_layer, cv->dir[i], err, errlen);
        if (rc) {
            cvec_free(cv);
            return rc;
        }
        cv->loaded++;
    }
    return 0;
}

void cvec_free(cvec_set *cv)
{
    for (int i = 0; i < CVEC_N; i++) {
        free(cv->dir[i]);
        cv->dir[i] = NULL;
    }
    cv->loaded = 0;
}

bool cvec_blend(const cvec_set *cv, const float coef[CVEC_N], double max_norm, float *out)
{
    size_t n = (size_t)cv->n_embd * (size_t)cv->n_layer;
    memset(out, 0, n * sizeof(float));
    bool any = false;
    for (int i = 0; i < CVEC_N; i++) {
        if (!cv->dir[i] || coef[i] < 0.01f) continue;
        for (size_t k = 0; k < n; k++) out[k] += coef[i] * cv->dir[i][k];
        any = true;
    }
    if (!any || max_norm <= 0) return any;
    for (int l = 0; l < cv->n_layer; l++) {
        float *v = out + (size_t)l * (size_t)cv->n_embd;
        double s = 0;
        for (int k = 0; k < cv->n_embd; k++) s += (double)v[k] * v[k];
        double norm = sqrt(s);
        if (norm > max_norm) {
            float scale = (float)(max_norm / norm);
            for (int k = 0; k < cv->n_embd; k++) v[k] *= scale;
        }
    }
    return true;
}
