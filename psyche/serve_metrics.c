/* serve_metrics.c - the metrics registry of `psyche serve` and its
 * Prometheus text rendering (see serve_metrics.h). */
#include "serve_metrics.h"

#include <errno.h>
#include <string.h>

static const char *const routes[PSY_METRICS_ROUTES] = {"chat",    "models",     "health",   "emotion",
                                                       "metrics", "embeddings", "thoughts", "other"};
static const double bounds[PSY_METRICS_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
static const char *const finishes[PSY_METRICS_FINISH] = {"stop", "length", "cancelled", "error"};

void psy_metrics_init(psy_metrics *m)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
}

void psy_metrics_free(psy_metrics *m) { pthread_mutex_destroy(&m->mu); }

static int route_index(const char *route)
{
    for (int i = 0; i < PSY_METRICS_ROUTES; i++)
        if (route && !strcmp(route, routes[i])) return i;
    return PSY_METRICS_ROUTES - 1; /* other */
}

void psy_metrics_request(psy_metrics *m, const char *route, int status, double seconds)
{
    int r = route_index(route);
    pthread_mutex_lock(&m->mu);
    int s;
    for (s = 0; s < PSY_METRICS_STATUSES; s++)
        if (m->codes[r][s] == status || m->codes[r][s] == 0) break;
    if (s == PSY_METRICS_STATUSES) s--; /* more distinct codes than slots: the last slot takes them */
    if (!m->codes[r][s]) m->codes[r][s] = status;
    m->requests[r][s]++;
    int b = 0;
    while (b < PSY_METRICS_BUCKETS && seconds > bounds[b]) b++;
    m->hist[r][b]++;
    m->hist_sum[r] += seconds;
    pthread_mutex_unlock(&m->mu);
}

void psy_metrics_generation(psy_metrics *m, const char *finish, long prompt, long completion, long cached)
{
    int f = 3;
    for (int i = 0; i < PSY_METRICS_FINISH; i++)
        if (finish && !strcmp(finish, finishes[i])) f = i;
    pthread_mutex_lock(&m->mu);
    m->finish[f]++;
    m->prompt_tokens += (unsigned long)(prompt > 0 ? prompt : 0);
    m->completion_tokens += (unsigned long)(completion > 0 ? completion : 0);
    m->cached_tokens += (unsigned long)(cached > 0 ? cached : 0);
    pthread_mutex_unlock(&m->mu);
}

void psy_metrics_queue(psy_metrics *m, long depth)
{
    pthread_mutex_lock(&m->mu);
    m->queue_depth = depth;
    pthread_mutex_unlock(&m->mu);
}

void psy_metrics_restart(psy_metrics *m, const char *child)
{
    pthread_mutex_lock(&m->mu);
    m->restarts[child && !strcmp(child, "mnemosyne")]++;
    pthread_mutex_unlock(&m->mu);
}

void psy_metrics_recalled(psy_metrics *m, long n)
{
    pthread_mutex_lock(&m->mu);
    m->recalled += (unsigned long)(n > 0 ? n : 0);
    pthread_mutex_unlock(&m->mu);
}

void psy_metrics_stored(psy_metrics *m)
{
    pthread_mutex_lock(&m->mu);
    m->stored++;
    pthread_mutex_unlock(&m->mu);
}

static int render_requests(const psy_metrics *m, buf *out)
{
    int rc = 0;
    rc |= buf_puts(out, "# HELP psyche_http_requests_total HTTP requests by route and status.\n"
                        "# TYPE psyche_http_requests_total counter\n");
    for (int r = 0; r < PSY_METRICS_ROUTES; r++)
        for (int s = 0; s < PSY_METRICS_STATUSES && m->codes[r][s]; s++)
            rc |= buf_printf(out, "psyche_http_requests_total{route=\"%s\",status=\"%d\"} %lu\n", routes[r],
                             m->codes[r][s], m->requests[r][s]);
    rc |= buf_puts(out, "# HELP psyche_http_request_duration_seconds Time from the request line to the last byte.\n"
                        "# TYPE psyche_http_request_duration_seconds histogram\n");
    for (int r = 0; r < PSY_METRICS_ROUTES; r++) {
        unsigned long cum = 0;
        for (int b = 0; b <= PSY_METRICS_BUCKETS; b++) {
            cum += m->hist[r][b];
            if (b < PSY_METRICS_BUCKETS)
                rc |= buf_printf(out, "psyche_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %lu\n",
                                 routes[r], bounds[b], cum);
            else
                rc |= buf_printf(out, "psyche_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %lu\n",
                                 routes[r], cum);
        }
        rc |=
            buf_printf(out, "psyche_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", routes[r], m->hist_sum[r]);
        rc |= buf_printf(out, "psyche_http_request_duration_seconds_count{route=\"%s\"} %lu\n", routes[r], cum);
    }
    return rc ? -ENOMEM : 0;
}

int psy_metrics_render(psy_metrics *m, buf *out)
{
    pthread_mutex_lock(&m->mu);
    int rc = render_requests(m, out);
    rc |= buf_printf(out,
                     "# HELP psyche_tokens_total Tokens by kind (prompt, completion, cached prompt tokens).\n"
                     "# TYPE psyche_tokens_total counter\n"
                     "psyche_tokens_total{kind=\"prompt\"} %lu\npsyche_tokens_total{kind=\"completion\"} %lu\n"
                     "psyche_tokens_total{kind=\"cached\"} %lu\n",
                     m->prompt_tokens, m->completion_tokens, m->cached_tokens);
    rc |= buf_puts(out, "# HELP psyche_chat_completions_total Chat completions by finish reason.\n"
                        "# TYPE psyche_chat_completions_total counter\n");
    for (int f = 0; f < PSY_METRICS_FINISH; f++)
        rc |= buf_printf(out, "psyche_chat_completions_total{finish=\"%s\"} %lu\n", finishes[f], m->finish[f]);
    rc |= buf_printf(out,
                     "# HELP psyche_queue_depth Requests waiting for the inference worker.\n"
                     "# TYPE psyche_queue_depth gauge\npsyche_queue_depth %ld\n"
                     "# HELP psyche_child_restarts_total Restarts of the child programs.\n"
                     "# TYPE psyche_child_restarts_total counter\n"
                     "psyche_child_restarts_total{child=\"elpis\"} %lu\n"
                     "psyche_child_restarts_total{child=\"mnemosyne\"} %lu\n"
                     "# HELP psyche_memories_total Memories recalled into prompts, exchanges stored.\n"
                     "# TYPE psyche_memories_total counter\n"
                     "psyche_memories_total{op=\"recalled\"} %lu\npsyche_memories_total{op=\"stored\"} %lu\n",
                     m->queue_depth, m->restarts[0], m->restarts[1], m->recalled, m->stored);
    pthread_mutex_unlock(&m->mu);
    return rc ? -ENOMEM : 0; /* on -ENOMEM out may hold part of the text: the caller drops it */
}
