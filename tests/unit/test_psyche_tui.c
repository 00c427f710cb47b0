/* test_psyche_tui.c - the terminal UI's pure logic, without a terminal:
 * UTF-8 decoding and display widths, wrapping by display width (including a
 * randomised check of its invariants), the centred emotion bars, slash
 * command parsing and completion, the Ctrl+C double-press clock with an
 * injected time, and the input line editor with its history and scrolling
 * (psyche/tui_text.c, psyche/tui_input.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../psyche/tui.h"

/* ---------------------------------------------------------------- UTF-8 */

static void test_utf8_decode(void **state)
{
    (void)state;
    wchar_t c;
    assert_int_equal(psy_tui_utf8_next("a", 1, &c), 1);
    assert_int_equal(c, 'a');
    assert_int_equal(psy_tui_utf8_next("\xc3\xa9", 2, &c), 2); /* é */
    assert_int_equal(c, 0xE9);
    assert_int_equal(psy_tui_utf8_next("\xe6\x97\xa5", 3, &c), 3); /* 日 */
    assert_int_equal(c, 0x65E5);
    assert_int_equal(psy_tui_utf8_next("\xf0\x9f\x99\x82", 4, &c), 4); /* 🙂 */
    assert_int_equal(c, 0x1F642);
    /* invalid: one byte, U+FFFD */
    const char *bad[] = {"\x80", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff", "\xe6\x97"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(psy_tui_utf8_next(bad[i], strlen(bad[i]), &c), 1);
        assert_int_equal(c, 0xFFFD);
    }
    /* a sequence cut short by n */
    assert_int_equal(psy_tui_utf8_next("\xe6\x97\xa5", 2, &c), 1);
    assert_int_equal(c, 0xFFFD);
}

static void test_utf8_roundtrip(void **state)
{
    (void)state;
    wchar_t cps[] = {'x', 0xE9, 0x7FF, 0x800, 0x65E5, 0xFFFF, 0x10000, 0x1F642, 0x10FFFF};
    for (size_t i = 0; i < sizeof cps / sizeof cps[0]; i++) {
        char b[4];
        size_t n = psy_tui_utf8_put(cps[i], b);
        wchar_t c;
        assert_int_equal(psy_tui_utf8_next(b, n, &c), n);
        assert_int_equal(c, cps[i]);
    }
    char b[4];
    assert_int_equal(psy_tui_utf8_put(0xD800, b), 3); /* a surrogate becomes U+FFFD */
    assert_memory_equal(b, "\xef\xbf\xbd", 3);
}

static void test_width(void **state)
{
    (void)state;
    assert_int_equal(psy_tui_width("abc", 3), 3);
    assert_int_equal(psy_tui_width("\xe6\x97\xa5\xe6\x9c\xac", 6), 4); /* 日本 */
    assert_int_equal(psy_tui_width("e\xcc\x81", 3), 1);                /* e + combining acute */
    assert_int_equal(psy_tui_width("\xf0\x9f\x99\x82", 4), 2);         /* 🙂 */
    assert_int_equal(psy_tui_width("\x01", 1), 1);                     /* drawn as U+FFFD */
    int used;
    const char *s = "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"; /* 日本語: 6 cells */
    assert_int_equal(psy_tui_fit(s, 9, 5, &used), 6);       /* 日本 */
    assert_int_equal(used, 4);
    assert_int_equal(psy_tui_fit(s, 9, 1, &used), 0);
    assert_int_equal(used, 0);
    assert_int_equal(psy_tui_fit("abc", 3, 10, &used), 3);
    assert_int_equal(used, 3);
}

static void test_sanitize(void **state)
{
    (void)state;
    const char in[] = "\x1b[31mred\t|\r\nx\xff\xc2\x85";
    char *s = psy_tui_sanitize(in, sizeof in - 1);
    assert_string_equal(s, "red    |\nx\xef\xbf\xbd"); /* the sequence goes whole, NEL too */
    free(s);
    const char osc[] = "a\x1b]52;c;ZXZpbA==\x07"
                       "b\x1b[2J\bc\xc2\x9b"
                       "1md";
    s = psy_tui_sanitize(osc, sizeof osc - 1);
    assert_string_equal(s, "abcd");
    free(s);
    s = psy_tui_sanitize("caf\xc3\xa9 \xe6\x97\xa5", 9);
    assert_string_equal(s, "caf\xc3\xa9 \xe6\x97\xa5");
    free(s);
    s = psy_tui_sanitize("", 0);
    assert_string_equal(s, "");
    free(s);
}

/* ------------------------------------------------------------- wrapping */

/* The lines of s wrapped at width, joined with '|'. */
static const char *wrapped(const char *s, int width)
{
    static char out[1024];
    psy_tui_line lines[64];
    size_t n = psy_tui_wrap(s, strlen(s), width, lines, 64);
    assert_true(n <= 64);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i) out[o++] = '|';
        memcpy(out + o, s + lines[i].off, lines[i].len);
        o += lines[i].len;
        assert_int_equal(lines[i].width, psy_tui_width(s + lines[i].off, lines[i].len));
    }
    out[o] = 0;
    return out;
}

static void test_wrap_words(void **state)
{
    (void)state;
    assert_string_equal(wrapped("hello world", 5), "hello|world");
    assert_string_equal(wrapped("hello world", 11), "hello world");
    assert_string_equal(wrapped("hello world", 8), "hello|world");
    assert_string_equal(wrapped("the quick brown fox", 10), "the quick|brown fox");
    assert_string_equal(wrapped("aa   bb", 4), "aa|bb");           /* the spaces at a break are dropped */
    assert_string_equal(wrapped("aaaa bbbb", 4), "aaaa|bbbb");     /* a space that overflows breaks */
    assert_string_equal(wrapped("abcdefghij", 4), "abcd|efgh|ij"); /* a long word is split */
    assert_string_equal(wrapped("ab abcdefghij", 4), "ab|abcd|efgh|ij");
}

static void test_wrap_lines(void **state)
{
    (void)state;
    assert_string_equal(wrapped("a\nb", 10), "a|b");
    assert_string_equal(wrapped("a\n", 10), "a|");
    assert_string_equal(wrapped("a\n\nb", 10), "a||b");
    assert_string_equal(wrapped("", 10), "");
    assert_int_equal(psy_tui_wrap("", 0, 10, NULL, 0), 1);
    assert_string_equal(wrapped("  indented", 20), "  indented"); /* leading spaces stay */
    assert_string_equal(wrapped("abcd    \nx", 4), "abcd|x");     /* no blank line from trailing spaces */
}

static void test_wrap_wide(void **state)
{
    (void)state;
    const char *jp = "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"; /* 日本語 */
    assert_string_equal(wrapped(jp, 5), "\xe6\x97\xa5\xe6\x9c\xac|\xe8\xaa\x9e");
    assert_string_equal(wrapped(jp, 4), "\xe6\x97\xa5\xe6\x9c\xac|\xe8\xaa\x9e");
    assert_string_equal(wrapped(jp, 3), "\xe6\x97\xa5|\xe6\x9c\xac|\xe8\xaa\x9e");
    /* narrower than one character: each alone, never an endless loop */
    assert_string_equal(wrapped(jp, 1), "\xe6\x97\xa5|\xe6\x9c\xac|\xe8\xaa\x9e");
    /* a combining mark stays with its letter */
    assert_string_equal(wrapped("ae\xcc\x81z", 2), "ae\xcc\x81|z");
    /* the count is returned even when the array is too small */
    psy_tui_line one[1];
    assert_int_equal(psy_tui_wrap("a b c d", 7, 1, one, 1), 4);
    assert_int_equal(one[0].off, 0);
    assert_int_equal(one[0].len, 1);
}

/* Random text: every line fits (unless it is one character wider than the
 * line), lines are in order and cover every non-space character once. */
static void test_wrap_random(void **state)
{
    (void)state;
    static const char *const pieces[] = {
        "a", "b", " ", " ", "\n", "\xe6\x97\xa5", "\xcc\x81", "\xf0\x9f\x99\x82", "xyz", "\xff", "\xc3\xa9"};
    srand(1234);
    for (int round = 0; round < 3000; round++) {
        char s[256];
        size_t n = 0;
        int parts = rand() % 40;
        for (int i = 0; i < parts; i++) {
            const char *p = pieces[rand() % (sizeof pieces / sizeof pieces[0])];
            size_t k = strlen(p);
            if (n + k >= sizeof s) break;
            memcpy(s + n, p, k);
            n += k;
        }
        s[n] = 0;
        int width = 1 + rand() % 12;
        size_t count = psy_tui_wrap(s, n, width, NULL, 0);
        assert_true(count >= 1);
        psy_tui_line *lines = malloc(count * sizeof *lines);
        assert_int_equal(psy_tui_wrap(s, n, width, lines, count), count);
        size_t prev_end = 0, nonspace = 0;
        for (size_t i = 0; i < count; i++) {
            assert_true(lines[i].off >= prev_end);
            assert_true(lines[i].off + lines[i].len <= n);
            int w = psy_tui_width(s + lines[i].off, lines[i].len);
            assert_int_equal(w, lines[i].width);
            if (w > width) assert_true(w <= 2 && psy_tui_fit(s + lines[i].off, lines[i].len, 2, NULL) == lines[i].len);
            for (size_t j = 0; j < lines[i].len; j++) {
                char ch = s[lines[i].off + j];
                assert_true(ch != '\n');
                nonspace += ch != ' ';
            }
            prev_end = lines[i].off + lines[i].len;
        }
        size_t expect = 0;
        for (size_t j = 0; j < n; j++) expect += s[j] != ' ' && s[j] != '\n';
        assert_int_equal(nonspace, expect);
        free(lines);
    }
}

/* ----------------------------------------------------------------- bars */

static void test_bar(void **state)
{
    (void)state;
    char b[64];
    assert_int_equal(psy_tui_bar(0, 11, b), 0);
    assert_string_equal(b, ".....|.....");
    assert_int_equal(psy_tui_bar(1, 11, b), 5);
    assert_string_equal(b, ".....|+++++");
    assert_int_equal(psy_tui_bar(-1, 11, b), -5);
    assert_string_equal(b, "-----|.....");
    assert_int_equal(psy_tui_bar(-0.5, 11, b), -3); /* 2.5 cells round to 3 */
    assert_string_equal(b, "..---|.....");
    assert_int_equal(psy_tui_bar(-0.3, 11, b), -2); /* the negative side shows: the original's empty arousal bar */
    assert_string_equal(b, "...--|.....");
    assert_int_equal(psy_tui_bar(0.04, 11, b), 0);
    assert_int_equal(psy_tui_bar(7, 11, b), 5); /* clamped */
    assert_int_equal(psy_tui_bar(-7, 11, b), -5);
    assert_int_equal(psy_tui_bar(0.0 / 0.0, 11, b), 0); /* NaN */
    assert_string_equal(b, ".....|.....");
    assert_int_equal(psy_tui_bar(1, 10, b), 4); /* even width: the extra cell is on the right */
    assert_string_equal(b, "....|++++.");
    assert_int_equal(psy_tui_bar(-1, 1, b), -1); /* at least 3 cells */
    assert_string_equal(b, "-|.");
}

/* ------------------------------------------------------------- commands */

static void test_commands(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        psy_tui_cmd_kind kind;
    } cases[] = {
        {"/help", PSY_CMD_HELP},     {"/h", PSY_CMD_HELP},
        {"/?", PSY_CMD_HELP},        {"/status", PSY_CMD_STATUS},
        {"/s", PSY_CMD_STATUS},      {"/clear", PSY_CMD_CLEAR},
        {"/c", PSY_CMD_CLEAR},       {"/emotion", PSY_CMD_EMOTION},
        {"/e", PSY_CMD_EMOTION},     {"/thoughts", PSY_CMD_THOUGHTS},
        {"/t", PSY_CMD_THOUGHTS},    {"/thinking", PSY_CMD_THINKING},
        {"/r", PSY_CMD_THINKING},    {"/memory x", PSY_CMD_MEMORY},
        {"/m x", PSY_CMD_MEMORY},    {"/quit", PSY_CMD_QUIT},
        {"/q", PSY_CMD_QUIT},        {"/exit", PSY_CMD_QUIT},
        {"  /s", PSY_CMD_STATUS},    {"/STATUS", PSY_CMD_STATUS},
        {"/foo", PSY_CMD_UNKNOWN},   {"/stat", PSY_CMD_UNKNOWN},
        {"/", PSY_CMD_UNKNOWN},      {"hello", PSY_CMD_NONE},
        {"a /quit", PSY_CMD_NONE},   {"/cls", PSY_CMD_CLS},
        {"/reason", PSY_CMD_REASON}, {"/thoughts toggle", PSY_CMD_THOUGHTS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        psy_tui_cmd c;
        if (psy_tui_parse_command(cases[i].line, &c) != cases[i].kind) fail_msg("'%s'", cases[i].line);
        assert_int_equal(c.kind, cases[i].kind);
    }
}

static void test_command_args(void **state)
{
    (void)state;
    psy_tui_cmd c;
    psy_tui_parse_command("/thoughts on", &c);
    assert_int_equal(c.onoff, 1);
    assert_false(c.bad_arg);
    psy_tui_parse_command("/t OFF ", &c);
    assert_int_equal(c.onoff, 0);
    psy_tui_parse_command("/t", &c);
    assert_int_equal(c.onoff, -1);
    psy_tui_parse_command("/t maybe", &c);
    assert_true(c.bad_arg);
    psy_tui_parse_command("/thoughts toggle", &c);
    assert_false(c.bad_arg);
    assert_int_equal(c.onoff, -1);
    psy_tui_parse_command("/reason off", &c);
    assert_int_equal(c.kind, PSY_CMD_REASON);
    assert_int_equal(c.onoff, 0);
    psy_tui_parse_command("/reason sometimes", &c);
    assert_true(c.bad_arg);
    psy_tui_parse_command("/memory", &c);
    assert_true(c.bad_arg);
    psy_tui_parse_command("/memory   ", &c);
    assert_true(c.bad_arg);

    psy_tui_parse_command("//etc is a path", &c);
    assert_int_equal(c.kind, PSY_CMD_NONE);
    assert_string_equal(c.text, "/etc is a path");
    psy_tui_parse_command("  hi there", &c);
    assert_string_equal(c.text, "hi there");

    /* the canonical lines the agent gets */
    static const struct {
        const char *line, *agent;
    } fw[] = {
        {"/s", "/status"},
        {"/e", "/emotion"},
        {"/c", "/clear"},
        {"/r", "/thinking"},
        {"/r on", "/thinking on"},
        {"/thinking off", "/thinking off"},
        {"/m cats  ", "/memory cats"},
        {"/memory the red fox", "/memory the red fox"},
    };
    for (size_t i = 0; i < sizeof fw / sizeof fw[0]; i++) {
        psy_tui_parse_command(fw[i].line, &c);
        char *s = psy_tui_agent_line(&c);
        assert_non_null(s);
        assert_string_equal(s, fw[i].agent);
        free(s);
    }
    const char *local[] = {"/help", "/t", "/quit", "/foo", "hello", "/cls", "/reason"};
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++) {
        psy_tui_parse_command(local[i], &c);
        assert_null(psy_tui_agent_line(&c));
    }
}

static void test_complete(void **state)
{
    (void)state;
    assert_string_equal(psy_tui_complete("/he"), "/help");
    assert_string_equal(psy_tui_complete("/thi"), "/thinking");
    assert_string_equal(psy_tui_complete("/tho"), "/thoughts");
    assert_string_equal(psy_tui_complete("/quit"), "/quit");
    assert_string_equal(psy_tui_complete("/m"), "/memory");
    assert_null(psy_tui_complete("/th")); /* /thoughts or /thinking */
    assert_null(psy_tui_complete("/"));
    assert_null(psy_tui_complete("/zzz"));
    assert_null(psy_tui_complete("hello"));
    assert_null(psy_tui_complete(""));
    assert_null(psy_tui_complete("/cl")); /* /clear or /cls */
}

static void test_complete_ambiguous(void **state)
{
    (void)state;
    const char *names[8];
    assert_int_equal(psy_tui_complete_all("/th", names, 8), 2);
    assert_string_equal(names[0], "/thinking");
    assert_string_equal(names[1], "/thoughts");
    assert_int_equal(psy_tui_common_prefix(names, 2), 3);      /* "/th": nothing more to add */
    assert_int_equal(psy_tui_complete_all("/c", names, 8), 2); /* /clear /cls */
    assert_int_equal(psy_tui_common_prefix(names, 2), 3);      /* "/cl" */
    assert_int_equal(psy_tui_complete_all("/cls", names, 8), 1);
    assert_int_equal(psy_tui_complete_all("/", names, 2), 11); /* all, the first two stored */
    assert_int_equal(psy_tui_complete_all("/r", names, 8), 1);
    assert_string_equal(names[0], "/reason");
    assert_int_equal(psy_tui_complete_all("x", names, 8), 0);
    assert_int_equal(psy_tui_common_prefix(names, 0), 0);
}

static void test_test_model(void **state)
{
    (void)state;
    assert_true(psy_tui_is_test_model("tiny-chat.gguf"));
    assert_true(psy_tui_is_test_model("/x/build/models/tiny-chat.gguf"));
    assert_false(psy_tui_is_test_model("qwen2.5-3b-instruct-q4_k_m.gguf"));
    assert_false(psy_tui_is_test_model(""));
}

/* ---------------------------------------------------------------- Ctrl+C */

static void test_ctrlc(void **state)
{
    (void)state;
    psy_tui_ctrlc c;
    psy_tui_ctrlc_init(&c);
    assert_false(psy_tui_ctrlc_pending(&c, 0));
    assert_int_equal(psy_tui_ctrlc_press(&c, 0.0, false), PSY_CTRLC_HINT); /* a clock that starts at 0 */
    assert_true(psy_tui_ctrlc_pending(&c, 1.0));
    assert_int_equal(psy_tui_ctrlc_press(&c, 1.0, false), PSY_CTRLC_QUIT);
    assert_false(psy_tui_ctrlc_pending(&c, 1.1));

    assert_int_equal(psy_tui_ctrlc_press(&c, 10.0, false), PSY_CTRLC_HINT);
    assert_false(psy_tui_ctrlc_pending(&c, 11.6));
    assert_int_equal(psy_tui_ctrlc_press(&c, 11.6, false), PSY_CTRLC_HINT); /* too late: a new first press */
    assert_int_equal(psy_tui_ctrlc_press(&c, 13.1, false), PSY_CTRLC_QUIT); /* exactly 1.5 s */

    /* while generating, the first press cancels; the second still quits */
    assert_int_equal(psy_tui_ctrlc_press(&c, 20.0, true), PSY_CTRLC_CANCEL);
    assert_int_equal(psy_tui_ctrlc_press(&c, 20.4, true), PSY_CTRLC_QUIT);
    assert_int_equal(psy_tui_ctrlc_press(&c, 30.0, true), PSY_CTRLC_CANCEL);
    assert_int_equal(psy_tui_ctrlc_press(&c, 40.0, true), PSY_CTRLC_CANCEL);
    /* a clock that went backwards does not count as a double press */
    assert_int_equal(psy_tui_ctrlc_press(&c, 39.0, false), PSY_CTRLC_HINT);
}

/* ----------------------------------------------------------- input line */

static void type(psy_tui_input *in, const char *s) { psy_tui_input_insert_utf8(in, s); }

static void expect_line(const psy_tui_input *in, const char *want)
{
    char *s = psy_tui_input_utf8(in);
    assert_string_equal(s, want);
    free(s);
}

static void test_input_editing(void **state)
{
    (void)state;
    psy_tui_input in;
    psy_tui_input_init(&in);
    type(&in, "h\xc3\xa9llo");
    expect_line(&in, "h\xc3\xa9llo");
    assert_int_equal(in.cur, 5);
    psy_tui_input_left(&in);
    psy_tui_input_left(&in);
    psy_tui_input_insert(&in, 'X');
    expect_line(&in, "h\xc3\xa9lXlo");
    assert_true(psy_tui_input_home(&in));
    assert_false(psy_tui_input_home(&in));
    assert_false(psy_tui_input_left(&in));
    assert_false(psy_tui_input_backspace(&in));
    assert_true(psy_tui_input_delete(&in));
    expect_line(&in, "\xc3\xa9lXlo");
    psy_tui_input_end(&in);
    assert_false(psy_tui_input_right(&in));
    assert_false(psy_tui_input_delete(&in));
    assert_true(psy_tui_input_backspace(&in));
    expect_line(&in, "\xc3\xa9lXl");
    /* control characters are refused; line breaks go in on purpose (Ctrl+J, pastes), tabs become spaces */
    assert_false(psy_tui_input_insert(&in, 3));
    assert_false(psy_tui_input_insert(&in, 0x7F));
    assert_false(psy_tui_input_insert(&in, 0x85));
    assert_false(psy_tui_input_insert(&in, '\n'));
    type(&in, "\na\tb\x01");
    expect_line(&in, "\xc3\xa9lXl\na b");
    psy_tui_input_home(&in);
    assert_true(psy_tui_input_newline(&in));
    expect_line(&in, "\n\xc3\xa9lXl\na b");
    psy_tui_input_free(&in);
}

static void test_input_kills(void **state)
{
    (void)state;
    psy_tui_input in;
    psy_tui_input_init(&in);
    type(&in, "foo bar  baz");
    psy_tui_input_kill_word(&in);
    expect_line(&in, "foo bar  ");
    psy_tui_input_kill_word(&in); /* spaces, then the word */
    expect_line(&in, "foo ");
    psy_tui_input_kill_word(&in);
    expect_line(&in, "");
    assert_false(psy_tui_input_kill_word(&in));

    type(&in, "one two three");
    psy_tui_input_word_left(&in);
    assert_int_equal(in.cur, 8);
    psy_tui_input_word_left(&in);
    assert_int_equal(in.cur, 4);
    psy_tui_input_kill_end(&in); /* Ctrl+K */
    expect_line(&in, "one ");
    assert_int_equal(in.cur, 4);
    type(&in, "two three");
    psy_tui_input_word_left(&in);
    psy_tui_input_kill_start(&in); /* Ctrl+U */
    expect_line(&in, "three");
    assert_int_equal(in.cur, 0);
    psy_tui_input_word_right(&in);
    assert_int_equal(in.cur, 5);
    assert_false(psy_tui_input_word_right(&in));
    psy_tui_input_free(&in);
}

static void test_input_history(void **state)
{
    (void)state;
    psy_tui_input in;
    psy_tui_input_init(&in);
    assert_false(psy_tui_input_hist_prev(&in));
    const char *lines[] = {"one", "two", "two", "   ", ""};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        type(&in, lines[i]);
        char *s = psy_tui_input_take(&in);
        assert_string_equal(s, lines[i]);
        free(s);
        expect_line(&in, "");
    }
    assert_int_equal(in.nhist, 2); /* no repeats, no blank lines */
    type(&in, "dra");
    assert_true(psy_tui_input_hist_prev(&in));
    expect_line(&in, "two");
    assert_true(psy_tui_input_hist_prev(&in));
    expect_line(&in, "one");
    assert_false(psy_tui_input_hist_prev(&in));
    expect_line(&in, "one");
    assert_true(psy_tui_input_hist_next(&in));
    expect_line(&in, "two");
    psy_tui_input_insert(&in, '!'); /* editing a recalled line does not change the history */
    assert_true(psy_tui_input_hist_next(&in));
    expect_line(&in, "dra"); /* the draft is back */
    assert_false(psy_tui_input_hist_next(&in));
    assert_true(psy_tui_input_hist_prev(&in));
    expect_line(&in, "two");
    char *s = psy_tui_input_take(&in); /* sending a recalled line */
    free(s);
    assert_int_equal(in.nhist, 2);
    assert_int_equal(in.hpos, 2);

    for (int i = 0; i < PSY_TUI_HISTORY_MAX + 100; i++) {
        char b[32];
        snprintf(b, sizeof b, "line %d", i);
        psy_tui_input_hist_add(&in, b);
    }
    assert_int_equal(in.nhist, PSY_TUI_HISTORY_MAX);
    assert_string_equal(in.hist[0], "line 100");
    assert_string_equal(in.hist[PSY_TUI_HISTORY_MAX - 1], "line 599");
    psy_tui_input_clear(&in);
    type(&in, "two\nlines");
    free(psy_tui_input_take(&in));
    psy_tui_input_hist_prev(&in);
    expect_line(&in, "two\nlines"); /* a multi-line message comes back whole */
    psy_tui_input_free(&in);
}

static void test_input_scroll(void **state)
{
    (void)state;
    psy_tui_input in;
    psy_tui_input_init(&in);
    int col;
    assert_int_equal(psy_tui_input_scroll(&in, 10, 0, &col), 0);
    assert_int_equal(col, 0);
    type(&in, "abcdefghijklmnopqrst"); /* 20 characters, cursor at the end */
    size_t first = psy_tui_input_scroll(&in, 10, 0, &col);
    assert_int_equal(first, 11); /* 9 characters and the cursor cell */
    assert_int_equal(col, 9);
    psy_tui_input_left(&in);
    psy_tui_input_left(&in);
    first = psy_tui_input_scroll(&in, 10, first, &col); /* moving inside the field does not scroll */
    assert_int_equal(first, 11);
    assert_int_equal(col, 7);
    psy_tui_input_home(&in);
    first = psy_tui_input_scroll(&in, 10, first, &col);
    assert_int_equal(first, 0);
    assert_int_equal(col, 0);
    psy_tui_input_end(&in);
    first = psy_tui_input_scroll(&in, 10, first, &col);
    for (int i = 0; i < 15; i++) psy_tui_input_backspace(&in); /* the view comes back when the text fits */
    first = psy_tui_input_scroll(&in, 10, first, &col);
    assert_int_equal(first, 0);
    assert_int_equal(col, 5);

    /* wide characters: the cursor never lands inside one */
    psy_tui_input_clear(&in);
    type(&in, "\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5"); /* 6 x 日 = 12 cells */
    first = psy_tui_input_scroll(&in, 7, 0, &col);
    assert_int_equal(first, 3);
    assert_int_equal(col, 6);
    psy_tui_input_free(&in);
}

int main(void)
{
    if (!setlocale(LC_CTYPE, "C.UTF-8") && !setlocale(LC_CTYPE, "en_US.UTF-8")) {
        fprintf(stderr, "no UTF-8 locale: wide-character widths cannot be tested\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_decode),
        cmocka_unit_test(test_utf8_roundtrip),
        cmocka_unit_test(test_width),
        cmocka_unit_test(test_sanitize),
        cmocka_unit_test(test_wrap_words),
        cmocka_unit_test(test_wrap_lines),
        cmocka_unit_test(test_wrap_wide),
        cmocka_unit_test(test_wrap_random),
        cmocka_unit_test(test_bar),
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_command_args),
        cmocka_unit_test(test_complete),
        cmocka_unit_test(test_complete_ambiguous),
        cmocka_unit_test(test_test_model),
        cmocka_unit_test(test_ctrlc),
        cmocka_unit_test(test_input_editing),
        cmocka_unit_test(test_input_kills),
        cmocka_unit_test(test_input_history),
        cmocka_unit_test(test_input_scroll),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
