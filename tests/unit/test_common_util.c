/* test_common_util.c - common/util.c: ISO 8601 timestamps keep their
 * milliseconds through a write/parse round trip (every millisecond of a
 * second, before and after 1970), and the parser's accepted forms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

static void test_iso8601_keeps_milliseconds(void **state)
{
    (void)state;
    char s[40], again[40];
    const double bases[] = {1764866459.0, 0.0, -86400.0 * 365, 4102444800.0};
    for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++)
        for (int ms = 0; ms < 1000; ms++) {
            double t = bases[b] + ms / 1000.0;
            iso8601(t, s, sizeof s);
            char want[16];
            snprintf(want, sizeof want, ".%03d+", ms);
            if (!strstr(s, want)) fail_msg("%.3f -> %s (want %s)", t, s, want);
            double back;
            assert_int_equal(iso8601_parse(s, &back), 0);
            assert_true(fabs(back - t) < 0.0005);
            iso8601(back, again, sizeof again);
            assert_string_equal(again, s); /* stable: export, import, export gives the same text */
        }
    iso8601(1764866459.9996, s, sizeof s); /* rounds up into the next second */
    assert_string_equal(s, "2025-12-04T16:41:00.000+00:00");
    iso8601(-0.001, s, sizeof s);
    assert_string_equal(s, "1969-12-31T23:59:59.999+00:00");
}

static void test_iso8601_parse_forms(void **state)
{
    (void)state;
    double t;
    assert_int_equal(iso8601_parse("2025-12-04T16:40:59.123Z", &t), 0);
    assert_true(fabs(t - 1764866459.123) < 1e-6);
    assert_int_equal(iso8601_parse("2025-12-04T18:40:59.123+02:00", &t), 0);
    assert_true(fabs(t - 1764866459.123) < 1e-6);
    assert_int_equal(iso8601_parse("2025-12-04T16:40:59", &t), 0);
    assert_true(t == 1764866459.0);
    assert_int_equal(iso8601_parse("yesterday", &t), -EINVAL);
    assert_int_equal(iso8601_parse("2025-12-04T16:40:59.1+0", &t), -EINVAL);
    assert_int_equal(iso8601_parse("2025-12-04T16:40:59Zjunk", &t), -EINVAL);
    assert_int_equal(iso8601_parse("2025-12-04T15:10:59-01:30", &t), 0);
    assert_true(t == 1764866459.0);
    assert_int_equal(iso8601_parse("2025-12-04T16:xx:59Z", &t), -EINVAL);
    assert_int_equal(iso8601_parse("2025-12-04T16:40:Z", &t), -EINVAL);
}

static void test_parse_numbers_whole_string(void **state)
{
    (void)state;
    long long v = 7;
    int i = 7;
    double d = 7;
    assert_int_equal(parse_ll("-42", -100, 100, &v), 0);
    assert_true(v == -42);
    assert_int_equal(parse_ll("42x", -100, 100, &v), -EINVAL);
    assert_int_equal(parse_ll("", -100, 100, &v), -EINVAL);
    assert_int_equal(parse_ll("101", -100, 100, &v), -ERANGE);
    assert_int_equal(parse_ll("99999999999999999999", 0, 1, &v), -ERANGE);
    assert_true(v == -42); /* untouched on error */
    assert_int_equal(parse_int("12", 1, 12, &i), 0);
    assert_int_equal(i, 12);
    assert_int_equal(parse_int("13", 1, 12, &i), -ERANGE);
    assert_int_equal(parse_double("0.25", &d), 0);
    assert_true(d == 0.25);
    assert_int_equal(parse_double("0.25s", &d), -EINVAL);
    assert_int_equal(parse_double(NULL, &d), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iso8601_keeps_milliseconds),
        cmocka_unit_test(test_iso8601_parse_forms),
        cmocka_unit_test(test_parse_numbers_whole_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
