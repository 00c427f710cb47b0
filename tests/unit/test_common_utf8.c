/* test_common_utf8.c - common/utf8.c: validation (overlong forms, surrogates,
 * truncated sequences, the largest code point), decoding, encoding, counting,
 * cutting by bytes/characters/columns, display width and sanitising; with an
 * exhaustive check of every scalar value and every 1- and 2-byte input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "buf.h"
#include "utf8.h"

#define S(lit) lit, sizeof lit - 1

static void test_valid_basics(void **state)
{
    (void)state;
    assert_true(utf8_valid(S("")));
    assert_true(utf8_valid(S("plain ascii")));
    assert_true(utf8_valid(S("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x99\x82")));
    assert_true(utf8_valid(S("a\0b")));              /* NUL is a valid character */
    assert_true(utf8_valid(S("\xf4\x8f\xbf\xbf")));  /* U+10FFFF, the largest */
    assert_false(utf8_valid(S("\xf4\x90\x80\x80"))); /* U+110000 */
    assert_false(utf8_valid(S("\xf5\x80\x80\x80")));
    assert_false(utf8_valid(S("\xff")));
    assert_false(utf8_valid(S("\xfe")));
}

static void test_overlong(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\xc0\x80",
        "\xc1\xbf",
        "\xc0\xaf", /* 2-byte overlongs ('\0', '/') */
        "\xe0\x80\x80",
        "\xe0\x9f\xbf", /* 3-byte overlongs */
        "\xf0\x80\x80\x80",
        "\xf0\x8f\xbf\xbf", /* 4-byte overlongs */
        "\xf8\x88\x80\x80\x80",
        "\xfc\x84\x80\x80\x80\x80", /* 5/6-byte forms */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_false(utf8_valid(bad[i], strlen(bad[i])));
    assert_true(utf8_valid(S("\xc2\x80")));         /* U+0080, the smallest 2-byte */
    assert_true(utf8_valid(S("\xe0\xa0\x80")));     /* U+0800 */
    assert_true(utf8_valid(S("\xf0\x90\x80\x80"))); /* U+10000 */
}

static void test_surrogates(void **state)
{
    (void)state;
    assert_false(utf8_valid(S("\xed\xa0\x80")));             /* U+D800 */
    assert_false(utf8_valid(S("\xed\xbf\xbf")));             /* U+DFFF */
    assert_false(utf8_valid(S("\xed\xa0\xbd\xed\xb8\x80"))); /* CESU-8 pair */
    assert_true(utf8_valid(S("\xed\x9f\xbf")));              /* U+D7FF */
    assert_true(utf8_valid(S("\xee\x80\x80")));              /* U+E000 */
    assert_false(utf8_is_scalar(0xD800));
    assert_false(utf8_is_scalar(0x110000));
    assert_true(utf8_is_scalar(0x10FFFF));
}

static void test_truncated(void **state)
{
    (void)state;
    uint32_t cp;
    assert_false(utf8_valid(S("\xe2\x82")));
    assert_false(utf8_valid(S("a\xf0\x9f\x99")));
    assert_false(utf8_valid(S("\xc3")));
    assert_int_equal(utf8_decode(S("\xe2\x82"), &cp), -ENODATA);
    assert_int_equal(cp, UTF8_REPLACEMENT);
    assert_int_equal(utf8_decode(S("\xf0\x9f\x99"), &cp), -ENODATA);
    assert_int_equal(utf8_decode("", 0, &cp), -ENODATA);
    /* a start that can never become valid is invalid, not incomplete */
    assert_int_equal(utf8_decode(S("\xe0\x80"), &cp), -EILSEQ);
    assert_int_equal(utf8_decode(S("\xed\xa0"), &cp), -EILSEQ);
    assert_int_equal(utf8_decode(S("\xf4\x90"), &cp), -EILSEQ);
    assert_int_equal(utf8_decode(S("\xe2\x41"), &cp), -EILSEQ); /* continuation missing */
    assert_int_equal(utf8_decode(S("\x80"), &cp), -EILSEQ);     /* lone continuation */
    assert_int_equal(utf8_complete_prefix(S("ab\xe2\x82")), 2);
    assert_int_equal(utf8_complete_prefix(S("ab\xf0\x9f\x99")), 2);
    assert_int_equal(utf8_complete_prefix(S("ab\xe2\x82\xac")), 5);
    assert_int_equal(utf8_complete_prefix(S("ab\xc3")), 2);
    assert_int_equal(utf8_complete_prefix(S("ab\x80")), 3); /* invalid, not incomplete: nothing to wait for */
    assert_int_equal(utf8_complete_prefix("", 0), 0);
}

static void test_decode_encode(void **state)
{
    (void)state;
    uint32_t cp;
    assert_int_equal(utf8_decode(S("A"), &cp), 1);
    assert_int_equal(cp, 'A');
    assert_int_equal(utf8_decode(S("\xc3\xa9z"), &cp), 2);
    assert_int_equal(cp, 0xE9);
    assert_int_equal(utf8_decode(S("\xe6\x97\xa5"), &cp), 3);
    assert_int_equal(cp, 0x65E5);
    assert_int_equal(utf8_decode(S("\xf4\x8f\xbf\xbf"), &cp), 4);
    assert_int_equal(cp, UTF8_MAX_CP);
    char b[UTF8_MAX_SEQ];
    assert_int_equal(utf8_encode(0xD800, b), 3); /* a surrogate becomes U+FFFD */
    assert_memory_equal(b, "\xef\xbf\xbd", 3);
    assert_int_equal(utf8_encode(0x110000, b), 3);
    assert_memory_equal(b, "\xef\xbf\xbd", 3);
}

/* Every scalar value encodes to a valid sequence that decodes back. */
static void test_exhaustive_scalars(void **state)
{
    (void)state;
    char b[UTF8_MAX_SEQ];
    for (uint32_t c = 0; c <= UTF8_MAX_CP; c++) {
        if (!utf8_is_scalar(c)) continue;
        size_t n = utf8_encode(c, b);
        assert_int_equal(n, c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4);
        uint32_t back;
        assert_int_equal(utf8_decode(b, n, &back), (ssize_t)n);
        assert_int_equal(back, c);
        assert_true(utf8_valid(b, n));
        assert_int_equal(utf8_complete_prefix(b, n), n);
        for (size_t k = 1; k < n; k++) assert_int_equal(utf8_decode(b, k, &back), -ENODATA);
    }
}

/* Every 1- and 2-byte input: valid exactly when it is one or two well-formed characters. */
static void test_exhaustive_short(void **state)
{
    (void)state;
    for (unsigned a = 0; a < 256; a++) {
        char s[2] = {(char)a, 0};
        assert_int_equal(utf8_valid(s, 1), a < 0x80);
        for (unsigned b = 0; b < 256; b++) {
            s[1] = (char)b;
            bool two = a >= 0xC2 && a <= 0xDF && (b & 0xC0) == 0x80;
            assert_int_equal(utf8_valid(s, 2), (a < 0x80 && b < 0x80) || two);
        }
    }
}

static void test_count_and_cut(void **state)
{
    (void)state;
    const char *t = "h\xc3\xa9llo \xe2\x82\xac!"; /* héllo €! : 8 characters, 11 bytes */
    size_t n = strlen(t);
    assert_int_equal(utf8_count(t, n), 8);
    assert_int_equal(utf8_count(S("a\x80"
                                  "b")),
                     3);                               /* an invalid byte counts as one */
    assert_int_equal(utf8_truncate_bytes(t, n, 2), 1); /* not inside é */
    assert_int_equal(utf8_truncate_bytes(t, n, 3), 3);
    assert_int_equal(utf8_truncate_bytes(t, n, 8), 7); /* not inside € */
    assert_int_equal(utf8_truncate_bytes(t, n, 9), 7);
    assert_int_equal(utf8_truncate_bytes(t, n, 10), 10);
    assert_int_equal(utf8_truncate_bytes(t, n, 100), n);
    assert_int_equal(utf8_truncate_bytes(t, n, 0), 0);
    assert_int_equal(utf8_truncate_chars(t, n, 2), 3);
    assert_int_equal(utf8_truncate_chars(t, n, 7), 10);
    assert_int_equal(utf8_truncate_chars(t, n, 8), n);
    assert_int_equal(utf8_truncate_chars(t, n, 0), 0);
    /* every cut of a multibyte text, by bytes, is valid */
    const char *m = "\xe6\x97\xa5\xe6\x9c\xac\xf0\x9f\x99\x82\xc3\xa9";
    for (size_t k = 0; k <= strlen(m); k++) assert_true(utf8_valid(m, utf8_truncate_bytes(m, strlen(m), k)));
}

static void test_width(void **state)
{
    (void)state;
    assert_int_equal(utf8_cp_width('a'), 1);
    assert_int_equal(utf8_cp_width(0x00E9), 1);  /* é */
    assert_int_equal(utf8_cp_width(0x0301), 0);  /* combining acute */
    assert_int_equal(utf8_cp_width(0x200B), 0);  /* zero width space */
    assert_int_equal(utf8_cp_width(0xFE0F), 0);  /* variation selector */
    assert_int_equal(utf8_cp_width(0x65E5), 2);  /* 日 */
    assert_int_equal(utf8_cp_width(0xAC00), 2);  /* 가 */
    assert_int_equal(utf8_cp_width(0xFF21), 2);  /* fullwidth A */
    assert_int_equal(utf8_cp_width(0x1F642), 2); /* 🙂 */
    assert_int_equal(utf8_cp_width(0x20000), 2); /* CJK extension B */
    assert_int_equal(utf8_cp_width('\n'), 0);
    assert_int_equal(utf8_cp_width(0x7F), 0);
    assert_int_equal(utf8_cp_width(0x9B), 0);
    assert_int_equal(utf8_width(S("abc")), 3);
    assert_int_equal(utf8_width(S("e\xcc\x81")), 1);                /* e + combining acute */
    assert_int_equal(utf8_width(S("\xe6\x97\xa5\xe6\x9c\xac")), 4); /* 日本 */
    assert_int_equal(utf8_width(S("a\xff"
                                  "b")),
                     3); /* U+FFFD for the bad byte */
    /* cutting by columns never splits a wide character */
    const char *t = "a\xe6\x97\xa5"
                    "b";
    assert_int_equal(utf8_truncate_width(t, strlen(t), 1), 1);
    assert_int_equal(utf8_truncate_width(t, strlen(t), 2), 1);
    assert_int_equal(utf8_truncate_width(t, strlen(t), 3), 4);
    assert_int_equal(utf8_truncate_width(S("e\xcc\x81x"), 1), 3); /* the combining mark stays with e */
}

static void test_sanitize(void **state)
{
    (void)state;
    buf b = BUF_INIT;
    size_t used;
    assert_int_equal(utf8_append_sanitized(&b, S("ok \xff\xc0\x80 \xe2\x82"), false, &used), 0);
    assert_int_equal(used, 7); /* the incomplete € start is kept for later */
    assert_string_equal(buf_str(&b), "ok \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd ");
    buf_reset(&b);
    assert_int_equal(utf8_append_sanitized(&b, S("\xe2\x82"), true, &used), 0);
    assert_int_equal(used, 2);
    assert_string_equal(buf_str(&b), "\xef\xbf\xbd\xef\xbf\xbd");
    assert_true(utf8_valid(b.data, b.len));
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_basics),
        cmocka_unit_test(test_overlong),
        cmocka_unit_test(test_surrogates),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_decode_encode),
        cmocka_unit_test(test_exhaustive_scalars),
        cmocka_unit_test(test_exhaustive_short),
        cmocka_unit_test(test_count_and_cut),
        cmocka_unit_test(test_width),
        cmocka_unit_test(test_sanitize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
