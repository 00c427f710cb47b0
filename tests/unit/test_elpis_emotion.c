/* test_elpis_emotion.c - unit tests of elpis/emotion.c: the event table,
 * clamping, quadrants, exponential decay on a controlled clock, the sampling
 * and steering maps, keyword analysis, trajectory scenarios and the
 * emotional_state JSON shape. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../elpis/emotion.h"

/* cmocka 1.1's assert_float_equal works in float; this one in double. */
#define assert_near(a, b, eps)                                                                                         \
    do {                                                                                                               \
        double a_ = (a), b_ = (b);                                                                                     \
        if (!(fabs(a_ - b_) <= (eps))) fail_msg("%s = %.12g, expected %.12g (+/- %g)", #a, a_, b_, (double)(eps));     \
    } while (0)

#define EPS 1e-12
#define T0 1700000000.0 /* a plausible epoch time */

/* The contract's table, written out independently of emotion.c. */
static const struct {
    const char *name;
    double dv, da;
} expected_events[] = {
    {"success", 0.20, 0.10},       {"test_passed", 0.15, 0.05},    {"insight", 0.25, 0.20},
    {"failure", -0.20, 0.15},      {"test_failed", -0.15, 0.10},   {"error", -0.10, 0.20},
    {"frustration", -0.15, 0.25},  {"blocked", -0.20, 0.30},       {"idle", 0.00, -0.10},
    {"routine", 0.05, -0.05},      {"novelty", 0.10, 0.20},        {"exploration", 0.15, 0.15},
    {"user_positive", 0.15, 0.10}, {"user_negative", -0.10, 0.15}, {"user_question", 0.05, 0.10},
};
#define N_EXPECTED (sizeof expected_events / sizeof expected_events[0])

/* Default parameters without decay, so states are sums of events. */
static void init_nodecay(emotion *e, double now)
{
    emotion_params p;
    emotion_default_params(&p);
    p.decay_rate = 0;
    emotion_init(e, &p, now);
}

static void check_state(emotion *e, double now, double v, double a)
{
    double gv, ga;
    emotion_get(e, now, &gv, &ga);
    assert_near(gv, v, 1e-9);
    assert_near(ga, a, 1e-9);
}

/* --- parameters and events ------------------------------------------------- */

static void test_defaults(void **state)
{
    emotion_params p;
    emotion e;
    (void)state;
    emotion_default_params(&p);
    assert_near(p.baseline_valence, 0, 0);
    assert_near(p.baseline_arousal, 0, 0);
    assert_near(p.decay_rate, 0.1, 0);
    assert_near(p.max_delta, 0.5, 0);
    assert_near(p.steering_strength, 1.0, 0);
    assert_near(p.base_temperature, 0.7, 0);
    assert_near(p.base_top_p, 0.9, 0);
    assert_near(p.trend_threshold, 0.02, 0);
    assert_near(p.momentum_threshold, 0.01, 0);
    assert_int_equal(p.history_size, 20);
    assert_int_equal(p.velocity_window, 10);
    assert_int_equal(p.spiral_window, 5);
    assert_int_equal(p.spiral_min_increases, 3);

    emotion_init(&e, NULL, T0);
    check_state(&e, T0, 0, 0);
    assert_int_equal(e.update_count, 0);
    assert_near(e.last_update, T0, 0);
}

static void test_initial_state_is_baseline(void **state)
{
    emotion_params p;
    emotion e;
    (void)state;
    emotion_default_params(&p);
    p.baseline_valence = 0.3;
    p.baseline_arousal = -0.2;
    emotion_init(&e, &p, T0);
    check_state(&e, T0, 0.3, -0.2);
    check_state(&e, T0 + 1000, 0.3, -0.2); /* decay keeps it there */
    assert_string_equal(emotion_quadrant(e.valence, e.arousal), "calm");
}

static void test_param_sanitising(void **state)
{
    emotion_params p;
    emotion e;
    (void)state;
    emotion_default_params(&p);
    p.baseline_valence = 4;
    p.baseline_arousal = NAN;
    p.decay_rate = -1;
    p.steering_strength = 7;
    p.history_size = 1000;
    p.velocity_window = 500;
    p.spiral_window = 1;
    p.spiral_min_increases = 9;
    emotion_init(&e, &p, T0);
    assert_near(e.p.baseline_valence, 1, 0);
    assert_near(e.p.baseline_arousal, 0, 0);
    assert_near(e.p.decay_rate, 0, 0);
    assert_near(e.p.steering_strength, 3, 0);
    assert_int_equal(e.p.history_size, EMOTION_HISTORY_MAX);
    assert_int_equal(e.p.velocity_window, EMOTION_HISTORY_MAX);
    assert_int_equal(e.p.spiral_window, 2);
    assert_int_equal(e.p.spiral_min_increases, 1);
}

static void test_every_event_exact(void **state)
{
    size_t i;
    (void)state;
    for (i = 0; i < N_EXPECTED; i++) {
        emotion e;
        double dv = 9, da = 9;
        init_nodecay(&e, T0);
        assert_int_equal(emotion_event(&e, expected_events[i].name, 1.0, T0 + 1), 0);
        check_state(&e, T0 + 1, expected_events[i].dv, expected_events[i].da);
        assert_int_equal(e.update_count, 1);
        assert_near(e.last_update, T0 + 1, 0);
        assert_int_equal(emotion_event_delta(expected_events[i].name, &dv, &da), 1);
        assert_near(dv, expected_events[i].dv, 0);
        assert_near(da, expected_events[i].da, 0);

        /* Same with the default decay, the event applied at the init time. */
        emotion_init(&e, NULL, T0);
        emotion_event(&e, expected_events[i].name, 1.0, T0);
        check_state(&e, T0, expected_events[i].dv, expected_events[i].da);
    }
}

static void test_event_names_match_table(void **state)
{
    size_t n = 0, i;
    const char *const *names = emotion_event_names(&n);
    cJSON *j = emotion_events_json();
    (void)state;
    assert_int_equal(n, N_EXPECTED);
    assert_non_null(j);
    assert_int_equal(cJSON_GetArraySize(j), (int)N_EXPECTED);
    for (i = 0; i < n; i++) {
        cJSON *a = cJSON_GetObjectItemCaseSensitive(j, expected_events[i].name);
        assert_string_equal(names[i], expected_events[i].name);
        assert_non_null(a);
        assert_true(cJSON_IsArray(a));
        assert_int_equal(cJSON_GetArraySize(a), 2);
        assert_near(cJSON_GetArrayItem(a, 0)->valuedouble, expected_events[i].dv, 0);
        assert_near(cJSON_GetArrayItem(a, 1)->valuedouble, expected_events[i].da, 0);
    }
    cJSON_Delete(j);
}

static void test_intensity_clamping(void **state)
{
    emotion e;
    (void)state;
    init_nodecay(&e, T0);
    emotion_event(&e, "success", -1.0, T0); /* -> 0: no shift, but counted */
    check_state(&e, T0, 0, 0);
    assert_int_equal(e.update_count, 1);

    init_nodecay(&e, T0);
    emotion_event(&e, "success", 5.0, T0); /* -> 2 */
    check_state(&e, T0, 0.4, 0.2);

    init_nodecay(&e, T0);
    emotion_event(&e, "success", 0.5, T0);
    check_state(&e, T0, 0.1, 0.05);

    init_nodecay(&e, T0);
    emotion_event(&e, "success", INFINITY, T0);
    check_state(&e, T0, 0.4, 0.2);

    init_nodecay(&e, T0);
    assert_int_equal(emotion_event(&e, "success", NAN, T0), -EINVAL);
    assert_int_equal(emotion_event(&e, NULL, 1.0, T0), -EINVAL);
    check_state(&e, T0, 0, 0);
    assert_int_equal(e.update_count, 0);
    assert_int_equal(e.hist_len, 0);
}

static void test_max_delta(void **state)
{
    emotion e;
    emotion_params p;
    (void)state;
    init_nodecay(&e, T0);
    emotion_event(&e, "blocked", 2.0, T0); /* (-0.4, +0.6) -> arousal capped */
    check_state(&e, T0, -0.4, 0.5);

    init_nodecay(&e, T0);
    emotion_event(&e, "insight", 2.0, T0); /* (0.5, 0.4): exactly at the cap */
    check_state(&e, T0, 0.5, 0.4);

    emotion_default_params(&p);
    p.decay_rate = 0;
    p.max_delta = 0.1;
    emotion_init(&e, &p, T0);
    emotion_event(&e, "success", 1.0, T0); /* (0.2, 0.1) -> (0.1, 0.1) */
    check_state(&e, T0, 0.1, 0.1);
    emotion_event(&e, "idle", 2.0, T0); /* (0, -0.2) -> (0, -0.1) */
    check_state(&e, T0, 0.1, 0.0);
}

static void test_result_clamping(void **state)
{
    emotion e;
    int i;
    (void)state;
    init_nodecay(&e, T0);
    for (i = 0; i < 10; i++) emotion_event(&e, "blocked", 2.0, T0);
    check_state(&e, T0, -1, 1);
    for (i = 0; i < 10; i++) emotion_event(&e, "insight", 2.0, T0);
    check_state(&e, T0, 1, 1);
    for (i = 0; i < 20; i++) emotion_event(&e, "idle", 2.0, T0);
    check_state(&e, T0, 1, -1);
    assert_int_equal(e.update_count, 40);
}

static void test_unknown_event(void **state)
{
    emotion e;
    double dv = 9, da = 9;
    (void)state;
    init_nodecay(&e, T0);
    assert_int_equal(emotion_event(&e, "engagement", 1.0, T0), 0);
    check_state(&e, T0, 0, 0.05);
    emotion_event(&e, "boredom", 0.3, T0);
    check_state(&e, T0, 0, 0.065);
    emotion_event(&e, "Success", 1.0, T0); /* names are case-sensitive */
    check_state(&e, T0, 0, 0.115);
    assert_int_equal(e.update_count, 3);
    assert_int_equal(emotion_event_delta("nope", &dv, &da), 0);
    assert_near(dv, 0, 0);
    assert_near(da, 0.05, 0);
}

static void test_quadrants(void **state)
{
    (void)state;
    assert_string_equal(emotion_quadrant(0, 0), "excited");
    assert_string_equal(emotion_quadrant(0.5, 0.5), "excited");
    assert_string_equal(emotion_quadrant(-0.001, 0), "frustrated");
    assert_string_equal(emotion_quadrant(-1, 1), "frustrated");
    assert_string_equal(emotion_quadrant(0, -0.001), "calm");
    assert_string_equal(emotion_quadrant(1, -1), "calm");
    assert_string_equal(emotion_quadrant(-0.001, -0.001), "depleted");
    assert_string_equal(emotion_quadrant(-1, -1), "depleted");
}

static void test_reset(void **state)
{
    emotion_params p;
    emotion e;
    (void)state;
    emotion_default_params(&p);
    p.baseline_valence = 0.1;
    p.baseline_arousal = -0.1;
    emotion_init(&e, &p, T0);
    emotion_event(&e, "blocked", 1.0, T0 + 1);
    emotion_event(&e, "blocked", 1.0, T0 + 2);
    emotion_reset(&e, T0 + 3);
    check_state(&e, T0 + 3, 0.1, -0.1);
    assert_int_equal(e.update_count, 2); /* not bumped */
    assert_int_equal(e.hist_len, 2);     /* no point recorded, none dropped */
    assert_near(e.last_update, T0 + 3, 0);
}

/* --- decay ----------------------------------------------------------------- */

static void test_decay_half_life(void **state)
{
    emotion e;
    double half = log(2.0) / 0.1;
    (void)state;
    emotion_init(&e, NULL, T0);
    emotion_event(&e, "success", 1.0, T0); /* (0.2, 0.1) */
    check_state(&e, T0 + half, 0.1, 0.05);
    check_state(&e, T0 + 2 * half, 0.05, 0.025);
    /* Exponential, not the original's linear form that hit 0 at 10 s. */
    check_state(&e, T0 + 2 * half + 10, 0.05 * exp(-1.0), 0.025 * exp(-1.0));
}

static void test_decay_reaches_baseline(void **state)
{
    emotion_params p;
    emotion e;
    double v, a;
    (void)state;
    emotion_default_params(&p);
    p.baseline_valence = 0.2;
    p.baseline_arousal = -0.3;
    emotion_init(&e, &p, T0);
    emotion_event(&e, "blocked", 2.0, T0); /* (0.2-0.4, -0.3+0.5) */
    check_state(&e, T0, -0.2, 0.2);
    emotion_get(&e, T0 + 50, &v, &a); /* e^-5 of the offset left */
    assert_near(v, 0.2 - 0.4 * exp(-5.0), 1e-9);
    assert_near(a, -0.3 + 0.5 * exp(-5.0), 1e-9);
    assert_true(v < 0.2 && a > -0.3);  /* approached from its side */
    emotion_get(&e, T0 + 100, &v, &a); /* offsets < 0.0005 snap to it */
    assert_near(v, 0.2, 0);
    assert_near(a, -0.3, 0);
    emotion_get(&e, T0 + 1e6, &v, &a);
    assert_near(v, 0.2, 0);
    assert_near(a, -0.3, 0);
}

static void test_decay_read_frequency_independent(void **state)
{
    emotion a, b;
    double va, aa, vb, ab;
    int i;
    (void)state;
    emotion_init(&a, NULL, T0);
    emotion_init(&b, NULL, T0);
    emotion_event(&a, "frustration", 1.5, T0);
    emotion_event(&b, "frustration", 1.5, T0);
    for (i = 1; i <= 100; i++) emotion_decay(&a, T0 + i * 0.07);
    emotion_get(&a, T0 + 7, &va, &aa);
    emotion_get(&b, T0 + 7, &vb, &ab);
    assert_near(va, vb, 1e-12);
    assert_near(aa, ab, 1e-12);
}

static void test_decay_backwards_time(void **state)
{
    emotion e;
    double v5, a5, v, a;
    (void)state;
    emotion_init(&e, NULL, T0);
    emotion_event(&e, "success", 1.0, T0);
    emotion_get(&e, T0 + 5, &v5, &a5);
    emotion_get(&e, T0 + 3, &v, &a); /* earlier: unchanged */
    assert_near(v, v5, 0);
    assert_near(a, a5, 0);
    emotion_decay(&e, T0 - 100);
    emotion_decay(&e, NAN);
    emotion_get(&e, T0 + 5, &v, &a); /* and no double decay afterwards */
    assert_near(v, v5, 0);
    assert_near(a, a5, 0);
    /* An event stamped in the past does not rewind the decay clock. */
    emotion_event(&e, "idle", 1.0, T0 + 4);
    check_state(&e, T0 + 5, v5, a5 - 0.1);
}

static void test_decay_before_event_and_on_read(void **state)
{
    emotion e;
    double half = log(2.0) / 0.1, t, p;
    cJSON *j;
    (void)state;
    emotion_init(&e, NULL, T0);
    emotion_event(&e, "success", 1.0, T0);
    emotion_event(&e, "success", 1.0, T0 + half); /* 0.1 + 0.2, 0.05 + 0.1 */
    check_state(&e, T0 + half, 0.3, 0.15);

    /* Sampling, steering and JSON all see the decayed state. */
    emotion_sampling(&e, T0 + 2 * half, &t, &p);
    assert_near(t, 0.7 - 0.2 * 0.075, 1e-9);
    assert_near(p, 0.9 + 0.1 * 0.15, 1e-9);
    j = emotion_to_json(&e, T0 + 3 * half);
    assert_near(cJSON_GetObjectItem(j, "valence")->valuedouble, 0.075, 1e-12);
    assert_near(cJSON_GetObjectItem(j, "arousal")->valuedouble, 0.0375, 0.0005 + 1e-12);
    cJSON_Delete(j);
}

static void test_no_decay_when_rate_zero(void **state)
{
    emotion e;
    (void)state;
    init_nodecay(&e, T0);
    emotion_event(&e, "insight", 1.0, T0);
    check_state(&e, T0 + 3600, 0.25, 0.2);
}

/* --- sampling and steering ------------------------------------------------- */

static void test_sampling_map(void **state)
{
    emotion_params p;
    emotion e;
    double t, tp;
    (void)state;
    emotion_default_params(&p);
    emotion_sampling_for(&p, 0, 0, &t, &tp);
    assert_near(t, 0.7, EPS);
    assert_near(tp, 0.9, EPS);
    emotion_sampling_for(&p, 1, 1, &t, &tp);
    assert_near(t, 0.5, EPS);
    assert_near(tp, 1.0, EPS);
    emotion_sampling_for(&p, -1, -1, &t, &tp);
    assert_near(t, 0.9, EPS);
    assert_near(tp, 0.8, EPS);
    emotion_sampling_for(&p, 0.5, 0.25, &t, &tp);
    assert_near(t, 0.65, EPS);
    assert_near(tp, 0.95, EPS);

    /* Clamps, reachable with other bases. */
    p.base_temperature = 1.5;
    p.base_top_p = 0.45;
    emotion_sampling_for(&p, -1, -1, &t, &tp);
    assert_near(t, 1.5, EPS);  /* 1.7 */
    assert_near(tp, 0.5, EPS); /* 0.35 */
    p.base_temperature = 0.2;
    p.base_top_p = 0.95;
    emotion_sampling_for(&p, 1, 1, &t, &tp);
    assert_near(t, 0.1, EPS);  /* 0.0 */
    assert_near(tp, 1.0, EPS); /* 1.05 */

    /* The stateful form uses the configured bases. */
    p.base_temperature = 0.8;
    p.base_top_p = 0.85;
    p.decay_rate = 0;
    emotion_init(&e, &p, T0);
    emotion_event(&e, "blocked", 1.0, T0); /* (-0.2, 0.3) */
    emotion_sampling(&e, T0, &t, &tp);
    assert_near(t, 0.8 - 0.06, EPS);
    assert_near(tp, 0.85 - 0.02, EPS);
}

static void test_steering_coefficients(void **state)
{
    double c[4];
    double strengths[] = {0, 0.5, 1, 2.5, 3};
    size_t s;
    int i, j;
    emotion_params p;
    emotion e;
    (void)state;
    emotion_steering_for(0, 0, 1, c);
    for (i = 0; i < 4; i++) assert_near(c[i], 0.25, EPS);
    emotion_steering_for(1, 1, 1, c);
    assert_near(c[0], 1, EPS);
    assert_near(c[1] + c[2] + c[3], 0, EPS);
    emotion_steering_for(-1, 1, 1, c);
    assert_near(c[1], 1, EPS);
    emotion_steering_for(1, -1, 1, c);
    assert_near(c[2], 1, EPS);
    emotion_steering_for(-1, -1, 1, c);
    assert_near(c[3], 1, EPS);
    emotion_steering_for(0.5, -0.5, 2, c); /* v' .75, a' .25 */
    assert_near(c[0], 2 * 0.1875, EPS);
    assert_near(c[1], 2 * 0.0625, EPS);
    assert_near(c[2], 2 * 0.5625, EPS);
    assert_near(c[3], 2 * 0.1875, EPS);
    assert_string_equal(emotion_steering_names[0], "excited");
    assert_string_equal(emotion_steering_names[1], "frustrated");
    assert_string_equal(emotion_steering_names[2], "calm");
    assert_string_equal(emotion_steering_names[3], "depleted");

    for (s = 0; s < sizeof strengths / sizeof strengths[0]; s++) {
        for (i = -10; i <= 10; i++) {
            for (j = -10; j <= 10; j++) {
                emotion_steering_for(i / 10.0, j / 10.0, strengths[s], c);
                assert_near(c[0] + c[1] + c[2] + c[3], strengths[s], 1e-12);
                assert_true(c[0] >= 0 && c[1] >= 0 && c[2] >= 0 && c[3] >= 0);
            }
        }
    }

    /* Stateful form: strength from params (clamped to 3), decayed state. */
    emotion_default_params(&p);
    p.steering_strength = 5;
    emotion_init(&e, &p, T0);
    emotion_event(&e, "frustration", 2.0, T0);
    emotion_steering(&e, T0 + 3, c);
    assert_near(c[0] + c[1] + c[2] + c[3], 3, 1e-12);
    assert_true(c[1] > c[0] && c[1] > c[2] && c[1] > c[3]);
}

/* --- keyword analysis ------------------------------------------------------ */

static void check_analyze(const char *text, const char *event, double intensity)
{
    double got = -1;
    const char *r = emotion_analyze(text, &got);
    if (!event) {
        if (r) fail_msg("\"%s\" -> %s, expected no match", text, r);
        assert_near(got, -1, 0); /* untouched */
        return;
    }
    if (!r || strcmp(r, event) != 0) fail_msg("\"%s\" -> %s, expected %s", text, r ? r : "NULL", event);
    assert_near(got, intensity, 0);
}

static void test_keywords(void **state)
{
    (void)state;
    check_analyze("The task completed successfully.", "success", 0.5);
    check_analyze("Done.", "success", 0.5);
    check_analyze("DONE!", "success", 0.5);
    check_analyze("(fixed)", "success", 0.5);
    check_analyze("well-done", "success", 0.5);
    check_analyze("done\xe2\x80\x94now the rest", "success", 0.5); /* em dash */
    check_analyze("It is Working", "success", 0.5);
    check_analyze("The abandoned ship sank.", NULL, 0); /* not "done" */
    check_analyze("renewal", NULL, 0);                  /* whole words only (the original's substring matched "new") */
    check_analyze("brand-new", "exploration", 0.3);
    check_analyze("done-ish", "success", 0.5);
    check_analyze("newsworthy", NULL, 0);
    /* Word forms, with the original's value (issue 9 item 7): its substring match counted them. */
    check_analyze("Two errors remain", "error", 0.5);
    check_analyze("I learned a lot", "exploration", 0.3);
    check_analyze("learning", "exploration", 0.3);
    check_analyze("We discovered a cave", "exploration", 0.3);
    check_analyze("a discovery", "exploration", 0.3);
    check_analyze("Discoveries!", "exploration", 0.3);
    check_analyze("I knew it", "exploration", 0.3);
    check_analyze("EXCEPTIONS", "error", 0.5);
    check_analyze("newer", "exploration", 0.3);
    check_analyze("an Error, sorry", "error", 0.5);
    check_analyze("it failed:", "error", 0.5);
    check_analyze("I cannot do that", "error", 0.5);
    check_analyze("Exception!", "error", 0.5);
    check_analyze("interesting", "exploration", 0.3);
    check_analyze("I found 3 files", "exploration", 0.3);
    check_analyze("something new", "exploration", 0.3);
    check_analyze("Perhaps.", "novelty", 0.2);
    check_analyze("it might rain", "novelty", 0.2);
    check_analyze("", NULL, 0);
    check_analyze("nothing to see here", NULL, 0);
    check_analyze(NULL, NULL, 0);
    /* Priority: the first group in order wins regardless of position. */
    check_analyze("An error occurred, but I fixed it", "success", 0.5);
    check_analyze("perhaps something new failed", "error", 0.5);
    check_analyze("unclear, but interesting", "exploration", 0.3);
    assert_string_equal(emotion_analyze("done", NULL), "success"); /* NULL intensity */
}

/* --- trajectory ------------------------------------------------------------ */

static void traj(emotion *e, double now, emotion_traj *t)
{
    memset(t, 0, sizeof *t);
    emotion_trajectory(e, now, t);
}

static void test_trajectory_insufficient(void **state)
{
    emotion e;
    emotion_traj t;
    (void)state;
    init_nodecay(&e, T0);
    traj(&e, T0, &t);
    assert_near(t.valence_velocity, 0, 0);
    assert_near(t.arousal_velocity, 0, 0);
    assert_string_equal(t.trend, "stable");
    assert_string_equal(t.momentum, "neutral");
    assert_false(t.spiral_detected);
    assert_string_equal(t.spiral_direction, "none");
    emotion_event(&e, "insight", 1.0, T0 + 60);
    traj(&e, T0 + 60, &t);
    assert_near(t.valence_velocity, 0, 0);
    assert_string_equal(t.trend, "stable");

    /* All timestamps equal: no slope. */
    init_nodecay(&e, T0);
    emotion_event(&e, "success", 1.0, T0);
    emotion_event(&e, "success", 1.0, T0);
    emotion_event(&e, "success", 1.0, T0);
    traj(&e, T0, &t);
    assert_near(t.valence_velocity, 0, 0);
    assert_near(t.arousal_velocity, 0, 0);
}

static void test_velocity_linear_ramp(void **state)
{
    emotion e;
    emotion_traj t;
    int i;
    (void)state;
    init_nodecay(&e, T0);
    /* Five points of another slope first: they fall outside the window. */
    for (i = 0; i < 5; i++) emotion_event(&e, "user_question", 1.0, T0 + i * 60);
    for (i = 0; i < 10; i++) emotion_event(&e, "routine", 1.0, T0 + 300 + i * 60);
    traj(&e, T0 + 900, &t);
    assert_near(t.valence_velocity, 0.05, 1e-9); /* per minute */
    assert_near(t.arousal_velocity, -0.05, 1e-9);
    assert_string_equal(t.trend, "improving");
    assert_string_equal(t.momentum, "positive");

    /* Uneven spacing still gives the exact slope of a linear ramp:
     * routine every 30 s and then every 90 s is not linear in time, so use
     * intensities proportional to the gaps instead. */
    init_nodecay(&e, T0);
    emotion_event(&e, "routine", 0.0, T0);
    emotion_event(&e, "routine", 0.5, T0 + 30);  /* +0.025 over 0.5 min */
    emotion_event(&e, "routine", 1.5, T0 + 120); /* +0.075 over 1.5 min */
    emotion_event(&e, "routine", 1.0, T0 + 180);
    traj(&e, T0 + 180, &t);
    assert_near(t.valence_velocity, 0.05, 1e-9);

    /* Fast changes are clamped to 1 per minute. */
    init_nodecay(&e, T0);
    for (i = 0; i < 4; i++) emotion_event(&e, "success", 1.0, T0 + i);
    traj(&e, T0 + 4, &t);
    assert_near(t.valence_velocity, 1, 0);
    assert_near(t.arousal_velocity, 1, 0);
}

static void test_trend_and_momentum(void **state)
{
    emotion e;
    emotion_traj t;
    int i;
    (void)state;
    /* Declining: -0.1/min valence. */
    init_nodecay(&e, T0);
    for (i = 0; i < 4; i++) emotion_event(&e, "user_negative", 1.0, T0 + i * 60);
    traj(&e, T0 + 240, &t);
    assert_near(t.valence_velocity, -0.1, 1e-9);
    assert_string_equal(t.trend, "declining");
    assert_string_equal(t.momentum, "negative");

    /* Stable: valence flat (idle only moves arousal). */
    init_nodecay(&e, T0);
    for (i = 0; i < 4; i++) emotion_event(&e, "idle", 1.0, T0 + i * 60);
    traj(&e, T0 + 240, &t);
    assert_near(t.valence_velocity, 0, 1e-12);
    assert_near(t.arousal_velocity, -0.1, 1e-9);
    assert_string_equal(t.trend, "stable");
    assert_string_equal(t.momentum, "neutral");

    /* 0.015/min: beyond the momentum threshold, within the trend one. */
    init_nodecay(&e, T0);
    for (i = 0; i < 3; i++) emotion_event(&e, "routine", 1.0, T0 + i * 200);
    traj(&e, T0 + 400, &t);
    assert_near(t.valence_velocity, 0.015, 1e-9);
    assert_string_equal(t.trend, "stable");
    assert_string_equal(t.momentum, "positive");
    init_nodecay(&e, T0);
    emotion_event(&e, "routine", 1.0, T0);
    emotion_event(&e, "user_negative", 0.5, T0 + 200); /* -0.05 over 200 s */
    emotion_event(&e, "user_negative", 0.5, T0 + 400);
    traj(&e, T0 + 400, &t);
    assert_near(t.valence_velocity, -0.015, 1e-9);
    assert_string_equal(t.trend, "stable");
    assert_string_equal(t.momentum, "negative");

    /* Thresholds come from the params. */
    {
        emotion_params p;
        emotion_default_params(&p);
        p.decay_rate = 0;
        p.trend_threshold = 0.2;
        p.momentum_threshold = 0.2;
        emotion_init(&e, &p, T0);
        for (i = 0; i < 4; i++) emotion_event(&e, "user_negative", 1.0, T0 + i * 60);
        traj(&e, T0 + 240, &t);
        assert_string_equal(t.trend, "stable");
        assert_string_equal(t.momentum, "neutral");
    }
}

static void test_oscillating(void **state)
{
    emotion e;
    emotion_traj t;
    (void)state;
    init_nodecay(&e, T0);
    emotion_event(&e, "success", 1.0, T0);       /* 0.2 */
    emotion_event(&e, "failure", 1.0, T0 + 60);  /* 0.0 */
    emotion_event(&e, "success", 1.0, T0 + 120); /* 0.2 */
    traj(&e, T0 + 120, &t);                      /* only 3 points */
    assert_string_not_equal(t.trend, "oscillating");
    emotion_event(&e, "failure", 1.0, T0 + 180); /* 0.0: -, +, - */
    traj(&e, T0 + 180, &t);
    assert_string_equal(t.trend, "oscillating");
    emotion_event(&e, "failure", 1.0, T0 + 240); /* +, -, - */
    traj(&e, T0 + 240, &t);
    assert_string_not_equal(t.trend, "oscillating");

    /* A zero difference breaks the alternation. */
    init_nodecay(&e, T0);
    emotion_event(&e, "success", 1.0, T0);
    emotion_event(&e, "failure", 1.0, T0 + 60);
    emotion_event(&e, "idle", 1.0, T0 + 120);
    emotion_event(&e, "success", 1.0, T0 + 180);
    traj(&e, T0 + 180, &t);
    assert_string_not_equal(t.trend, "oscillating");
}

static void check_spiral(const char *event, double intensity, const char *direction)
{
    emotion e;
    emotion_traj t;
    int i;
    init_nodecay(&e, T0);
    for (i = 0; i < 4; i++) emotion_event(&e, event, intensity, T0 + i * 10);
    traj(&e, T0 + 40, &t); /* 4 points: not enough */
    assert_false(t.spiral_detected);
    emotion_event(&e, event, intensity, T0 + 40);
    traj(&e, T0 + 40, &t);
    assert_true(t.spiral_detected);
    if (!t.spiral_direction || strcmp(t.spiral_direction, direction) != 0)
        fail_msg("%s: spiral %s, expected %s", event, t.spiral_direction ? t.spiral_direction : "NULL", direction);
}

static void test_spiral_directions(void **state)
{
    (void)state;
    check_spiral("success", 1.0, "positive");   /* dv .8 > da .4 */
    check_spiral("failure", 1.0, "negative");   /* dv -.8, da .6 */
    check_spiral("blocked", 0.5, "escalating"); /* dv -.4, da .6 */
    check_spiral("idle", 1.0, "withdrawing");   /* dv 0, da -.4 */
    check_spiral("insight", 0.8, "positive");   /* dv .8 > da .64 */
    check_spiral("routine", 1.0, "positive");   /* |dv| == |da|: tie -> valence */
}

static void test_spiral_small_changes(void **state)
{
    emotion e;
    emotion_traj t;
    int i;
    (void)state;
    /* Far out on arousal, then tiny steps away from the baseline: both
     * changes over the window are < 0.05, so the axis on which the last point
     * is farther from the baseline decides (arousal, negative). */
    init_nodecay(&e, T0);
    for (i = 0; i < 5; i++) emotion_event(&e, "idle", 1.0, T0 + i);
    for (i = 0; i < 5; i++) emotion_event(&e, "routine", 0.1, T0 + 10 + i);
    traj(&e, T0 + 20, &t);
    assert_true(t.spiral_detected);
    assert_string_equal(t.spiral_direction, "withdrawing");
}

static void test_spiral_rises_need_not_be_consecutive(void **state)
{
    emotion e;
    emotion_traj t;
    (void)state;
    /* Points (.2,.1) (.4,.2) (.6,.3) (.4,.45) (.6,.55): distances .224 .447
     * .671 .602 .814 rise, rise, fall, rise. The original counts 3 rises of
     * the last 4 steps: a spiral; first to last dv .4 < da .45: escalating. */
    init_nodecay(&e, T0);
    emotion_event(&e, "success", 1.0, T0);
    emotion_event(&e, "success", 1.0, T0 + 1);
    emotion_event(&e, "success", 1.0, T0 + 2);
    emotion_event(&e, "failure", 1.0, T0 + 3);
    emotion_event(&e, "success", 1.0, T0 + 4);
    traj(&e, T0 + 5, &t);
    assert_true(t.spiral_detected);
    assert_string_equal(t.spiral_direction, "escalating");
    /* And in the JSON, "none" (not null) when there is no spiral. */
    init_nodecay(&e, T0);
    emotion_event(&e, "success", 1.0, T0);
    cJSON *j = emotion_to_json(&e, T0 + 6);
    const cJSON *d =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "trajectory"), "spiral_direction");
    assert_true(cJSON_IsString(d));
    assert_string_equal(d->valuestring, "none");
    cJSON_Delete(j);
}

static void test_no_spiral(void **state)
{
    emotion e;
    emotion_traj t;
    (void)state;
    /* Moving back towards the baseline. */
    init_nodecay(&e, T0);
    emotion_event(&e, "blocked", 2.0, T0);
    emotion_event(&e, "routine", 1.0, T0 + 1);
    emotion_event(&e, "routine", 1.0, T0 + 2);
    emotion_event(&e, "routine", 1.0, T0 + 3);
    emotion_event(&e, "routine", 1.0, T0 + 4);
    traj(&e, T0 + 5, &t);
    assert_false(t.spiral_detected);

    /* Rises at the start of a longer history fall out of the window. */
    init_nodecay(&e, T0);
    emotion_event(&e, "success", 1.0, T0);
    emotion_event(&e, "success", 1.0, T0 + 1);
    emotion_event(&e, "success", 1.0, T0 + 2);
    emotion_event(&e, "success", 1.0, T0 + 3);
    emotion_event(&e, "failure", 1.0, T0 + 4);
    emotion_event(&e, "routine", 0.0, T0 + 5);
    emotion_event(&e, "routine", 0.0, T0 + 6);
    traj(&e, T0 + 7, &t);
    assert_false(t.spiral_detected);
}

static void test_time_in_quadrant(void **state)
{
    emotion e;
    emotion_params p;
    emotion_traj t;
    double cross = log(2.0) / 0.1;
    (void)state;
    init_nodecay(&e, T0);
    traj(&e, T0 + 12, &t);
    assert_near(t.time_in_quadrant, 12, 1e-9);  /* since init, excited */
    emotion_event(&e, "success", 1.0, T0 + 20); /* still excited */
    traj(&e, T0 + 30, &t);
    assert_near(t.time_in_quadrant, 30, 1e-9);
    emotion_event(&e, "failure", 2.0, T0 + 40); /* (-0.2, 0.4): frustrated */
    traj(&e, T0 + 45, &t);
    assert_near(t.time_in_quadrant, 5, 1e-9);
    emotion_reset(&e, T0 + 50); /* back to (0,0): excited */
    traj(&e, T0 + 57, &t);
    assert_near(t.time_in_quadrant, 7, 1e-9);

    /* A change by decay is dated when the value crossed zero, however
     * often the state is read. Baseline valence 0.2, event -> -0.2: valence
     * is 0.2 - 0.4 e^(-0.1 t), zero at t = ln2/0.1. */
    emotion_default_params(&p);
    p.baseline_valence = 0.2;
    emotion_init(&e, &p, T0);
    emotion_event(&e, "failure", 2.0, T0);
    assert_string_equal(emotion_quadrant(e.valence, e.arousal), "frustrated");
    traj(&e, T0 + 5, &t);
    assert_near(t.time_in_quadrant, 5, 1e-9);
    traj(&e, T0 + 20, &t);
    assert_near(t.time_in_quadrant, 20 - cross, 1e-6); /* epoch ulp ~2e-7 */
    assert_string_equal(emotion_quadrant(e.valence, e.arousal), "excited");
    emotion_init(&e, &p, T0);
    emotion_event(&e, "failure", 2.0, T0);
    traj(&e, T0 + 20, &t);                             /* one read, same answer */
    assert_near(t.time_in_quadrant, 20 - cross, 1e-6); /* epoch ulp ~2e-7 */
}

static void test_decay_snaps_to_baseline(void **state)
{
    emotion e;
    emotion_traj t;
    double snap_at = log(0.2 / 0.0005) / 0.1; /* valence offset 0.2 -> 0.0005 */
    double reads[] = {30, snap_at - 0.5, snap_at + 0.5, 200};
    size_t i;
    cJSON *j;
    (void)state;
    /* Without the snap a negative valence decaying towards 0 would stay
     * "frustrated" forever while the JSON shows 0. */
    emotion_init(&e, NULL, T0);
    emotion_event(&e, "failure", 1.0, T0); /* (-0.2, 0.15) */
    for (i = 0; i < sizeof reads / sizeof reads[0]; i++) emotion_decay(&e, T0 + reads[i]);
    check_state(&e, T0 + 200, 0, 0);
    j = emotion_to_json(&e, T0 + 200);
    assert_string_equal(cJSON_GetObjectItem(j, "quadrant")->valuestring, "excited");
    cJSON_Delete(j);
    traj(&e, T0 + 200, &t);
    assert_near(t.time_in_quadrant, 200 - snap_at, 1e-6);

    /* One read only: the same date for the change. */
    emotion_init(&e, NULL, T0);
    emotion_event(&e, "failure", 1.0, T0);
    traj(&e, T0 + 200, &t);
    assert_near(t.time_in_quadrant, 200 - snap_at, 1e-6);

    /* Before the snap the state is still on the negative side. */
    emotion_init(&e, NULL, T0);
    emotion_event(&e, "failure", 1.0, T0);
    traj(&e, T0 + snap_at - 0.5, &t);
    assert_true(e.valence < 0);
    assert_near(t.time_in_quadrant, snap_at - 0.5, 1e-6);
}

static void test_history_capped(void **state)
{
    emotion e;
    emotion_traj t;
    int i;
    (void)state;
    init_nodecay(&e, T0);
    for (i = 0; i < 25; i++) emotion_event(&e, "routine", 0.2, T0 + i * 60);
    assert_int_equal(e.hist_len, 20);
    assert_int_equal(e.update_count, 25);
    /* The oldest kept point is the 6th event. */
    assert_near(e.hist[e.hist_start].t, T0 + 5 * 60, 0);
    assert_near(e.hist[e.hist_start].valence, 6 * 0.01, 1e-12);
    traj(&e, T0 + 24 * 60, &t);
    assert_near(t.valence_velocity, 0.01, 1e-9);

    {
        emotion_params p;
        emotion_default_params(&p);
        p.history_size = 5;
        emotion_init(&e, &p, T0);
        for (i = 0; i < 12; i++) emotion_event(&e, "success", 0.1, T0 + i);
        assert_int_equal(e.hist_len, 5);
        assert_int_equal(e.p.velocity_window, 5);
    }
}

/* --- JSON ------------------------------------------------------------------ */

static cJSON *get(const cJSON *o, const char *k)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v) fail_msg("missing key %s", k);
    return v;
}

static void test_json_shape(void **state)
{
    emotion e;
    emotion_params p;
    cJSON *j, *b, *s, *t;
    const char *top[] = {
        "valence",   "arousal", "quadrant", "baseline", "update_count", "last_update", "steering_coefficients",
        "trajectory"};
    const char *tk[] = {"valence_velocity", "arousal_velocity", "trend",           "momentum",
                        "spiral_detected",  "spiral_direction", "time_in_quadrant"};
    size_t i;
    int k;
    (void)state;
    emotion_default_params(&p);
    p.baseline_valence = 0.1;
    p.baseline_arousal = -0.05;
    p.decay_rate = 0;
    emotion_init(&e, &p, T0);
    j = emotion_to_json(&e, T0 + 3.14);
    assert_non_null(j);
    assert_int_equal(cJSON_GetArraySize(j), 8);
    for (i = 0; i < sizeof top / sizeof top[0]; i++) get(j, top[i]);
    b = get(j, "baseline");
    assert_near(get(b, "valence")->valuedouble, 0.1, 0);
    assert_near(get(b, "arousal")->valuedouble, -0.05, 0);
    s = get(j, "steering_coefficients");
    for (k = 0; k < 4; k++) assert_true(cJSON_IsNumber(get(s, emotion_steering_names[k])));
    t = get(j, "trajectory");
    assert_int_equal(cJSON_GetArraySize(t), 7);
    for (i = 0; i < sizeof tk / sizeof tk[0]; i++) get(t, tk[i]);
    assert_string_equal(get(t, "spiral_direction")->valuestring, "none");
    assert_true(cJSON_IsFalse(get(t, "spiral_detected")));
    assert_string_equal(get(j, "quadrant")->valuestring, "calm");
    assert_near(get(t, "time_in_quadrant")->valuedouble, 3.1, 1e-12);
    assert_near(get(j, "last_update")->valuedouble, T0, 0);
    assert_int_equal(get(j, "update_count")->valueint, 0);
    cJSON_Delete(j);

    /* A spiral, rounding and counts. */
    for (k = 0; k < 5; k++) emotion_event(&e, "insight", 1.0 / 3, T0 + 10 + k * 7);
    j = emotion_to_json(&e, T0 + 100);
    t = get(j, "trajectory");
    assert_near(get(j, "valence")->valuedouble, 0.517, 1e-12); /* .1 + 5*.08333 */
    assert_near(get(j, "arousal")->valuedouble, 0.283, 1e-12); /* -.05 + 5*.0667 */
    assert_near(get(j, "last_update")->valuedouble, T0 + 38, 0);
    assert_int_equal(get(j, "update_count")->valueint, 5);
    assert_true(cJSON_IsTrue(get(t, "spiral_detected")));
    assert_string_equal(get(t, "spiral_direction")->valuestring, "positive");
    assert_near(get(t, "valence_velocity")->valuedouble, 0.7143, 1e-12); /* 1/12 per 7 s */
    assert_near(get(t, "arousal_velocity")->valuedouble, 0.5714, 1e-12);
    assert_string_equal(get(t, "trend")->valuestring, "improving");
    assert_string_equal(get(t, "momentum")->valuestring, "positive");
    {
        double sum = 0;
        s = get(j, "steering_coefficients");
        for (k = 0; k < 4; k++) sum += get(s, emotion_steering_names[k])->valuedouble;
        assert_near(sum, 1, 4.5e-4); /* each rounded to 4 dp */
    }
    cJSON_Delete(j);

    /* No "-0" after rounding a tiny negative value. */
    init_nodecay(&e, T0);
    emotion_event(&e, "user_negative", 1e-6, T0); /* valence -1e-7 */
    emotion_event(&e, "user_negative", 1e-6, T0 + 60);
    j = emotion_to_json(&e, T0 + 60);
    assert_true(get(j, "valence")->valuedouble == 0);
    assert_true(get(get(j, "trajectory"), "valence_velocity")->valuedouble == 0);
    {
        char *txt = cJSON_PrintUnformatted(j);
        assert_non_null(txt);
        assert_null(strstr(txt, ":-0}"));
        assert_null(strstr(txt, ":-0,"));
        free(txt);
    }
    cJSON_Delete(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_initial_state_is_baseline),
        cmocka_unit_test(test_param_sanitising),
        cmocka_unit_test(test_every_event_exact),
        cmocka_unit_test(test_event_names_match_table),
        cmocka_unit_test(test_intensity_clamping),
        cmocka_unit_test(test_max_delta),
        cmocka_unit_test(test_result_clamping),
        cmocka_unit_test(test_unknown_event),
        cmocka_unit_test(test_quadrants),
        cmocka_unit_test(test_reset),
        cmocka_unit_test(test_decay_half_life),
        cmocka_unit_test(test_decay_reaches_baseline),
        cmocka_unit_test(test_decay_read_frequency_independent),
        cmocka_unit_test(test_decay_backwards_time),
        cmocka_unit_test(test_decay_before_event_and_on_read),
        cmocka_unit_test(test_no_decay_when_rate_zero),
        cmocka_unit_test(test_sampling_map),
        cmocka_unit_test(test_steering_coefficients),
        cmocka_unit_test(test_keywords),
        cmocka_unit_test(test_trajectory_insufficient),
        cmocka_unit_test(test_velocity_linear_ramp),
        cmocka_unit_test(test_trend_and_momentum),
        cmocka_unit_test(test_oscillating),
        cmocka_unit_test(test_spiral_directions),
        cmocka_unit_test(test_spiral_small_changes),
        cmocka_unit_test(test_no_spiral),
        cmocka_unit_test(test_spiral_rises_need_not_be_consecutive),
        cmocka_unit_test(test_time_in_quadrant),
        cmocka_unit_test(test_decay_snaps_to_baseline),
        cmocka_unit_test(test_history_capped),
        cmocka_unit_test(test_json_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
