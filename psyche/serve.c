/* serve.c - `psyche serve`: Psyche behind an OpenAI-compatible HTTP API.
 *
 *   psyche serve [--host 127.0.0.1] [--port 8741] [--api-key-file F] [--config F] [--model P]
 *
 * Owns the serve process: its settings ([server] on top of psyche's), the
 * API keys, signals (SIGTERM/SIGINT drain in-flight requests, then stop),
 * and the routing of requests on libmicrohttpd's connection threads. Those
 * threads never talk to the children: they parse, validate and queue jobs to
 * the worker (serve_worker.c) and wait on the job's channel. */
#include "serve.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <poll.h>
#include <unistd.h>

#include "buf.h"
#include "crash.h"
#include "log.h"
#include "serve_int.h"
#include "serve_memory.h"
#include "utf8.h"
#include "util.h"


/* Psyche's part of the system prompt in serve mode: stable (a KV prefix). */
static const char serve_system[] =
    "You are Psyche, a thoughtful AI companion. You have an emotional state that colours how you feel. "
    "You are answering through an API for an application; its instructions, if any, follow below. "
    "Answer conversationally and never fabricate facts.";

/* ------------------------------------------------------------ settings */

/* The [server] settings live in serve_settings.c, below psyche's settings
 * table (which includes them) and below this file. */
#define g_scfg (*psy_serve_settings_values())

/* ------------------------------------------------------------ routing */

static void reply_error(psy_http_reply *rep, int status, const char *msg, const char *param, const char *code)
{
    rep->status = status;
    rep->body = psy_oai_error_json(status, msg, param, code);
}

static void reply_cjson(psy_http_reply *rep, int status, cJSON *o /* consumed */)
{
    rep->status = status;
    rep->body = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!rep->body) reply_error(rep, 500, "out of memory", NULL, NULL);
}

/* Queues j and, unless it streams, waits for its answer (cancelling it when
 * the client leaves). */
static void submit_and_wait(psy_serve *s, const psy_http_req *req, psy_http_reply *rep, psy_job *j, bool stream)
{
    psy_chan *ch = psy_chan_new();
    if (!ch) {
        psy_job_free(j);
        reply_error(rep, 500, "out of memory", NULL, NULL);
        return;
    }
    j->ch = ch;
    psy_chan_ref(ch); /* ours; the job holds the other */
    pthread_mutex_lock(&s->mu);
    bool up = s->elpis_up;
    pthread_mutex_unlock(&s->mu);
    /* refuse at once rather than queue behind a restart (and before a stream's 200) */
    int rc = up ? psy_serve_submit(s, j) : -ENOTCONN;
    if (rc == -ENOTCONN) {
        psy_job_free(j);
        psy_chan_unref(ch);
        reply_error(rep, 503, "the inference engine (elpis) is starting or restarting; retry in a few seconds", NULL,
                    "engine_restarting");
        return;
    }
    if (rc == -EAGAIN || rc == -ESHUTDOWN) {
        psy_chan_unref(ch);
        if (rc == -EAGAIN)
            reply_error(rep, 429, "the server is busy: too many requests are waiting for the engine; retry shortly",
                        NULL, "rate_limit_exceeded");
        else reply_error(rep, 503, "the server is shutting down", NULL, "shutting_down");
        return;
    }
    if (stream) {
        rep->stream = ch; /* the listener takes our reference */
        return;
    }
    while (!psy_chan_wait_closed(ch, 200))
        if (psy_http_client_gone(req)) psy_chan_cancel(ch);
    char *body = NULL;
    size_t len;
    if (psy_chan_take(ch, &rep->status, &body, &len)) reply_error(rep, 500, "out of memory", NULL, NULL);
    else rep->body = body;
    psy_chan_unref(ch);
}

/* X-Psyche-Conversation, else the user field, else a hash of the system text
 * and the first message; always within the API key's user. */
static void conversation_key(const psy_http_req *req, const psy_chat_req *r, char *out)
{
    if (req->conversation && *req->conversation) {
        psy_conv_key(req->key_index, 'h', req->conversation, out);
        return;
    }
    if (r->user && *r->user) {
        psy_conv_key(req->key_index, 'u', r->user, out);
        return;
    }
    char *first = cJSON_PrintUnformatted(cJSON_GetArrayItem(r->messages, 0));
    buf id = BUF_INIT;
    buf_printf(&id, "%s\n%s", r->system ? r->system : "", first ? first : "");
    psy_conv_key(req->key_index, 'p', buf_str(&id), out);
    buf_free(&id);
    free(first);
}

static void handle_chat(psy_serve *s, const psy_http_req *req, psy_http_reply *rep)
{
    psy_job *j = calloc(1, sizeof *j);
    if (!j) {
        reply_error(rep, 500, "out of memory", NULL, NULL);
        return;
    }
    char err[512];
    const char *param = NULL;
    if (psy_oai_parse_chat(req->body, req->body_len, &j->req, err, sizeof err, &param)) {
        reply_error(rep, 400, err, param, NULL);
        free(j);
        return;
    }
    j->kind = JOB_CHAT;
    char uuid[40];
    uuid4(uuid);
    snprintf(j->id, sizeof j->id, "chatcmpl-%s", uuid);
    j->created = (long)now_wall();
    j->user = req->key_index;
    conversation_key(req, &j->req, j->conv);
    pthread_mutex_lock(&s->mu);
    psy_convs_touch(&s->convs, j->conv, now_mono());
    pthread_mutex_unlock(&s->mu);
    bool stream = j->req.stream;
    submit_and_wait(s, req, rep, j, stream);
}

static void handle_emotion(psy_serve *s, const psy_http_req *req, psy_http_reply *rep)
{
    psy_job *j = calloc(1, sizeof *j);
    if (!j) {
        reply_error(rep, 500, "out of memory", NULL, NULL);
        return;
    }
    j->kind = JOB_EMOTION_GET;
    if (!strcmp(req->method, "POST")) {
        cJSON *o = cJSON_ParseWithLength(req->body, req->body_len);
        const cJSON *et = cJSON_GetObjectItemCaseSensitive(o, "event_type");
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(o, "intensity");
        const cJSON *cx = cJSON_GetObjectItemCaseSensitive(o, "context");
        const char *bad = !cJSON_IsObject(o) ? "the body must be a JSON object {event_type, intensity?, context?}"
                          : !cJSON_IsString(et) || !*et->valuestring ? "event_type must be a non-empty string "
                                                                       "(e.g. success, failure, user_positive)"
                          : in && !(cJSON_IsNumber(in) && in->valuedouble >= 0 && in->valuedouble <= 2)
                              ? "intensity must be a number from 0 to 2"
                          : cx && !cJSON_IsString(cx) ? "context must be a string"
                                                      : NULL;
        if (bad) {
            cJSON_Delete(o);
            free(j);
            reply_error(rep, 400, bad, NULL, NULL);
            return;
        }
        j->kind = JOB_EMOTION_POST;
        j->args = o;
    }
    submit_and_wait(s, req, rep, j, false);
}

/* POST /v1/embeddings: the user's mnemosyne computes the vectors (run_embed). */
static void handle_embeddings(psy_serve *s, const psy_http_req *req, psy_http_reply *rep)
{
    char err[512];
    const char *param = NULL;
    if (!s->cfg->memory) {
        reply_error(rep, 503,
                    "embeddings come from the memory server (mnemosyne), which is off: set [memory] enabled = true",
                    NULL, "embeddings_unavailable");
        return;
    }
    cJSON *args = psy_oai_parse_embeddings(req->body, req->body_len, err, sizeof err, &param);
    if (!args) {
        reply_error(rep, 400, err, param, NULL);
        return;
    }
    psy_job *j = calloc(1, sizeof *j);
    if (!j) {
        cJSON_Delete(args);
        reply_error(rep, 500, "out of memory", NULL, NULL);
        return;
    }
    j->kind = JOB_EMBED;
    j->args = args;
    j->user = req->key_index;
    submit_and_wait(s, req, rep, j, false);
}

static void handle_health(psy_serve *s, psy_http_reply *rep)
{
    cJSON *o = cJSON_CreateObject();
    pthread_mutex_lock(&s->mu);
    const char *st = s->draining ? "stopping" : s->elpis_up ? "ok" : s->elpis_ever_up ? "restarting" : "starting";
    cJSON_AddStringToObject(o, "status", st);
    cJSON *ch = cJSON_AddObjectToObject(o, "children");
    cJSON *e = cJSON_AddObjectToObject(ch, "elpis");
    cJSON_AddBoolToObject(e, "alive", s->elpis_up);
    cJSON_AddNumberToObject(e, "restarts", s->elpis_restarts);
    cJSON_AddNumberToObject(e, "pid", s->elpis_pid);
    cJSON *m = cJSON_AddObjectToObject(ch, "mnemosyne");
    cJSON_AddBoolToObject(m, "disabled", !s->cfg->memory);
    cJSON_AddNumberToObject(m, "users", (double)s->n_users);
    cJSON_AddNumberToObject(m, "running", s->mem_running);
    cJSON_AddStringToObject(o, "model", s->scfg->model_name);
    cJSON_AddStringToObject(o, "model_path", s->model_path);
    cJSON_AddNumberToObject(o, "context_length", (double)s->context_length);
    cJSON_AddNumberToObject(o, "slots", (double)s->slots);
    cJSON_AddNumberToObject(o, "conversations", (double)s->convs.n);
    cJSON_AddNumberToObject(o, "queue_depth", s->queued);
    cJSON_AddNumberToObject(o, "queue_max", s->scfg->queue_max);
    cJSON_AddBoolToObject(o, "busy", s->n_running > 0 || s->control);
    cJSON_AddNumberToObject(o, "running", s->n_running);
    cJSON_AddBoolToObject(o, "dreaming", s->dreaming);
    cJSON_AddNumberToObject(o, "uptime_s", now_wall() - (double)s->started);
    bool up = s->elpis_up && !s->draining;
    pthread_mutex_unlock(&s->mu);
    reply_cjson(rep, up ? 200 : 503, o);
}

/* GET /v1/psyche/thoughts?since=N: the key's user's ring, read under mu. */
static void handle_thoughts(psy_serve *s, const psy_http_req *req, psy_http_reply *rep)
{
    const char *arg = psy_http_query(req, "since");
    long since = 0;
    if (arg) {
        char *end;
        errno = 0;
        since = strtol(arg, &end, 10);
        if (!*arg || *end || errno || since < 0) {
            reply_error(rep, 400, "since must be a whole number >= 0 (the next of the previous answer)", "since", NULL);
            return;
        }
    }
    size_t user = req->key_index < 0 ? 0 : (size_t)req->key_index;
    pthread_mutex_lock(&s->mu);
    cJSON *o = user < s->n_thought_users ? psy_thoughts_since(&s->thoughts[user], since) : NULL;
    pthread_mutex_unlock(&s->mu);
    reply_cjson(rep, 200, o);
}

static void handle_metrics(psy_serve *s, psy_http_reply *rep)
{
    buf b = BUF_INIT;
    if (psy_metrics_render(&s->metrics, &b)) {
        buf_free(&b);
        reply_error(rep, 500, "out of memory while rendering the metrics", NULL, NULL);
        return;
    }
    rep->status = 200;
    rep->body = buf_detach(&b);
    if (!rep->body) rep->body = strdup("");
    rep->content_type = "text/plain; version=0.0.4";
}

static void on_request(void *ud, const psy_http_req *req, psy_http_reply *rep)
{
    psy_serve *s = ud;
    const char *p = req->path;
    bool get = !strcmp(req->method, "GET"), post = !strcmp(req->method, "POST");
    if (!strcmp(p, "/v1/chat/completions") && post) {
        rep->route = "chat";
        handle_chat(s, req, rep);
    } else if (!strcmp(p, "/v1/models") && get) {
        rep->route = "models";
        reply_cjson(rep, 200, psy_oai_models(s->scfg->model_name, s->started));
    } else if (!strcmp(p, "/health") && get) {
        rep->route = "health";
        handle_health(s, rep);
    } else if (!strcmp(p, "/v1/psyche/emotion") && (get || post)) {
        rep->route = "emotion";
        handle_emotion(s, req, rep);
    } else if (!strcmp(p, "/v1/psyche/thoughts") && get) {
        rep->route = "thoughts";
        handle_thoughts(s, req, rep);
    } else if (!strcmp(p, "/v1/embeddings") && post) {
        rep->route = "embeddings";
        handle_embeddings(s, req, rep);
    } else if (!strcmp(p, "/metrics") && get) {
        rep->route = "metrics";
        handle_metrics(s, rep);
    } else {
        char msg[300];
        snprintf(msg, sizeof msg, "no route %s %.*s (see docs/server.md for the endpoints)", req->method,
                 utf8_prec(p, 200), p);
        reply_error(rep, 404, msg, NULL, "unknown_url");
    }
}

static void on_done(void *ud, const char *route, int status, double seconds)
{
    psy_serve *s = ud;
    psy_metrics_request(&s->metrics, route, status, seconds);
}

/* ------------------------------------------------------------ lifecycle */

static int g_sigfd = -1;
static volatile sig_atomic_t g_signals;

static void on_signal(int sig)
{
    (void)sig;
    g_signals++;
    uint64_t one = 1;
    if (g_sigfd >= 0 && write(g_sigfd, &one, sizeof one) < 0) {
        /* nothing to do in a signal handler */
    }
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Waits for a signal, then drains: no new connections, requests in flight
 * finish (up to drain_timeout_s or a second signal). */
static void serve_until_signal(psy_serve *s, psy_http *h)
{
    struct pollfd pf = {.fd = g_sigfd, .events = POLLIN};
    while (poll(&pf, 1, -1) < 0 && errno == EINTR) {
    }
    log_notice("signal received: draining requests in flight (up to %d s)", s->scfg->drain_timeout_s);
    fprintf(stderr, "psyche serve: stopping; finishing requests in flight\n");
    psy_http_quiesce(h);
    pthread_mutex_lock(&s->mu);
    s->draining = true;
    pthread_mutex_unlock(&s->mu);
    double end = now_mono() + s->scfg->drain_timeout_s;
    while (!psy_serve_idle(s) && now_mono() < end && g_signals < 2) usleep(50 * 1000);
    if (!psy_serve_idle(s)) log_warn("drain: requests still running; cancelling them");
}

static int serve_run(psy_serve *s, char **keys, size_t n_keys, char *err, size_t errlen)
{
    psy_http_cfg hc = {.host = s->scfg->host,
                       .port = s->scfg->port,
                       .keys = keys,
                       .n_keys = n_keys,
                       .max_body = (size_t)s->scfg->max_body_bytes,
                       .body_timeout_s = s->scfg->body_timeout_s,
                       .idle_timeout_s = s->scfg->idle_timeout_s,
                       .max_connections = s->scfg->max_connections,
                       .cors_origin = s->scfg->cors_origin,
                       .handler = on_request,
                       .done = on_done,
                       .ud = s};
    psy_http *h = NULL;
    int rc = psy_http_start(&h, &hc, err, errlen);
    if (rc) return rc;
    rc = psy_serve_worker_start(s);
    if (rc) {
        psy_http_stop(h);
        snprintf(err, errlen, "cannot start the worker thread: %s", strerror(-rc));
        return rc;
    }
    log_notice("listening on %s port %d (%zu API keys)", s->scfg->host, psy_http_port(h), n_keys);
    fprintf(stderr, "psyche serve: listening on http://%s:%d/v1\n", s->scfg->host, psy_http_port(h));
    serve_until_signal(s, h);
    psy_serve_worker_stop(s); /* cancels what is left; closes every channel */
    psy_http_stop(h);
    return 0;
}

/* ------------------------------------------------------------ CLI */

static void usage(FILE *f)
{
    fprintf(f, "usage: psyche serve [--host ADDR] [--port N] [--api-key-file FILE] [--config FILE]\n"
               "                    [--model PATH] [--log-level LEVEL]\n"
               "       psyche serve --print-config      (the [server] settings and their defaults)\n"
               "\n"
               "Serves Psyche over an OpenAI-compatible HTTP API (see docs/server.md). Listens on\n"
               "127.0.0.1:8741 by default; any other address needs an API key file.\n");
}

static int parse_flags(int argc, char **argv, const cfg_key *keys, size_t n, char *err, size_t errlen)
{
    static const struct {
        const char *flag, *key;
    } flags[] = {
        {"--host", "server.host"}, {"--port", "server.port"},        {"--api-key-file", "server.api_key_file"},
        {"--model", "model.path"}, {"--log-level", "logging.level"}, {"--log-file", "logging.file"},
    };
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config")) {
            i++;
            continue;
        }
        size_t f;
        for (f = 0; f < sizeof flags / sizeof flags[0]; f++)
            if (!strcmp(argv[i], flags[f].flag)) break;
        if (f == sizeof flags / sizeof flags[0] || i + 1 >= argc) {
            snprintf(err, errlen, "%s '%s' (try psyche serve --help)",
                     f == sizeof flags / sizeof flags[0] ? "unknown option" : "missing value for", argv[i]);
            return -EINVAL;
        }
        int rc = cfg_set(keys, n, flags[f].key, argv[i + 1], argv[i], err, errlen);
        if (rc) return rc;
        i++;
    }
    return 0;
}

static int setup_logging(const psy_settings *cfg, char **state, char *err, size_t errlen)
{
    log_level lv = LOG_INFO;
    if (log_level_parse(cfg->log_level, &lv)) {
        snprintf(err, errlen, "[logging] level: expected debug, info, warn or error, got \"%s\"", cfg->log_level);
        return -EINVAL;
    }
    *state = psy_settings_state_dir(cfg, err, errlen);
    if (!*state) return -ENOENT;
    buf path = BUF_INIT;
    if (cfg->log_file && *cfg->log_file) buf_puts(&path, cfg->log_file);
    else buf_printf(&path, "%s/psyche-serve.log", *state);
    if (log_init("psyche-serve", lv, path.data) < 0)
        fprintf(stderr, "psyche serve: cannot open the log file %s; logging to stderr\n", path.data);
    else fprintf(stderr, "psyche serve: logging to %s\n", path.data);
    buf_free(&path);
    return 0;
}

static int serve_init(psy_serve *s, const psy_settings *cfg, char *const *keys, size_t n_keys, char *err, size_t errlen)
{
    s->cfg = cfg;
    s->scfg = &g_scfg;
    s->started = (long)now_wall();
    psy_metrics_init(&s->metrics);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->mem_mu, NULL);
    /* writer first: a dead elpis is restarted before new chats take it */
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&s->elpis_lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    cond_init_monotonic(&s->cv);
    s->elpis.pidfd = -1;
    s->last_activity = now_mono();
    s->last_dream = -1;
    s->last_consolidate_check = -1;
    s->dream_user = -1;
    s->system_prompt = strdup(serve_system);
    s->n_thought_users = n_keys ? n_keys : 1;
    s->thoughts = calloc(s->n_thought_users, sizeof *s->thoughts);
    if (!s->thoughts || psy_convs_init(&s->convs, (size_t)s->scfg->max_conversations, s->scfg->conversation_idle_s)) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    char exe[4096 + 16], dir[4096];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    dir[n > 0 ? n : 0] = 0;
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    snprintf(exe, sizeof exe, "%s/elpis", dir);
    char *argv[64];
    size_t k = 0;
    if (cfg->elpis_command.n)
        for (size_t i = 0; i < cfg->elpis_command.n && k < 60; i++) argv[k++] = cfg->elpis_command.items[i];
    else argv[k++] = exe;
    if (cfg->model_path && *cfg->model_path) {
        argv[k++] = "--model";
        argv[k++] = cfg->model_path;
    }
    char slots[16];
    if (s->scfg->slots > 0) {
        snprintf(slots, sizeof slots, "%d", s->scfg->slots);
        argv[k++] = "--slots";
        argv[k++] = slots;
    }
    argv[k] = NULL;
    buf log = BUF_INIT;
    buf_printf(&log, "%s/elpis.log", s->state_dir);
    int rc = psy_child_init(&s->elpis, "elpis", argv, buf_str(&log), true);
    buf_free(&log);
    if (rc || !s->system_prompt) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    s->elpis.backoff_max_s = cfg->restart_backoff_max_s;
    s->elpis.stable_s = cfg->restart_backoff_max_s;
    s->pol = (psy_sup_policy){.attempts = cfg->start_attempts,
                              .start_timeout_ms = cfg->start_timeout_s * 1000,
                              .restart_max = cfg->restart_max,
                              .restart_window_s = cfg->restart_window_s,
                              .retry_s = cfg->restart_retry_s,
                              .stop_grace_ms = cfg->stop_grace_ms};
    return psy_serve_mem_init(s, keys, n_keys, err, errlen);
}

static void serve_free(psy_serve *s)
{
    psy_child_free(&s->elpis);
    psy_serve_mem_free(s);
    psy_convs_free(&s->convs);
    for (size_t i = 0; i < s->n_thought_users; i++) psy_thoughts_free(&s->thoughts[i]);
    free(s->thoughts);
    free(s->system_prompt);
    free(s->state_dir);
    psy_metrics_free(&s->metrics);
    pthread_cond_destroy(&s->cv);
    pthread_rwlock_destroy(&s->elpis_lock);
    pthread_mutex_destroy(&s->mem_mu);
    pthread_mutex_destroy(&s->mu);
}

static int serve_with_settings(psy_settings *cfg, char *err, size_t errlen)
{
    char **keys = NULL;
    size_t n_keys = 0;
    int rc = 0;
    if (g_scfg.api_key_file && *g_scfg.api_key_file)
        rc = psy_http_load_keys(g_scfg.api_key_file, &keys, &n_keys, err, errlen);
    static psy_serve s;
    memset(&s, 0, sizeof s);
    if (!rc) rc = setup_logging(cfg, &s.state_dir, err, errlen);
    if (!rc) {
        log_info("psyche serve starting (pid %d), config: %s", (int)getpid(), cfg_sources());
        crash_install("psyche-serve", NULL, NULL);
        install_signals();
        rc = serve_init(&s, cfg, keys, n_keys, err, errlen);
        if (!rc) rc = serve_run(&s, keys, n_keys, err, errlen);
        serve_free(&s);
    }
    for (size_t i = 0; i < n_keys; i++) free(keys[i]);
    free(keys);
    return rc;
}

int psy_serve_main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--print-config")) { /* the [server] defaults, for docs/configuration.md */
            char err[512];
            const cfg_key *serve_keys;
            size_t n_serve_keys = psy_serve_settings(&serve_keys);
            int rc = cfg_load(serve_keys, n_serve_keys, NULL, false, "PSYCHE", err, sizeof err);
            if (rc) fprintf(stderr, "psyche serve: %s\n", err);
            else cfg_write_toml(serve_keys, n_serve_keys, stdout);
            cfg_free(serve_keys, n_serve_keys);
            return rc ? 2 : 0;
        }
    static psy_settings cfg;
    const cfg_key *keys; /* psyche's table, [server] included (settings.c) */
    size_t n = psy_settings_table(&cfg, &keys);
    char err[2048];
    const char *file = "configs/psyche.toml";
    bool required = false;
    for (int i = 1; i < argc - 1; i++)
        if (!strcmp(argv[i], "--config")) file = argv[i + 1], required = true;
    const char *env = getenv("PSYCHE_CONFIG");
    if (!required && env && *env) file = env, required = true;
    log_init("psyche-serve", LOG_WARN, NULL);
    g_sigfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int rc = cfg_load(keys, n, file, required, "PSYCHE", err, sizeof err);
    if (!rc) rc = parse_flags(argc, argv, keys, n, err, sizeof err);
    int status = rc ? 2 : 0;
    if (!rc && (rc = serve_with_settings(&cfg, err, sizeof err))) status = 1;
    if (rc) fprintf(stderr, "psyche serve: %s\n", err);
    if (rc && status == 1) log_error("%s", err); /* usage errors were only said on stderr */
    log_info("stopped");
    log_close();
    cfg_free(keys, n);
    if (g_sigfd >= 0) close(g_sigfd);
    return status;
}
