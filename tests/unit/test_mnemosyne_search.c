/* test_mnemosyne_search.c - unit tests of hybrid search: each leg alone and
 * fused, RRF normalisation (a memory first in both legs scores 1), the
 * quality factors as configured, the mood-congruent re-rank, the status
 * filter on both legs (archived excluded by default), access counting of
 * returned memories, and each bad query. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>

#include "../../mnemosyne/store_int.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../mnemosyne/store.h"
#include "log.h"

#include "mnemosyne_fixture.h"


static mem_record *search(mem_store *s, mem_query *q, size_t *n)
{
    mem_record *r;
    int rc = mem_store_search(s, q, &r, n);
    if (rc) fail_msg("search '%s': %s", q->text, mem_store_errmsg(s));
    return r;
}

static int find(const mem_record *r, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(r[i].id, id)) return (int)i;
    return -1;
}

static void test_lexical_and_vector_legs(void **state)
{
    tctx *t = *state;
    char lex[MEM_ID_LEN], vec[MEM_ID_LEN], other[MEM_ID_LEN];
    t_add(t->s, "The quarterly budget review happens on Friday", NULL, NAN, 0, lex);
    t_add(t->s, "Our team discussed the memories of childhood summers", NULL, NAN, 0, vec);
    t_add(t->s, "Completely unrelated text about kayaks", NULL, NAN, 0, other);
    mem_query q;
    mem_query_default(&q);
    q.text = "budget review";
    q.use_vector = false;
    size_t n;
    mem_record *r = search(t->s, &q, &n);
    assert_int_equal(n, 1); /* BM25 returns only documents containing a term */
    assert_string_equal(r[0].id, lex);
    mem_records_free(r, n);
    /* the vector leg finds "memories" from "memory" (plural folding, trigrams) */
    mem_query_default(&q);
    q.text = "memory childhood";
    q.use_bm25 = false;
    r = search(t->s, &q, &n);
    assert_true(n >= 1);
    assert_string_equal(r[0].id, vec);
    mem_records_free(r, n);
    /* stop words only: no leg has anything to say */
    q.text = "what is the";
    q.use_bm25 = true;
    r = search(t->s, &q, &n);
    assert_int_equal(n, 0);
    mem_records_free(r, n);
}

/* The length preference these tests configure: 1 - 0.1 * (1 - min(chars, 500)/500) (the default weight is 0). */
#define LP(chars) (1.0 - 0.1 * (1.0 - (chars) / 500.0))

static void length_weight_01(tctx *t)
{
    mem_store_close(t->s);
    t->p.retrieval.length_weight = 0.1;
    assert_int_equal(t_open(t), 0);
}

/* relevance = rrf * strength, strength = mean of max(cosine, 0) and match * focus (both legs, equal weights). */
static void assert_relevance_parts(const mem_record *r, bool vector_leg)
{
    double cos = r->score.cosine > 0 ? r->score.cosine : 0;
    double lex = r->score.match * r->score.focus;
    double strength = vector_leg ? 0.5 * cos + 0.5 * lex : lex;
    assert_near(r->score.relevance, r->score.rrf * strength, 1e-9);
}

/* The parts in score recompute the final score, so none that takes part in
 * the ranking is missing: relevance_score = superseded_factor * ((1 - mood_weight)
 * * quality + mood_weight * mood), quality = min(1, relevance * (0.5 + 0.3 recency
 * + 0.2 importance) * min(2, length * type * role)) with the default weights. */
static void assert_score_recomputes(const mem_record *r)
{
    const mem_score *sc = &r->score;
    assert_relevance_parts(r, true);
    double shape = fmin(2.0, sc->length * sc->type * sc->role);
    assert_near(sc->quality, fmin(1.0, sc->relevance * (0.5 + 0.3 * sc->recency + 0.2 * sc->importance) * shape), 1e-9);
    double w = sc->mood_weight, mixed = w > 0 ? (1 - w) * sc->quality + w * sc->mood : sc->quality;
    assert_near(r->relevance, sc->superseded_factor * mixed, 1e-9);
}

static void test_score_parts_recompute(void **state)
{
    tctx *t = *state;
    length_weight_01(t);
    char old[MEM_ID_LEN], newer[MEM_ID_LEN];
    t_add(t->s, "kangaroos live in the southern hemisphere", "semantic", 0.5, 0.5, NULL);
    t_add(t->s, "kangaroos carry their young in a pouch and hop across the dry plains all day", NULL, NAN, 0, NULL);
    mem_new m = {.content = "kangaroos can be seen at dusk", .source = "assistant"};
    assert_int_equal(mem_store_add(t->s, &m, NULL), 0);
    t_add(t->s, "My cat is called Tom", NULL, NAN, 0, old);
    t_add(t->s, "My cat is now called Felix", NULL, NAN, 0, newer);
    mem_query q;
    mem_query_default(&q);
    q.touch = false;
    q.text = "kangaroos";
    q.has_emotion = true, q.valence = 0.5, q.arousal = 0.5, q.emotion_weight = 0.3;
    size_t n;
    mem_record *r = search(t->s, &q, &n);
    assert_true(n >= 3);
    bool semantic = false, assistant = false, short_one = false;
    for (size_t i = 0; i < n; i++) {
        assert_score_recomputes(&r[i]);
        assert_near(r[i].score.mood_weight, 0.3, 1e-12);
        semantic |= r[i].score.type > 1.1;
        assistant |= r[i].score.role > 1.0;
        short_one |= r[i].score.length < 0.95;
    }
    assert_true(semantic && assistant && short_one);
    mem_records_free(r, n);
    q.has_emotion = false;
    q.text = "What is my cat called?";
    r = search(t->s, &q, &n);
    int io = find(r, n, old), in = find(r, n, newer);
    assert_true(io >= 0 && in >= 0 && in < io);
    assert_true(r[io].score.superseded && !r[in].score.superseded);
    assert_near(r[io].score.superseded_factor, t->p.retrieval.superseded_factor, 1e-12);
    assert_near(r[in].score.superseded_factor, 1.0, 1e-12);
    for (size_t i = 0; i < n; i++) {
        assert_score_recomputes(&r[i]);
        assert_true(r[i].score.mood < 0 && r[i].score.mood_weight == 0);
    }
    mem_records_free(r, n);
}

static void test_fusion_normalised(void **state)
{
    tctx *t = *state;
    char a[MEM_ID_LEN];
    t_add(t->s, "zanzibar spice market notes", NULL, NAN, 0, a);
    for (int i = 0; i < 5; i++) t_add(t->s, "notes about a different market entirely", NULL, NAN, 0, NULL);
    mem_query q;
    mem_query_default(&q);
    q.text = "zanzibar spice";
    q.quality = 0;
    size_t n;
    mem_record *r = search(t->s, &q, &n);
    assert_true(n >= 1);
    assert_string_equal(r[0].id, a);
    assert_near(r[0].score.rrf, 1.0, 1e-9); /* first in both legs */
    assert_int_equal(r[0].score.bm25_rank, 1);
    assert_int_equal(r[0].score.vector_rank, 1);
    assert_near(r[0].score.match, 1.0, 1e-9); /* every query word is there */
    assert_true(r[0].score.cosine > 0.5);
    assert_relevance_parts(&r[0], true);
    assert_near(r[0].relevance, r[0].score.relevance, 1e-12); /* quality off: the score is the relevance */
    for (size_t i = 1; i < n; i++) {
        assert_true(r[i].relevance <= r[i - 1].relevance);
        assert_true(r[i].score.rrf >= 0 && r[i].score.rrf <= 0.5 + 1e-9); /* vector leg only */
        assert_int_equal(r[i].score.bm25_rank, 0);
        assert_near(r[i].score.match, 0.0, 1e-9);
        assert_relevance_parts(&r[i], true);
        /* the best of nothing scores low: no query word, a weak cosine */
        assert_true(r[i].relevance < 0.25 * r[0].relevance);
    }
    mem_records_free(r, n);
    /* BM25 only: still normalised to 1 for the top hit, and every word matches */
    q.use_vector = false;
    r = search(t->s, &q, &n);
    assert_int_equal(n, 1);
    assert_near(r[0].relevance, r[0].score.focus, 1e-9); /* x the memory's focus on the query */
    mem_records_free(r, n);
    /* one of the two words: the match share is that word's part of the IDF */
    q.text = "zanzibar quantum";
    r = search(t->s, &q, &n);
    assert_int_equal(n, 1);
    assert_true(r[0].score.match > 0.3 && r[0].score.match < 0.7);
    assert_near(r[0].relevance, r[0].score.match * r[0].score.focus, 1e-9);
    mem_records_free(r, n);
}

/* Focus is relative to the best matching candidate: the one-line fact keeps
 * 1 and outranks a long line that merely contains the query's words; memories
 * alike in focus keep the lexical leg's full weight. */
static void test_focus_relative(void **state)
{
    tctx *t = *state;
    char fact[MEM_ID_LEN], chat[MEM_ID_LEN];
    t_add(t->s, "Ana likes green tea", NULL, NAN, 0, fact);
    t_add(t->s, "Yesterday Ana and I talked for hours about tea, trains, the weather in the hills and the old market",
          NULL, NAN, 0, chat);
    mem_query q;
    mem_query_default(&q);
    q.touch = false;
    q.use_vector = false;
    q.quality = 0;
    q.text = "Ana tea";
    size_t n;
    mem_record *r = search(t->s, &q, &n);
    assert_int_equal(n, 2);
    assert_string_equal(r[0].id, fact);
    assert_near(r[0].score.focus, 1.0, 1e-9);
    assert_true(r[1].score.focus >= 0.5 && r[1].score.focus < 0.9);
    assert_near(r[0].relevance, r[0].score.rrf * r[0].score.match, 1e-9); /* its lexical part is not halved */
    mem_records_free(r, n);
    /* two memories of the same shape: both have focus 1, nothing is scaled down */
    t_add(t->s, "Ana drinks black tea", NULL, NAN, 0, NULL);
    q.text = "Ana green black";
    r = search(t->s, &q, &n);
    for (size_t i = 0; i < n; i++)
        if (r[i].score.match > 0 && strcmp(r[i].id, chat)) assert_near(r[i].score.focus, 1.0, 1e-9);
    mem_records_free(r, n);
}

static void test_quality_factors(void **state)
{
    tctx *t = *state;
    char sem[MEM_ID_LEN], epi[MEM_ID_LEN];
    length_weight_01(t);
    t_add(t->s, "penguins live in the southern hemisphere", "episodic", NAN, 0, epi);
    t_add(t->s, "kangaroos live in the southern hemisphere", "semantic", NAN, 0, sem);
    mem_query q;
    mem_query_default(&q);
    q.touch = false;
    q.use_vector = false; /* one leg, one hit: relevance exactly 1 */
    size_t n;
    q.text = "penguins";
    mem_record *r = search(t->s, &q, &n);
    assert_int_equal(n, 1);
    /* (0.5*1 + 0.3*1 + 0.2*0.5) * 40/500, and x0.9: untagged, stored with the default source "user" */
    const double user = 0.9;
    /* focus 1: its own 0.625 (one of 4 content words is the query's), relative to the best match, itself */
    assert_near(r[0].score.focus, 1.0, 1e-9);
    assert_near(r[0].relevance, 0.9 * LP(40.0) * user, 1e-9);
    mem_records_free(r, n);
    q.text = "kangaroos";
    r = search(t->s, &q, &n);
    assert_int_equal(n, 1);
    assert_near(r[0].relevance, 0.9 * LP(41.0) * 1.2 * user * r[0].score.focus, 1e-9); /* semantic x1.2 */
    mem_records_free(r, n);
    /* 200 hours later: recency 0.995^200, importance at 8 whole days */
    mem_store_set_time(t->s, T0 + 200 * 3600.0);
    r = search(t->s, &q, &n);
    double imp = 0.2 + 0.3 * (1 - 8.0 / 365);
    assert_near(r[0].relevance, (0.5 + 0.3 * pow(0.995, 200) + 0.2 * imp) * LP(41.0) * 1.2 * user * r[0].score.focus,
                1e-9);
    mem_records_free(r, n);
    /* 2000 hours: recency capped at 720 hours */
    mem_store_set_time(t->s, T0 + 2000 * 3600.0);
    r = search(t->s, &q, &n);
    imp = 0.2 + 0.3 * (1 - 83.0 / 365);
    assert_near(r[0].relevance, (0.5 + 0.3 * pow(0.995, 720) + 0.2 * imp) * LP(41.0) * 1.2 * user * r[0].score.focus,
                1e-9);
    mem_records_free(r, n);
    /* configured weights and length: relevance only, full length at 10 characters */
    mem_store_close(t->s);
    t->p.retrieval.recency_weight = 0;
    t->p.retrieval.importance_weight = 0;
    t->p.retrieval.max_content_length = 10;
    t->p.retrieval.semantic_type_factor = 1.5;
    assert_int_equal(t_open(t), 0);
    r = search(t->s, &q, &n);
    assert_near(r[0].relevance, fmin(1.0, r[0].score.focus * 1.5 * 0.9), 1e-9); /* min(1, focus * 1.5 * 0.9) */
    mem_records_free(r, n);
    q.text = "penguins";
    r = search(t->s, &q, &n);
    assert_near(r[0].relevance, r[0].score.focus * user, 1e-9);
    mem_records_free(r, n);
    /* quality off: the plain normalised relevance */
    mem_store_close(t->s);
    mem_store_default_params(&t->p);
    t->p.path = t->path;
    t->p.retrieval.quality = false;
    assert_int_equal(t_open(t), 0);
    q.text = "hemisphere";
    r = search(t->s, &q, &n);
    assert_int_equal(n, 2);
    assert_near(r[0].score.rrf, 1.0, 1e-9);
    assert_relevance_parts(&r[0], false); /* q.use_vector is still off */
    assert_near(r[0].relevance, r[0].score.relevance, 1e-12);
    mem_records_free(r, n);
    (void)sem;
}

/* These tests store near-duplicates on purpose; without this the newer would
 * supersede the older (a knowledge update) and halve its score. */
static void no_update_links(tctx *t)
{
    mem_store_close(t->s);
    t->p.retrieval.update_similarity = 0;
    assert_int_equal(t_open(t), 0);
}

static void test_role_tags(void **state)
{
    tctx *t = *state;
    length_weight_01(t);
    no_update_links(t);
    const char *ta[] = {"assistant"}, *tu[] = {"user"};
    mem_new a = {.content = "octopus facts from the assistant", .tags = ta, .n_tags = 1};
    mem_new u = {.content = "octopus facts from the user here", .tags = tu, .n_tags = 1};
    mem_record ra, ru;
    assert_int_equal(mem_store_add(t->s, &u, &ru), 0);
    assert_int_equal(mem_store_add(t->s, &a, &ra), 0);
    mem_query q;
    mem_query_default(&q);
    q.text = "octopus facts";
    q.touch = false;
    q.use_vector = false;
    size_t n;
    mem_record *r = search(t->s, &q, &n);
    assert_int_equal(n, 2);
    int ia = find(r, n, ra.id), iu = find(r, n, ru.id);
    double len = LP(32.0);
    double rel_a = ia == 0 ? 1.0 : 61.0 / 62.0, rel_u = iu == 0 ? 1.0 : 61.0 / 62.0;
    assert_near(r[ia].relevance, rel_a * (0.5 + 0.3 + 0.1) * len * 1.1 * r[ia].score.focus, 1e-9);
    assert_near(r[iu].relevance, rel_u * (0.5 + 0.3 + 0.1) * len * 0.9 * r[iu].score.focus, 1e-9);
    mem_records_free(r, n);
    mem_record_clear(&ra);
    mem_record_clear(&ru);
}

/* Without a role tag the source decides (assistant x1.1, user x0.9); a tag wins over the source. */
static void test_role_from_source(void **state)
{
    tctx *t = *state;
    length_weight_01(t);
    const char *ta[] = {"assistant"}, *tu[] = {"user"};
    struct {
        const char *word, *source;
        const char *const *tags;
        double factor;
    } cases[] = {
        {"quokka", "assistant", NULL, 1.1}, {"axolotl", "user", NULL, 0.9},  {"pangolin", "tool", NULL, 1.0},
        {"narwhal", "user", ta, 1.1},       {"okapi", "assistant", tu, 0.9},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char content[80];
        snprintf(content, sizeof content, "the %s note kept for the role test", cases[i].word);
        mem_new m = {
            .content = content, .source = cases[i].source, .tags = cases[i].tags, .n_tags = cases[i].tags ? 1 : 0};
        mem_record r;
        assert_int_equal(mem_store_add(t->s, &m, &r), 0);
        mem_record_clear(&r);
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mem_query q;
        mem_query_default(&q);
        q.text = cases[i].word;
        q.touch = false;
        q.use_vector = false; /* one leg, one hit: relevance 1 */
        size_t n;
        mem_record *r = search(t->s, &q, &n);
        assert_int_equal(n, 1);
        double len = LP((double)strlen(r[0].content));
        if (fabs(r[0].relevance - (0.5 + 0.3 + 0.1) * len * cases[i].factor * r[0].score.focus) > 1e-9)
            fail_msg("%s (source %s): relevance %.9f, expected factor %.2f", cases[i].word, cases[i].source,
                     r[0].relevance, cases[i].factor);
        mem_records_free(r, n);
    }
}

static void test_mood_rerank(void **state)
{
    tctx *t = *state;
    no_update_links(t);
    char happy[MEM_ID_LEN], sad[MEM_ID_LEN];
    t_add(t->s, "the concert in the park was loud", NULL, 0.8, 0.8, happy);
    t_add(t->s, "the concert in the park was long", NULL, -0.8, -0.8, sad);
    mem_query q;
    mem_query_default(&q);
    q.text = "concert park";
    q.touch = false;
    q.quality = 0;
    q.has_emotion = true;
    q.valence = -0.7;
    q.arousal = -0.7;
    q.emotion_weight = 0.5;
    size_t n;
    mem_record *r = search(t->s, &q, &n);
    assert_int_equal(n, 2);
    assert_string_equal(r[0].id, sad);
    int ih = find(r, n, happy), is = find(r, n, sad);
    double sim_s = 1 - sqrt(0.01 + 0.01) / 2.83, sim_h = 1 - sqrt(1.5 * 1.5 * 2) / 2.83;
    /* (1 - w) * relevance + w * mood similarity, the parts reported */
    assert_near(r[ih].score.mood, sim_h, 1e-9);
    assert_near(r[is].score.mood, sim_s, 1e-9);
    assert_near(r[ih].relevance, 0.5 * r[ih].score.relevance + 0.5 * sim_h, 1e-9);
    assert_near(r[is].relevance, 0.5 * r[is].score.relevance + 0.5 * sim_s, 1e-9);
    assert_true(fabs(r[ih].score.relevance - r[is].score.relevance) < 0.1); /* near-ties before the re-rank */
    assert_true(r[is].relevance > r[ih].relevance);
    assert_true(sim_s > sim_h);
    mem_records_free(r, n);
    q.valence = 0.7;
    q.arousal = 0.7;
    r = search(t->s, &q, &n);
    assert_string_equal(r[0].id, happy);
    mem_records_free(r, n);
    /* weight 0: no re-rank */
    q.emotion_weight = 0;
    r = search(t->s, &q, &n);
    assert_near(r[0].relevance, r[0].score.relevance, 1e-12);
    assert_true(r[0].score.mood < 0); /* not computed */
    mem_records_free(r, n);
    /* angular similarity by config; a memory without emotion gets 0.5 */
    mem_store_close(t->s);
    t->p.retrieval.angular_similarity = true;
    assert_int_equal(t_open(t), 0);
    char plain[MEM_ID_LEN];
    t_add(t->s, "concert park concert park notes", NULL, NAN, 0, plain);
    q.emotion_weight = 1.0;
    q.valence = 0.7;
    q.arousal = 0.7;
    r = search(t->s, &q, &n);
    assert_int_equal(n, 3);
    assert_near(r[find(r, n, happy)].relevance, 1.0, 1e-9);
    assert_near(r[find(r, n, plain)].relevance, 0.5, 1e-9);
    assert_near(r[find(r, n, sad)].relevance, 0.0, 1e-9);
    mem_records_free(r, n);
}

static void test_status_filter_both_legs(void **state)
{
    tctx *t = *state;
    char arch[MEM_ID_LEN], live[MEM_ID_LEN];
    t_add(t->s, "archived note about quokkas", NULL, NAN, 0, arch);
    t_add(t->s, "live note about wombats", NULL, NAN, 0, live);
    assert_int_equal(sqlite3_exec(t->s->db, "UPDATE memories SET status='archived' WHERE content LIKE 'archived%'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    mem_store_close(t->s); /* reload the vector copy with the new status */
    assert_int_equal(t_open(t), 0);
    mem_query q;
    mem_query_default(&q);
    q.text = "quokkas";
    size_t n;
    for (int leg = 0; leg < 3; leg++) {
        q.use_bm25 = leg != 1;
        q.use_vector = leg != 0;
        mem_record *r = search(t->s, &q, &n);
        assert_int_equal(find(r, n, arch), -1);
        mem_records_free(r, n);
    }
    q.use_bm25 = q.use_vector = true;
    q.status_mask = MEM_STATUS_BIT(MEM_ARCHIVED);
    mem_record *r = search(t->s, &q, &n);
    assert_int_equal(n, 1);
    assert_string_equal(r[0].id, arch);
    mem_records_free(r, n);
    q.status_mask = MEM_STATUS_BIT(MEM_LONG_TERM);
    r = search(t->s, &q, &n);
    assert_int_equal(n, 0);
    mem_records_free(r, n);
    q.status_mask = MEM_STATUS_ALL;
    q.text = "note";
    r = search(t->s, &q, &n);
    assert_int_equal(n, 2);
    mem_records_free(r, n);
}

static void test_access_counting(void **state)
{
    tctx *t = *state;
    char id[MEM_ID_LEN], other[MEM_ID_LEN];
    t_add(t->s, "the wifi password is on the fridge", NULL, NAN, 0, id);
    t_add(t->s, "zebras have stripes", NULL, NAN, 0, other);
    mem_query q;
    mem_query_default(&q);
    q.text = "wifi password";
    q.use_vector = false;
    size_t n;
    mem_store_set_time(t->s, T0 + 60);
    mem_record *r = search(t->s, &q, &n);
    assert_int_equal(n, 1);
    assert_int_equal(r[0].access_count, 1);
    assert_near(r[0].last_accessed, T0 + 60, 1e-6);
    mem_records_free(r, n);
    r = search(t->s, &q, &n);
    mem_records_free(r, n);
    q.touch = false;
    r = search(t->s, &q, &n);
    mem_records_free(r, n);
    mem_record g;
    assert_int_equal(mem_store_get(t->s, id, &g), 0);
    assert_int_equal(g.access_count, 2);
    assert_near(g.importance, 0.4 * 0.5 + 0.3 + 0.3 * 0.2, 1e-9);
    mem_record_clear(&g);
    assert_int_equal(mem_store_get(t->s, other, &g), 0);
    assert_int_equal(g.access_count, 0); /* not returned, not counted */
    mem_record_clear(&g);
}

static void test_bad_queries(void **state)
{
    tctx *t = *state;
    t_add(t->s, "something", NULL, NAN, 0, NULL);
    char big[MEM_MAX_QUERY_BYTES + 2];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = 0;
    struct {
        const char *text;
        int n;
        double w;
        const char *want;
    } cases[] = {
        {NULL, 10, -1, "query is required"},
        {"", 10, -1, "query is empty"},
        {"   ", 10, -1, "query is empty"},
        {"bad \xff", 10, -1, "not valid UTF-8"},
        {big, 10, -1, "over the limit"},
        {"ok", 0, -1, "n_results must be in 1..100"},
        {"ok", 101, -1, "n_results must be in 1..100"},
        {"ok", 10, 1.5, "emotion_weight must be in 0..1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mem_query q;
        mem_query_default(&q);
        q.text = cases[i].text;
        q.n_results = cases[i].n;
        q.emotion_weight = cases[i].w;
        mem_record *r;
        size_t n;
        if (mem_store_search(t->s, &q, &r, &n) != -EINVAL) fail_msg("case %zu accepted", i);
        if (!strstr(mem_store_errmsg(t->s), cases[i].want))
            fail_msg("case %zu: '%s' lacks '%s'", i, mem_store_errmsg(t->s), cases[i].want);
    }
    mem_query q;
    mem_query_default(&q);
    q.text = "ok";
    q.status_mask = 0;
    mem_record *r;
    size_t n;
    assert_int_equal(mem_store_search(t->s, &q, &r, &n), -EINVAL);
    mem_query_default(&q);
    q.text = "ok";
    q.has_emotion = true;
    q.valence = 2;
    assert_int_equal(mem_store_search(t->s, &q, &r, &n), -EINVAL);
    /* FTS5 syntax in a query is just text */
    mem_query_default(&q);
    q.text = "\"unbalanced AND OR NEAR( * ^ -col:x";
    assert_int_equal(mem_store_search(t->s, &q, &r, &n), 0);
    mem_records_free(r, n);
}

static void test_n_results_and_order(void **state)
{
    tctx *t = *state;
    for (int i = 0; i < 30; i++) {
        char c[64];
        snprintf(c, sizeof c, "harbour log entry number %d with boats", i);
        t_add(t->s, c, NULL, NAN, 0, NULL);
    }
    mem_query q;
    mem_query_default(&q);
    q.text = "harbour boats";
    q.n_results = 7;
    size_t n;
    mem_record *r = search(t->s, &q, &n);
    assert_int_equal(n, 7);
    for (size_t i = 1; i < n; i++) assert_true(r[i].relevance <= r[i - 1].relevance);
    for (size_t i = 0; i < n; i++) assert_true(r[i].relevance >= 0 && r[i].relevance <= 1);
    mem_records_free(r, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lexical_and_vector_legs, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_fusion_normalised, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_score_parts_recompute, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_focus_relative, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_quality_factors, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_role_tags, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_role_from_source, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_mood_rerank, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_status_filter_both_legs, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_access_counting, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_bad_queries, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_n_results_and_order, t_setup, t_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
