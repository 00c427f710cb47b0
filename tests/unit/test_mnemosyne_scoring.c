/* test_mnemosyne_scoring.c - unit tests of mnemosyne/scoring.c: salience,
 * importance (recency, access), quality recency, length factor, RRF terms
 * and normalisation, the quality score, mood similarity (euclidean and
 * angular) and the re-rank, each against numbers worked out by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "../../mnemosyne/scoring.h"
#include "utf8.h"

#define assert_near(a, b, eps)                                                                                         \
    do {                                                                                                               \
        double a_ = (a), b_ = (b);                                                                                     \
        if (!(fabs(a_ - b_) <= (eps))) fail_msg("%s = %.12g, expected %.12g (+/- %g)", #a, a_, b_, (double)(eps));     \
    } while (0)

#define EPS 1e-12

static void test_salience(void **state)
{
    (void)state;
    assert_near(mem_salience(false, 0.9, 0.9), 0.5, EPS); /* no emotion */
    assert_near(mem_salience(true, 0, 0), 0.5, EPS);
    assert_near(mem_salience(true, 1, 1), 1.0, EPS);
    assert_near(mem_salience(true, -1, -1), 1.0, EPS); /* absolute values */
    assert_near(mem_salience(true, 0.5, 0.5), 0.75, EPS);
    /* 0.7*(0.6+1)/2 + 0.3*(0.2+1)/2 = 0.56 + 0.18 */
    assert_near(mem_salience(true, -0.2, 0.6), 0.74, EPS);
    assert_near(mem_salience(true, 5, -7), 1.0, EPS); /* clamped */
}

static void test_importance(void **state)
{
    (void)state;
    /* new memory: 0.4*sal + 0.3*1 + 0 */
    assert_near(mem_importance(0.5, 0, 0), 0.5, EPS);
    assert_near(mem_importance(1.0, 0, 0), 0.7, EPS);
    /* recency uses whole days: 10.9 days -> 1 - 10/365 */
    assert_near(mem_importance_recency(10.9), 1.0 - 10.0 / 365.0, EPS);
    assert_near(mem_importance_recency(365), 0.0, EPS);
    assert_near(mem_importance_recency(1000), 0.0, EPS);
    assert_near(mem_importance_recency(-3), 1.0, EPS); /* clock skew */
    /* access: min(1, count/10) */
    assert_near(mem_access_factor(0), 0.0, EPS);
    assert_near(mem_access_factor(3), 0.3, EPS);
    assert_near(mem_access_factor(25), 1.0, EPS);
    assert_near(mem_access_factor(-2), 0.0, EPS);
    /* 0.4*0.75 + 0.3*(1-30/365) + 0.3*0.5 */
    assert_near(mem_importance(0.75, 30.2, 5), 0.3 + 0.3 * (1 - 30.0 / 365.0) + 0.15, EPS);
}

static void test_quality_recency(void **state)
{
    (void)state;
    assert_near(mem_quality_recency(0, 0.995, 720), 1.0, EPS);
    assert_near(mem_quality_recency(10, 0.995, 720), pow(0.995, 10), EPS);
    assert_near(mem_quality_recency(5000, 0.995, 720), pow(0.995, 720), EPS); /* capped */
    assert_near(mem_quality_recency(-5, 0.995, 720), 1.0, EPS);
    assert_near(mem_quality_recency(2, 7.0, 720), 0.25, EPS); /* bad rate -> 0.5 */
}

static void test_length_factor(void **state)
{
    (void)state;
    assert_near(mem_length_factor(0, 500), 0.0, EPS);
    assert_near(mem_length_factor(250, 500), 0.5, EPS);
    assert_near(mem_length_factor(5000, 500), 1.0, EPS);
    assert_near(mem_length_factor(7, 0), 1.0, EPS);
    /* the preference: at most length_weight is lost, the weight clamped to [0, 1] */
    assert_near(mem_length_preference(0, 500, 0.1), 0.9, EPS);
    assert_near(mem_length_preference(250, 500, 0.1), 0.95, EPS);
    assert_near(mem_length_preference(900, 500, 0.1), 1.0, EPS);
    assert_near(mem_length_preference(100, 500, 0), 1.0, EPS);
    assert_near(mem_length_preference(100, 500, 7), 0.2, EPS);
    /* the match strength: the legs' weighted mean of max(cosine, 0) and the match share */
    assert_near(mem_match_strength(0.6, 1.0, true, 0.5, true, 0.5), 0.8, EPS);
    assert_near(mem_match_strength(-0.3, 0.5, true, 0.5, true, 0.5), 0.25, EPS);
    assert_near(mem_match_strength(0.6, 1.0, true, 0.5, false, 0.5), 0.6, EPS);
    assert_near(mem_match_strength(0.6, 1.0, false, 0.5, true, 0.5), 1.0, EPS);
    assert_near(mem_match_strength(0.4, 1.0, true, 3, true, 1), (3 * 0.4 + 1) / 4, EPS);
    assert_near(mem_match_strength(0.4, 1.0, false, 3, false, 1), 0.0, EPS);
    /* focus: a fact made of the query's words near 1, a long line that merely contains them near 0.5 */
    assert_near(mem_match_focus(3, 4), 0.875, EPS);
    assert_near(mem_match_focus(4, 30), 0.5 + 0.5 * 4 / 30.0, EPS);
    assert_near(mem_match_focus(0, 0), 1.0, EPS);
    assert_near(mem_match_focus(9, 3), 1.0, EPS);
    assert_int_equal(utf8_count("h\xc3\xa9llo \xe2\x82\xac", 10), 7); /* what search and tools count with */
}

static void test_rrf(void **state)
{
    (void)state;
    assert_near(mem_rrf_term(0.5, 1, 60), 0.5 / 61, EPS);
    assert_near(mem_rrf_term(0.5, 10, 60), 0.5 / 70, EPS);
    assert_near(mem_rrf_term(0.5, 0, 60), 0.0, EPS); /* ranks start at 1 */
    /* first in both legs = the best possible = 1 */
    double best = mem_rrf_term(0.5, 1, 60) + mem_rrf_term(0.5, 1, 60);
    assert_near(mem_rrf_normalise(best, best), 1.0, EPS);
    /* first in one leg only = 0.5 */
    assert_near(mem_rrf_normalise(mem_rrf_term(0.5, 1, 60), best), 0.5, EPS);
    /* 3rd and 7th */
    double f = mem_rrf_term(0.5, 3, 60) + mem_rrf_term(0.5, 7, 60);
    assert_near(mem_rrf_normalise(f, best), (0.5 / 63 + 0.5 / 67) / (1.0 / 61), EPS);
    assert_near(mem_rrf_normalise(0.01, 0), 0.0, EPS);
    assert_near(mem_rrf_normalise(5, 1), 1.0, EPS);
}

/* The factors score reports: each alone, their product capped at 2. */
static void test_quality_factors(void **state)
{
    (void)state;
    mem_retrieval_params p;
    mem_retrieval_default_params(&p);
    mem_factors f;
    p.length_weight = 0.1;
    assert_near(mem_quality_factors(&p, 250, true, MEM_ROLE_USER, &f), 0.95 * 1.2 * 0.9, EPS);
    assert_near(f.length, 0.95, EPS);
    assert_near(f.type, 1.2, EPS);
    assert_near(f.role, 0.9, EPS);
    p.length_factor = false;
    assert_near(mem_quality_factors(&p, 250, false, MEM_ROLE_ASSISTANT, &f), 1.1, EPS);
    assert_near(f.length, 1.0, EPS);
    assert_near(f.type, 1.0, EPS);
    assert_near(f.role, 1.1, EPS);
    p.semantic_type_factor = 2, p.assistant_role_factor = 2;
    assert_near(mem_quality_factors(&p, 250, true, MEM_ROLE_ASSISTANT, NULL), 2.0, EPS);
}

static void test_quality(void **state)
{
    (void)state;
    mem_retrieval_params p;
    mem_retrieval_default_params(&p);
    /* rel 1, age 0, importance 0.5, 500 chars: (0.5 + 0.3 + 0.1) * 1 */
    assert_near(mem_quality(&p, 1.0, 0, 0.5, 500, false, MEM_ROLE_NONE), 0.9, EPS);
    /* the default length_weight is 0: length changes nothing */
    assert_near(mem_quality(&p, 1.0, 0, 0.5, 35, false, MEM_ROLE_NONE), 0.9, EPS);
    /* with length_weight 0.1, 250 chars lose half of it */
    p.length_weight = 0.1;
    assert_near(mem_quality(&p, 1.0, 0, 0.5, 250, false, MEM_ROLE_NONE), 0.9 * 0.95, EPS);
    /* a 35-character fact loses less than length_weight (the old factor kept 7%) */
    assert_near(mem_quality(&p, 1.0, 0, 0.5, 35, false, MEM_ROLE_NONE), 0.9 * (1 - 0.1 * (1 - 35.0 / 500)), EPS);
    p.length_weight = 1; /* the old formula: min(chars, 500)/500 */
    assert_near(mem_quality(&p, 1.0, 0, 0.5, 250, false, MEM_ROLE_NONE), 0.45, EPS);
    p.length_weight = 0.1;
    /* unless the length factor is off ([retrieval] length_factor = false) */
    p.length_factor = false;
    assert_near(mem_quality(&p, 1.0, 0, 0.5, 250, false, MEM_ROLE_NONE), 0.9, EPS);
    assert_near(mem_quality(&p, 1.0, 0, 0.5, 20, false, MEM_ROLE_USER), 0.9 * 0.9, EPS);
    p.length_factor = true;
    /* semantic x1.2 capped at 1 */
    assert_near(mem_quality(&p, 1.0, 0, 0.5, 500, true, MEM_ROLE_NONE), 1.0, EPS);
    /* relevance multiplies: 0.2 * (0.5 + 0.3 + 0.1) */
    assert_near(mem_quality(&p, 0.2, 0, 0.5, 500, true, MEM_ROLE_NONE), 0.2 * 0.9 * 1.2, EPS);
    /* roles */
    assert_near(mem_quality(&p, 0.2, 0, 0.5, 500, false, MEM_ROLE_ASSISTANT), 0.2 * 0.9 * 1.1, EPS);
    assert_near(mem_quality(&p, 0.2, 0, 0.5, 500, false, MEM_ROLE_USER), 0.2 * 0.9 * 0.9, EPS);
    /* aged 100 hours */
    assert_near(mem_quality(&p, 0.2, 100, 0.5, 500, false, MEM_ROLE_NONE), 0.2 * (0.5 + 0.3 * pow(0.995, 100) + 0.1),
                EPS);
    /* no relevance, no score: recency and importance cannot lift a memory that does not match */
    assert_near(mem_quality(&p, 0.0, 0, 1.0, 500, true, MEM_ROLE_ASSISTANT), 0.0, EPS);
    /* a month-old exact match beats a fresh weak one */
    assert_true(mem_quality(&p, 0.75, 720, 0.5, 500, false, MEM_ROLE_NONE) >
                mem_quality(&p, 0.3, 0, 0.5, 500, false, MEM_ROLE_NONE));
    /* weights are normalised to sum 1 */
    p.relevance_weight = 1, p.recency_weight = 1, p.importance_weight = 0;
    assert_near(mem_quality(&p, 0.4, 0, 0.9, 500, false, MEM_ROLE_NONE), 0.4 * (1.0 + 1.0) / 2, EPS);
    p.relevance_weight = p.recency_weight = p.importance_weight = 0; /* all zero: relevance only */
    assert_near(mem_quality(&p, 0.4, 0, 0.9, 500, false, MEM_ROLE_NONE), 0.4, EPS);
    /* the point of normalising: with raw RRF (<= 0.016) relevance hardly matters;
     * normalised, a top hit beats a weak one of the same age and importance */
    mem_retrieval_default_params(&p);
    double top = mem_quality(&p, 1.0, 0, 0.5, 500, false, MEM_ROLE_NONE);
    double weak = mem_quality(&p, 0.3, 0, 0.5, 500, false, MEM_ROLE_NONE);
    assert_true(top - weak > 0.3);
}

static void test_mood_similarity(void **state)
{
    (void)state;
    assert_near(mem_mood_similarity(false, 0, 0, true, 1, 1, false), 0.5, EPS);
    assert_near(mem_mood_similarity(true, 0, 0, false, 1, 1, true), 0.5, EPS);
    assert_near(mem_mood_similarity(true, 0.3, 0.4, true, 0.3, 0.4, false), 1.0, EPS);
    /* opposite corners: distance 2*sqrt(2) = 2.828... -> 1 - 2.828/2.83 */
    assert_near(mem_mood_similarity(true, 1, 1, true, -1, -1, false), 1 - sqrt(8) / 2.83, EPS);
    assert_near(mem_mood_similarity(true, 0, 0, true, 0.6, 0.8, false), 1 - 1.0 / 2.83, EPS);
    /* angular */
    assert_near(mem_mood_similarity(true, 1, 0, true, 0, 1, true), 0.5, EPS);
    assert_near(mem_mood_similarity(true, 1, 1, true, 2, 2, true), 1.0, EPS);
    assert_near(mem_mood_similarity(true, 1, 0, true, -1, 0, true), 0.0, EPS);
    assert_near(mem_mood_similarity(true, 0, 0, true, 1, 0, true), 0.5, EPS); /* zero vector */
    /* re-rank */
    assert_near(mem_mood_rerank(0.8, 0.2, 0.3), 0.7 * 0.8 + 0.3 * 0.2, EPS);
    assert_near(mem_mood_rerank(0.8, 0.2, 0), 0.8, EPS);
    assert_near(mem_mood_rerank(0.8, 0.2, 2), 0.2, EPS); /* w clamped */
}

/* The role factor: the "assistant"/"user" tag when there is one, else the source. */
static void test_role_of(void **state)
{
    (void)state;
    assert_int_equal(mem_role_of("[]", "assistant"), MEM_ROLE_ASSISTANT);
    assert_int_equal(mem_role_of("[]", "user"), MEM_ROLE_USER);
    assert_int_equal(mem_role_of(NULL, "user"), MEM_ROLE_USER);
    assert_int_equal(mem_role_of("[\"pets\"]", "tool"), MEM_ROLE_NONE);
    assert_int_equal(mem_role_of("[]", "dream"), MEM_ROLE_NONE);
    assert_int_equal(mem_role_of("[]", NULL), MEM_ROLE_NONE);
    /* a tag wins over the source */
    assert_int_equal(mem_role_of("[\"assistant\"]", "user"), MEM_ROLE_ASSISTANT);
    assert_int_equal(mem_role_of("[\"x\",\"user\"]", "assistant"), MEM_ROLE_USER);
    assert_int_equal(mem_role_of("[\"user\",\"assistant\"]", "tool"), MEM_ROLE_ASSISTANT);
    /* a tag that merely contains the word is not a role tag */
    assert_int_equal(mem_role_of("[\"user-facing\"]", "tool"), MEM_ROLE_NONE);
    assert_int_equal(mem_role_of("not json \"user\"", "assistant"), MEM_ROLE_ASSISTANT);
}

static void test_quadrant(void **state)
{
    (void)state;
    assert_string_equal(mem_quadrant(0.5, 0.5), "excited");
    assert_string_equal(mem_quadrant(-0.5, 0.5), "frustrated");
    assert_string_equal(mem_quadrant(0.5, -0.5), "calm");
    assert_string_equal(mem_quadrant(-0.5, -0.5), "depleted");
    assert_string_equal(mem_quadrant(0, 0), "excited");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_salience),        cmocka_unit_test(test_importance),
        cmocka_unit_test(test_quality_factors), cmocka_unit_test(test_quality_recency),
        cmocka_unit_test(test_length_factor),   cmocka_unit_test(test_rrf),
        cmocka_unit_test(test_quality),         cmocka_unit_test(test_mood_similarity),
        cmocka_unit_test(test_quadrant),        cmocka_unit_test(test_role_of),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
