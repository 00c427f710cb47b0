/* test_mnemosyne_updates.c - unit tests of what issue 9 asked of retrieval:
 * short exact facts are not buried under longer chatter ("green tea", "cat
 * Tom"), knowledge updates are linked and ranked newest first even when
 * stored seconds apart and when the newer one is shorter ("Ana ferry
 * pilot"), facts that share only a name are not linked, links can be undone
 * and survive export/import, deleting the newer memory frees the older. */
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

#include "../../mnemosyne/store.h"
#include "log.h"

#include "mnemosyne_fixture.h"

static mem_record *search(mem_store *s, const char *text, size_t *n)
{
    mem_query q;
    mem_query_default(&q);
    q.text = text;
    q.touch = false;
    mem_record *r;
    if (mem_store_search(s, &q, &r, n)) fail_msg("search: %s", mem_store_errmsg(s));
    return r;
}

static int rank_of(const mem_record *r, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(r[i].id, id)) return (int)i + 1;
    return 0;
}

/* Longer chatter stored after the fact (so it is newer, too). */
static void chatter(tctx *t, const char *const *lines, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mem_store_set_time(t->s, T0 + 60.0 * (double)(i + 1));
        t_add(t->s, lines[i], NULL, NAN, 0, NULL);
    }
}

/* issue 9: "The user likes green tea" ranked 6th for `tea` under five memories without the word. */
static void test_green_tea(void **state)
{
    tctx *t = *state;
    char fact[MEM_ID_LEN];
    t_add(t->s, "The user likes green tea", NULL, NAN, 0, fact);
    static const char *const lines[] = {
        "We talked for a long time about the weather this week, the grey skies and whether the garden needs more "
        "water, then drifted to train delays and the new timetable that nobody seems to understand.",
        "The user described a long weekend trip to the coast, the small hotel with the creaking stairs, the fish "
        "market in the morning and the slow drive home through the hills.",
        "A detailed conversation about the user's work project: deadlines, the quarterly review, who owns which "
        "part of the migration and why the staging server keeps running out of disk space.",
        "The user asked about recipes for a dinner party: a lentil soup, roasted vegetables with herbs, a lemon "
        "cake, and whether to serve coffee or something stronger afterwards.",
        "Long chat about books the user is reading, a crime novel set in Lisbon and a history of the printing "
        "press, and about finding time to read on the commute.",
    };
    chatter(t, lines, 5);
    size_t n;
    mem_record *r = search(t->s, "tea", &n);
    int rank = rank_of(r, n, fact);
    if (rank < 1 || rank > 3) fail_msg("the green tea fact ranked %d (want top 3)", rank);
    const mem_record *f = &r[rank - 1];
    assert_near(f->score.match, 1.0, 1e-9);
    assert_int_equal(f->score.bm25_rank, 1);
    /* a memory without the word scores well below it: the score is not relative to the best of the rest */
    for (size_t i = 0; i < n; i++)
        if (strcmp(r[i].id, fact)) assert_true(r[i].score.relevance < 0.5 * f->score.relevance);
    mem_records_free(r, n);
}

/* issue 9: "My cat is called Tom" ranked 6th for `cat Tom`. */
static void test_cat_tom(void **state)
{
    tctx *t = *state;
    char fact[MEM_ID_LEN];
    t_add(t->s, "My cat is called Tom", NULL, NAN, 0, fact);
    static const char *const lines[] = {
        "We discussed whether cats or dogs make better companions for people who live in small flats, and the "
        "user said the neighbour's cat keeps visiting the balcony in the evenings.",
        "Tom from the office called about the meeting on Thursday; the user was annoyed that the agenda changed "
        "again and that nobody told the team about the new room.",
        "A story about a cat that walked across the keyboard during a video call, which everybody found funny "
        "except the person presenting the quarterly numbers.",
        "The user talked about names for pets, how people choose them, and a list of the most popular cat names "
        "in the country this year.",
        "Long conversation about the vet appointment next week, vaccinations, the price of pet insurance and "
        "whether it is worth it for an indoor animal.",
    };
    chatter(t, lines, 5);
    size_t n;
    mem_record *r = search(t->s, "cat Tom", &n);
    int rank = rank_of(r, n, fact);
    if (rank < 1 || rank > 3) fail_msg("the cat Tom fact ranked %d (want top 3)", rank);
    assert_near(r[rank - 1].score.match, 1.0, 1e-9);
    mem_records_free(r, n);
}

/* issue 9: "Ana works as a beekeeper" / "Ana has a new job now: ...ferry pilot", seconds apart. */
static void test_ana_ferry_pilot(void **state)
{
    tctx *t = *state;
    char old_id[MEM_ID_LEN];
    t_add(t->s, "Ana works as a beekeeper on her family's farm up in the hills, forty hives and a small shop", NULL,
          NAN, 0, old_id);
    t_add(t->s, "Ana Quist lives in Lisbon", NULL, NAN, 0, NULL);
    mem_store_set_time(t->s, T0 + 5); /* five seconds later, and shorter */
    mem_new m = {.content = "Ana has a new job now: she works as a ferry pilot"};
    mem_record nr;
    assert_int_equal(mem_store_add(t->s, &m, &nr), 0);
    assert_string_equal(nr.supersedes, old_id);
    mem_record old;
    assert_int_equal(mem_store_get(t->s, old_id, &old), 0);
    assert_string_equal(old.superseded_by, nr.id);
    assert_int_equal(old.status, MEM_SHORT_TERM); /* still findable */
    mem_record_clear(&old);

    static const char *const queries[] = {"What is Ana's job?", "Ana works", "Ana", "Where does Ana work now?"};
    for (size_t qi = 0; qi < sizeof queries / sizeof queries[0]; qi++) {
        size_t n;
        mem_record *r = search(t->s, queries[qi], &n);
        int rn = rank_of(r, n, nr.id), ro = rank_of(r, n, old_id);
        if (!rn || (ro && rn > ro)) fail_msg("'%s': outdated ranked %d, new %d", queries[qi], ro, rn);
        if (ro) assert_true(r[ro - 1].score.superseded);
        if (rn) assert_false(r[rn - 1].score.superseded);
        mem_records_free(r, n);
    }
    /* the outdated one is still found on its own words, marked superseded */
    size_t n;
    mem_record *r = search(t->s, "beekeeper hives", &n);
    int ro = rank_of(r, n, old_id);
    assert_true(ro >= 1 && ro <= 2); /* below the newer one when that is returned too */
    assert_true(r[ro - 1].score.superseded);
    mem_records_free(r, n);

    /* undo: both sides cleared; an unknown id is -ENOENT */
    bool un;
    assert_int_equal(mem_store_unlink(t->s, nr.id, &un), 0);
    assert_true(un);
    assert_int_equal(mem_store_get(t->s, old_id, &old), 0);
    assert_string_equal(old.superseded_by, "");
    mem_record_clear(&old);
    mem_record again;
    assert_int_equal(mem_store_get(t->s, nr.id, &again), 0);
    assert_string_equal(again.supersedes, "");
    mem_record_clear(&again);
    assert_int_equal(mem_store_unlink(t->s, nr.id, &un), -ENOENT);
    mem_record_clear(&nr);
}

/* Two facts that share only a person's name are different attributes: no link. */
static void test_shared_name_is_not_an_update(void **state)
{
    tctx *t = *state;
    t_add(t->s, "Ana Quist lives in Lisbon", NULL, NAN, 0, NULL);
    mem_store_set_time(t->s, T0 + 2);
    mem_new m = {.content = "Ana Quist's cat is called Miso"};
    mem_record r;
    assert_int_equal(mem_store_add(t->s, &m, &r), 0);
    assert_string_equal(r.supersedes, "");
    mem_record_clear(&r);
    /* a different subject with the same attribute: no link either */
    t_add(t->s, "Tomas works as a carpenter", NULL, NAN, 0, NULL);
    mem_new m2 = {.content = "Greta works as a carpenter"};
    assert_int_equal(mem_store_add(t->s, &m2, &r), 0);
    assert_string_equal(r.supersedes, "");
    mem_record_clear(&r);
}

/* The newer one restated twice: each link points one step back; the newest ranks first. */
static void test_chain_and_delete(void **state)
{
    tctx *t = *state;
    char a[MEM_ID_LEN], b[MEM_ID_LEN], c[MEM_ID_LEN];
    t_add(t->s, "My cat is called Tom", NULL, NAN, 0, a);
    mem_store_set_time(t->s, T0 + 1);
    t_add(t->s, "My cat is now called Felix", NULL, NAN, 0, b);
    mem_store_set_time(t->s, T0 + 2);
    t_add(t->s, "My cat is called Whiskers these days", NULL, NAN, 0, c);
    mem_record rb, rc;
    assert_int_equal(mem_store_get(t->s, b, &rb), 0);
    assert_int_equal(mem_store_get(t->s, c, &rc), 0);
    assert_string_equal(rb.supersedes, a);
    assert_string_equal(rb.superseded_by, c);
    assert_string_equal(rc.supersedes, b);
    mem_record_clear(&rb);
    mem_record_clear(&rc);
    size_t n;
    mem_record *r = search(t->s, "What is my cat called?", &n);
    assert_true(n >= 3);
    assert_string_equal(r[0].id, c);
    assert_true(rank_of(r, n, b) < rank_of(r, n, a));
    mem_records_free(r, n);
    /* deleting the newest frees the one it superseded */
    bool del;
    assert_int_equal(mem_store_delete(t->s, c, &del), 0);
    assert_int_equal(mem_store_get(t->s, b, &rb), 0);
    assert_string_equal(rb.superseded_by, "");
    assert_string_equal(rb.supersedes, a);
    mem_record_clear(&rb);
}

/* update_similarity = 0 turns linking off. */
static void test_linking_off(void **state)
{
    tctx *t = *state;
    mem_store_close(t->s);
    t->p.retrieval.update_similarity = 0;
    assert_int_equal(t_open(t), 0);
    t_add(t->s, "My cat is called Tom", NULL, NAN, 0, NULL);
    mem_new m = {.content = "My cat is now called Felix"};
    mem_record r;
    assert_int_equal(mem_store_add(t->s, &m, &r), 0);
    assert_string_equal(r.supersedes, "");
    mem_record_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_green_tea, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_cat_tom, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_ana_ferry_pilot, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_shared_name_is_not_an_update, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_chain_and_delete, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_linking_off, t_setup, t_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
