/* test_common_termsafe.c - the terminal-safe text filter (common/termsafe.c):
 * the attack payloads of issue 8 (OSC 52, ESC[2J, DCS, C1 controls, lone
 * ESC, BEL, backspace, CR tricks) come out as plain text, "\n", "\t" and
 * UTF-8 stay, and a sequence split across feeds is still removed whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "termsafe.h"
#include "utf8.h"

static void expect_clean(const char *in, size_t n, const char *want)
{
    char *out = NULL;
    assert_int_equal(term_safe_dup(in, n, &out), 0);
    assert_non_null(out);
    assert_string_equal(out, want);
    free(out);
}
#define CLEAN(in, want) expect_clean(in, sizeof in - 1, want)

static void test_osc52_clipboard_write_is_removed(void **st)
{
    (void)st;
    CLEAN("a\x1b]52;c;ZWNobyBoaQ==\x07"
          "b",
          "ab");                                   /* BEL-terminated */
    CLEAN("a\x1b]52;c;ZWNobyBoaQ==\x1b\\b", "ab"); /* ST as ESC \ */
    CLEAN("a\xc2\x9d"
          "52;c;eA==\xc2\x9c"
          "b",
          "ab"); /* C1 OSC .. C1 ST */
    CLEAN("\x1b]0;evil title\x07ok", "ok");
    CLEAN("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"); /* hyperlinks */
}

static void test_csi_sequences_are_removed(void **st)
{
    (void)st;
    CLEAN("x\x1b[2Jy", "xy");
    CLEAN("\x1b[31mred\x1b[0m", "red");
    CLEAN("\x1b[?1049h\x1b[H\x1b[3J", "");
    CLEAN("a\xc2\x9b"
          "2Jb",
          "ab");          /* C1 CSI */
    CLEAN("\x1b[6n", ""); /* a status report request */
}

static void test_dcs_and_other_strings_are_removed(void **st)
{
    (void)st;
    CLEAN("\x1bP1$qm\x1b\\z", "z");
    CLEAN("\x1bX sos \x1b\\\x1b^pm\x1b\\\x1b_apc\x1b\\end", "end");
    CLEAN("a\xc2\x90"
          "dcs\xc2\x9c"
          "b",
          "ab");
}

static void test_lone_esc_and_short_sequences(void **st)
{
    (void)st;
    CLEAN("\x1b"
          "cafter",
          "after");          /* ESC c: full reset */
    CLEAN("\x1b(Bx", "x");   /* nF: character set */
    CLEAN("end\x1b", "end"); /* a lone ESC at the end */
    CLEAN("a\x1b\x1b[2Jb", "ab");
    CLEAN("a\x1b\xc3\xa9", "a\xc3\xa9"); /* ESC then a letter that ends nothing */
}

static void test_c0_c1_controls_dropped_newline_tab_kept(void **st)
{
    (void)st;
    CLEAN("ab\bc\rd\a", "abcd");
    CLEAN("secret\rpublic", "secretpublic"); /* a CR cannot overwrite what was printed */
    CLEAN("a\tb\nc\n", "a\tb\nc\n");
    CLEAN("x\x7fy\x0c\x0ez", "xyz");
    CLEAN("a\xc2\x85"
          "b\xc2\x8d"
          "c",
          "abc"); /* NEL, RI */
}

static void test_utf8_kept_invalid_replaced(void **st)
{
    (void)st;
    CLEAN("h\xc3\xa9llo \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
          "h\xc3\xa9llo \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80");
    CLEAN("a\xff"
          "b",
          "a\xef\xbf\xbd"
          "b");
    CLEAN("\x9b"
          "2J",
          "\xef\xbf\xbd"
          "2J");                                                   /* a raw C1 byte is not UTF-8: shown, not obeyed */
    CLEAN("\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd");                 /* overlong */
    CLEAN("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* surrogate */
    CLEAN("\xe6\x97", "\xef\xbf\xbd");                             /* truncated at the end */
    expect_clean("a\0b", 3, "ab");                                 /* NUL is a control too */
}

static void test_unterminated_string_ends_at_a_line_break(void **st)
{
    (void)st;
    CLEAN("\x1b]0;title\nrest", "\nrest");
    CLEAN("\x1b[12;\nx", "\nx"); /* a broken CSI: the line break is kept */
}

/* Streamed tokens: any split of a payload gives the same result. */
static void test_split_feeds_give_the_same_result(void **st)
{
    (void)st;
    static const char in[] = "ok \x1b]52;c;ZWNobw==\x07 \xe6\x97\xa5 \x1b[2J\xc2\x9b"
                             "1m! \x1bP$q\x1b\\end\r\n";
    char *whole = NULL;
    assert_int_equal(term_safe_dup(in, sizeof in - 1, &whole), 0);
    assert_string_equal(whole, "ok  \xe6\x97\xa5 ! end\n");
    for (size_t a = 0; a <= sizeof in - 1; a++)
        for (size_t b = a; b <= sizeof in - 1; b++) {
            term_safe f;
            term_safe_init(&f);
            buf out = BUF_INIT;
            assert_int_equal(term_safe_feed(&f, in, a, &out), 0);
            assert_int_equal(term_safe_feed(&f, in + a, b - a, &out), 0);
            assert_int_equal(term_safe_feed(&f, in + b, sizeof in - 1 - b, &out), 0);
            assert_int_equal(term_safe_finish(&f, &out), 0);
            assert_string_equal(buf_str(&out), whole);
            buf_free(&out);
        }
    free(whole);
}

/* Whatever goes in, what comes out is valid UTF-8 with no control
 * character but '\n' and '\t' (no ESC, no DEL, no C1), and feeding it in
 * two pieces changes nothing. Random text biased towards the bytes that
 * start and end sequences; a fixed seed keeps it deterministic. */
static void test_random_input_gives_plain_text(void **st)
{
    (void)st;
    static const unsigned char pool[] = {0x1b, '[',  ']',  'P', '\\', 0x07, 0xc2, 0x9b, 0x9d, 0x9c, '\n', '\t',
                                         '\r', 0x08, 0x7f, 'a', '2',  ';',  'J',  0xe6, 0x97, 0xa5, 0xff, 0x00};
    unsigned seed = 12345;
    for (int round = 0; round < 3000; round++) {
        char in[64];
        size_t n = (size_t)(round % 64);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            in[i] = (char)((seed >> 16) % 4 ? pool[(seed >> 8) % sizeof pool] : (seed >> 8) & 0xff);
        }
        char *out = NULL;
        assert_int_equal(term_safe_dup(in, n, &out), 0);
        size_t len = strlen(out);
        assert_true(utf8_valid(out, len));
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)out[i];
            assert_false((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f);
            if (c == 0xc2 && i + 1 < len) assert_false((unsigned char)out[i + 1] < 0xa0); /* C1 */
        }
        term_safe f;
        term_safe_init(&f);
        buf b = BUF_INIT;
        size_t cut = n / 2;
        assert_int_equal(term_safe_feed(&f, in, cut, &b), 0);
        assert_int_equal(term_safe_feed(&f, in + cut, n - cut, &b), 0);
        assert_int_equal(term_safe_finish(&f, &b), 0);
        assert_string_equal(buf_str(&b), out);
        buf_free(&b);
        free(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_osc52_clipboard_write_is_removed),
        cmocka_unit_test(test_csi_sequences_are_removed),
        cmocka_unit_test(test_dcs_and_other_strings_are_removed),
        cmocka_unit_test(test_lone_esc_and_short_sequences),
        cmocka_unit_test(test_c0_c1_controls_dropped_newline_tab_kept),
        cmocka_unit_test(test_utf8_kept_invalid_replaced),
        cmocka_unit_test(test_unterminated_string_ends_at_a_line_break),
        cmocka_unit_test(test_split_feeds_give_the_same_result),
        cmocka_unit_test(test_random_input_gives_plain_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
