/* test_elpis_toolcalls.c - unit tests of elpis/toolcalls.c: tool calls read
 * out of a model's free text, one or several, bare, in prose, in arrays and
 * tags; only offered tools; parallel_tool_calls false (max 1). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../elpis/toolcalls.h"

static cJSON *tools(void)
{
    return cJSON_Parse("[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}},"
                       "{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}]");
}

/* The i-th call's name and its arguments as text. */
static void check_call(const cJSON *calls, int i, const char *name, const char *args)
{
    const cJSON *c = cJSON_GetArrayItem(calls, i);
    assert_non_null(c);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(c, "function");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(f, "name")->valuestring, name);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(f, "arguments")->valuestring, args);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(c, "type")->valuestring, "function");
    const char *id = cJSON_GetObjectItemCaseSensitive(c, "id")->valuestring;
    assert_int_equal(strncmp(id, "call_", 5), 0);
    assert_int_equal(strlen(id), 17);
}

static void test_one_bare_call(void **state)
{
    (void)state;
    cJSON *t = tools();
    cJSON *calls = tool_calls_parse("{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}", t, 0);
    assert_int_equal(cJSON_GetArraySize(calls), 1);
    check_call(calls, 0, "get_weather", "{\"city\":\"Oslo\"}");
    cJSON_Delete(calls);
    cJSON_Delete(t);
}

static void test_several_calls_in_order(void **state)
{
    (void)state;
    cJSON *t = tools();
    const char *text = "Sure.\n<tool_call>{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}}</tool_call>\n"
                       "<tool_call>{\"name\":\"get_time\",\"parameters\":{\"zone\":\"CET\"}}</tool_call>\n"
                       "{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Rome\\\"}\"}";
    cJSON *calls = tool_calls_parse(text, t, 0);
    assert_int_equal(cJSON_GetArraySize(calls), 3);
    check_call(calls, 0, "get_weather", "{\"city\":\"Oslo\"}");
    check_call(calls, 1, "get_time", "{\"zone\":\"CET\"}");
    check_call(calls, 2, "get_weather", "{\"city\":\"Rome\"}");
    const char *id0 = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(calls, 0), "id")->valuestring;
    const char *id1 = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(calls, 1), "id")->valuestring;
    assert_string_not_equal(id0, id1);
    cJSON_Delete(calls);
    /* an array of calls, as some models write them */
    calls = tool_calls_parse("[{\"name\":\"get_time\"}, {\"name\":\"get_weather\",\"arguments\":{}}]", t, 0);
    assert_int_equal(cJSON_GetArraySize(calls), 2);
    check_call(calls, 0, "get_time", "{}");
    check_call(calls, 1, "get_weather", "{}");
    cJSON_Delete(calls);
    cJSON_Delete(t);
}

static void test_parallel_off_takes_the_first(void **state)
{
    (void)state;
    cJSON *t = tools();
    cJSON *calls = tool_calls_parse("{\"name\":\"get_time\"}\n{\"name\":\"get_weather\"}", t, 1);
    assert_int_equal(cJSON_GetArraySize(calls), 1);
    check_call(calls, 0, "get_time", "{}");
    cJSON_Delete(calls);
    cJSON_Delete(t);
}

static void test_only_offered_tools_and_no_inner_doubles(void **state)
{
    (void)state;
    cJSON *t = tools();
    /* not offered: no call */
    assert_null(tool_calls_parse("{\"name\":\"rm_rf\",\"arguments\":{}}", t, 0));
    /* prose and broken JSON: no call */
    assert_null(tool_calls_parse("I think {this} is {\"name\": \"get_weather\"", t, 0));
    assert_null(tool_calls_parse("", t, 0));
    /* a call whose arguments hold an object with a tool's name is one call, not two */
    cJSON *calls = tool_calls_parse("{\"name\":\"get_weather\",\"arguments\":{\"name\":\"get_time\"}}", t, 0);
    assert_int_equal(cJSON_GetArraySize(calls), 1);
    check_call(calls, 0, "get_weather", "{\"name\":\"get_time\"}");
    cJSON_Delete(calls);
    /* a wrapper that is not a call: the call inside it counts */
    calls = tool_calls_parse("{\"call\": {\"name\":\"get_time\"}}", t, 0);
    assert_int_equal(cJSON_GetArraySize(calls), 1);
    check_call(calls, 0, "get_time", "{}");
    cJSON_Delete(calls);
    /* a name that is not a string */
    assert_null(tool_calls_parse("{\"name\": 7}", t, 0));
    cJSON_Delete(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_bare_call),
        cmocka_unit_test(test_several_calls_in_order),
        cmocka_unit_test(test_parallel_off_takes_the_first),
        cmocka_unit_test(test_only_offered_tools_and_no_inner_doubles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
