/* doctor.c - the diagnostic report of `elpis --doctor`: build, devices, model
 * metadata and the memory budget for the configured context and gpu_layers.
 * It runs before any engine exists, on the main thread, and loads no weights. */
#include "doctor.h"

#include <stdio.h>
#include <string.h>

#include <ggml-backend.h>
#include <ggml-cpu.h>
#include <llama.h>

#include "budget.h"
#include "rpc.h"

/* "== build": versions and CPU features. Returns whether GPU offload is built in. */
static bool print_build(FILE *out)
{
    fprintf(out, "== build\n");
    fprintf(out, "llama.cpp           %s\n", LLAMA_CPP_VERSION);
    fprintf(out, "system              %s\n", llama_print_system_info());
    fprintf(out, "CPU features        AVX2 %s, AVX-512 %s, F16C %s, FMA %s\n", ggml_cpu_has_avx2() ? "yes" : "no",
            ggml_cpu_has_avx512() ? "yes" : "no", ggml_cpu_has_f16c() ? "yes" : "no",
            ggml_cpu_has_fma() ? "yes" : "no");
    bool gpu = llama_supports_gpu_offload();
    fprintf(out, "GPU offload         %s\n",
            gpu ? "supported"
                : "NOT supported: this is a CPU-only build; gpu_layers is ignored (make clean && make LLAMA_CUDA=1)");
    return gpu;
}

/* "== devices": one line per backend device. Returns the most free memory of one GPU. */
static uint64_t print_devices(FILE *out)
{
    fprintf(out, "\n== devices\n");
    uint64_t gpu_free = 0;
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t d = ggml_backend_dev_get(i);
        size_t fr = 0, tot = 0;
        ggml_backend_dev_memory(d, &fr, &tot);
        enum ggml_backend_dev_type t = ggml_backend_dev_type(d);
        const char *kind = t == GGML_BACKEND_DEVICE_TYPE_CPU    ? "CPU"
                           : t == GGML_BACKEND_DEVICE_TYPE_GPU  ? "GPU"
                           : t == GGML_BACKEND_DEVICE_TYPE_IGPU ? "iGPU"
                                                                : "accel";
        char f[32], tt[32];
        budget_fmt_bytes(fr, f, sizeof f);
        budget_fmt_bytes(tot, tt, sizeof tt);
        fprintf(out, "%-5s %-12s %s: %s free of %s\n", kind, ggml_backend_dev_name(d), ggml_backend_dev_description(d),
                f, tt);
        if ((t == GGML_BACKEND_DEVICE_TYPE_GPU || t == GGML_BACKEND_DEVICE_TYPE_IGPU) && fr > gpu_free) gpu_free = fr;
    }
    return gpu_free;
}

/* "== model": the metadata read from the file's header. */
static void print_model(FILE *out, const char *path, const model_meta *m)
{
    char sz[32];
    budget_fmt_bytes(m->file_bytes, sz, sizeof sz);
    fprintf(out, "path                %s\n", path);
    fprintf(out, "name                %s\n", m->name[0] ? m->name : "(none)");
    fprintf(out, "architecture        %s\n", m->arch);
    fprintf(out, "layers              %d\n", m->n_layer);
    fprintf(out, "embedding           %d (heads %d, kv heads %d)\n", m->n_embd, m->n_head, m->n_head_kv);
    fprintf(out, "vocabulary          %d tokens\n", m->n_vocab);
    fprintf(out, "parameters          %llu\n", (unsigned long long)m->n_params);
    fprintf(out, "file size           %s\n", sz);
    fprintf(out, "trained context     %d\n", m->n_ctx_train);
}

/* The budget's lines, once the layers and context are decided. */
static void print_budget_lines(FILE *out, const model_meta *m, const mem_budget *b, uint64_t gpu_free, const char *how)
{
    char wg[32], wc[32], kv[32], cb[32], gt[32], ct[32], gf[32];
    budget_fmt_bytes(b->weights_gpu, wg, sizeof wg);
    budget_fmt_bytes(b->weights_cpu, wc, sizeof wc);
    budget_fmt_bytes(b->kv_bytes, kv, sizeof kv);
    budget_fmt_bytes(b->compute_bytes, cb, sizeof cb);
    budget_fmt_bytes(b->gpu_total, gt, sizeof gt);
    budget_fmt_bytes(b->cpu_total, ct, sizeof ct);
    budget_fmt_bytes(gpu_free, gf, sizeof gf);
    fprintf(out, "gpu layers          %d of %d (%s)\n", b->gpu_layers, m->n_layer, how);
    fprintf(out, "weights on GPU      %s\n", wg);
    fprintf(out, "weights on CPU      %s\n", wc);
    fprintf(out, "KV cache (f16)      %s\n", kv);
    fprintf(out, "compute buffers     %s (estimate)\n", cb);
    fprintf(out, "total GPU           %s (free: %s)\n", gt, gf);
    fprintf(out, "total CPU RAM       %s\n", ct);
}

/* "== memory budget": what the configured context and gpu_layers would take, and whether it fits. */
static void print_budget(FILE *out, const engine_params *p, const model_meta *m, bool gpu, uint64_t gpu_free)
{
    int n_ctx = p->n_ctx > 0 ? p->n_ctx : m->n_ctx_train;
    if (m->n_ctx_train > 0 && n_ctx > m->n_ctx_train) n_ctx = m->n_ctx_train; /* as the engine does */
    int n_seq = (p->slots > 0 ? p->slots : 1) + 1;                            /* the slots + the background sequence */
    int n_ctx_total = n_ctx * n_seq;
    int layers = p->n_gpu_layers;
    const char *how = "configured";
    if (p->n_rpc_servers && layers == 0) layers = m->n_layer, how = "all, to the rpc servers";
    if (layers < 0) {
        layers = gpu ? budget_auto_layers(m, n_ctx_total, p->n_batch, gpu_free) : 0;
        how = "auto";
    } else if (!gpu) {
        layers = 0;
        how = p->n_gpu_layers ? "configured, but ignored by this CPU-only build" : "configured";
    }
    mem_budget b;
    budget_compute(m, n_ctx_total, p->n_batch, layers, &b);
    if (p->n_rpc_servers) elpis_rpc_report(p->rpc_servers, p->n_rpc_servers, m->n_layer, layers, out);
    fprintf(out, "\n== memory budget (context %d x %d sequences: %d slots + background, batch %d)\n", n_ctx, n_seq,
            n_seq - 1, p->n_batch);
    print_budget_lines(out, m, &b, gpu_free, how);
    if (gpu && b.gpu_total > gpu_free && layers > 0)
        fprintf(out, "verdict             does NOT fit the GPU: lower gpu_layers (auto would pick %d) or ctx\n",
                budget_auto_layers(m, n_ctx_total, p->n_batch, gpu_free));
    else fprintf(out, "verdict             fits%s\n", layers ? "" : " (CPU only)");
}

int elpis_doctor(const engine_params *p, FILE *out)
{
    llama_backend_init();
    char err[512];
    int rc = elpis_rpc_add(p->rpc_servers, p->n_rpc_servers, err, sizeof err);
    if (rc) {
        fprintf(stderr, "elpis: %s\n", err);
        llama_backend_free();
        return rc;
    }
    bool gpu = print_build(out);
    uint64_t gpu_free = print_devices(out);
    fprintf(out, "\n== model\n");
    model_meta m;
    if (!p->model_path || !*p->model_path) {
        fprintf(out, "no model configured (--model PATH, [model] path or ELPIS_MODEL_PATH)\n");
    } else if ((rc = model_meta_read(p->model_path, &m, err, sizeof err))) {
        fprintf(out, "%s\n", err);
        fprintf(stderr, "elpis: %s\n", err); /* the one line a script sees; exit status 1 */
    } else {
        print_model(out, p->model_path, &m);
        print_budget(out, p, &m, gpu, gpu_free);
    }
    llama_backend_free();
    return rc;
}
