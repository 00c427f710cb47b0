/* test_psyche_idle.c - the idle scheduler with a fake clock (when to think,
 * when to dream, how long the agent may sleep, the tool warm-up and
 * cooldown, the consolidation check), the dream themes and queries, the
 * insight check, and what idle tool calls are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "../../psyche/idle.h"

static psy_idle_cfg defaults(void)
{
    psy_idle_cfg c = {.enabled = true,
                      .think_after = 30,
                      .quiet_after_user = 60,
                      .dreams = true,
                      .dream_after = 300,
                      .dream_interval = 300,
                      .tools = true,
                      .tool_warmup = 120,
                      .tool_cooldown = 300,
                      .consolidate_check = 300};
    return c;
}

#define T0 1000.0

static void test_first_thought_after_30s_of_silence(void **state)
{
    (void)state;
    psy_idle s;
    psy_idle_cfg c = defaults();
    psy_idle_init(&s, &c, T0);
    double w;
    assert_int_equal(psy_idle_next(&s, T0, &w), PSY_IDLE_NOTHING);
    assert_true(fabs(w - 30) < 1e-9); /* the agent sleeps exactly until then */
    assert_int_equal(psy_idle_next(&s, T0 + 29.9, &w), PSY_IDLE_NOTHING);
    assert_true(fabs(w - 0.1) < 1e-6);
    assert_int_equal(psy_idle_next(&s, T0 + 30, &w), PSY_IDLE_THINK);
    /* after a thought, another 30 s */
    psy_idle_done(&s, PSY_IDLE_THINK, T0 + 40);
    assert_int_equal(psy_idle_next(&s, T0 + 41, &w), PSY_IDLE_NOTHING);
    assert_true(fabs(w - 29) < 1e-9);
    assert_int_equal(psy_idle_next(&s, T0 + 70, &w), PSY_IDLE_THINK);
    assert_int_equal(s.thoughts, 1);
}

static void test_no_thought_within_60s_of_a_user_message(void **state)
{
    (void)state;
    psy_idle s;
    psy_idle_cfg c = defaults();
    psy_idle_init(&s, &c, T0);
    double w;
    psy_idle_user_message(&s, T0 + 10);
    assert_int_equal(psy_idle_next(&s, T0 + 40, &w), PSY_IDLE_NOTHING); /* 30 s quiet, but only 30 since the message */
    assert_true(fabs(w - 30) < 1e-9);
    assert_int_equal(psy_idle_next(&s, T0 + 69.99, &w), PSY_IDLE_NOTHING);
    assert_int_equal(psy_idle_next(&s, T0 + 70, &w), PSY_IDLE_THINK);
}

static void test_typing_postpones_thinking(void **state)
{
    (void)state;
    psy_idle s;
    psy_idle_cfg c = defaults();
    psy_idle_init(&s, &c, T0);
    double w;
    psy_idle_input(&s, T0 + 25);
    assert_int_equal(psy_idle_next(&s, T0 + 30, &w), PSY_IDLE_NOTHING);
    assert_true(fabs(w - 25) < 1e-9);
    assert_int_equal(psy_idle_next(&s, T0 + 55, &w), PSY_IDLE_THINK);
}

static void test_dreams_take_over_after_a_long_silence(void **state)
{
    (void)state;
    psy_idle s;
    psy_idle_cfg c = defaults();
    psy_idle_init(&s, &c, T0);
    double w;
    /* thoughts every 30 s until 300 s of silence... */
    double t = T0;
    int thoughts = 0;
    for (;;) {
        psy_idle_action a = psy_idle_next(&s, t, &w);
        if (a == PSY_IDLE_DREAM) break;
        if (a == PSY_IDLE_THINK) {
            thoughts++;
            psy_idle_done(&s, a, t + 5); /* a thought takes 5 s */
            t += 5;
            continue;
        }
        assert_true(w > 0);
        t += w;
    }
    assert_true(t >= T0 + 300 && t < T0 + 300 + 1e-6);
    assert_int_equal(thoughts, 8); /* at 30, 65, 100, ..., 275 */
    psy_idle_done(&s, PSY_IDLE_DREAM, t + 10);
    /* ... then only dreams, one per interval */
    assert_int_equal(psy_idle_next(&s, t + 11, &w), PSY_IDLE_NOTHING);
    assert_true(fabs(w - 299) < 1e-6);
    assert_int_equal(psy_idle_next(&s, t + 310, &w), PSY_IDLE_DREAM);
    assert_int_equal(s.dreams, 1);
    /* input wakes: back to thoughts after 30 s */
    psy_idle_input(&s, t + 400);
    assert_int_equal(psy_idle_next(&s, t + 430, &w), PSY_IDLE_THINK);
}

static void test_disabled_means_no_wakeups(void **state)
{
    (void)state;
    psy_idle s;
    psy_idle_cfg c = defaults();
    c.enabled = false;
    psy_idle_init(&s, &c, T0);
    double w;
    assert_int_equal(psy_idle_next(&s, T0 + 100000, &w), PSY_IDLE_NOTHING);
    assert_true(w < 0); /* block until input */
    c = defaults();
    c.dreams = false;
    psy_idle_init(&s, &c, T0);
    psy_idle_done(&s, PSY_IDLE_THINK, T0 + 1000);
    assert_int_equal(psy_idle_next(&s, T0 + 1030, &w), PSY_IDLE_THINK); /* thoughts go on without dreams */
}

static void test_idle_tools_warmup_and_cooldown(void **state)
{
    (void)state;
    psy_idle s;
    psy_idle_cfg c = defaults();
    psy_idle_init(&s, &c, T0);
    assert_false(psy_idle_tool_allowed(&s, T0 + 119));
    assert_true(psy_idle_tool_allowed(&s, T0 + 120));
    psy_idle_tool_used(&s, T0 + 130);
    assert_false(psy_idle_tool_allowed(&s, T0 + 429));
    assert_true(psy_idle_tool_allowed(&s, T0 + 430));
    c.tools = false;
    psy_idle_init(&s, &c, T0);
    assert_false(psy_idle_tool_allowed(&s, T0 + 10000));
}

static void test_consolidation_check_at_most_every_300s(void **state)
{
    (void)state;
    psy_idle s;
    psy_idle_cfg c = defaults();
    psy_idle_init(&s, &c, T0);
    assert_true(psy_idle_consolidation_check(&s, T0 + 1));
    assert_false(psy_idle_consolidation_check(&s, T0 + 200));
    assert_false(psy_idle_consolidation_check(&s, T0 + 300));
    assert_true(psy_idle_consolidation_check(&s, T0 + 301));
}

static void test_dream_themes_and_queries(void **state)
{
    (void)state;
    assert_string_equal(psy_dream_theme_for("frustrated")->theme, "resolution");
    assert_string_equal(psy_dream_theme_for("depleted")->theme, "restoration");
    assert_string_equal(psy_dream_theme_for("excited")->theme, "exploration");
    assert_string_equal(psy_dream_theme_for("calm")->theme, "synthesis");
    assert_string_equal(psy_dream_theme_for("neutral")->theme, "reflection");
    assert_string_equal(psy_dream_theme_for(NULL)->theme, "reflection");

    const psy_dream_theme *t = psy_dream_theme_for("frustrated");
    cJSON *st = cJSON_Parse("{\"quadrant\":\"frustrated\",\"trajectory\":{\"spiral_detected\":true,"
                            "\"spiral_direction\":\"negative\",\"trend\":\"declining\",\"time_in_quadrant\":400}}");
    cJSON *q = psy_dream_queries(t, st, 9);
    assert_int_equal(cJSON_GetArraySize(q), 8);
    /* the trajectory is really used (the original never passed it) and comes first */
    assert_string_equal(cJSON_GetArrayItem(q, 0)->valuestring, "comfort and support, what helps");
    assert_string_equal(cJSON_GetArrayItem(q, 1)->valuestring, "turning points, resilience");
    assert_string_equal(cJSON_GetArrayItem(q, 2)->valuestring, "what brings peace");
    assert_string_equal(cJSON_GetArrayItem(q, 3)->valuestring, "problems I solved");
    cJSON_Delete(q);
    q = psy_dream_queries(t, st, 4);
    assert_int_equal(cJSON_GetArraySize(q), 4);
    cJSON_Delete(q);
    cJSON_Delete(st);
    st = cJSON_Parse(
        "{\"trajectory\":{\"spiral_detected\":false,\"spiral_direction\":\"positive\",\"trend\":\"stable\"}}");
    q = psy_dream_queries(psy_dream_theme_for("calm"), st, 9);
    assert_int_equal(cJSON_GetArraySize(q), 5); /* no spiral, stable: the theme's five */
    assert_string_equal(cJSON_GetArrayItem(q, 0)->valuestring, "patterns noticed");
    cJSON_Delete(q);
    cJSON_Delete(st);
    q = psy_dream_queries(t, NULL, 9);
    assert_int_equal(cJSON_GetArraySize(q), 5);
    cJSON_Delete(q);
}

/* The original's topic queries: words of "recent conversations" memories,
 * lower-cased, stripped of non-alphanumerics, longer than 4 characters, not
 * stop words, de-duplicated, 5 at most; the first two topics get
 * "experiences with" and "what I learned about" (4 dynamic queries at most). */
static void test_dream_topic_queries(void **state)
{
    (void)state;
    cJSON *mems = cJSON_Parse("[{\"content\":\"Gardening, again: the TOMATOES in the greenhouse (really!)\"},"
                              "{\"content\":\"My sister's gardening club met about tomatoes\"},"
                              "{\"summary\":\"no content here\"},"
                              "{\"content\":\"Grüße from München\"}]");
    cJSON *topics = psy_dream_topics(mems, 5);
    /* computed as the original does: gardening, tomatoes, greenhouse, sisters, grüße
     * ("again", "really", "about" are stop words; "the", "in", "club" are too short) */
    static const char *const want[] = {"gardening", "tomatoes", "greenhouse", "sisters", "grüße"};
    assert_int_equal(cJSON_GetArraySize(topics), 5);
    for (int i = 0; i < 5; i++) assert_string_equal(cJSON_GetArrayItem(topics, i)->valuestring, want[i]);

    cJSON *calm = cJSON_Parse("{\"quadrant\":\"calm\",\"trajectory\":{\"spiral_detected\":false,"
                              "\"spiral_direction\":\"none\",\"trend\":\"stable\"}}");
    cJSON *q = psy_dream_queries_topics(psy_dream_theme_for("calm"), calm, topics, 9);
    static const char *const wantq[] = {"experiences with gardening", "what I learned about gardening",
                                        "experiences with tomatoes",  "what I learned about tomatoes",
                                        "patterns noticed",           "connections between ideas"};
    assert_int_equal(cJSON_GetArraySize(q), 9); /* 4 dynamic + the theme's 5 */
    for (int i = 0; i < 6; i++) assert_string_equal(cJSON_GetArrayItem(q, i)->valuestring, wantq[i]);
    cJSON_Delete(q);

    /* trajectory queries come first and share the 4 dynamic places */
    cJSON *sad = cJSON_Parse("{\"trajectory\":{\"spiral_detected\":true,\"spiral_direction\":\"negative\","
                             "\"trend\":\"declining\",\"time_in_quadrant\":400}}");
    q = psy_dream_queries_topics(psy_dream_theme_for("frustrated"), sad, topics, 9);
    assert_int_equal(cJSON_GetArraySize(q), 9);
    assert_string_equal(cJSON_GetArrayItem(q, 2)->valuestring, "what brings peace");
    assert_string_equal(cJSON_GetArrayItem(q, 3)->valuestring, "experiences with gardening");
    assert_string_equal(cJSON_GetArrayItem(q, 4)->valuestring, "problems I solved");
    cJSON_Delete(q);

    /* no topics (no memories yet): the queries of before */
    cJSON *none = psy_dream_topics(NULL, 5);
    assert_int_equal(cJSON_GetArraySize(none), 0);
    q = psy_dream_queries_topics(psy_dream_theme_for("calm"), calm, none, 9);
    assert_int_equal(cJSON_GetArraySize(q), 5);
    cJSON_Delete(q);
    cJSON_Delete(none);
    cJSON_Delete(sad);
    cJSON_Delete(calm);
    cJSON_Delete(topics);
    cJSON_Delete(mems);
}

static void test_insight_check(void **state)
{
    (void)state;
    assert_true(psy_dream_has_insight("I Realize the pieces fit"));
    assert_true(psy_dream_has_insight("a PATTERN emerges"));
    assert_false(psy_dream_has_insight("clouds drift over the sea"));
    assert_false(psy_dream_has_insight(NULL));
}

static void test_idle_tool_refusals(void **state)
{
    (void)state;
    cJSON *a = cJSON_Parse("{\"file_path\":\"src/main.c\"}");
    assert_null(psy_idle_tool_refusal("read_file", a));
    assert_non_null(psy_idle_tool_refusal("execute_bash", a));
    assert_non_null(psy_idle_tool_refusal("create_file", a));
    assert_non_null(psy_idle_tool_refusal("store_memory", a));
    cJSON_Delete(a);
    a = cJSON_Parse("{\"file_path\":\"../outside.txt\"}");
    assert_non_null(psy_idle_tool_refusal("read_file", a));
    cJSON_Delete(a);
    a = cJSON_Parse("{\"file_path\":\"home/.ssh/id_rsa\"}");
    assert_non_null(psy_idle_tool_refusal("read_file", a));
    cJSON_Delete(a);
    a = cJSON_Parse("{\"dir_path\":\".aws\"}");
    assert_non_null(psy_idle_tool_refusal("list_directory", a));
    cJSON_Delete(a);
    a = cJSON_Parse("{\"pattern\":\"a..b\",\"file_glob\":\"*.c\"}"); /* a regex, not a path */
    assert_null(psy_idle_tool_refusal("search_codebase", a));
    cJSON_Delete(a);
    a = cJSON_Parse("{\"pattern\":\"x\",\"file_glob\":\"../*.c\"}");
    assert_non_null(psy_idle_tool_refusal("search_codebase", a));
    cJSON_Delete(a);
    a = cJSON_Parse("{\"query\":\"cats\"}");
    assert_null(psy_idle_tool_refusal("recall_memory", a));
    cJSON_Delete(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_thought_after_30s_of_silence),
        cmocka_unit_test(test_no_thought_within_60s_of_a_user_message),
        cmocka_unit_test(test_typing_postpones_thinking),
        cmocka_unit_test(test_dreams_take_over_after_a_long_silence),
        cmocka_unit_test(test_disabled_means_no_wakeups),
        cmocka_unit_test(test_idle_tools_warmup_and_cooldown),
        cmocka_unit_test(test_consolidation_check_at_most_every_300s),
        cmocka_unit_test(test_dream_themes_and_queries),
        cmocka_unit_test(test_dream_topic_queries),
        cmocka_unit_test(test_insight_check),
        cmocka_unit_test(test_idle_tool_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
