/* test_mnemosyne_embed.c - unit tests of mnemosyne/embed.c: the hashed
 * embedding (deterministic, unit length, stop words and punctuation carry
 * nothing, related texts closer than unrelated ones, plural folding), the
 * dot product against a plain loop, bad dimensions, and the libllama path
 * with $BUILD/models/tiny-embed.gguf (skipped when `make test-models` has not
 * made it): dimensions, unit length, determinism, a store built on it, and
 * a clear error for a missing file. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../mnemosyne/embed.h"
#include "../../mnemosyne/words.h"
#include "../../mnemosyne/store.h"
#include "log.h"

#define D 256

static double norm(const float *v, int d)
{
    double s = 0;
    for (int i = 0; i < d; i++) s += (double)v[i] * v[i];
    return sqrt(s);
}

static float cosine(const char *a, const char *b)
{
    float va[D], vb[D];
    mem_embed_hashed(a, strlen(a), D, va);
    mem_embed_hashed(b, strlen(b), D, vb);
    return mem_vec_dot(va, vb, D);
}

static void test_hashed_basics(void **state)
{
    (void)state;
    float a[D], b[D];
    const char *t = "The lighthouse keeper painted the door blue";
    mem_embed_hashed(t, strlen(t), D, a);
    mem_embed_hashed(t, strlen(t), D, b);
    assert_memory_equal(a, b, sizeof a);
    assert_true(fabs(norm(a, D) - 1.0) < 1e-5);
    /* case and punctuation do not matter */
    const char *t2 = "the LIGHTHOUSE keeper, painted the door... blue!";
    mem_embed_hashed(t2, strlen(t2), D, b);
    assert_memory_equal(a, b, sizeof a);
    /* nothing to embed: all zeros */
    mem_embed_hashed("", 0, D, a);
    assert_true(norm(a, D) == 0);
    mem_embed_hashed("the of and , . !", 16, D, a);
    assert_true(norm(a, D) == 0);
}

static void test_hashed_similarity(void **state)
{
    (void)state;
    float same = cosine("Alice loves jasmine green tea", "alice loves green jasmine tea");
    float near = cosine("Alice loves jasmine green tea", "Alice likes green tea a lot");
    float far = cosine("Alice loves jasmine green tea", "the server rebooted after a kernel update");
    assert_true(same > 0.8f);
    assert_true(near > far + 0.2f);
    assert_true(fabsf(far) < 0.25f);
    /* plural folding and character trigrams */
    assert_true(cosine("memories", "memory") > 0.5f);
    assert_true(cosine("running", "runner") > 0.1f);
    /* non-ASCII words are words */
    assert_true(cosine("café crème", "crème café") > 0.7f);
}

static void test_dot_and_normalise(void **state)
{
    (void)state;
    for (int d = 1; d < 40; d++) {
        float a[40], b[40];
        double ref = 0;
        for (int i = 0; i < d; i++) {
            a[i] = (float)sin(i * 1.3 + d);
            b[i] = (float)cos(i * 0.7 - d);
            ref += (double)a[i] * b[i];
        }
        assert_true(fabs(mem_vec_dot(a, b, d) - ref) < 1e-5);
    }
    float v[3] = {3, 4, 0};
    assert_true(fabs(mem_vec_normalise(v, 3) - 5.0) < 1e-9);
    assert_true(fabs(v[0] - 0.6f) < 1e-7 && fabs(v[1] - 0.8f) < 1e-7);
    float z[2] = {0, 0};
    assert_true(mem_vec_normalise(z, 2) == 0 && z[0] == 0);
}

static void test_stopwords(void **state)
{
    (void)state;
    assert_true(mem_is_stopword("the", 3));
    assert_true(mem_is_stopword("yourselves", 10));
    assert_true(mem_is_stopword("a", 1));
    assert_false(mem_is_stopword("tea", 3));
    assert_false(mem_is_stopword("th", 2));
    assert_false(mem_is_stopword("thee", 4));
}

static void test_open_errors(void **state)
{
    (void)state;
    mem_embed_params p;
    mem_embed_default_params(&p);
    mem_embedder *e;
    char err[512];
    p.dim = 8;
    assert_int_equal(mem_embedder_open(&p, &e, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "outside"));
    p.dim = 256;
    assert_int_equal(mem_embedder_open(&p, &e, err, sizeof err), 0);
    assert_false(mem_embedder_is_llama(e));
    assert_string_equal(mem_embedder_name(e), "hashed-ngram-v1/256");
    mem_embedder_free(e);
    p.model_path = "/nonexistent/embed.gguf";
    assert_int_equal(mem_embedder_open(&p, &e, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/embed.gguf"));
    assert_non_null(strstr(err, "embedding_model"));
    /* a file that is not a GGUF */
    p.model_path = "/etc/hostname";
    if (access(p.model_path, R_OK) == 0) {
        assert_int_equal(mem_embedder_open(&p, &e, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "could not be loaded"));
    }
}

static const char *model_path(void)
{
    static char path[512];
    const char *b = getenv("BUILD");
    snprintf(path, sizeof path, "%s/models/tiny-embed.gguf", b && *b ? b : "build");
    return path;
}

static void test_llama_embedding(void **state)
{
    (void)state;
    const char *mp = model_path();
    if (access(mp, R_OK) != 0) {
        print_message("skipped: %s not found (make test-models)\n", mp);
        skip();
    }
    mem_embed_params p;
    mem_embed_default_params(&p);
    p.model_path = mp;
    p.n_threads = 1;
    mem_embedder *e;
    char err[512];
    assert_int_equal(mem_embedder_open(&p, &e, err, sizeof err), 0);
    assert_true(mem_embedder_is_llama(e));
    int d = mem_embedder_dim(e);
    assert_true(d > 0 && d <= MEM_EMBED_DIM_MAX);
    assert_non_null(strstr(mem_embedder_name(e), "gguf:tiny-embed.gguf/"));
    float *a = calloc((size_t)d, sizeof *a), *b = calloc((size_t)d, sizeof *b);
    const char *t = "Alice loves jasmine green tea";
    assert_int_equal(mem_embed(e, t, strlen(t), a), 0);
    assert_true(fabs(norm(a, d) - 1.0) < 1e-4);
    assert_int_equal(mem_embed(e, t, strlen(t), b), 0);
    for (int i = 0; i < d; i++) assert_true(fabsf(a[i] - b[i]) < 1e-5f); /* deterministic */
    const char *u = "a completely different sentence about servers";
    assert_int_equal(mem_embed(e, u, strlen(u), b), 0);
    assert_true(mem_vec_dot(a, b, d) < 0.9999f);
    /* longer than the context: truncated, still a unit vector */
    char *big = malloc(20000);
    for (int i = 0; i < 19999; i++) big[i] = "word "[i % 5];
    big[19999] = 0;
    assert_int_equal(mem_embed(e, big, strlen(big), b), 0);
    assert_true(fabs(norm(b, d) - 1.0) < 1e-4);
    free(big);
    free(a);
    free(b);
    mem_embedder_free(e);
}

static void test_llama_store(void **state)
{
    (void)state;
    const char *mp = model_path();
    if (access(mp, R_OK) != 0) skip();
    char dir[] = "/tmp/mnemo-embed-XXXXXX", path[128], err[512];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.db", dir);
    mem_store_params p;
    mem_store_default_params(&p);
    p.path = path;
    p.synchronous_full = false;
    p.embed.model_path = mp;
    p.embed.n_threads = 1;
    mem_store *s;
    assert_int_equal(mem_store_open(&p, &s, err, sizeof err), 0);
    mem_new m = {.content = "the violin lesson is on thursday"};
    assert_int_equal(mem_store_add(s, &m, NULL), 0);
    mem_query q;
    mem_query_default(&q);
    q.text = "violin lesson";
    mem_record *r;
    size_t n;
    assert_int_equal(mem_store_search(s, &q, &r, &n), 0);
    assert_int_equal(n, 1);
    mem_records_free(r, n);
    mem_stats st;
    assert_int_equal(mem_store_stats(s, &st), 0);
    assert_non_null(strstr(st.embedding_model, "gguf:"));
    mem_store_close(s);
    /* reopened without a model: the database's model is used */
    p.embed.model_path = "";
    assert_int_equal(mem_store_open(&p, &s, err, sizeof err), 0);
    assert_true(mem_embedder_is_llama(mem_store_embedder(s)));
    mem_store_close(s);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_reembed_on_model_change(void **state)
{
    (void)state;
    char dir[] = "/tmp/mnemo-embed-XXXXXX", path[128], err[512];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.db", dir);
    mem_store_params p;
    mem_store_default_params(&p);
    p.path = path;
    p.synchronous_full = false;
    mem_store *s;
    assert_int_equal(mem_store_open(&p, &s, err, sizeof err), 0);
    mem_new m = {.content = "the violin lesson is on thursday"};
    assert_int_equal(mem_store_add(s, &m, NULL), 0);
    mem_store_close(s);
    p.embed.dim = 128; /* another embedding: every vector is recomputed on first use */
    assert_int_equal(mem_store_open(&p, &s, err, sizeof err), 0);
    mem_query q;
    mem_query_default(&q);
    q.text = "violin";
    q.use_bm25 = false;
    mem_record *r;
    size_t n;
    assert_int_equal(mem_store_search(s, &q, &r, &n), 0);
    assert_int_equal(n, 1);
    mem_records_free(r, n);
    mem_stats st;
    assert_int_equal(mem_store_stats(s, &st), 0);
    assert_string_equal(st.embedding_model, "hashed-ngram-v1/128");
    mem_store_close(s);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    log_init("test", LOG_WARN, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hashed_basics),     cmocka_unit_test(test_hashed_similarity),
        cmocka_unit_test(test_dot_and_normalise), cmocka_unit_test(test_stopwords),
        cmocka_unit_test(test_open_errors),       cmocka_unit_test(test_llama_embedding),
        cmocka_unit_test(test_llama_store),       cmocka_unit_test(test_reembed_on_model_change),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
