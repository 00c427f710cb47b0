/* test_psyche_toolcall.c - the tool-call parser (psyche/toolcall.c): the
 * original's eight cases (code block, minimal call, JSON only, no match,
 * invalid JSON, case-insensitive, extra newlines, nested JSON) plus two
 * blocks, braces and fences inside strings, missing/stringified arguments,
 * the streaming stop check, and random input that must not crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../psyche/toolcall.h"

static int parse(const char *text, psy_toolcall *tc, char *err, size_t errlen)
{
    return psy_toolcall_parse(text, strlen(text), tc, err, errlen);
}

/* The arguments as compact JSON (static storage). */
static const char *args_json(const psy_toolcall *tc)
{
    static char out[1024];
    char *s = cJSON_PrintUnformatted(tc->arguments);
    snprintf(out, sizeof out, "%s", s ? s : "(null)");
    free(s);
    return out;
}

static void test_code_block(void **state)
{
    (void)state;
    const char *t =
        "I'll read it.\n```tool_call\n{\"name\": \"read_file\", \"arguments\": {\"file_path\": \"a.txt\"}}\n```";
    psy_toolcall tc;
    char err[256];
    assert_int_equal(parse(t, &tc, err, sizeof err), 1);
    assert_string_equal(tc.name, "read_file");
    assert_string_equal(args_json(&tc), "{\"file_path\":\"a.txt\"}");
    assert_true(tc.fenced);
    assert_int_equal(tc.start, strlen("I'll read it.\n"));
    assert_int_equal(tc.end, strlen(t));
    psy_toolcall_clear(&tc);
}

static void test_minimal_and_missing_arguments(void **state)
{
    (void)state;
    psy_toolcall tc;
    char err[256];
    assert_int_equal(parse("```tool_call\n{\"name\": \"list_directory\"}\n```", &tc, err, sizeof err), 1);
    assert_string_equal(tc.name, "list_directory");
    assert_string_equal(args_json(&tc), "{}");
    psy_toolcall_clear(&tc);
    assert_int_equal(parse("```tool_call\n{\"name\": \"x\", \"arguments\": null}\n```", &tc, err, sizeof err), 1);
    assert_string_equal(args_json(&tc), "{}");
    psy_toolcall_clear(&tc);
    /* OpenAI style: arguments as a JSON string; and "parameters" */
    assert_int_equal(
        parse("```tool_call\n{\"name\": \"x\", \"arguments\": \"{\\\"a\\\": 1}\"}\n```", &tc, err, sizeof err), 1);
    assert_string_equal(args_json(&tc), "{\"a\":1}");
    psy_toolcall_clear(&tc);
    assert_int_equal(parse("```tool_call\n{\"name\": \"x\", \"parameters\": {\"b\": 2}}\n```", &tc, err, sizeof err),
                     1);
    assert_string_equal(args_json(&tc), "{\"b\":2}");
    psy_toolcall_clear(&tc);
    assert_int_equal(
        parse("```tool_call\n{\"function\": {\"name\": \"y\", \"arguments\": {}}}\n```", &tc, err, sizeof err), 1);
    assert_string_equal(tc.name, "y");
    psy_toolcall_clear(&tc);
}

static void test_json_only(void **state)
{
    (void)state;
    psy_toolcall tc;
    char err[256];
    assert_int_equal(
        parse("  {\"name\": \"read_file\", \"arguments\": {\"file_path\": \"x\"}}  ", &tc, err, sizeof err), 1);
    assert_string_equal(tc.name, "read_file");
    assert_false(tc.fenced);
    psy_toolcall_clear(&tc);
    /* at the start of the text even without arguments */
    assert_int_equal(parse("{\"name\": \"list_directory\"}", &tc, err, sizeof err), 1);
    assert_string_equal(args_json(&tc), "{}");
    psy_toolcall_clear(&tc);
    /* later in the text only with arguments; inside a ```json block too */
    assert_int_equal(
        parse("Let me look.\n```json\n{\"name\": \"list_directory\", \"arguments\": {}}\n```", &tc, err, sizeof err),
        1);
    assert_string_equal(tc.name, "list_directory");
    psy_toolcall_clear(&tc);
}

static void test_no_match(void **state)
{
    (void)state;
    psy_toolcall tc;
    char err[256];
    assert_int_equal(parse("Hello! How are you today?", &tc, err, sizeof err), 0);
    assert_null(tc.name);
    assert_int_equal(parse("", &tc, err, sizeof err), 0);
    /* A JSON example in an answer is not a call. */
    assert_int_equal(parse("Here is a package.json:\n```json\n{\"name\": \"my-app\", \"version\": \"1.0.0\"}\n```", &tc,
                           err, sizeof err),
                     0);
    assert_int_equal(parse("```python\nprint({'a': 1})\n```", &tc, err, sizeof err), 0);
    /* tool_calls is not tool_call */
    assert_int_equal(parse("```tool_calls\n{\"nam\": 1}\n```", &tc, err, sizeof err), 0);
}

static void test_invalid_json(void **state)
{
    (void)state;
    psy_toolcall tc;
    char err[512];
    const char *t = "```tool_call\n{\"name\": \"read_file\", \"arguments\": {\"file_path\": 'a'}}\n```";
    assert_int_equal(parse(t, &tc, err, sizeof err), -EBADMSG);
    assert_null(tc.name);
    assert_non_null(strstr(err, "Invalid JSON"));
    assert_non_null(strstr(err, "tool_call"));
    assert_int_equal(tc.start, 0);
    assert_int_equal(tc.end, strlen(t));

    assert_int_equal(parse("```tool_call\n{\"arguments\": {}}\n```", &tc, err, sizeof err), -EBADMSG);
    assert_non_null(strstr(err, "\"name\""));
    assert_int_equal(parse("```tool_call\n{\"name\": \"x\", \"arguments\": [1]}\n```", &tc, err, sizeof err), -EBADMSG);
    assert_non_null(strstr(err, "arguments"));
    assert_int_equal(parse("```tool_call\nread_file a.txt\n```", &tc, err, sizeof err), -EBADMSG);
    assert_non_null(strstr(err, "does not hold a JSON object"));
    assert_int_equal(
        parse("```tool_call\n{\"name\": \"x\", \"arguments\": {\"a\": 1}\n```\nmore", &tc, err, sizeof err), -EBADMSG);
    assert_non_null(strstr(err, "incomplete"));
    /* \u0000 would silently truncate a path in cJSON */
    assert_int_equal(
        parse("```tool_call\n{\"name\": \"read_file\", \"arguments\": {\"file_path\": \"a\\u0000b\"}}\n```", &tc, err,
              sizeof err),
        -EBADMSG);
    assert_non_null(strstr(err, "NUL"));
    /* a NULL err buffer is fine */
    assert_int_equal(parse("```tool_call\n{oops}\n```", &tc, NULL, 0), -EBADMSG);
}

static void test_case_insensitive_and_spacing(void **state)
{
    (void)state;
    psy_toolcall tc;
    char err[256];
    const char *variants[] = {
        "```TOOL_CALL\n{\"name\": \"a\"}\n```",
        "```Tool_Call\n{\"name\": \"a\"}\n```",
        "``` tool_call\n{\"name\": \"a\"}\n```",
        "```tool_call   \n\n\n   {\"name\": \"a\"}\n\n\n```",
        "```tool_call\r\n{\"name\": \"a\"}\r\n```",
        "```tool_call {\"name\": \"a\"} ```",
        "```tool_call json\n{\"name\": \"a\"}\n```",
        "text```tool_call\n{\n  \"name\" :\n  \"a\",\n  \"arguments\" : { }\n}\n```",
        "```tool_call\n{\"name\": \"a\"}", /* stopped at the fence by a stop sequence */
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        assert_int_equal(parse(variants[i], &tc, err, sizeof err), 1);
        assert_string_equal(tc.name, "a");
        psy_toolcall_clear(&tc);
    }
}

static void test_nested(void **state)
{
    (void)state;
    psy_toolcall tc;
    char err[256];
    const char *t = "```tool_call\n{\"name\": \"store_memory\", \"arguments\": {\"content\": \"x\", "
                    "\"emotional_context\": {\"valence\": 0.5, \"deep\": {\"list\": [1, {\"a\": [2]}]}}, "
                    "\"tags\": [\"a\", \"b\"]}}\n```";
    assert_int_equal(parse(t, &tc, err, sizeof err), 1);
    assert_string_equal(tc.name, "store_memory");
    assert_string_equal(args_json(&tc),
                        "{\"content\":\"x\",\"emotional_context\":{\"valence\":0.5,\"deep\":{\"list\":[1,{"
                        "\"a\":[2]}]}},\"tags\":[\"a\",\"b\"]}");
    psy_toolcall_clear(&tc);
}

static void test_two_blocks_first_wins(void **state)
{
    (void)state;
    psy_toolcall tc;
    char err[256];
    const char *t = "```tool_call\n{\"name\": \"first\"}\n```\nand\n```tool_call\n{\"name\": \"second\"}\n```";
    assert_int_equal(parse(t, &tc, err, sizeof err), 1);
    assert_string_equal(tc.name, "first");
    assert_int_equal(tc.end, strlen("```tool_call\n{\"name\": \"first\"}\n```"));
    psy_toolcall_clear(&tc);
    /* an invalid first block is reported, not skipped */
    assert_int_equal(parse("```tool_call\n{bad}\n```\n```tool_call\n{\"name\": \"second\"}\n```", &tc, err, sizeof err),
                     -EBADMSG);
    /* another fenced block before the call does not matter */
    assert_int_equal(
        parse("```c\nint main(void) { return 0; }\n```\n```tool_call\n{\"name\": \"z\"}\n```", &tc, err, sizeof err),
        1);
    assert_string_equal(tc.name, "z");
    psy_toolcall_clear(&tc);
}

static void test_braces_and_fences_in_strings(void **state)
{
    (void)state;
    psy_toolcall tc;
    char err[256];
    const char *t = "```tool_call\n{\"name\": \"create_file\", \"arguments\": {\"file_path\": \"README.md\", "
                    "\"content\": \"# T\\n```c\\nint f(void) { return '}'; }\\n```\\n\\\"}\\\" {{\"}}\n```";
    assert_int_equal(parse(t, &tc, err, sizeof err), 1);
    assert_string_equal(tc.name, "create_file");
    cJSON *c = cJSON_GetObjectItemCaseSensitive(tc.arguments, "content");
    assert_string_equal(c->valuestring, "# T\n```c\nint f(void) { return '}'; }\n```\n\"}\" {{");
    assert_int_equal(tc.end, strlen(t));
    size_t end = 0;
    assert_true(psy_toolcall_stream_done(t, strlen(t), &end));
    assert_int_equal(end, strlen(t));
    psy_toolcall_clear(&tc);
    /* raw JSON fallback with braces in strings */
    assert_int_equal(parse("{\"name\": \"a\", \"arguments\": {\"s\": \"}{\"}}", &tc, err, sizeof err), 1);
    assert_string_equal(args_json(&tc), "{\"s\":\"}{\"}");
    psy_toolcall_clear(&tc);
}

static void test_stream_done(void **state)
{
    (void)state;
    const char *full = "Sure.\n```tool_call\n{\"name\": \"read_file\", \"arguments\": {\"file_path\": \"a\"}}\n```";
    size_t n = strlen(full), end = 0;
    /* every prefix before the last backtick is "not yet" */
    for (size_t i = 0; i < n; i++) assert_false(psy_toolcall_stream_done(full, i, NULL));
    assert_true(psy_toolcall_stream_done(full, n, &end));
    assert_int_equal(end, n);
    /* text after the fence: end still points just past it */
    char more[256];
    snprintf(more, sizeof more, "%s\nand the result is 42", full);
    assert_true(psy_toolcall_stream_done(more, strlen(more), &end));
    assert_int_equal(end, n);
    /* a fence inside a string does not end the block */
    const char *s = "```tool_call\n{\"name\": \"c\", \"arguments\": {\"content\": \"```";
    assert_false(psy_toolcall_stream_done(s, strlen(s), NULL));
    /* no block, or another kind of block */
    assert_false(psy_toolcall_stream_done("hello ```python\nx\n```", 21, NULL));
    assert_false(psy_toolcall_stream_done(NULL, 0, NULL));
    /* a broken body still ends at a fence on its own line */
    const char *b = "```tool_call\n{\"name\": \"x\",\n```";
    assert_true(psy_toolcall_stream_done(b, strlen(b), &end));
    assert_int_equal(end, strlen(b));
}

/* Random and mutated inputs: no crash, no leak, sane results (ASan checks the rest). */
static void test_random_inputs(void **state)
{
    (void)state;
    static const char *const pieces[] = {
        "```", "tool_call", "{",  "}", "\"", "\\", "name",      ":",       "\"a\"", "arguments",
        "[",   "]",         "\n", " ", "x",  ",",  "TOOL_CALL", "\\u0000", "null",  "{\"name\":\"q\"}"};
    unsigned seed = 12345;
    char text[512];
    for (int round = 0; round < 20000; round++) {
        size_t len = 0;
        int parts = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 24;
        for (int p = 0; p < parts; p++) {
            seed = seed * 1103515245u + 12345u;
            const char *pc = pieces[(seed >> 16) % (sizeof pieces / sizeof pieces[0])];
            size_t l = strlen(pc);
            if (len + l >= sizeof text) break;
            memcpy(text + len, pc, l);
            len += l;
        }
        psy_toolcall tc;
        char err[256];
        int rc = psy_toolcall_parse(text, len, &tc, err, sizeof err);
        assert_true(rc == 0 || rc == 1 || rc == -EBADMSG);
        if (rc == 1) {
            assert_non_null(tc.name);
            assert_true(cJSON_IsObject(tc.arguments));
            assert_true(tc.start <= tc.end && tc.end <= len);
        }
        if (rc == -EBADMSG) assert_true(err[0] != 0);
        psy_toolcall_clear(&tc);
        size_t end;
        if (psy_toolcall_stream_done(text, len, &end)) assert_true(end <= len);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_code_block),
        cmocka_unit_test(test_minimal_and_missing_arguments),
        cmocka_unit_test(test_json_only),
        cmocka_unit_test(test_no_match),
        cmocka_unit_test(test_invalid_json),
        cmocka_unit_test(test_case_insensitive_and_spacing),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_two_blocks_first_wins),
        cmocka_unit_test(test_braces_and_fences_in_strings),
        cmocka_unit_test(test_stream_done),
        cmocka_unit_test(test_random_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
