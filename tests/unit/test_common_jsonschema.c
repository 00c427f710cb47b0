/* test_common_jsonschema.c - common/jsonschema.c: every keyword of the
 * subset, messages that name the field (nested ones too), null as absent,
 * coercion only when asked and only on the copy, defaults, blank strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema.h"

static const char *SCHEMA = "{\"type\":\"object\",\"required\":[\"s\"],\"properties\":{"
                            "\"s\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":5},"
                            "\"n\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100,\"default\":10},"
                            "\"x\":{\"type\":\"number\"},"
                            "\"b\":{\"type\":\"boolean\"},"
                            "\"t\":{\"type\":[\"number\",\"null\"]},"
                            "\"e\":{\"type\":\"string\",\"enum\":[\"calm\",\"excited\"]},"
                            "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
                            "\"msgs\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"role\"],"
                            "\"properties\":{\"role\":{\"type\":\"string\",\"enum\":[\"user\",\"assistant\"]}}}},"
                            "\"opts\":{\"type\":\"object\",\"properties\":{\"deep\":{\"type\":\"integer\"}}}}}";

/* Validates args_json; returns the error message ("" when it passed). */
static const char *check(const char *args_json)
{
    static char err[512];
    cJSON *schema = cJSON_Parse(SCHEMA), *args = cJSON_Parse(args_json);
    assert_non_null(schema);
    assert_non_null(args);
    err[0] = '\0';
    int rc = jsonschema_validate(schema, args, err, sizeof err);
    assert_true(rc == 0 ? err[0] == '\0' : rc == -EINVAL && err[0]);
    cJSON_Delete(schema);
    cJSON_Delete(args);
    return err;
}

static void test_accepts(void **state)
{
    (void)state;
    assert_string_equal(check("{\"s\":\"hi\"}"), "");
    assert_string_equal(check("{\"s\":\"h\xc3\xa9llo\"}"), ""); /* 5 characters, 6 bytes */
    assert_string_equal(check("{\"s\":\"hi\",\"n\":100,\"x\":-1.5,\"b\":false,\"t\":null,\"e\":\"calm\"}"), "");
    assert_string_equal(check("{\"s\":\"hi\",\"n\":null,\"unknown\":[1]}"), ""); /* null = absent; extras ok */
    assert_string_equal(check("{\"s\":\"hi\",\"tags\":[\"a\",\"b\"],\"msgs\":[{\"role\":\"user\"}],\"opts\":{}}"), "");
}

static void test_messages(void **state)
{
    (void)state;
    static const struct {
        const char *args, *want;
    } cases[] = {
        {"{}", "missing required argument 's'"},
        {"{\"s\":null}", "missing required argument 's'"},
        {"{\"s\":5}", "argument 's' must be a string, got number"},
        {"{\"s\":\"\"}", "argument 's' must not be empty"},
        {"{\"s\":\"toolong\"}", "argument 's' is too long (7 characters, at most 5)"},
        {"{\"s\":\"a\",\"n\":1.5}", "argument 'n' must be an integer, got number"},
        {"{\"s\":\"a\",\"n\":0}", "argument 'n' must be in 1..100, got 0"},
        {"{\"s\":\"a\",\"n\":\"10\"}", "argument 'n' must be an integer, got string"}, /* no coercion here */
        {"{\"s\":\"a\",\"b\":\"true\"}", "argument 'b' must be a boolean, got string"},
        {"{\"s\":\"a\",\"t\":\"warm\"}", "argument 't' must be a number or null, got string"},
        {"{\"s\":\"a\",\"e\":\"sad\"}", "argument 'e' must be one of: calm, excited (got 'sad')"},
        {"{\"s\":\"a\",\"tags\":[\"x\",3]}", "argument 'tags[1]' must be a string, got number"},
        {"{\"s\":\"a\",\"msgs\":[{\"role\":\"user\"},{}]}", "argument 'msgs[1]' is missing required field 'role'"},
        {"{\"s\":\"a\",\"msgs\":[{\"role\":\"bot\"}]}",
         "argument 'msgs[0].role' must be one of: user, assistant (got 'bot')"},
        {"{\"s\":\"a\",\"opts\":{\"deep\":\"x\"}}", "argument 'opts.deep' must be an integer, got string"},
        {"{\"s\":\"a\",\"opts\":[]}", "argument 'opts' must be an object, got array"},
        {"[1,2]", "'arguments' must be an object, got array"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = check(cases[i].args);
        if (strcmp(got, cases[i].want)) fail_msg("%s: got \"%s\", want \"%s\"", cases[i].args, got, cases[i].want);
    }
}

static void test_check_args_copy(void **state)
{
    (void)state;
    cJSON *schema = cJSON_Parse(SCHEMA);
    cJSON *args = cJSON_Parse("{\"s\":\"a\",\"n\":\"42\",\"x\":\"2.5\",\"b\":\"false\",\"e\":null,"
                              "\"opts\":{\"deep\":\"7\"},\"tags\":[\"q\"]}");
    cJSON *out = NULL;
    char err[256] = "";
    assert_int_equal(jsonschema_check_args(schema, args, JSONSCHEMA_COERCE, &out, err, sizeof err), 0);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(out, "n")));
    assert_int_equal(cJSON_GetObjectItem(out, "n")->valueint, 42);
    assert_true(cJSON_GetObjectItem(out, "x")->valuedouble == 2.5);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(out, "b")));
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "opts"), "deep")->valueint, 7);
    assert_null(cJSON_GetObjectItem(out, "e"));                  /* nulls removed */
    assert_true(cJSON_IsString(cJSON_GetObjectItem(args, "n"))); /* the original is untouched */
    assert_null(cJSON_GetObjectItem(out, "t"));
    cJSON_Delete(out);
    /* a string that is not a number stays an error, with coercion too */
    cJSON_ReplaceItemInObject(args, "n", cJSON_CreateString("ten"));
    out = NULL;
    assert_int_equal(jsonschema_check_args(schema, args, JSONSCHEMA_COERCE, &out, err, sizeof err), -EINVAL);
    assert_string_equal(err, "argument 'n' must be an integer, got string");
    assert_null(out);
    /* without coercion the copy is refused */
    cJSON_ReplaceItemInObject(args, "n", cJSON_CreateString("42"));
    assert_int_equal(jsonschema_check_args(schema, args, 0, &out, err, sizeof err), -EINVAL);
    cJSON_Delete(args);
    cJSON_Delete(schema);
}

static void test_defaults_and_blank(void **state)
{
    (void)state;
    cJSON *schema = cJSON_Parse(SCHEMA);
    cJSON *out = NULL;
    char err[256] = "";
    cJSON *args = cJSON_Parse("{\"s\":\"a\"}");
    assert_int_equal(jsonschema_check_args(schema, args, JSONSCHEMA_DEFAULTS, &out, err, sizeof err), 0);
    assert_int_equal(cJSON_GetObjectItem(out, "n")->valueint, 10);
    cJSON_Delete(out);
    assert_int_equal(jsonschema_check_args(schema, args, 0, &out, err, sizeof err), 0);
    assert_null(cJSON_GetObjectItem(out, "n")); /* no defaults unless asked */
    cJSON_Delete(out);
    cJSON_Delete(args);
    args = cJSON_Parse("{\"s\":\" \\n\"}");
    assert_int_equal(jsonschema_check_args(schema, args, 0, &out, err, sizeof err), 0);
    cJSON_Delete(out);
    assert_int_equal(jsonschema_check_args(schema, args, JSONSCHEMA_BLANK_EMPTY, &out, err, sizeof err), -EINVAL);
    assert_string_equal(err, "argument 's' must not be empty");
    cJSON_Delete(args);
    /* NULL args are {} */
    assert_int_equal(jsonschema_check_args(schema, NULL, 0, &out, err, sizeof err), -EINVAL);
    assert_string_equal(err, "missing required argument 's'");
    cJSON *loose = cJSON_Parse("{\"type\":\"object\"}");
    assert_int_equal(jsonschema_check_args(loose, NULL, 0, &out, err, sizeof err), 0);
    assert_true(cJSON_IsObject(out));
    cJSON_Delete(out);
    cJSON_Delete(loose);
    cJSON_Delete(schema);
}

/* JSONSCHEMA_ENUM_HINT: an enum is not checked, the type still is. */
static void test_enum_hint(void **state)
{
    (void)state;
    cJSON *schema = cJSON_Parse(SCHEMA);
    cJSON *args = cJSON_Parse("{\"s\":\"a\",\"e\":\"bored\"}");
    cJSON *out = NULL;
    char err[256] = "";
    assert_int_equal(jsonschema_check_args(schema, args, 0, &out, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "'e'"));
    assert_int_equal(jsonschema_check_args(schema, args, JSONSCHEMA_ENUM_HINT, &out, err, sizeof err), 0);
    assert_string_equal(cJSON_GetObjectItem(out, "e")->valuestring, "bored");
    cJSON_Delete(out);
    cJSON_Delete(args);
    args = cJSON_Parse("{\"s\":\"a\",\"e\":5}");
    assert_int_equal(jsonschema_check_args(schema, args, JSONSCHEMA_ENUM_HINT, &out, err, sizeof err), -EINVAL);
    assert_string_equal(err, "argument 'e' must be a string, got number");
    cJSON_Delete(args);
    cJSON_Delete(schema);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts),         cmocka_unit_test(test_messages),
        cmocka_unit_test(test_check_args_copy), cmocka_unit_test(test_defaults_and_blank),
        cmocka_unit_test(test_enum_hint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
