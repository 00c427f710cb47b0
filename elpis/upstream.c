/* upstream.c - the OpenAI-compatible backend ([model] backend = "openai"):
 * the same jobs as the llama.cpp engine, served by a remote server
 * (llama.cpp's llama-server, vLLM, Ollama, ...) through libcurl.
 *
 * [model] slots worker threads take jobs from the engine's queue; each runs
 * one blocking HTTP request at a time. No llama_* call happens here. A
 * generation streams (SSE) and hands every delta to on_piece as it comes;
 * usage is the upstream's own (usage, or llama-server's timings). Connection
 * failures, timeouts, 429 and 5xx answers are retried with exponential
 * backoff as long as no text has reached the client; other answers become a
 * tool error that says what the upstream said and what to check.
 * count_tokens uses /tokenize (and /apply-template for messages) where the
 * upstream offers them, else an estimate marked as such.
 *
 * Ownership: the engine owns the upstream (e->up), created by upstream_start
 * and freed by upstream_stop after the workers have been joined. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "engine_int.h"
#include "log.h"
#include "util.h"

struct upstream {
    char base[512];  /* base_url without a trailing slash or /v1 */
    char *auth;      /* owned: "Authorization: Bearer ..." or NULL */
    char model[256]; /* the model name sent in requests ("" = the server's) */
    long timeout_s;
    int retries;
    pthread_t *workers; /* owned: n_workers threads */
    int n_workers;
};

/* One HTTP exchange. */
typedef struct http_call {
    engine *e;
    CURL *curl;   /* the handle of the attempt under way */
    gen_job *job; /* for cancellation and streaming; NULL at start-up */
    bool stream;  /* parse the body as server-sent events */
    long status;
    buf body;  /* the whole body (non-stream, or an error answer) */
    buf line;  /* stream: the partial SSE line */
    buf raw;   /* stream: delta bytes not yet valid UTF-8 */
    bool done; /* stream: [DONE] or a finish_reason seen */
    bool got_usage;
    char finish[32];
} http_call;

static bool stopping(engine *e) { return __atomic_load_n(&e->stop_flag, __ATOMIC_ACQUIRE); }

static int xferinfo(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    http_call *h = ud;
    return stopping(h->e) || (h->job && engine_job_cancelled(h->job)); /* non-zero aborts the transfer */
}

/* One "data: {...}" event of a streamed chat completion. */
static void sse_event(http_call *h, const char *data)
{
    gen_job *job = h->job;
    if (!strcmp(data, "[DONE]")) {
        h->done = true;
        return;
    }
    cJSON *j = cJSON_Parse(data);
    if (!j) return;
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (err) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(err, "message");
        snprintf(job->error, sizeof job->error, "the upstream reported an error mid-stream: %s",
                 cJSON_IsString(m) ? m->valuestring : "(no message)");
        h->done = true;
    }
    const cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "choices"), 0);
    const cJSON *delta = cJSON_GetObjectItemCaseSensitive(choice, "delta");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(delta, "content");
    if (cJSON_IsString(content) && *content->valuestring) {
        if (!h->got_usage) job->completion_tokens++; /* one delta is one token on llama-server; usage corrects it */
        if (buf_append(&h->raw, content->valuestring, strlen(content->valuestring)))
            snprintf(job->error, sizeof job->error, "out of memory storing the reply");
        if (job->error[0] || engine_job_append(job, &h->raw, false)) h->done = true;
    }
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(choice, "finish_reason");
    if (cJSON_IsString(fr)) snprintf(h->finish, sizeof h->finish, "%s", fr->valuestring);
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(j, "usage");
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens");
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens");
    if (cJSON_IsNumber(pt) && cJSON_IsNumber(ct)) {
        h->got_usage = true;
        job->prompt_tokens = pt->valueint;
        job->completion_tokens = ct->valueint;
        const cJSON *det = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens_details");
        const cJSON *cached = cJSON_GetObjectItemCaseSensitive(det, "cached_tokens");
        if (cJSON_IsNumber(cached)) job->cached_tokens = cached->valueint;
    }
    /* llama-server: timings.cache_n is the prompt prefix it reused. */
    const cJSON *cache_n = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "timings"), "cache_n");
    if (cJSON_IsNumber(cache_n)) job->cached_tokens = cache_n->valueint;
    cJSON_Delete(j);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    http_call *h = ud;
    size_t len = size * n;
    if (!h->status) curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &h->status);
    if (!h->stream || h->status / 100 != 2) {
        if (h->body.len < (16u << 20)) buf_append(&h->body, p, len);
        return len;
    }
    buf_append(&h->line, p, len);
    char *nl;
    while ((nl = memchr(h->line.data, '\n', h->line.len))) {
        size_t l = (size_t)(nl - h->line.data);
        h->line.data[l] = '\0';
        if (l && h->line.data[l - 1] == '\r') h->line.data[l - 1] = '\0';
        if (!strncmp(h->line.data, "data:", 5)) {
            const char *d = h->line.data + 5;
            while (*d == ' ') d++;
            sse_event(h, d);
        }
        buf_consume(&h->line, l + 1);
    }
    return len;
}

static CURL *easy_for(engine *e, http_call *h, const char *path, const char *body, struct curl_slist **hdrs)
{
    struct upstream *u = e->up;
    CURL *c = curl_easy_init();
    if (!c) return NULL;
    h->curl = c;
    char url[1024];
    snprintf(url, sizeof url, "%s%s", u->base, path);
    *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    if (u->auth) *hdrs = curl_slist_append(*hdrs, u->auth);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
    if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    /* No byte for timeout_s seconds (slow prompt evaluation included) ends the attempt. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, u->timeout_s);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, xferinfo);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
    curl_easy_setopt(c, CURLOPT_PRIVATE, h);
    return c;
}

/* The upstream's error message from an error body, or the start of the body. */
static void upstream_message(const buf *body, char *out, size_t outlen)
{
    cJSON *j = cJSON_ParseWithLength(body->data ? body->data : "", body->len);
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *m = cJSON_IsString(err) ? err : cJSON_GetObjectItemCaseSensitive(err, "message");
    if (cJSON_IsString(m)) snprintf(out, outlen, "%s", m->valuestring);
    else snprintf(out, outlen, "%.200s", body->len ? buf_str((buf *)body) : "(empty answer)");
    cJSON_Delete(j);
}

static bool retryable(CURLcode rc, long status)
{
    if (rc == CURLE_ABORTED_BY_CALLBACK) return false;
    if (rc != CURLE_OK) return true; /* refused, reset, timed out, DNS */
    return status == 429 || status >= 500;
}

/* Sleeps for the backoff of attempt k (0.5 s, 1 s, 2 s, ... up to 8 s) in
 * small steps; false when the job was cancelled meanwhile. */
static bool backoff(engine *e, gen_job *job, int k)
{
    double until = now_mono() + (k < 4 ? 0.5 * (1 << k) : 8.0);
    while (now_mono() < until) {
        if (stopping(e) || (job && engine_job_cancelled(job))) return false;
        struct timespec ts = {0, 50L * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return true;
}

/* Performs method path with body (NULL: GET), retrying as described at the
 * top. Returns 0 with h->status and h->body set, -ECANCELED, or -EIO with a
 * message in err. For a stream, no retry once text has reached the job. */
static int http_do(engine *e, http_call *h, const char *path, const char *body, char *err, size_t errlen)
{
    struct upstream *u = e->up;
    for (int attempt = 0;; attempt++) {
        struct curl_slist *hdrs = NULL;
        h->status = 0;
        buf_reset(&h->body);
        buf_reset(&h->line);
        CURL *c = easy_for(e, h, path, body, &hdrs);
        if (!c) {
            snprintf(err, errlen, "out of memory starting an HTTP request");
            return -ENOMEM;
        }
        CURLcode rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
        curl_easy_cleanup(c);
        curl_slist_free_all(hdrs);
        if (rc == CURLE_ABORTED_BY_CALLBACK) return -ECANCELED;
        bool sent = h->job && h->job->content.len > 0;
        if (rc == CURLE_OK && !retryable(rc, h->status)) return 0;
        if (rc == CURLE_OK && h->status / 100 == 2 && sent) return 0;
        if (rc != CURLE_OK)
            snprintf(err, errlen, "cannot reach the upstream at %s%s: %s (is it running? check [model] base_url)",
                     u->base, path,
                     rc == CURLE_OPERATION_TIMEDOUT ? "no answer within [model] timeout_seconds"
                                                    : curl_easy_strerror(rc));
        else {
            char m[300];
            upstream_message(&h->body, m, sizeof m);
            snprintf(err, errlen, "the upstream answered HTTP %ld on %s: %s", h->status, path, m);
        }
        if (sent || attempt >= u->retries || !retryable(rc, h->status)) return -EIO;
        log_warn("%s; retry %d of %d", err, attempt + 1, u->retries);
        if (!backoff(e, h->job, attempt)) return -ECANCELED;
    }
}

static void http_free(http_call *h)
{
    buf_free(&h->body);
    buf_free(&h->line);
    buf_free(&h->raw);
}

/* The error of a non-2xx answer, worded for what the user can change. */
static void status_error(engine *e, const http_call *h, const char *path, char *out, size_t outlen)
{
    char m[300];
    upstream_message(&h->body, m, sizeof m);
    const char *advice = h->status == 401 || h->status == 403 ? " (check [model] api_key_file)"
                         : h->status == 404                   ? " (check [model] base_url and [model] model)"
                                                              : "";
    snprintf(out, outlen, "the upstream at %s answered HTTP %ld on %s: %s%s", e->up->base, h->status, path, m, advice);
}

/* --------------------------------------------------------------- jobs */

static cJSON *messages_json(const gen_job *job)
{
    cJSON *a = cJSON_CreateArray();
    const cJSON *m;
    cJSON_ArrayForEach(m, job->messages)
    {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "role", cJSON_IsString(role) ? role->valuestring : "user");
        cJSON_AddStringToObject(o, "content", cJSON_IsString(content) ? content->valuestring : "");
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

static void run_generate(engine *e, gen_job *job)
{
    double t0 = now_mono();
    cJSON *req = cJSON_CreateObject();
    if (e->up->model[0]) cJSON_AddStringToObject(req, "model", e->up->model);
    cJSON_AddItemToObject(req, "messages", messages_json(job));
    cJSON_AddNumberToObject(req, "max_tokens", job->max_tokens);
    cJSON_AddNumberToObject(req, "temperature", job->temperature);
    if (job->temperature > 0) {
        cJSON_AddNumberToObject(req, "top_p", job->top_p);
        /* As the local engine: the seed advances per sampled generation, so the same
         * requests in the same order reproduce (servers that honour "seed" do). */
        cJSON_AddNumberToObject(req, "seed", e->p.seed + __atomic_fetch_add(&e->n_sampled, 1, __ATOMIC_RELAXED));
    }
    cJSON_AddBoolToObject(req, "stream", 1);
    cJSON_AddBoolToObject(cJSON_AddObjectToObject(req, "stream_options"), "include_usage", 1);
    char *body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    http_call h = {.e = e, .job = job, .stream = true};
    job->finish = GEN_ERROR;
    int rc = body ? http_do(e, &h, "/v1/chat/completions", body, job->error, sizeof job->error) : -ENOMEM;
    if (rc == -ECANCELED) {
        job->finish = GEN_CANCELLED;
    } else if (rc == 0 && h.status / 100 != 2) {
        status_error(e, &h, "/v1/chat/completions", job->error, sizeof job->error);
    } else if (rc == 0 && !job->error[0]) {
        job->error[0] = '\0';
        job->finish = !strcmp(h.finish, "length") ? GEN_LENGTH : GEN_STOP;
        if (engine_job_append(job, &h.raw, true)) job->finish = GEN_ERROR;
    } else if (rc == -ENOMEM) {
        snprintf(job->error, sizeof job->error, "out of memory building the request");
    }
    job->gen_ms = (now_mono() - t0) * 1000.0;
    free(body);
    http_free(&h);
}

/* POSTs {key: value} to path and returns the parsed answer (caller frees), or NULL. */
static cJSON *post_json(engine *e, gen_job *job, const char *path, cJSON *req, long *status)
{
    char *body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    http_call h = {.e = e, .job = job};
    char err[256];
    int rc = body ? http_do(e, &h, path, body, err, sizeof err) : -ENOMEM;
    free(body);
    *status = rc == 0 ? h.status : 0;
    cJSON *j =
        rc == 0 && h.status / 100 == 2 ? cJSON_ParseWithLength(h.body.data ? h.body.data : "", h.body.len) : NULL;
    http_free(&h);
    return j;
}

/* Token count from the upstream's /tokenize (messages through its
 * /apply-template first); -1 where it offers neither. */
static int upstream_count(engine *e, gen_job *job)
{
    long st;
    char *text = NULL;
    if (job->messages) {
        cJSON *req = cJSON_CreateObject();
        cJSON_AddItemToObject(req, "messages", messages_json(job));
        cJSON *r = post_json(e, job, "/apply-template", req, &st);
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(r, "prompt");
        text = cJSON_IsString(p) ? strdup(p->valuestring) : NULL;
        cJSON_Delete(r);
        if (!text) return -1;
    }
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "content", text ? text : job->text ? job->text : "");
    cJSON_AddBoolToObject(req, "add_special", job->messages != NULL);
    cJSON_AddBoolToObject(req, "parse_special", job->messages != NULL);
    free(text);
    cJSON *r = post_json(e, job, "/tokenize", req, &st);
    const cJSON *toks = cJSON_GetObjectItemCaseSensitive(r, "tokens");
    int n = cJSON_IsArray(toks) ? cJSON_GetArraySize(toks) : -1;
    cJSON_Delete(r);
    return n;
}

static void run_count(engine *e, gen_job *job)
{
    int n = upstream_count(e, job);
    job->finish = GEN_STOP;
    if (engine_job_cancelled(job)) {
        job->finish = GEN_CANCELLED;
        return;
    }
    if (n >= 0) {
        job->prompt_tokens = n;
        return;
    }
    /* No /tokenize: about four bytes a token, said to be an estimate. */
    size_t bytes = job->text ? strlen(job->text) : 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, job->messages)
    {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        bytes += 8 + (cJSON_IsString(content) ? strlen(content->valuestring) : 0);
    }
    job->prompt_tokens = (int)((bytes + 3) / 4);
    job->estimated = true;
}

static void *worker(void *arg)
{
    engine *e = arg;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        while (!e->head && !e->stopping) pthread_cond_wait(&e->cv, &e->mu);
        gen_job *job = e->head;
        if (job) {
            e->head = job->next;
            if (!e->head) e->tail = NULL;
            job->next = NULL;
        }
        bool stop = e->stopping;
        pthread_mutex_unlock(&e->mu);
        if (!job) break;
        job->queue_ms = (now_mono() - job->queue_ms) * 1000.0; /* queue_ms held the submit time */
        if (stop || engine_job_cancelled(job)) job->finish = GEN_CANCELLED;
        else if (job->kind == JOB_COUNT_TOKENS) run_count(e, job);
        else run_generate(e, job);
        engine_finish(e, job);
    }
    return NULL;
}

/* ------------------------------------------------------------ start-up */

static int read_key(const char *path, char **auth, char *err, size_t errlen)
{
    *auth = NULL;
    if (!path || !*path) return 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read [model] api_key_file %s: %s", path, strerror(errno));
        return -errno;
    }
    char key[4096];
    size_t n = fread(key, 1, sizeof key - 1, f);
    (void)fclose(f); /* read-only: nothing to lose */
    while (n && isspace((unsigned char)key[n - 1])) n--;
    key[n] = '\0';
    if (!n) {
        snprintf(err, errlen, "[model] api_key_file %s is empty: put the API key in it", path);
        return -EINVAL;
    }
    if (asprintf(auth, "Authorization: Bearer %s", key) < 0) return -ENOMEM;
    return 0;
}

static int get_json(engine *e, const char *path, cJSON **out, char *err, size_t errlen)
{
    http_call h = {.e = e};
    int rc = http_do(e, &h, path, NULL, err, errlen);
    *out = NULL;
    if (rc == 0 && h.status / 100 != 2) {
        status_error(e, &h, path, err, errlen);
        rc = h.status == 404 ? -ENOENT : -EIO;
    } else if (rc == 0) {
        *out = cJSON_ParseWithLength(h.body.data ? h.body.data : "", h.body.len);
    }
    http_free(&h);
    return rc;
}

/* Fills e->info from /v1/models (required: proves the upstream answers) and
 * /props (llama-server: the context per slot). */
static int probe(engine *e, char *err, size_t errlen)
{
    engine_info *in = &e->info;
    cJSON *models = NULL, *props = NULL;
    int rc = get_json(e, "/v1/models", &models, err, errlen);
    if (rc) return rc;
    const cJSON *m0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(models, "data"), 0);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(m0, "id");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(m0, "meta");
    const cJSON *v;
    snprintf(in->desc, sizeof in->desc, "%.127s",
             e->up->model[0]      ? e->up->model
             : cJSON_IsString(id) ? id->valuestring
                                  : "?");
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(meta, "n_ctx_train"))) in->n_ctx_train = v->valueint;
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(meta, "n_params"))) in->n_params = (uint64_t)v->valuedouble;
    if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(meta, "size"))) in->size_bytes = (uint64_t)v->valuedouble;
    cJSON_Delete(models);
    char perr[256];
    if (get_json(e, "/props", &props, perr, sizeof perr) == 0) {
        const cJSON *gs = cJSON_GetObjectItemCaseSensitive(props, "default_generation_settings");
        if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(gs, "n_ctx"))) in->n_ctx = v->valueint;
        if (cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(props, "total_slots")))
            in->upstream_slots = v->valueint;
    }
    cJSON_Delete(props);
    in->ctx_estimated = in->n_ctx <= 0;
    if (in->ctx_estimated) in->n_ctx = in->n_ctx_train > 0 ? in->n_ctx_train : 4096;
    return 0;
}

int upstream_start(engine *e, char *err, size_t errlen)
{
    const engine_params *p = &e->p;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct upstream *u = calloc(1, sizeof *u);
    if (!u) return -ENOMEM;
    e->up = u;
    if (!p->base_url || !*p->base_url) {
        snprintf(err, errlen, "[model] backend = \"openai\" needs [model] base_url (e.g. http://127.0.0.1:8080)");
        return -EINVAL;
    }
    snprintf(u->base, sizeof u->base, "%s", p->base_url);
    size_t n = strlen(u->base);
    while (n && u->base[n - 1] == '/') u->base[--n] = '\0';
    if (n >= 3 && !strcmp(u->base + n - 3, "/v1")) u->base[n - 3] = '\0'; /* we add /v1 per endpoint */
    snprintf(u->model, sizeof u->model, "%s", p->upstream_model ? p->upstream_model : "");
    u->timeout_s = p->timeout_s > 0 ? p->timeout_s : 120;
    u->retries = p->retries >= 0 ? p->retries : 3;
    int rc = read_key(p->api_key_file, &u->auth, err, errlen);
    if (rc) return rc;
    engine_info *in = &e->info;
    snprintf(in->backend, sizeof in->backend, "openai");
    snprintf(in->model_path, sizeof in->model_path, "%s", u->base);
    snprintf(in->arch, sizeof in->arch, "remote");
    snprintf(in->chat_template, sizeof in->chat_template, "upstream");
    in->n_slots = p->slots > 0 ? p->slots : 1;
    double t0 = now_mono();
    if ((rc = probe(e, err, errlen))) return rc;
    in->load_seconds = now_mono() - t0;
    u->workers = calloc((size_t)in->n_slots, sizeof *u->workers);
    if (!u->workers) return -ENOMEM;
    for (; u->n_workers < in->n_slots; u->n_workers++)
        if ((rc = pthread_create(&u->workers[u->n_workers], NULL, worker, e))) {
            snprintf(err, errlen, "cannot start an upstream worker thread: %s", strerror(rc));
            return -rc;
        }
    log_info("upstream %s: model %s, context %d%s, %d requests at a time", u->base, in->desc, in->n_ctx,
             in->ctx_estimated ? " (assumed: the upstream does not say)" : "", in->n_slots);
    return 0;
}

void upstream_stop(engine *e)
{
    struct upstream *u = e->up;
    if (!u) return;
    for (int i = 0; i < u->n_workers; i++) pthread_join(u->workers[i], NULL);
    free(u->workers);
    free(u->auth);
    free(u);
    e->up = NULL;
    curl_global_cleanup();
}
