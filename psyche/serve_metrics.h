/* serve_metrics.h - the metrics registry of `psyche serve`, rendered as
 * Prometheus text for GET /metrics.
 *
 * Fixed families, no dynamic registration: requests by route and status,
 * request latency histograms by route, tokens (prompt, completion, cached),
 * chat completions by finish reason, queue depth, child restarts. Every
 * function is thread-safe (one mutex); the registry is a value the caller
 * owns (psy_metrics_init / psy_metrics_free). */
#ifndef PSY_SERVE_METRICS_H
#define PSY_SERVE_METRICS_H

#include <pthread.h>

#include "buf.h"

#define PSY_METRICS_ROUTES 8
#define PSY_METRICS_STATUSES 12
#define PSY_METRICS_BUCKETS 13
#define PSY_METRICS_FINISH 4

typedef struct psy_metrics {
    pthread_mutex_t mu;
    /* requests[route][i] counts status codes[route][i] */
    int codes[PSY_METRICS_ROUTES][PSY_METRICS_STATUSES];
    unsigned long requests[PSY_METRICS_ROUTES][PSY_METRICS_STATUSES];
    unsigned long hist[PSY_METRICS_ROUTES][PSY_METRICS_BUCKETS + 1]; /* last: +Inf */
    double hist_sum[PSY_METRICS_ROUTES];
    unsigned long prompt_tokens, completion_tokens, cached_tokens;
    unsigned long finish[PSY_METRICS_FINISH]; /* stop, length, cancelled, error */
    long queue_depth;
    unsigned long restarts[2]; /* elpis, mnemosyne */
    unsigned long recalled;    /* memories put into prompts */
    unsigned long stored;      /* exchanges stored as memories */
} psy_metrics;

void psy_metrics_init(psy_metrics *m);
void psy_metrics_free(psy_metrics *m);
/* route: "chat", "models", "health", "emotion", "metrics", "embeddings" or anything else ("other"). */
void psy_metrics_request(psy_metrics *m, const char *route, int status, double seconds);
/* finish: "stop", "length", "cancelled" or "error". */
void psy_metrics_generation(psy_metrics *m, const char *finish, long prompt, long completion, long cached);
void psy_metrics_queue(psy_metrics *m, long depth);
/* child: "elpis" or "mnemosyne". */
void psy_metrics_restart(psy_metrics *m, const char *child);
/* n memories were recalled into a prompt. */
void psy_metrics_recalled(psy_metrics *m, long n);
/* One exchange was stored as a memory. */
void psy_metrics_stored(psy_metrics *m);
/* Appends the Prometheus text exposition. Returns 0 or -ENOMEM. */
int psy_metrics_render(psy_metrics *m, buf *out);

#endif
