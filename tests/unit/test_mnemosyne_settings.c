/* test_mnemosyne_settings.c - every key of mnemosyne's configuration table
 * reaches the store: each key in turn is set (as a flag would, cfg_set) to
 * a value other than its default, and the parameters mem_settings_to_params
 * produces must differ from the defaults'. A key added to the table but not
 * wired fails here (the original left most of its keys unwired). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../mnemosyne/settings.h"

/* Keys that do not configure the store: main.c hands them to log_init(). */
static const char *const not_store_keys[] = {"logging.level", "logging.file"};

/* Every field of the parameters, as text. */
static void dump(const mem_store_params *p, char *out, size_t len)
{
    const mem_retrieval_params *r = &p->retrieval;
    const mem_consolidation_params *c = &p->consolidation;
    int u = snprintf(out, len,
                     "path=%s sync=%d busy=%d check=%lld content=%zu summary=%d model=%s dim=%d ctx=%d threads=%d "
                     "gpu=%d | imp=%g sim=%g age=%g batch=%d buffer=%d stale=%g | vw=%g bw=%g k=%g mult=%d minsim=%g "
                     "rows=%lld q=%d rw=%g cw=%g iw=%g decay=%g maxh=%g len=%g lenf=%d lenw=%g supf=%g upd=%g sem=%g "
                     "asst=%g user=%g ew=%g "
                     "ang=%d "
                     "n=%d ctxn=%d | low=",
                     p->path, p->synchronous_full, p->busy_timeout_ms, (long long)p->full_check_max_bytes,
                     p->max_content_bytes, p->summary_chars, p->embed.model_path ? p->embed.model_path : "(null)",
                     p->embed.dim, p->embed.n_ctx, p->embed.n_threads, p->embed.gpu_layers, c->importance_threshold,
                     c->similarity_threshold, c->min_age_hours, c->max_batch_size, c->buffer_threshold, c->stale_days,
                     r->vector_weight, r->bm25_weight, r->rrf_k, r->candidate_multiplier, r->min_vector_similarity,
                     (long long)r->bm25_max_rows, r->quality, r->relevance_weight, r->recency_weight,
                     r->importance_weight, r->recency_decay_rate, r->max_recency_hours, r->max_content_length,
                     r->length_factor, r->length_weight, r->superseded_factor, r->update_similarity,
                     r->semantic_type_factor, r->assistant_role_factor, r->user_role_factor, r->emotion_weight,
                     r->angular_similarity, r->default_n_results, r->context_results);
    for (size_t i = 0; i < p->n_low_trust_sources && u > 0 && (size_t)u < len; i++)
        u += snprintf(out + u, len - (size_t)u, "%s,", p->low_trust_sources[i]);
}

/* A valid value other than the default, as text. */
static void other_value(const cfg_key *k, char *out, size_t len)
{
    char name[96];
    snprintf(name, sizeof name, "%s.%s", k->section, k->key);
    switch (k->type) {
    case CFG_BOOL: snprintf(out, len, "%s", !strcmp(k->def, "true") ? "false" : "true"); return;
    case CFG_STRLIST: snprintf(out, len, "dream"); return;
    case CFG_STRING: {
        static const char *const v[][2] = {
            {"storage.db_path", "/tmp/mnemosyne-settings-test/m.db"},
            {"storage.embedding_model", "/tmp/some-model.gguf"},
            {"storage.synchronous", "normal"},
            {"logging.level", "debug"},
            {"logging.file", "/tmp/mnemosyne-settings-test.log"},
        };
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
            if (!strcmp(v[i][0], name)) {
                snprintf(out, len, "%s", v[i][1]);
                return;
            }
        fail_msg("string key %s is new: give it a non-default value in this test", name);
    }
    case CFG_INT:
    case CFG_DOUBLE: {
        double def = atof(k->def ? k->def : "0");
        double cand[] = {(k->min + k->max) / 2, k->min, k->max, def + 1};
        for (size_t i = 0; i < sizeof cand / sizeof cand[0]; i++) {
            double x = k->type == CFG_INT ? (double)(long long)cand[i] : cand[i];
            if (x == def || (k->min != k->max && (x < k->min || x > k->max))) continue;
            if (k->type == CFG_INT) snprintf(out, len, "%lld", (long long)x);
            else snprintf(out, len, "%.17g", x);
            return;
        }
        fail_msg("no non-default value for %s", name);
    }
    }
}

static void test_every_key_reaches_the_store(void **state)
{
    (void)state;
    static mem_settings cfg;
    const cfg_key *keys;
    size_t n = mem_settings_table(&cfg, &keys);
    char err[512], path[4096], base[4096], now[4096];
    /* a prefix no environment sets: defaults only */
    assert_int_equal(cfg_load(keys, n, NULL, false, "MNEMOSYNE_SETTINGS_TEST_NONE", err, sizeof err), 0);
    mem_store_params p;
    assert_int_equal(mem_settings_to_params(&cfg, &p, path, sizeof path, err, sizeof err), 0);
    dump(&p, base, sizeof base);
    /* the defaults of the table are the store's own defaults */
    mem_store_params d;
    mem_store_default_params(&d);
    d.path = p.path;
    d.embed.model_path = p.embed.model_path;
    d.low_trust_sources = p.low_trust_sources;
    d.n_low_trust_sources = p.n_low_trust_sources;
    dump(&d, now, sizeof now);
    assert_string_equal(base, now);
    int checked = 0;
    for (size_t i = 0; i < n; i++) {
        char name[96], value[256];
        snprintf(name, sizeof name, "%s.%s", keys[i].section, keys[i].key);
        bool store_key = true;
        for (size_t j = 0; j < sizeof not_store_keys / sizeof not_store_keys[0]; j++)
            if (!strcmp(name, not_store_keys[j])) store_key = false;
        cfg_free(keys, n);
        assert_int_equal(cfg_load(keys, n, NULL, false, "MNEMOSYNE_SETTINGS_TEST_NONE", err, sizeof err), 0);
        other_value(&keys[i], value, sizeof value);
        if (cfg_set(keys, n, name, value, "test", err, sizeof err)) fail_msg("%s = %s: %s", name, value, err);
        if (mem_settings_to_params(&cfg, &p, path, sizeof path, err, sizeof err))
            fail_msg("%s = %s: %s", name, value, err);
        dump(&p, now, sizeof now);
        if (store_key && !strcmp(now, base)) fail_msg("%s = %s does not reach the store's parameters", name, value);
        if (!store_key && strcmp(now, base)) fail_msg("%s changed the store's parameters", name);
        checked++;
    }
    assert_int_equal((size_t)checked, n);
    cfg_free(keys, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_key_reaches_the_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
