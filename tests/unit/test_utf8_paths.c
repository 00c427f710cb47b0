/* test_utf8_paths.c - issue 9 "no memory is ever lost": a seeded property
 * test that feeds random multibyte text (1- to 4-byte characters, and where
 * the input can hold them invalid bytes and NULs) at many lengths and limits
 * through every path that cuts text and is reachable from a unit test: the
 * common cutters (utf8_truncate_*, utf8_append_cut, utf8_append_sanitized),
 * the log line cut, term_safe, psyche's summary/exchange/compaction cut
 * (psy_text_append_cut), its memory previews (psy_prompt_memory_line) and
 * tool-result truncation (psy_tool_result_text), and mnemosyne's default
 * summary (mem__prefix_chars). Each output must be valid UTF-8 (when the
 * input was), within its limit, a prefix of the input on a character
 * boundary, and show its cut where the contract says so. The server's
 * exchange memory and transcript cut through utf8_append_cut. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../mnemosyne/store.h"
#include "../../mnemosyne/store_int.h"
#include "../../psyche/context.h"
#include "../../psyche/memflow.h"
#include "../../psyche/prompt.h"
#include "../../psyche/toolglue.h"
#include "../../psyche/tui.h"
#include "buf.h"
#include "config.h"
#include "log.h"
#include "termsafe.h"
#include "utf8.h"

#include "mnemosyne_fixture.h"

#define ROUNDS 400      /* random strings per property */
#define MAX_CHARS 700   /* characters per random string */
#define SEED 0x9e3779b9 /* fixed: a failure is reproducible */

/* ------------------------------------------------------------ generator */

static uint32_t rng = SEED;

static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

/* One random scalar value of 1..4 bytes in UTF-8 (no surrogates). */
static uint32_t random_cp(void)
{
    switch (next() % 4) {
    case 0: return 0x20 + next() % 0x5f;
    case 1: return 0x80 + next() % (0x800 - 0x80);
    case 2: {
        uint32_t cp = 0x800 + next() % (0x10000 - 0x800);
        return cp >= 0xD800 && cp <= 0xDFFF ? 0x4E2D : cp; /* 中 */
    }
    default: return 0x10000 + next() % (0x110000 - 0x10000);
    }
}

/* A random string of up to max_chars characters in out (NUL-terminated; the
 * byte length in *n). With dirty, some invalid bytes (stray continuation,
 * lone lead, overlong, surrogate, cut sequence) and NULs go in too. */
static void random_text(buf *out, size_t max_chars, bool dirty, size_t *n)
{
    static const char *const bad[] = {"\x80", "\xC3", "\xC0\xAF", "\xED\xA0\x80", "\xF0\x9F\x98", "\xFF"};
    buf_reset(out);
    size_t chars = max_chars ? next() % (max_chars + 1) : 0;
    for (size_t i = 0; i < chars; i++) {
        uint32_t r = next() % 40;
        if (dirty && r == 0) {
            buf_puts(out, bad[next() % (sizeof bad / sizeof bad[0])]);
        } else if (dirty && r == 1) {
            buf_putc(out, '\0');
        } else {
            char e[UTF8_MAX_SEQ];
            buf_append(out, e, utf8_encode(random_cp(), e));
        }
    }
    if (!out->data) buf_puts(out, "");
    *n = out->len;
}

/* True when k is a character boundary of s[0..n): walking from 0 lands on it. */
static bool boundary(const char *s, size_t n, size_t k)
{
    size_t i = 0;
    while (i < k) {
        uint32_t cp;
        ssize_t l = utf8_decode(s + i, n - i, &cp);
        i += l > 0 ? (size_t)l : 1;
    }
    return i == k;
}

/* out[0..outlen) is in[0..keep) followed by mark (or nothing when not cut). */
static void assert_prefix_then(const char *out, size_t outlen, const char *in, size_t keep, const char *mark)
{
    assert_true(outlen >= keep);
    assert_memory_equal(out, in, keep);
    assert_int_equal(outlen - keep, strlen(mark));
    assert_memory_equal(out + keep, mark, strlen(mark));
}

/* ------------------------------------------------------- common cutters */

static void test_truncate_bytes_chars_width(void **state)
{
    (void)state;
    buf t = BUF_INIT;
    for (int r = 0; r < ROUNDS; r++) {
        size_t n;
        bool dirty = r % 3 == 0;
        random_text(&t, MAX_CHARS, dirty, &n);
        size_t limit = next() % (n + 8);
        size_t kb = utf8_truncate_bytes(t.data, n, limit);
        size_t kc = utf8_truncate_chars(t.data, n, limit);
        size_t kw = utf8_truncate_width(t.data, n, limit);
        assert_true(kb <= limit && kb <= n);
        assert_true(utf8_count(t.data, kc) <= limit);
        assert_true(utf8_width(t.data, kw) <= limit);
        assert_true(boundary(t.data, n, kb) && boundary(t.data, n, kc) && boundary(t.data, n, kw));
        if (!dirty) assert_true(utf8_valid(t.data, kb) && utf8_valid(t.data, kc) && utf8_valid(t.data, kw));
        /* longest: one more character would not fit */
        if (kb < n) {
            uint32_t cp;
            ssize_t l = utf8_decode(t.data + kb, n - kb, &cp);
            assert_true(kb + (size_t)(l > 0 ? l : 1) > limit);
        }
        if (kc < n) assert_int_equal(utf8_count(t.data, kc), limit);
    }
    buf_free(&t);
}

static void test_append_cut(void **state)
{
    (void)state;
    buf t = BUF_INIT, out = BUF_INIT;
    for (int r = 0; r < ROUNDS; r++) {
        size_t n;
        random_text(&t, MAX_CHARS, r % 4 == 0, &n);
        size_t limit = next() % (n + 8);
        const char *mark = r % 2 ? "..." : NULL;
        buf_reset(&out);
        assert_int_equal(utf8_append_cut(&out, t.data, n, limit, mark), 0);
        size_t keep = utf8_truncate_bytes(t.data, n, limit);
        bool cut = keep < n;
        assert_prefix_then(out.data ? out.data : "", out.len, t.data, keep, cut && mark ? mark : "");
        assert_true(keep <= limit);
        if (r % 4) assert_true(utf8_valid(out.data ? out.data : "", out.len));
    }
    buf_free(&t);
    buf_free(&out);
}

static void test_sanitized_is_always_valid(void **state)
{
    (void)state;
    buf t = BUF_INIT, out = BUF_INIT;
    for (int r = 0; r < ROUNDS; r++) {
        size_t n, used;
        random_text(&t, MAX_CHARS, true, &n);
        buf_reset(&out);
        assert_int_equal(utf8_append_sanitized(&out, t.data, n, true, &used), 0);
        assert_int_equal(used, n);
        assert_true(utf8_valid(out.data ? out.data : "", out.len));
        if (utf8_valid(t.data, n)) assert_memory_equal(out.data, t.data, n);
    }
    buf_free(&t);
    buf_free(&out);
}

static void test_term_safe_is_always_valid(void **state)
{
    (void)state;
    buf t = BUF_INIT;
    for (int r = 0; r < ROUNDS; r++) {
        size_t n;
        random_text(&t, MAX_CHARS, true, &n);
        char *out = NULL;
        assert_int_equal(term_safe_dup(t.data, n, &out), 0);
        assert_true(utf8_valid(out, strlen(out)));
        free(out);
    }
    buf_free(&t);
}

/* A log line longer than the line buffer is cut on a character boundary and
 * says so with "[...]"; the file stays valid UTF-8. */
static void test_log_cut_is_valid_and_visible(void **state)
{
    (void)state;
    char path[] = "/tmp/utf8-paths-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    buf t = BUF_INIT;
    for (int r = 0; r < 60; r++) {
        assert_int_equal(log_init("utf8test", LOG_INFO, path), 0);
        size_t n;
        random_text(&t, 1000 + next() % 3000, false, &n); /* up to 12 kB: most are cut */
        for (size_t i = 0; i < n; i++)                    /* one log line, one line */
            if (t.data[i] == '\n' || t.data[i] == '\r') t.data[i] = ' ';
        log_info("%s", t.data);
        log_close();
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static char line[8192];
        size_t got = fread(line, 1, sizeof line, f);
        fclose(f);
        assert_true(got > 0 && got <= 4096 && line[got - 1] == '\n');
        assert_true(utf8_valid(line, got));
        const char *body = strstr(line, " INFO ");
        assert_non_null(body);
        body += 6;
        size_t blen = (size_t)(line + got - 1 - body);
        if (blen < n) { /* cut: a prefix, then the visible mark */
            assert_true(blen >= 5 && memcmp(body + blen - 5, "[...]", 5) == 0);
            assert_memory_equal(body, t.data, blen - 5);
            assert_true(boundary(t.data, n, blen - 5));
        } else {
            assert_memory_equal(body, t.data, n);
        }
        assert_int_equal(truncate(path, 0), 0);
    }
    log_init("utf8test", LOG_WARN, NULL);
    unlink(path);
    buf_free(&t);
}

/* Text of any length formatted into a fixed buffer, then utf8_trim_partial:
 * valid, a prefix of the text on a character boundary, at most 3 bytes shorter
 * than what fitted. */
static void test_trim_partial_after_snprintf(void **state)
{
    (void)state;
    buf t = BUF_INIT;
    char dst[200];
    for (int r = 0; r < ROUNDS; r++) {
        size_t n;
        random_text(&t, 120, false, &n);
        for (size_t i = 0; i < n; i++)
            if (!t.data[i]) t.data[i] = ' ';
        size_t cap = 1 + next() % sizeof dst;
        snprintf(dst, cap, "%s", t.data);
        size_t fitted = strlen(dst);
        size_t k = utf8_trim_partial(dst);
        assert_int_equal(k, strlen(dst));
        assert_true(k <= fitted && fitted - k < UTF8_MAX_SEQ);
        assert_true(utf8_valid(dst, k));
        assert_memory_equal(dst, t.data, k);
        assert_true(boundary(t.data, n, k));
        if (fitted == n) assert_int_equal(k, n); /* nothing cut: nothing trimmed */
    }
    buf_free(&t);
}

/* utf8_prec: "%.*s" prints at most max bytes, whole characters. */
static void test_prec(void **state)
{
    (void)state;
    buf t = BUF_INIT;
    char out[1200];
    for (int r = 0; r < ROUNDS; r++) {
        size_t n;
        random_text(&t, 200, false, &n);
        for (size_t i = 0; i < n; i++)
            if (!t.data[i]) t.data[i] = ' ';
        size_t max = next() % (n + 8);
        int k = snprintf(out, sizeof out, "<%.*s>", utf8_prec(t.data, max), t.data);
        assert_true(k >= 2 && (size_t)k - 2 <= max);
        assert_true(utf8_valid(out, (size_t)k));
        assert_memory_equal(out + 1, t.data, (size_t)k - 2);
        assert_true(boundary(t.data, n, (size_t)k - 2));
        if ((size_t)k - 2 < n) { /* longest: the next character would not fit */
            uint32_t cp;
            ssize_t l = utf8_decode(t.data + k - 2, n - ((size_t)k - 2), &cp);
            assert_true((size_t)k - 2 + (size_t)l > max);
        }
    }
    buf_free(&t);
}

/* Config and TOML error messages quote what was written, cut: between
 * characters, whatever the error buffer's size. */
static void test_config_error_quotes(void **state)
{
    (void)state;
    static int num;
    static const cfg_key keys[] = {{"s", "k", CFG_INT, &num, "1", 0, 0, "A number."}};
    char path[] = "/tmp/utf8-paths-cfg-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    buf t = BUF_INIT, file = BUF_INIT;
    char err[512];
    for (int r = 0; r < ROUNDS / 4; r++) {
        size_t n;
        random_text(&t, 80, false, &n);
        for (size_t i = 0; i < n; i++) /* one line, no quote or escape to end the string early */
            if (!t.data[i] || strchr("\n\r\"\\", t.data[i])) t.data[i] = 'a';
        buf_reset(&file);
        /* a string for a number (config.c quotes the value), or junk after a value (toml.c quotes the rest) */
        buf_printf(&file, r % 2 ? "[s]\nk = \"%s\"\n" : "[s]\nk = 1 %s\n", t.data);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(file.data, 1, file.len, f), file.len);
        fclose(f);
        size_t errlen = 8 + next() % (sizeof err - 8);
        int rc = cfg_load(keys, 1, path, true, NULL, err, errlen);
        cfg_free(keys, 1);
        if (rc == 0) continue; /* "1 " followed by nothing to complain about */
        assert_true(strlen(err) < errlen);
        assert_true(utf8_valid(err, strlen(err)));
    }
    unlink(path);
    buf_free(&t);
    buf_free(&file);
}

/* --------------------------------------------------------------- psyche */

/* The TUI: a dream's label (its theme) in the thought panel and a child's
 * start failure cause in the sidebar are cut into fixed buffers: between
 * characters. */
static void test_tui_label_and_sidebar_cause(void **state)
{
    (void)state;
    buf t = BUF_INIT;
    for (int r = 0; r < ROUNDS / 4; r++) {
        psy_tui tui;
        psy_tui_model_init(&tui, NULL, "test");
        size_t n;
        random_text(&t, 200, false, &n);
        for (size_t i = 0; i < n; i++)
            if (!t.data[i] || t.data[i] == '\n' || t.data[i] == '\r') t.data[i] = ' ';
        psy_event ev = {.kind = PSY_EV_THOUGHT, .text = (char *)"a dream", .data = cJSON_CreateObject()};
        cJSON_AddStringToObject(ev.data, "kind", "dream");
        cJSON_AddStringToObject(ev.data, "theme", t.data);
        psy_tui_on_event(&tui, &ev);
        cJSON_Delete(ev.data);
        assert_int_equal(tui.thoughts.n, 1);
        const char *label = tui.thoughts.v[0].label;
        assert_true(utf8_valid(label, strlen(label)));
        assert_true(strncmp(label, "dream: ", 7) == 0);
        assert_memory_equal(label + 7, t.data, strlen(label) - 7);
        assert_true(boundary(t.data, n, strlen(label) - 7));

        ev = (psy_event){
            .kind = PSY_EV_CHILD, .text = (char *)"elpis could not be started", .data = cJSON_CreateObject()};
        cJSON_AddStringToObject(ev.data, "child", "elpis");
        cJSON_AddStringToObject(ev.data, "event", "start_failed");
        cJSON_AddStringToObject(ev.data, "detail", t.data);
        psy_tui_on_event(&tui, &ev);
        cJSON_Delete(ev.data);
        const char *cause = tui.child_cause[0];
        size_t cl = strlen(cause);
        assert_true(utf8_valid(cause, cl));
        assert_true(cl > 0 || n == 0);
        psy_tui_model_free(&tui);
    }
    buf_free(&t);
}


/* Summaries, exchange memories and compaction staging cut with
 * psy_text_append_cut: max characters, whole ones, "..." when cut. */
static void test_psyche_text_cut(void **state)
{
    (void)state;
    buf t = BUF_INIT, out = BUF_INIT;
    for (int r = 0; r < ROUNDS; r++) {
        size_t n;
        random_text(&t, MAX_CHARS, false, &n);
        size_t limit = next() % (utf8_count(t.data, n) + 4);
        buf_reset(&out);
        psy_text_append_cut(&out, t.data, limit);
        const char *o = out.data ? out.data : "";
        size_t keep = utf8_truncate_chars(t.data, n, limit);
        assert_prefix_then(o, out.len, t.data, keep, keep < n ? "..." : "");
        assert_true(utf8_count(o, keep) <= limit);
        assert_true(utf8_valid(o, out.len));
    }
    buf_free(&t);
    buf_free(&out);
}

/* One token per 4 bytes plus 4 for the template. */
static int bytes_count(void *ud, const char *role, const char *text)
{
    (void)ud, (void)role;
    return (int)strlen(text) / 4 + 4;
}

/* Compaction staging and the context fit: random multibyte messages and
 * tool results on a 512-token context. Staged messages are kept whole;
 * shortened ones are a prefix on a character boundary followed by a note
 * that says how many characters were cut; everything stays valid UTF-8. */
static void test_psyche_context_fit_and_staging(void **state)
{
    (void)state;
    buf t = BUF_INIT;
    int cuts = 0, staged = 0;
    for (int r = 0; r < ROUNDS / 8; r++) {
        psy_context c;
        psy_context_init(&c, 4, bytes_count, NULL);
        psy_context_set_budget(&c, 512, 0.75, 0.20);
        psy_context_set_system(&c, "You are a test.");
        char *orig[6] = {0};
        for (int i = 0; i < 6; i++) {
            size_t n;
            random_text(&t, i == 5 && r % 2 ? 2000 + next() % 1000 : 100 + next() % 600, false, &n);
            for (size_t k = 0; k < n; k++)
                if (!t.data[k]) t.data[k] = ' ';
            orig[i] = strdup(t.data);
            int flags = i == 2 || i == 4 ? PSY_MSG_TOOL_RESULT : PSY_MSG_PLAIN;
            psy_context_add(&c, i % 2 ? "assistant" : "user", t.data, NULL, flags);
        }
        psy_fit_report rep;
        assert_int_equal(psy_context_fit(&c, 100, &rep), 0);
        assert_true(c.total_tokens + 100 + PSY_FIT_SLACK_TOKENS <= 512);
        for (size_t i = 0; i < c.n_staged; i++) { /* what goes to memory: whole and valid */
            assert_true(utf8_valid(c.staged[i].content, strlen(c.staged[i].content)));
            assert_string_equal(c.staged[i].content, orig[i]);
        }
        for (size_t i = 1; i < c.n; i++) {
            const char *m = c.msgs[i].content;
            const char *o = orig[c.n_staged + i - 1];
            assert_true(utf8_valid(m, strlen(m)));
            const char *note = strstr(m, "\n\n[... shortened to fit the context: ");
            if (strcmp(m, o) == 0) continue;
            assert_non_null(note); /* a cut is visible */
            cuts++;
            size_t keep = (size_t)(note - m);
            assert_memory_equal(m, o, keep);
            assert_true(boundary(o, strlen(o), keep));
        }
        staged += (int)c.n_staged;
        for (int i = 0; i < 6; i++) free(orig[i]);
        psy_context_free(&c);
    }
    assert_true(cuts > 0 && staged > 0); /* both paths were taken */
    buf_free(&t);
}

/* A tool call's readable line ("Remembering: <content>", cut at 40
 * characters with "...") in a line buffer of any size: valid UTF-8. */
static void test_psyche_tool_line(void **state)
{
    (void)state;
    buf t = BUF_INIT;
    psy_toolset ts = {0}; /* no tools: only the description is made */
    char line[PSY_TOOL_LINE_MAX];
    for (int r = 0; r < ROUNDS; r++) {
        size_t n;
        random_text(&t, 80, false, &n);
        for (size_t i = 0; i < n; i++) /* one line: a line break would end the argument too */
            if (!t.data[i] || t.data[i] == '\n') t.data[i] = ' ';
        cJSON *args = cJSON_CreateObject();
        cJSON_AddStringToObject(args, "content", t.data);
        char full[PSY_TOOL_LINE_MAX];
        assert_null(psy_toolset_run(&ts, "store_memory", args, 0, false, full, sizeof full));
        size_t linelen = 1 + next() % sizeof line;
        assert_null(psy_toolset_run(&ts, "store_memory", args, 0, false, line, linelen));
        cJSON_Delete(args);
        /* the whole line: "Remembering: " + at most 40 characters + "..." when cut */
        size_t fl = strlen(full), hl = strlen("Remembering: ");
        assert_true(utf8_valid(full, fl) && fl >= hl && !memcmp(full, "Remembering: ", hl));
        size_t body = fl - hl;
        if (utf8_count(t.data, n) > 40) {
            assert_true(body >= 3 && !memcmp(full + fl - 3, "...", 3));
            body -= 3;
        }
        assert_memory_equal(full + hl, t.data, body);
        assert_true(utf8_count(full + hl, body) <= 40 && boundary(t.data, n, body));
        /* a smaller buffer: a prefix of it, between characters */
        size_t l = strlen(line);
        assert_true(l < linelen && utf8_valid(line, l));
        assert_memory_equal(line, full, l);
        assert_true(boundary(full, fl, l));
    }
    buf_free(&t);
}

/* A recalled memory's preview line: at most 300 characters of text, "..." when cut. */
static void test_psyche_memory_preview(void **state)
{
    (void)state;
    buf t = BUF_INIT, out = BUF_INIT;
    for (int r = 0; r < ROUNDS; r++) {
        size_t n;
        random_text(&t, MAX_CHARS, false, &n);
        for (size_t i = 0; i < n; i++) /* cJSON strings stop at NUL */
            if (!t.data[i]) t.data[i] = ' ';
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "content", t.data);
        cJSON_AddStringToObject(m, "memory_type", "episodic");
        buf_reset(&out);
        psy_prompt_memory_line(1, m, &out);
        cJSON_Delete(m);
        const char *o = buf_str(&out);
        assert_true(utf8_valid(o, out.len));
        const char *text = strstr(o, "] ") + 2;
        size_t tl = (size_t)(o + out.len - 1 - text); /* without the '\n' */
        if (utf8_count(t.data, n) > 300) {            /* cut: the mark shows it */
            assert_true(tl >= 3);
            assert_memory_equal(text + tl - 3, "...", 3);
            tl -= 3;
        }
        assert_true(utf8_count(text, tl) <= 300);
        assert_true(boundary(t.data, n, tl));
        for (size_t i = 0; i < tl; i++)
            assert_true(text[i] == t.data[i] || (text[i] == ' ' && (t.data[i] == '\n' || t.data[i] == '\r')));
    }
    buf_free(&t);
    buf_free(&out);
}

/* A tool result cut to max_chars characters: valid, a prefix of the full
 * text, with a note that says how many characters were omitted. */
static void test_psyche_tool_result_cut(void **state)
{
    (void)state;
    buf t = BUF_INIT;
    for (int r = 0; r < ROUNDS / 2; r++) {
        size_t n;
        random_text(&t, MAX_CHARS, false, &n);
        for (size_t i = 0; i < n; i++)
            if (!t.data[i]) t.data[i] = ' ';
        cJSON *w = cJSON_CreateObject();
        cJSON_AddStringToObject(w, "output", t.data);
        char *full = psy_tool_result_text("read_file", w, 1L << 30, -1);
        long max = (long)(next() % (utf8_count(full, strlen(full)) + 10));
        long fit = r % 3 ? -1 : max / 2;
        char *cut = psy_tool_result_text("read_file", w, max, fit);
        cJSON_Delete(w);
        size_t limit = (size_t)(fit >= 0 && fit < max ? fit : max);
        size_t fl = strlen(full), cl = strlen(cut);
        assert_true(utf8_valid(cut, cl));
        if (utf8_count(full, fl) <= limit) {
            assert_string_equal(cut, full);
        } else {
            const char *note = strstr(cut, "\n\n[... truncated, ");
            assert_non_null(note);
            size_t keep = (size_t)(note - cut);
            assert_memory_equal(cut, full, keep);
            assert_int_equal(utf8_count(cut, keep), limit);
            char want[128];
            snprintf(want, sizeof want, "%zu chars omitted", utf8_count(full, fl) - limit);
            assert_non_null(strstr(note, want));
        }
        free(full);
        free(cut);
    }
    buf_free(&t);
}

/* ------------------------------------------------------------ mnemosyne */

/* mnemosyne's refusals quote what they refuse (a memory type, a source, an
 * id), cut: between characters, so the error travels as valid UTF-8. */
static void test_mnemosyne_error_quotes(void **state)
{
    tctx *t = *state;
    buf v = BUF_INIT;
    for (int r = 0; r < ROUNDS / 4; r++) {
        size_t n;
        random_text(&v, 60, false, &n);
        for (size_t i = 0; i < n; i++)
            if (!v.data[i]) v.data[i] = ' ';
        mem_new m;
        memset(&m, 0, sizeof m);
        m.content = "a fact";
        if (r % 2) m.memory_type = v.data;
        else m.source = v.data;
        mem_record rec;
        if (mem_store_add(t->s, &m, &rec) == 0) continue; /* a valid name by chance */
        const char *e = mem_store_errmsg(t->s);
        assert_true(utf8_valid(e, strlen(e)));
    }
    for (int r = 0; r < ROUNDS / 4; r++) { /* a message longer than the error buffer */
        size_t n;
        random_text(&v, 1500, false, &n);
        for (size_t i = 0; i < n; i++)
            if (!v.data[i]) v.data[i] = ' ';
        assert_int_equal(mem__set_err(t->s, -EINVAL, "%s", v.data), -EINVAL);
        const char *e = mem_store_errmsg(t->s);
        assert_true(utf8_valid(e, strlen(e)));
        assert_memory_equal(e, v.data, strlen(e));
    }
    buf_free(&v);
}

/* The default summary of a memory: its first n characters. */
static void test_mnemosyne_default_summary(void **state)
{
    (void)state;
    buf t = BUF_INIT;
    for (int r = 0; r < ROUNDS; r++) {
        size_t n;
        random_text(&t, MAX_CHARS, false, &n);
        for (size_t i = 0; i < n; i++)
            if (!t.data[i]) t.data[i] = ' ';
        int limit = (int)(next() % (MAX_CHARS + 10));
        char *s = mem__prefix_chars(t.data, limit);
        assert_non_null(s);
        size_t sl = strlen(s);
        assert_true(utf8_valid(s, sl));
        assert_true(utf8_count(s, sl) <= (size_t)limit);
        assert_memory_equal(s, t.data, sl);
        assert_true(boundary(t.data, n, sl));
        free(s);
    }
    buf_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truncate_bytes_chars_width),
        cmocka_unit_test(test_append_cut),
        cmocka_unit_test(test_sanitized_is_always_valid),
        cmocka_unit_test(test_term_safe_is_always_valid),
        cmocka_unit_test(test_log_cut_is_valid_and_visible),
        cmocka_unit_test(test_prec),
        cmocka_unit_test(test_trim_partial_after_snprintf),
        cmocka_unit_test(test_config_error_quotes),
        cmocka_unit_test(test_tui_label_and_sidebar_cause),
        cmocka_unit_test(test_psyche_text_cut),
        cmocka_unit_test(test_psyche_context_fit_and_staging),
        cmocka_unit_test(test_psyche_tool_line),
        cmocka_unit_test(test_psyche_memory_preview),
        cmocka_unit_test(test_psyche_tool_result_cut),
        cmocka_unit_test(test_mnemosyne_default_summary),
        cmocka_unit_test_setup_teardown(test_mnemosyne_error_quotes, t_setup, t_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
