/* engine.c - the inference thread: model, context, KV-cache reuse, sampling.
 *
 * Only engine_thread() and the functions it calls touch llama_* (asserted by
 * OWNER_ONLY in every one of them). Other threads reach this file through
 * engine_submit/engine_cancel/engine_pending/engine_close, which only touch
 * the queue under e->mu. */
#include "engine.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ggml-backend.h>

#include "budget.h"
#include "engine_int.h"
#include "rpc.h"
#include "log.h"
#include "util.h"

const char *gen_finish_name(gen_finish f)
{
    static const char *n[] = {"stop", "length", "context_full", "cancelled", "error"};
    return (unsigned)f < 5 ? n[f] : "?";
}

void engine_default_params(engine_params *p)
{
    memset(p, 0, sizeof *p);
    p->n_ctx = 4096;
    p->n_threads = 0;
    p->n_gpu_layers = 0;
    p->n_batch = 512;
    p->slots = 2;
    p->seed = 42;
    p->cvec_max_norm = 4.0;
}

static void llama_log_cb(enum ggml_log_level level, const char *text, void *ud)
{
    (void)ud;
    /* CONT continues the previous line: it takes that line's level (it is not an error). */
    static _Thread_local log_level last = LOG_DEBUG;
    log_level l = level == GGML_LOG_LEVEL_CONT    ? last
                  : level == GGML_LOG_LEVEL_ERROR ? LOG_ERROR
                  : level == GGML_LOG_LEVEL_WARN  ? LOG_WARN
                                                  : LOG_DEBUG;
    /* The GGUF reader's complaints always come back to us as an error that
     * model_meta_read words for the user; its own line is detail. */
    if (level == GGML_LOG_LEVEL_ERROR && !strncmp(text, "gguf_", 5)) l = LOG_DEBUG;
    last = l;
    size_t n = strlen(text);
    while (n && text[n - 1] == '\n') n--;
    if (!n) return;
    log_msg(l, "llama: %.*s", (int)n, text);
}

bool engine_job_cancelled(gen_job *job)
{
    return __atomic_load_n(&job->cancel, __ATOMIC_ACQUIRE) || (job->is_cancelled && job->is_cancelled(job));
}

int engine_job_append(gen_job *job, buf *raw, bool final)
{
    size_t before = job->content.len, used = 0;
    int rc = utf8_append_sanitized(&job->content, buf_str(raw), raw->len, final, &used);
    buf_consume(raw, used);
    if (job->content.len > before && job->on_piece)
        job->on_piece(job, job->content.data + before, job->content.len - before);
    if (rc) snprintf(job->error, sizeof job->error, "out of memory storing the reply");
    return rc;
}

void engine_route_llama_log(void) { llama_log_set(llama_log_cb, NULL); }

static bool abort_cb(void *data)
{
    engine *e = data; /* engine thread (or its compute workers, after the decode started) */
    return __atomic_load_n(&e->stop_flag, __ATOMIC_ACQUIRE) || slots_batch_cancelled(e);
}

static int cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static uint64_t gpu_free_bytes(void)
{
    uint64_t best = 0;
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t d = ggml_backend_dev_get(i);
        enum ggml_backend_dev_type t = ggml_backend_dev_type(d);
        if (t != GGML_BACKEND_DEVICE_TYPE_GPU && t != GGML_BACKEND_DEVICE_TYPE_IGPU) continue;
        size_t fr = 0, tot = 0;
        ggml_backend_dev_memory(d, &fr, &tot);
        if (fr > best) best = fr;
    }
    return best;
}

/* ------------------------------------------------------------- loading */

/* The context per sequence: [model] ctx, else the trained one (at most that). */
static int pick_ctx(const engine_params *p, const model_meta *mm)
{
    int n_ctx = p->n_ctx > 0 ? p->n_ctx : (mm->n_ctx_train > 0 ? mm->n_ctx_train : 4096);
    if (mm->n_ctx_train > 0 && n_ctx > mm->n_ctx_train) {
        log_warn("[model] ctx = %d is more than the model was trained for (%d); using %d", n_ctx, mm->n_ctx_train,
                 mm->n_ctx_train);
        n_ctx = mm->n_ctx_train;
    }
    return n_ctx;
}

/* The layers to offload: gpu_layers, resolved for "auto" (< 0) and rpc servers. */
static int pick_layers(engine *e, const model_meta *mm, int n_ctx)
{
    const engine_params *p = &e->p;
    int layers = p->n_gpu_layers;
    if (p->n_rpc_servers && layers == 0) {
        layers = ENGINE_GPU_LAYERS_ALL; /* rpc_servers without gpu_layers: every layer goes to the servers */
        log_info("rpc_servers: offloading all layers to %zu rpc-server(s)", p->n_rpc_servers);
    } else if (layers == ENGINE_GPU_LAYERS_AUTO) {
        layers =
            e->info.gpu_offload_supported ? budget_auto_layers(mm, n_ctx * e->n_seq, p->n_batch, gpu_free_bytes()) : 0;
        log_info("gpu_layers = auto: %d of %d layers fit free device memory", layers, mm->n_layer);
    } else if (layers > 0 && !e->info.gpu_offload_supported) {
        log_warn("gpu_layers = %d was asked, but this llama.cpp build is CPU-only: NO layers will be offloaded. "
                 "Rebuild with CUDA: make clean && make LLAMA_CUDA=1",
                 layers);
    }
    return layers;
}

/* The llama context (n_ctx cells per sequence), its slots and the batch. */
static int create_context(engine *e, int n_ctx)
{
    const engine_params *p = &e->p;
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)(n_ctx * e->n_seq);
    cp.n_seq_max = (uint32_t)e->n_seq;
    cp.kv_unified = false; /* each sequence gets its own n_ctx cells */
    cp.n_batch = (uint32_t)p->n_batch;
    cp.n_ubatch = (uint32_t)p->n_batch;
    cp.n_threads = p->n_threads > 0 ? p->n_threads : cores();
    cp.n_threads_batch = cp.n_threads;
    cp.abort_callback = abort_cb;
    cp.abort_callback_data = e;
    cp.no_perf = true;
    e->ctx = llama_init_from_model(e->model, cp);
    if (!e->ctx) {
        snprintf(e->load_err, sizeof e->load_err,
                 "llama.cpp could not create a context of %d tokens x %d sequences (out of memory? try a smaller "
                 "[model] ctx)",
                 n_ctx, e->n_seq);
        return -ENOMEM;
    }
    e->info.n_threads = cp.n_threads;
    e->pad_holes =
        !llama_model_is_recurrent(e->model) && !llama_model_is_hybrid(e->model) && llama_model_n_swa(e->model) == 0;
    if (slots_init(e, n_ctx)) return -ENOMEM;
    e->batch = llama_batch_init(p->n_batch, 0, 1);
    e->have_batch = true;
    return 0;
}

/* What engine_info says about the loaded model. */
static void fill_info(engine *e, const model_meta *mm, int n_ctx)
{
    engine_info *in = &e->info;
    snprintf(in->backend, sizeof in->backend, "llama.cpp");
    snprintf(in->model_path, sizeof in->model_path, "%s", e->p.model_path);
    snprintf(in->arch, sizeof in->arch, "%s", mm->arch);
    llama_model_desc(e->model, in->desc, sizeof in->desc);
    in->n_params = llama_model_n_params(e->model);
    in->size_bytes = llama_model_size(e->model);
    in->n_layer = llama_model_n_layer(e->model);
    in->n_embd = llama_model_n_embd(e->model);
    in->n_ctx_train = llama_model_n_ctx_train(e->model);
    in->n_ctx = (int)llama_n_ctx_seq(e->ctx);
    if (in->n_ctx > n_ctx) in->n_ctx = n_ctx;
    in->n_slots = e->p.slots;
}

/* Chat template: config override, else the model's, else chatml. */
static void pick_template(engine *e)
{
    engine_info *in = &e->info;
    if (e->p.chat_template && *e->p.chat_template) {
        e->tmpl = e->p.chat_template;
        snprintf(in->chat_template, sizeof in->chat_template, "%s", e->p.chat_template);
    } else {
        e->tmpl = llama_model_chat_template(e->model, NULL);
        snprintf(in->chat_template, sizeof in->chat_template, "%s", e->tmpl ? "model" : "chatml");
    }
    struct llama_chat_message probe = {"user", "hi"};
    char tbuf[256];
    if (!e->tmpl || llama_chat_apply_template(e->tmpl, &probe, 1, true, tbuf, sizeof tbuf) < 0) {
        if (e->tmpl) log_warn("chat template '%s' is not supported by llama.cpp; using chatml", in->chat_template);
        e->tmpl = "chatml";
        snprintf(in->chat_template, sizeof in->chat_template, "chatml");
    }
}

/* Steering vectors from cvec_dir, when there are any. */
static int load_steering(engine *e)
{
    engine_info *in = &e->info;
    const char *dir = e->p.cvec_dir;
    int rc = cvec_load(&e->cvecs, dir, in->n_embd, in->n_layer, e->load_err, sizeof e->load_err);
    if (rc) return rc;
    if (e->cvecs.loaded) {
        e->cvec_buf = malloc(sizeof(float) * (size_t)in->n_embd * (size_t)in->n_layer);
        if (!e->cvec_buf) return -ENOMEM;
        in->steering = true;
        log_info("steering: %d control vectors from %s", e->cvecs.loaded, dir);
    } else if (dir && *dir) {
        log_warn("steering: no control vectors in %s (expected excited.gguf, frustrated.gguf, calm.gguf, "
                 "depleted.gguf); sampling modulation only",
                 dir);
    }
    return 0;
}

static int load(engine *e)
{
    OWNER_ONLY(e);
    const engine_params *p = &e->p;
    double t0 = now_mono();
    engine_route_llama_log();
    llama_backend_init();
    e->info.gpu_offload_supported = llama_supports_gpu_offload();
    log_info("llama.cpp system: %s", llama_print_system_info());
    log_info("GPU offload supported by this build: %s", e->info.gpu_offload_supported ? "yes" : "no");

    model_meta mm;
    int rc = model_meta_read(p->model_path, &mm, e->load_err, sizeof e->load_err);
    if (rc) return rc;
    int n_ctx = pick_ctx(p, &mm);
    rc = elpis_rpc_add(p->rpc_servers, p->n_rpc_servers, e->load_err, sizeof e->load_err);
    if (rc) return rc;
    int layers = pick_layers(e, &mm, n_ctx);
    e->info.gpu_layers = layers;

    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = layers;
    e->model = llama_model_load_from_file(p->model_path, mp);
    if (!e->model) {
        snprintf(e->load_err, sizeof e->load_err,
                 "llama.cpp could not load '%s' (unsupported architecture or damaged file; see the log)",
                 p->model_path);
        return -EINVAL;
    }
    e->vocab = llama_model_get_vocab(e->model);
    if ((rc = create_context(e, n_ctx))) return rc;
    fill_info(e, &mm, n_ctx);
    pick_template(e);
    if ((rc = load_steering(e))) return rc;

    engine_info *in = &e->info;
    in->load_seconds = now_mono() - t0;
    char sz[32];
    budget_fmt_bytes(in->size_bytes, sz, sizeof sz);
    log_info("model loaded: %s (%s, %s, %llu params, %d layers) in %.2f s; context %d tokens per sequence, %d "
             "threads, %d slots + 1 background, gpu_layers %d, template %s",
             p->model_path, in->desc, sz, (unsigned long long)in->n_params, in->n_layer, in->load_seconds, in->n_ctx,
             in->n_threads, in->n_slots, layers, in->chat_template);
    return 0;
}

static void unload(engine *e)
{
    OWNER_ONLY(e);
    slots_free(e);
    if (e->have_batch) llama_batch_free(e->batch);
    cvec_free(&e->cvecs);
    free(e->cvec_buf);
    if (e->ctx) llama_free(e->ctx);
    if (e->model) llama_model_free(e->model);
    llama_backend_free();
}

/* -------------------------------------------------------------- prompts */

/* Renders messages with the chat template; returns 0 or -EINVAL with job->error set. */
int engine_render(engine *e, gen_job *job, buf *out, bool add_assistant)
{
    OWNER_ONLY(e);
    int n = cJSON_GetArraySize(job->messages);
    struct llama_chat_message *msgs = calloc((size_t)(n ? n : 1), sizeof *msgs);
    if (!msgs) return -ENOMEM;
    size_t total = 0;
    int i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, job->messages)
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        msgs[i].role = cJSON_IsString(role) ? role->valuestring : "user";
        msgs[i].content = cJSON_IsString(content) ? content->valuestring : "";
        total += strlen(msgs[i].role) + strlen(msgs[i].content);
        i++;
    }
    int rc = 0;
    size_t cap = total * 2 + 256;
    for (int attempt = 0; attempt < 2; attempt++) {
        buf_reset(out);
        if (buf_reserve(out, cap)) {
            rc = -ENOMEM;
            break;
        }
        int32_t len = llama_chat_apply_template(e->tmpl, msgs, (size_t)n, add_assistant, out->data, (int32_t)cap);
        if (len < 0) {
            snprintf(job->error, sizeof job->error, "the chat template could not render these messages");
            rc = -EINVAL;
            break;
        }
        if ((size_t)len < cap) {
            out->len = (size_t)len;
            out->data[len] = '\0';
            break;
        }
        cap = (size_t)len + 1;
    }
    free(msgs);
    return rc;
}

/* Tokenizes text; *toks is malloc'd. Returns the count or a negative errno. */
int engine_tokenize(engine *e, const char *text, size_t len, bool special, llama_token **toks)
{
    OWNER_ONLY(e);
    if (len > INT32_MAX / 2) return -E2BIG;
    int32_t cap = (int32_t)len + 8;
    *toks = malloc(sizeof(llama_token) * (size_t)cap);
    if (!*toks) return -ENOMEM;
    int32_t n = llama_tokenize(e->vocab, text, (int32_t)len, *toks, cap, special, true);
    if (n < 0 && n != INT32_MIN) {
        cap = -n;
        llama_token *t = realloc(*toks, sizeof(llama_token) * (size_t)cap);
        if (!t) {
            free(*toks);
            *toks = NULL;
            return -ENOMEM;
        }
        *toks = t;
        n = llama_tokenize(e->vocab, text, (int32_t)len, *toks, cap, special, true);
    }
    if (n < 0) {
        free(*toks);
        *toks = NULL;
        return -E2BIG;
    }
    return n;
}

/* ----------------------------------------------------------- generation */

void engine_apply_steering(engine *e, gen_job *job)
{
    OWNER_ONLY(e);
    if (!e->info.steering) return;
    bool want = job->steer && cvec_blend(&e->cvecs, job->steering, e->p.cvec_max_norm, e->cvec_buf);
    if (!want && !e->cvec_active) return;
    int lo = e->p.cvec_layer_start > 0 ? e->p.cvec_layer_start : 1;
    int hi = e->p.cvec_layer_end > 0 && e->p.cvec_layer_end <= e->info.n_layer ? e->p.cvec_layer_end : e->info.n_layer;
    size_t len = (size_t)e->info.n_embd * (size_t)e->info.n_layer;
    int32_t r = llama_set_adapter_cvec(e->ctx, want ? e->cvec_buf : NULL, want ? len : 0, e->info.n_embd, lo, hi);
    if (r != 0) log_warn("llama_set_adapter_cvec failed (%d); generating without steering", r);
    e->cvec_active = want && r == 0;
}

void engine_run_count(engine *e, gen_job *job)
{
    OWNER_ONLY(e);
    buf text = BUF_INIT;
    const char *s = job->text;
    size_t len = s ? strlen(s) : 0;
    bool special = false;
    if (job->messages) {
        if (engine_render(e, job, &text, false)) {
            job->finish = GEN_ERROR;
            buf_free(&text);
            return;
        }
        s = buf_str(&text), len = text.len, special = true;
    }
    llama_token *toks = NULL;
    int n = engine_tokenize(e, s ? s : "", len, special, &toks);
    if (n < 0) {
        snprintf(job->error, sizeof job->error, "could not tokenize (%s)", strerror(-n));
        job->finish = GEN_ERROR;
    } else {
        job->prompt_tokens = n;
        job->finish = GEN_STOP;
    }
    free(toks);
    buf_free(&text);
}

void engine_finish(engine *e, gen_job *job)
{
    if (job->kind == JOB_GENERATE)
        log_info("request %ld generate%s: %s, prompt %d tokens (%d cached), %d generated, queue %.0f ms, eval %.0f ms, "
                 "gen %.0f ms, slot %d%s%s",
                 job->tag, job->background ? " (background)" : "", gen_finish_name(job->finish), job->prompt_tokens,
                 job->cached_tokens, job->completion_tokens, job->queue_ms, job->eval_ms, job->gen_ms, job->slot,
                 job->error[0] ? ": " : "", job->error);
    pthread_mutex_lock(&e->mu);
    e->pending--;
    pthread_mutex_unlock(&e->mu);
    if (job->on_done) job->on_done(job); /* last touch of job */
}

/* The first queued job that can start now (FIFO among those), unlinked; under mu. */
static gen_job *take_locked(engine *e)
{
    for (gen_job **pp = &e->head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
        gen_job *job = *pp;
        if (!engine_job_cancelled(job) && !e->stopping && !slots_can_take(e, job)) continue;
        *pp = job->next;
        if (e->tail == job) e->tail = prev;
        job->next = NULL;
        return job;
    }
    return NULL;
}

/* Starts every queued job that can start (cancelled ones end at once);
 * sleeps while there is nothing to do. Returns whether the engine is stopping. */
static bool admit(engine *e)
{
    pthread_mutex_lock(&e->mu);
    for (;;) {
        gen_job *job = take_locked(e);
        if (job) {
            bool stop = e->stopping;
            pthread_mutex_unlock(&e->mu);
            job->queue_ms = (now_mono() - job->queue_ms) * 1000.0; /* queue_ms held the submit time */
            if (stop || engine_job_cancelled(job)) {
                job->finish = GEN_CANCELLED;
                engine_finish(e, job);
            } else if (job->kind == JOB_COUNT_TOKENS) {
                engine_run_count(e, job);
                engine_finish(e, job);
            } else {
                slots_start(e, job);
            }
            pthread_mutex_lock(&e->mu);
            continue;
        }
        if (slots_active(e) || e->stopping) break;
        pthread_cond_wait(&e->cv, &e->mu);
    }
    bool stop = e->stopping;
    pthread_mutex_unlock(&e->mu);
    return stop;
}

static void *engine_thread(void *arg)
{
    engine *e = arg;
    int rc = load(e);
    pthread_mutex_lock(&e->mu);
    e->load_rc = rc;
    e->loaded = true;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    if (rc) {
        unload(e);
        return NULL;
    }
    for (;;) {
        bool stop = admit(e);
        if (stop) slots_cancel_all(e);
        if (!slots_active(e)) break; /* only when stopping: admit waits otherwise */
        slots_step(e);
    }
    unload(e);
    return NULL;
}

/* backend "openai": no llama.cpp thread, upstream workers on the same queue. */
static int open_remote(engine **out, const engine_params *p, char *err, size_t errlen)
{
    engine *e = calloc(1, sizeof *e);
    if (!e) return -ENOMEM;
    e->p = *p;
    e->remote = true;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    int rc = upstream_start(e, err, errlen);
    if (rc) {
        engine_close(e); /* joins the workers that started */
        return rc;
    }
    *out = e;
    return 0;
}

int engine_open(engine **out, const engine_params *p, char *err, size_t errlen)
{
    *out = NULL;
    bool remote = p->backend && !strcmp(p->backend, "openai");
    if (p->backend && *p->backend && !remote && strcmp(p->backend, "llama.cpp")) {
        snprintf(err, errlen, "[model] backend: expected \"llama.cpp\" or \"openai\", got \"%s\"", p->backend);
        return -EINVAL;
    }
    if (remote) return open_remote(out, p, err, errlen);
    if (!p->model_path || !*p->model_path) {
        snprintf(err, errlen, "no model: pass --model PATH, set [model] path in the config, or ELPIS_MODEL_PATH");
        return -EINVAL;
    }
    engine *e = calloc(1, sizeof *e);
    if (!e) return -ENOMEM;
    e->p = *p;
    if (e->p.n_batch <= 0) e->p.n_batch = 512;
    if (e->p.slots <= 0) e->p.slots = 1;
    if (e->p.slots > ENGINE_MAX_SLOTS) e->p.slots = ENGINE_MAX_SLOTS;
    e->n_seq = e->p.slots + 1;
    if (e->p.n_batch < e->n_seq) e->p.n_batch = e->n_seq; /* one token of every slot fits a step */
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    int rc = pthread_create(&e->thread, NULL, engine_thread, e);
    if (rc) {
        snprintf(err, errlen, "cannot start the inference thread: %s", strerror(rc));
        free(e);
        return -rc;
    }
    pthread_mutex_lock(&e->mu);
    while (!e->loaded) pthread_cond_wait(&e->cv, &e->mu);
    pthread_mutex_unlock(&e->mu);
    if (e->load_rc) {
        snprintf(err, errlen, "%s", e->load_err[0] ? e->load_err : strerror(-e->load_rc));
        rc = e->load_rc;
        pthread_join(e->thread, NULL);
        pthread_mutex_destroy(&e->mu);
        pthread_cond_destroy(&e->cv);
        free(e);
        return rc;
    }
    *out = e;
    return 0;
}

const engine_info *engine_get_info(const engine *e) { return &e->info; }

int engine_submit(engine *e, gen_job *job)
{
    job->next = NULL;
    job->finish = GEN_STOP;
    job->error[0] = '\0';
    job->prompt_tokens = job->cached_tokens = job->completion_tokens = 0;
    job->slot = -1;
    job->eval_ms = job->gen_ms = 0;
    job->queue_ms = now_mono();
    pthread_mutex_lock(&e->mu);
    if (e->stopping) {
        pthread_mutex_unlock(&e->mu);
        return -ESHUTDOWN;
    }
    if (e->tail) e->tail->next = job;
    else e->head = job;
    e->tail = job;
    e->pending++;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    return 0;
}

void engine_cancel(gen_job *job) { __atomic_store_n(&job->cancel, 1, __ATOMIC_RELEASE); }

int engine_pending(engine *e)
{
    pthread_mutex_lock(&e->mu);
    int n = e->pending;
    pthread_mutex_unlock(&e->mu);
    return n;
}

void engine_close(engine *e)
{
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    e->stopping = true;
    for (gen_job *j = e->head; j; j = j->next) engine_cancel(j);
    __atomic_store_n(&e->stop_flag, 1, __ATOMIC_RELEASE); /* running jobs stop at the next step */
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    if (e->remote) upstream_stop(e);
    else pthread_join(e->thread, NULL);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e);
}
