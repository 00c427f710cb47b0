/* mnemosyne_fixture.h - the store fixture shared by the mnemosyne unit tests:
 * a temporary database per test, a fixed clock, and small helpers to add
 * and count memories. Include after cmocka.h, math.h, stdio.h, stdlib.h,
 * string.h and mnemosyne/store.h. */
#ifndef MNEMOSYNE_FIXTURE_H
#define MNEMOSYNE_FIXTURE_H

#define assert_near(a, b, eps)                                                                                         \
    do {                                                                                                               \
        double a_ = (a), b_ = (b);                                                                                     \
        if (!(fabs(a_ - b_) <= (eps))) fail_msg("%s = %.12g, expected %.12g (+/- %g)", #a, a_, b_, (double)(eps));     \
    } while (0)

#define T0 1800000000.0 /* a fixed "now" for the tests */

typedef struct tctx {
    char dir[64];
    char path[128];
    mem_store *s;
    mem_store_params p;
} tctx;

static inline void t_mkdir(tctx *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/mnemo-unit-XXXXXX");
    if (!mkdtemp(t->dir)) fail_msg("mkdtemp failed");
    snprintf(t->path, sizeof t->path, "%s/m.db", t->dir);
    mem_store_default_params(&t->p);
    t->p.path = t->path;
    t->p.synchronous_full = false; /* tests do not need fsyncs */
}

static inline int t_open(tctx *t)
{
    char err[1024];
    int rc = mem_store_open(&t->p, &t->s, err, sizeof err);
    if (rc) print_message("open: %s\n", err);
    else mem_store_set_time(t->s, T0);
    return rc;
}

static inline int t_setup(void **state)
{
    log_init("test", LOG_WARN, NULL);
    tctx *t = calloc(1, sizeof *t);
    t_mkdir(t);
    if (t_open(t)) return -1;
    *state = t;
    return 0;
}

static inline int t_teardown(void **state)
{
    tctx *t = *state;
    mem_store_close(t->s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    if (system(cmd) != 0) print_message("cleanup of %s failed\n", t->dir);
    free(t);
    return 0;
}

/* Adds a memory; returns its id in id_out (MEM_ID_LEN) if given. */
static inline void t_add(mem_store *s, const char *content, const char *type, double valence, double arousal,
                         char *id_out)
{
    mem_new m;
    memset(&m, 0, sizeof m);
    m.content = content;
    m.memory_type = type;
    mem_emotion e;
    memset(&e, 0, sizeof e);
    if (!isnan(valence)) {
        e.present = true;
        e.valence = valence;
        e.arousal = arousal;
        m.emotion = &e;
    }
    mem_record r;
    int rc = mem_store_add(s, &m, &r);
    if (rc) fail_msg("add failed: %s", mem_store_errmsg(s));
    if (id_out) snprintf(id_out, MEM_ID_LEN, "%s", r.id);
    mem_record_clear(&r);
}

static inline int64_t t_count(mem_store *s, int which) /* 0 st, 1 lt, 2 archived, 3 total */
{
    mem_stats st;
    if (mem_store_stats(s, &st)) fail_msg("stats: %s", mem_store_errmsg(s));
    return which == 0 ? st.short_term : which == 1 ? st.long_term : which == 2 ? st.archived : st.total;
}

#endif
