/* test_mnemosyne_consolidate.c - unit tests of reversible consolidation:
 * clustering by cosine to the running centroid, promotion of the most
 * important member of an important cluster, archiving (never deleting) the
 * rest with superseded_by and lineage, singletons, min_age and batch limits,
 * restore, stale archiving, bad thresholds, and the report. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>

#include <cjson/cJSON.h>

#include "../../mnemosyne/store_int.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../mnemosyne/store.h"
#include "log.h"

#include "mnemosyne_fixture.h"


#define HOUR 3600.0
#define DAY 86400.0

static mem_record get(mem_store *s, const char *id)
{
    mem_record r;
    if (mem_store_get(s, id, &r)) fail_msg("get %s: %s", id, mem_store_errmsg(s));
    return r;
}

static bool lineage_has(const mem_record *r, const char *id)
{
    cJSON *a = cJSON_Parse(r->lineage);
    bool found = false;
    const cJSON *it;
    cJSON_ArrayForEach(it, a) if (cJSON_IsString(it) && !strcmp(it->valuestring, id)) found = true;
    cJSON_Delete(a);
    return found;
}

/* Three near-duplicates with strong emotion (importance >= 0.6), two
 * unrelated neutral memories (0.5). */
static void seed(tctx *t, char ids[5][MEM_ID_LEN])
{
    mem_store_set_time(t->s, T0 - 2 * HOUR);
    t_add(t->s, "Alice told me her favourite tea is jasmine green tea", NULL, 0.6, 0.6, ids[0]);      /* sal 0.80 */
    t_add(t->s, "Alice told me her favourite tea is jasmine green tea!", NULL, 0.9, 0.9, ids[1]);     /* sal 0.95 */
    t_add(t->s, "Alice told me that her favourite tea is jasmine green tea", NULL, 0.5, 0.5, ids[2]); /* 0.75 */
    t_add(t->s, "The build server was rebooted after the kernel update", NULL, NAN, 0, ids[3]);
    t_add(t->s, "Remember to water the ficus on the balcony", NULL, NAN, 0, ids[4]);
    mem_store_set_time(t->s, T0);
}

static void test_cluster_promote_archive(void **state)
{
    tctx *t = *state;
    char ids[5][MEM_ID_LEN];
    seed(t, ids);
    mem_consolidation_report r;
    assert_int_equal(mem_store_consolidate(t->s, 0.6, 0.85, &r), 0);
    assert_int_equal(r.total_processed, 5);
    assert_int_equal(r.clusters_formed, 3);
    assert_int_equal(r.memories_promoted, 1);
    assert_int_equal(r.memories_archived, 2);
    assert_int_equal(r.memories_skipped, 2);
    assert_int_equal(r.memories_stale, 0);
    assert_true(r.duration_seconds >= 0);
    assert_int_equal(r.n_clusters, 1);
    /* the most important member (ids[1]) is promoted; its summary lists all three */
    assert_string_equal(r.clusters[0].promoted_id, ids[1]);
    assert_int_equal(r.clusters[0].cluster_size, 3);
    assert_string_equal(r.clusters[0].source_ids[0], ids[1]);
    double avg = (0.4 * 0.8 + 0.3 + 0.4 * 0.95 + 0.3 + 0.4 * 0.75 + 0.3) / 3;
    assert_near(r.clusters[0].avg_importance, avg, 1e-9);
    mem_consolidation_report_free(&r);

    mem_record p = get(t->s, ids[1]);
    assert_int_equal(p.status, MEM_LONG_TERM);
    assert_true(lineage_has(&p, ids[0]));
    assert_true(lineage_has(&p, ids[2]));
    mem_record_clear(&p);
    for (int i = 0; i < 3; i += 2) {
        mem_record a = get(t->s, ids[i]);
        assert_int_equal(a.status, MEM_ARCHIVED);
        assert_string_equal(a.superseded_by, ids[1]);
        assert_string_equal(a.archive_reason, "consolidated");
        assert_near(a.archived_at, T0, 1e-6);
        mem_record_clear(&a);
    }
    for (int i = 3; i < 5; i++) {
        mem_record a = get(t->s, ids[i]);
        assert_int_equal(a.status, MEM_SHORT_TERM);
        mem_record_clear(&a);
    }
    /* nothing deleted */
    assert_int_equal(t_count(t->s, 3), 5);
    assert_int_equal(t_count(t->s, 2), 2);
    /* default search no longer returns the archived ones */
    mem_query q;
    mem_query_default(&q);
    q.text = "jasmine tea";
    mem_record *res;
    size_t n;
    assert_int_equal(mem_store_search(t->s, &q, &res, &n), 0);
    for (size_t i = 0; i < n; i++) {
        assert_string_not_equal(res[i].id, ids[0]);
        assert_string_not_equal(res[i].id, ids[2]);
    }
    assert_true(n >= 1);
    assert_string_equal(res[0].id, ids[1]);
    mem_records_free(res, n);
    /* a second run finds nothing new to promote */
    assert_int_equal(mem_store_consolidate(t->s, 0.6, 0.85, &r), 0);
    assert_int_equal(r.total_processed, 2);
    assert_int_equal(r.memories_promoted, 0);
    mem_consolidation_report_free(&r);
}

static void test_restore(void **state)
{
    tctx *t = *state;
    char ids[5][MEM_ID_LEN];
    seed(t, ids);
    mem_consolidation_report r;
    assert_int_equal(mem_store_consolidate(t->s, -1, -1, &r), 0); /* configured 0.6 / 0.85 */
    assert_int_equal(r.memories_archived, 2);
    mem_consolidation_report_free(&r);
    assert_int_equal(mem_store_restore(t->s, ids[0]), 0);
    mem_record a = get(t->s, ids[0]);
    assert_int_equal(a.status, MEM_SHORT_TERM);
    assert_string_equal(a.superseded_by, "");
    assert_string_equal(a.archive_reason, "");
    mem_record_clear(&a);
    /* the promoted memory no longer stands for it; the other member stays in its lineage */
    mem_record p = get(t->s, ids[1]);
    assert_false(lineage_has(&p, ids[0]));
    assert_true(lineage_has(&p, ids[2]));
    assert_int_equal(p.status, MEM_LONG_TERM);
    mem_record_clear(&p);
    /* searchable again */
    mem_query q;
    mem_query_default(&q);
    q.text = "jasmine";
    q.n_results = 10;
    mem_record *res;
    size_t n;
    assert_int_equal(mem_store_search(t->s, &q, &res, &n), 0);
    bool found = false;
    for (size_t i = 0; i < n; i++) found |= !strcmp(res[i].id, ids[0]);
    assert_true(found);
    mem_records_free(res, n);
    /* errors */
    assert_int_equal(mem_store_restore(t->s, ids[1]), -EINVAL); /* long-term, not archived */
    assert_non_null(strstr(mem_store_errmsg(t->s), "not archived"));
    assert_int_equal(mem_store_restore(t->s, "00000000-0000-4000-8000-000000000000"), -ENOENT);
    assert_int_equal(mem_store_restore(t->s, ""), -EINVAL);
}

static void test_singleton_and_threshold(void **state)
{
    tctx *t = *state;
    char hi[MEM_ID_LEN], lo[MEM_ID_LEN];
    mem_store_set_time(t->s, T0 - 3 * HOUR);
    t_add(t->s, "I was terrified during the earthquake", "emotional", -0.9, 1.0, hi); /* 0.4*0.985+0.3 */
    t_add(t->s, "Lunch was a sandwich", NULL, NAN, 0, lo);
    mem_store_set_time(t->s, T0);
    mem_consolidation_report r;
    assert_int_equal(mem_store_consolidate(t->s, 0.6, 0.85, &r), 0);
    assert_int_equal(r.clusters_formed, 2);
    assert_int_equal(r.memories_promoted, 1);
    assert_int_equal(r.memories_archived, 0);
    assert_int_equal(r.memories_skipped, 1);
    assert_int_equal(r.clusters[0].cluster_size, 1);
    mem_consolidation_report_free(&r);
    mem_record a = get(t->s, hi);
    assert_int_equal(a.status, MEM_LONG_TERM);
    assert_string_equal(a.lineage, "[]");
    mem_record_clear(&a);
    /* threshold 0: everything left is promoted */
    assert_int_equal(mem_store_consolidate(t->s, 0.0, 0.85, &r), 0);
    assert_int_equal(r.memories_promoted, 1);
    mem_consolidation_report_free(&r);
    assert_int_equal(t_count(t->s, 1), 2);
}

static void test_similarity_threshold(void **state)
{
    tctx *t = *state;
    char ids[5][MEM_ID_LEN];
    seed(t, ids);
    mem_consolidation_report r;
    /* threshold 1.0: only identical vectors cluster -> five singletons */
    assert_int_equal(mem_store_consolidate(t->s, 0.99, 1.0, &r), 0);
    assert_int_equal(r.clusters_formed, 5);
    assert_int_equal(r.memories_promoted, 0);
    mem_consolidation_report_free(&r);
    /* threshold 0: everything with a non-negative cosine to the centroid joins
     * (signed hashing can leave an unrelated text slightly negative) */
    assert_int_equal(mem_store_consolidate(t->s, 0.5, 0.0, &r), 0);
    assert_true(r.clusters_formed <= 2);
    assert_true(r.memories_archived >= 3);
    size_t members = 0;
    for (size_t i = 0; i < r.n_clusters; i++) members += r.clusters[i].cluster_size;
    assert_int_equal(members, (size_t)(r.memories_promoted + r.memories_archived));
    assert_int_equal(r.memories_promoted + r.memories_archived + r.memories_skipped, 5);
    mem_consolidation_report_free(&r);
}

static void test_min_age_and_batch(void **state)
{
    tctx *t = *state;
    char old1[MEM_ID_LEN], old2[MEM_ID_LEN], young[MEM_ID_LEN];
    mem_store_set_time(t->s, T0 - 5 * HOUR);
    t_add(t->s, "an old memory of a red kite over the hills", NULL, 0.2, 0.2, old1);
    t_add(t->s, "an old memory of the cold lake swim", NULL, 1.0, 1.0, old2);
    mem_store_set_time(t->s, T0 - 0.5 * HOUR);
    t_add(t->s, "a young memory about the train timetable", NULL, 1.0, 1.0, young);
    mem_store_set_time(t->s, T0);
    mem_store_close(t->s);
    t->p.consolidation.max_batch_size = 1;
    assert_int_equal(t_open(t), 0);
    mem_consolidation_report r;
    assert_int_equal(mem_store_consolidate(t->s, 0.6, 0.85, &r), 0);
    assert_int_equal(r.total_processed, 1); /* the batch of one: the most important old memory */
    assert_int_equal(r.memories_promoted, 1);
    assert_string_equal(r.clusters[0].promoted_id, old2);
    mem_consolidation_report_free(&r);
    mem_record y = get(t->s, young);
    assert_int_equal(y.status, MEM_SHORT_TERM); /* younger than min_age_hours */
    mem_record_clear(&y);
}

static void test_stale(void **state)
{
    tctx *t = *state;
    char stale[MEM_ID_LEN], used[MEM_ID_LEN], vivid[MEM_ID_LEN];
    mem_store_close(t->s);
    t->p.consolidation.buffer_threshold = 3;
    t->p.consolidation.stale_days = 30;
    assert_int_equal(t_open(t), 0);
    t_add(t->s, "a dull note about printer toner", NULL, NAN, 0, stale);
    t_add(t->s, "the spare key is under the blue pot", NULL, NAN, 0, used);
    t_add(t->s, "the day we adopted the dog", NULL, 1.0, 1.0, vivid);
    bool yes;
    assert_int_equal(mem_store_should_consolidate(t->s, &yes, NULL, 0, NULL, NULL), 0);
    assert_true(yes);
    /* 20 days later the key note is accessed */
    mem_store_set_time(t->s, T0 + 20 * DAY);
    const char *ids[] = {used};
    assert_int_equal(mem_store_touch(t->s, ids, 1), 0);
    /* 31 days after storing: the dull note is stale; the key note was used 11 days ago;
     * the vivid one is promoted (0.7 - recency loss stays above 0.6) */
    mem_store_set_time(t->s, T0 + 31 * DAY);
    mem_consolidation_report r;
    assert_int_equal(mem_store_consolidate(t->s, 0.6, 0.85, &r), 0);
    assert_int_equal(r.memories_promoted, 1);
    assert_int_equal(r.memories_stale, 1);
    mem_consolidation_report_free(&r);
    mem_record a = get(t->s, stale);
    assert_int_equal(a.status, MEM_ARCHIVED);
    assert_string_equal(a.archive_reason, "stale");
    assert_string_equal(a.superseded_by, "");
    mem_record_clear(&a);
    a = get(t->s, used);
    assert_int_equal(a.status, MEM_SHORT_TERM);
    mem_record_clear(&a);
    a = get(t->s, vivid);
    assert_int_equal(a.status, MEM_LONG_TERM);
    mem_record_clear(&a);
    /* should_consolidate can become false again */
    assert_int_equal(mem_store_should_consolidate(t->s, &yes, NULL, 0, NULL, NULL), 0);
    assert_false(yes);
    /* restored stale memory is not re-archived at once (last_accessed moves) */
    assert_int_equal(mem_store_restore(t->s, stale), 0);
    assert_int_equal(mem_store_consolidate(t->s, 0.6, 0.85, &r), 0);
    assert_int_equal(r.memories_stale, 0);
    mem_consolidation_report_free(&r);
    /* stale_days 0 = never */
    mem_store_close(t->s);
    t->p.consolidation.stale_days = 0;
    assert_int_equal(t_open(t), 0);
    mem_store_set_time(t->s, T0 + 400 * DAY);
    assert_int_equal(mem_store_consolidate(t->s, 0.6, 0.85, &r), 0);
    assert_int_equal(r.memories_stale, 0);
    mem_consolidation_report_free(&r);
}

static void test_bad_thresholds(void **state)
{
    tctx *t = *state;
    char ids[5][MEM_ID_LEN];
    seed(t, ids);
    mem_consolidation_report r;
    assert_int_equal(mem_store_consolidate(t->s, 1.5, 0.85, &r), -EINVAL);
    assert_non_null(strstr(mem_store_errmsg(t->s), "importance_threshold"));
    assert_int_equal(mem_store_consolidate(t->s, 0.6, 2, &r), -EINVAL);
    assert_non_null(strstr(mem_store_errmsg(t->s), "similarity_threshold"));
    assert_int_equal(mem_store_consolidate(t->s, NAN, 0.5, &r), -EINVAL);
    assert_int_equal(t_count(t->s, 0), 5); /* nothing changed */
}

static void test_promoted_vectors_follow(void **state)
{
    /* after consolidation the in-memory vector copy knows the new statuses */
    tctx *t = *state;
    char ids[5][MEM_ID_LEN];
    seed(t, ids);
    mem_query q;
    mem_query_default(&q);
    q.text = "jasmine";
    q.use_bm25 = false;
    mem_record *res;
    size_t n;
    assert_int_equal(mem_store_search(t->s, &q, &res, &n), 0); /* loads the copy */
    mem_records_free(res, n);
    mem_consolidation_report r;
    assert_int_equal(mem_store_consolidate(t->s, 0.6, 0.85, &r), 0);
    mem_consolidation_report_free(&r);
    assert_int_equal(mem_store_search(t->s, &q, &res, &n), 0);
    for (size_t i = 0; i < n; i++) assert_int_not_equal(res[i].status, MEM_ARCHIVED);
    mem_records_free(res, n);
    q.status_mask = MEM_STATUS_BIT(MEM_LONG_TERM);
    assert_int_equal(mem_store_search(t->s, &q, &res, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(res[0].id, ids[1]);
    mem_records_free(res, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cluster_promote_archive, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_restore, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_singleton_and_threshold, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_similarity_threshold, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_min_age_and_batch, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_stale, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_bad_thresholds, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_promoted_vectors_follow, t_setup, t_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
