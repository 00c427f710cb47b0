/* mnemosyne_bench.c - speed figures for the memory store (not a test).
 *
 *   build/bench/mnemosyne_bench [--max N] [--queries Q] [--dir DIR]
 *
 * Grows one database to 1k, 10k and 100k synthetic memories (bulk import in
 * transactions of 1000) and at each size measures: single store_memory
 * latency (synchronous FULL and NORMAL), hybrid search p50/p95 with and
 * without the access-count write, each leg alone, the first search (which
 * loads the vector copy), and one consolidation of a 50-memory batch.
 * Text: sentences of Zipf-distributed pseudo-words, so common words make
 * the BM25 leg work as it would on real text. Seeded: the same data every run. */
#include <errno.h>
#include <math.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../mnemosyne/store.h"
#include "log.h"
#include "util.h"

#define VOCAB 4000

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}
static double rndu(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }

static char words[VOCAB][16];
static double zipf_cdf[VOCAB];

static void make_vocab(void)
{
    static const char *syl[] = {"ka",  "lo", "mi", "ren",  "to", "sa", "vel", "dor", "an", "ti", "bru", "ne",
                                "gar", "os", "le", "quin", "pa", "ri", "mo",  "zen", "ul", "fa", "ke",  "dru"};
    size_t ns = sizeof syl / sizeof syl[0];
    for (int i = 0; i < VOCAB; i++) {
        int n = 1 + (int)(rnd() % 3);
        words[i][0] = 0;
        for (int k = 0; k < n; k++) strcat(words[i], syl[rnd() % ns]);
        char suf[8];
        snprintf(suf, sizeof suf, "%d", i % 7 ? i % 97 : 0);
        if (i % 7 == 0) strcat(words[i], "x"); /* keep them distinct enough */
        else strcat(words[i], suf);
    }
    double sum = 0;
    for (int i = 0; i < VOCAB; i++) sum += 1.0 / pow(i + 1, 1.07);
    double acc = 0;
    for (int i = 0; i < VOCAB; i++) zipf_cdf[i] = (acc += 1.0 / pow(i + 1, 1.07) / sum);
}

static const char *zipf_word(void)
{
    double u = rndu();
    int lo = 0, hi = VOCAB - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (zipf_cdf[mid] < u) lo = mid + 1;
        else hi = mid;
    }
    return words[lo];
}

static void sentence(char *out, size_t cap, int nmin, int nmax)
{
    int n = nmin + (int)(rnd() % (unsigned)(nmax - nmin + 1));
    size_t u = 0;
    out[0] = 0;
    for (int i = 0; i < n && u + 20 < cap; i++)
        u += (size_t)snprintf(out + u, cap - u, "%s%s", i ? " " : "", zipf_word());
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void pct(double *v, int n, double *p50, double *p95)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    *p50 = v[n / 2] * 1e3;
    *p95 = v[(int)(n * 0.95) < n ? (int)(n * 0.95) : n - 1] * 1e3;
}

static int grow(mem_store *s, int from, int to, double now)
{
    const int batch = 1000;
    mem_record *recs = calloc(batch, sizeof *recs);
    char text[512];
    for (int base = from; base < to; base += batch) {
        int n = to - base < batch ? to - base : batch;
        for (int i = 0; i < n; i++) {
            mem_record *r = &recs[i];
            memset(r, 0, sizeof *r);
            snprintf(r->id, sizeof r->id, "bench-%08d", base + i);
            sentence(text, sizeof text, 8, 40);
            r->content = strdup(text);
            r->summary = strdup("");
            snprintf(r->memory_type, sizeof r->memory_type, "%s", (base + i) % 5 ? "episodic" : "semantic");
            snprintf(r->source, sizeof r->source, "user");
            snprintf(r->trust, sizeof r->trust, "high");
            r->created_at = r->last_accessed = now - 3600.0 * 2 - rndu() * 86400.0 * 30;
            r->emotion.present = (base + i) % 3 == 0;
            r->emotion.valence = rndu() * 2 - 1;
            r->emotion.arousal = rndu() * 2 - 1;
            r->importance = 0.5;
            r->tags = strdup("[]");
            r->metadata = strdup("{}");
            r->lineage = strdup("[]");
        }
        size_t imp, skip;
        int rc = mem_store_import(s, recs, (size_t)n, true, &imp, &skip);
        for (int i = 0; i < n; i++) mem_record_clear(&recs[i]);
        if (rc) {
            fprintf(stderr, "import failed: %s\n", mem_store_errmsg(s));
            free(recs);
            return rc;
        }
    }
    free(recs);
    return 0;
}

static void bench_search(mem_store *s, const char *label, int nq, bool bm25, bool vec, bool touch)
{
    double *t = malloc(sizeof *t * (size_t)nq);
    char q[256];
    int hits = 0;
    for (int i = 0; i < nq; i++) {
        sentence(q, sizeof q, 3, 6);
        mem_query mq;
        mem_query_default(&mq);
        mq.text = q;
        mq.use_bm25 = bm25;
        mq.use_vector = vec;
        mq.touch = touch;
        mem_record *r;
        size_t n;
        double t0 = now_mono();
        if (mem_store_search(s, &mq, &r, &n)) {
            fprintf(stderr, "search failed: %s\n", mem_store_errmsg(s));
            exit(1);
        }
        t[i] = now_mono() - t0;
        hits += n > 0;
        mem_records_free(r, n);
    }
    double p50, p95;
    pct(t, nq, &p50, &p95);
    printf("  %-34s p50 %7.2f ms   p95 %7.2f ms   (%d/%d queries with results)\n", label, p50, p95, hits, nq);
    free(t);
}

static void bench_stores(mem_store *s, const char *label, int n)
{
    double *t = malloc(sizeof *t * (size_t)n);
    char text[512];
    for (int i = 0; i < n; i++) {
        sentence(text, sizeof text, 8, 40);
        mem_new m = {.content = text};
        double t0 = now_mono();
        if (mem_store_add(s, &m, NULL)) {
            fprintf(stderr, "store failed: %s\n", mem_store_errmsg(s));
            exit(1);
        }
        t[i] = now_mono() - t0;
    }
    double p50, p95;
    pct(t, n, &p50, &p95);
    printf("  %-34s p50 %7.2f ms   p95 %7.2f ms\n", label, p50, p95);
    free(t);
}

static mem_store *open_store(const char *path, bool full)
{
    mem_store_params p;
    mem_store_default_params(&p);
    p.path = path;
    p.synchronous_full = full;
    mem_store *s;
    char err[1024];
    if (mem_store_open(&p, &s, err, sizeof err)) {
        fprintf(stderr, "open: %s\n", err);
        exit(1);
    }
    return s;
}

int main(int argc, char **argv)
{
    int max = 100000, nq = 300;
    const char *dir = NULL;
    for (int i = 1; i < argc; i += 2) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL; /* every flag takes a value */
        int bad = -EINVAL;
        if (!strcmp(argv[i], "--max")) bad = parse_int(v, 1, INT_MAX, &max);
        else if (!strcmp(argv[i], "--queries")) bad = parse_int(v, 1, INT_MAX, &nq);
        else if (!strcmp(argv[i], "--dir") && v) dir = v, bad = 0;
        if (bad) {
            fprintf(stderr,
                    "mnemosyne_bench: bad argument '%s' (N and Q are positive whole numbers)\n"
                    "usage: mnemosyne_bench [--max N] [--queries Q] [--dir DIR]\n",
                    argv[i]);
            return 2;
        }
    }
    log_init("bench", LOG_WARN, NULL);
    make_vocab();
    char tmpl[] = "/tmp/mnemosyne-bench-XXXXXX", path[512];
    if (!dir && !(dir = mkdtemp(tmpl))) return 1;
    snprintf(path, sizeof path, "%s/bench.db", dir);
    unlink(path);
    printf("mnemosyne_bench: hashed embedding (256 dims), %d queries per figure, db %s\n", nq, path);
    static const int sizes[] = {1000, 10000, 100000};
    int have = 0;
    double now = now_wall();
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0] && sizes[si] <= max; si++) {
        int n = sizes[si];
        mem_store *s = open_store(path, true);
        double t0 = now_mono();
        if (grow(s, have, n, now)) return 1;
        double tg = now_mono() - t0;
        printf("\nN = %d  (bulk import of %d: %.1f s, %.0f memories/s)\n", n, n - have, tg, (n - have) / tg);
        have = n;
        mem_store_close(s);
        s = open_store(path, true);
        t0 = now_mono();
        bench_search(s, "first search (loads vectors)", 1, true, true, false);
        printf("  first search wall time: %.1f ms\n", (now_mono() - t0) * 1e3);
        bench_search(s, "hybrid search, access counted", nq, true, true, true);
        bench_search(s, "hybrid search, read only", nq, true, true, false);
        bench_search(s, "BM25 leg only", nq, true, false, false);
        bench_search(s, "vector leg only", nq, false, true, false);
        bench_stores(s, "store_memory, synchronous FULL", 100);
        mem_store_close(s);
        s = open_store(path, false);
        bench_stores(s, "store_memory, synchronous NORMAL", 100);
        bench_search(s, "hybrid, access counted, NORMAL", nq, true, true, true);
        mem_consolidation_report r;
        t0 = now_mono();
        if (mem_store_consolidate(s, 0.5, 0.85, &r)) {
            fprintf(stderr, "consolidate: %s\n", mem_store_errmsg(s));
            return 1;
        }
        printf("  consolidation of a %d-memory batch: %.1f ms (%d clusters, %d promoted, %d archived)\n",
               r.total_processed, (now_mono() - t0) * 1e3, r.clusters_formed, r.memories_promoted, r.memories_archived);
        mem_consolidation_report_free(&r);
        mem_stats st;
        mem_store_stats(s, &st);
        printf("  database + WAL: %.1f MB, int8 vector copy in RAM: %.1f MB\n", st.db_bytes / 1e6,
               (double)st.total * (256 + 4 + 8 + 1) / 1e6);
        have = (int)st.total;
        mem_store_close(s);
    }
    if (!strncmp(dir, "/tmp/mnemosyne-bench-", 21)) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    return 0;
}
