/* test_common_jsontext.c - common/jsontext.c: the strict scanner accepts
 * exactly RFC 8259 JSON (one value per text), refuses what cJSON would cut or
 * ignore (raw control characters, \u0000, bad UTF-8, unpaired surrogates,
 * trailing data) with the right kind of error, and finds members' exact text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsontext.h"

static int check(const char *s, size_t n)
{
    char err[160] = "";
    int rc = json_text_check(s, n, err, sizeof err);
    if (rc) assert_true(strncmp(err, "byte ", 5) == 0);
    return rc;
}

#define C(lit) check(lit, sizeof lit - 1)

static void test_accepts(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "{}",
        "[]",
        " {\"a\" : [1, -2.5e+3, 0, -0, 1.50, 1E400, true, false, null, \"x\"] } ",
        "\"str\"",
        "42",
        "{\"a\":{\"b\":{\"c\":[[]]}}}",
        "\"esc \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\ud83d\\ude42\"",
        "\"h\xc3\xa9llo \xf0\x9f\x99\x82\"",
        "\t\r\n[1]\r\n",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (check(ok[i], strlen(ok[i]))) fail_msg("refused: %s", ok[i]);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "   ",
        "{",
        "[1,]",
        "[,1]",
        "{\"a\"}",
        "{\"a\":}",
        "{a:1}",
        "{\"a\":1,}",
        "01",
        "1.",
        ".5",
        "-",
        "1e",
        "+1",
        "tru",
        "nul",
        "NaN",
        "Infinity",
        "'x'",
        "\"unterminated",
        "\"bad \\x escape\"",
        "\"\\u12\"",
        "[1 2]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (check(bad[i], strlen(bad[i])) != -EINVAL) fail_msg("accepted or wrong kind: '%s'", bad[i]);
    char err[160];
    assert_int_equal(json_text_check(NULL, 0, err, sizeof err), -EINVAL);
    /* one complete value and more after it */
    assert_int_equal(C("{} {}"), -E2BIG);
    assert_int_equal(C("{}x"), -E2BIG);
    assert_int_equal(C("[1]]"), -E2BIG);
    assert_int_equal(json_text_check("{\"id\":1} {\"id\":2}", 17, err, sizeof err), -E2BIG);
    assert_string_equal(err, "byte 9: trailing data after the JSON value (send one message per line)");
}

static void test_refused_characters(void **state)
{
    (void)state;
    char err[160];
    assert_int_equal(json_text_check("\"a\0b\"", 5, err, sizeof err), -EILSEQ);
    assert_string_equal(err, "byte 2: raw control character 0x00 inside a string (escape it)");
    assert_int_equal(C("\"a\x1f\""), -EILSEQ);
    assert_int_equal(C("\"a\tb\""), -EILSEQ);
    assert_int_equal(C("\"a\nb\""), -EILSEQ);
    assert_int_equal(C("\"a\\u0000b\""), -EILSEQ);
    assert_int_equal(C("\"a\\\\u0000b\""), 0); /* an escaped backslash, then text */
    assert_int_equal(C("\"\\ud800\""), -EILSEQ);
    assert_int_equal(C("\"\\udc00\""), -EILSEQ);
    assert_int_equal(C("\"\\ud800\\u0041\""), -EILSEQ);
    assert_int_equal(C("\"\xff\""), -EILSEQ);
    assert_int_equal(C("\"\xc0\xaf\""), -EILSEQ);
    assert_int_equal(C("\"\xed\xa0\x80\""), -EILSEQ);
    /* a refused character is reported even when the rest is broken too */
    assert_int_equal(C("{\"s\":\"\\u0000"), -EILSEQ);
}

static void test_depth(void **state)
{
    (void)state;
    size_t n = 2 * (JSON_TEXT_MAX_DEPTH + 1);
    char *s = malloc(n);
    memset(s, '[', n / 2);
    memset(s + n / 2, ']', n / 2);
    assert_int_equal(check(s, n), -EINVAL);
    assert_int_equal(check(s + 1, n - 2), 0); /* exactly at the limit */
    free(s);
    /* 200000 levels: refused without recursing that deep */
    n = 400000;
    s = malloc(n);
    memset(s, '[', n / 2);
    memset(s + n / 2, ']', n / 2);
    assert_int_equal(check(s, n), -EINVAL);
    free(s);
}

static void expect_member(const char *text, const char *const *path, size_t depth, const char *want)
{
    size_t at = 0, n = 0;
    int rc = json_text_member(text, strlen(text), path, depth, &at, &n);
    if (!want) {
        assert_int_equal(rc, -ENOENT);
        return;
    }
    assert_int_equal(rc, 0);
    if (n != strlen(want) || memcmp(text + at, want, n)) fail_msg("got '%.*s', want '%s'", (int)n, text + at, want);
}

static void test_member(void **state)
{
    (void)state;
    static const char *const id[] = {"id"};
    static const char *const rid[] = {"params", "requestId"};
    const char *t =
        "{\"jsonrpc\":\"2.0\", \"x\":{\"id\":1}, \"id\" : 12345678901234567890 ,\"params\":{\"requestId\":-0}}";
    expect_member(t, id, 1, "12345678901234567890");
    expect_member(t, rid, 2, "-0");
    expect_member("{\"id\":\"caf\\u00e9\"}", id, 1, "\"caf\\u00e9\"");
    expect_member("{\"id\":1e400}", id, 1, "1e400");
    expect_member("{\"id\":{\"a\":[1,2]}}", id, 1, "{\"a\":[1,2]}");
    expect_member("{\"idx\":1}", id, 1, NULL);
    expect_member("{\"params\":[1]}", rid, 2, NULL);
    expect_member("[{\"id\":1}]", id, 1, NULL);
    expect_member("{}", id, 1, NULL);
    /* the id before a broken part is still found */
    expect_member("{\"id\":7,\"s\":\"\\u0000", id, 1, "7");
    size_t at, n;
    assert_int_equal(json_text_member("{\"a\":\"\\u0000\",\"id\":1}", 21, id, 1, &at, &n), -EILSEQ);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts), cmocka_unit_test(test_syntax_errors), cmocka_unit_test(test_refused_characters),
        cmocka_unit_test(test_depth),   cmocka_unit_test(test_member),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
