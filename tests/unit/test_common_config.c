/* test_common_config.c - the TOML subset parser (common/toml.c) and the
 * layered configuration on top of it (common/config.c): every value kind,
 * every error with its line, and defaults < file < environment < flags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "toml.h"

/* ---- TOML: collect every item as one line of text --------------------- */

static int collect(void *ud, const toml_item *it, char *err, size_t errlen)
{
    buf *b = ud;
    if (!it->key) return buf_printf(b, "[%s]@%d\n", it->section, it->line);
    buf_printf(b, "%s.%s@%d=", it->section, it->key, it->line);
    switch (it->kind) {
    case TOML_STRING: buf_printf(b, "s:%s", it->str); break;
    case TOML_INT: buf_printf(b, "i:%lld", it->i); break;
    case TOML_FLOAT: buf_printf(b, "f:%g", it->f); break;
    case TOML_BOOL: buf_printf(b, "b:%d", it->b); break;
    case TOML_STRARRAY:
        buf_puts(b, "a:");
        for (size_t i = 0; i < it->n; i++) buf_printf(b, "%s<%s>", i ? "," : "", it->items[i]);
        break;
    }
    return buf_printf(b, " raw<%.*s>\n", (int)it->rawlen, it->raw);
}

/* Parses text; returns what collect() saw, or "ERR rc: message". Static storage. */
static const char *parse(const char *text)
{
    static char out[4096];
    char err[512];
    buf b = BUF_INIT;
    int rc = toml_parse(text, strlen(text), "t.toml", collect, &b, err, sizeof err);
    if (rc) snprintf(out, sizeof out, "ERR %d: %s", rc, err);
    else snprintf(out, sizeof out, "%s", buf_str(&b));
    buf_free(&b);
    return out;
}

static void test_toml_values(void **state)
{
    assert_string_equal(parse("# a comment\n"
                              "\n"
                              "top = 1\n"
                              "[model]   # trailing comment\n"
                              "path = \"/m.gguf\"  # comment after a value\n"
                              "lit = 'C:\\dir\\n'\n"
                              "ctx = 4_096\n"
                              "neg = -17\n"
                              "plus = +3\n"
                              "zero = 0\n"
                              "t = 1.5\n"
                              "u = -0.25\n"
                              "e = 1e3\n"
                              "e2 = 6.5E-1\n"
                              "big = 1_000.000_5\n"
                              "yes = true\n"
                              "no=false\n"
                              "\t key-2_x\t=\t''\n"
                              "[other-1]\n"),
                        ".top@3=i:1 raw<1>\n"
                        "[model]@4\n"
                        "model.path@5=s:/m.gguf raw<\"/m.gguf\">\n"
                        "model.lit@6=s:C:\\dir\\n raw<'C:\\dir\\n'>\n"
                        "model.ctx@7=i:4096 raw<4_096>\n"
                        "model.neg@8=i:-17 raw<-17>\n"
                        "model.plus@9=i:3 raw<+3>\n"
                        "model.zero@10=i:0 raw<0>\n"
                        "model.t@11=f:1.5 raw<1.5>\n"
                        "model.u@12=f:-0.25 raw<-0.25>\n"
                        "model.e@13=f:1000 raw<1e3>\n"
                        "model.e2@14=f:0.65 raw<6.5E-1>\n"
                        "model.big@15=f:1000 raw<1_000.000_5>\n"
                        "model.yes@16=b:1 raw<true>\n"
                        "model.no@17=b:0 raw<false>\n"
                        "model.key-2_x@18=s: raw<''>\n"
                        "[other-1]@19\n");
    /* no newline at the end, CRLF line ends, same key in two sections */
    assert_string_equal(parse("[a]\r\nk = 1\r\n[b]\r\nk = 'x'"),
                        "[a]@1\na.k@2=i:1 raw<1>\n[b]@3\nb.k@4=s:x raw<'x'>\n");
    assert_string_equal(parse(""), "");
    assert_string_equal(parse("\n\n# only comments\n   \n"), "");
}

static void test_toml_escapes(void **state)
{
    assert_string_equal(parse("s = \"q\\\" b\\\\ n\\n t\\t r\\r \\b\\f\"\n"),
                        ".s@1=s:q\" b\\ n\n t\t r\r \b\f raw<\"q\\\" b\\\\ n\\n t\\t r\\r \\b\\f\">\n");
    assert_string_equal(parse("s = \"\\u00e9\\u20AC\\U0001F600 é\"\n"),
                        ".s@1=s:\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \xc3\xa9 raw<\"\\u00e9\\u20AC\\U0001F600 é\">\n");
    assert_string_equal(parse("s = 'no \\n escapes \" here'\n"),
                        ".s@1=s:no \\n escapes \" here raw<'no \\n escapes \" here'>\n");
    assert_string_equal(parse("s = \"# not a comment\" # a comment\n"),
                        ".s@1=s:# not a comment raw<\"# not a comment\">\n");
}

static void test_toml_arrays(void **state)
{
    assert_string_equal(parse("a = []\nb = [ \"x\" ]\nc = ['y', \"z\",]\n"),
                        ".a@1=a: raw<[]>\n.b@2=a:<x> raw<[ \"x\" ]>\n.c@3=a:<y>,<z> raw<['y', \"z\",]>\n");
    assert_string_equal(parse("a = [\n"
                              "  \"one\",   # first\n"
                              "\n"
                              "  # a comment line\n"
                              "  'two', \"th,]ree\"\n"
                              "]\n"
                              "after = 1\n"),
                        ".a@1=a:<one>,<two>,<th,]ree> raw<[\n  \"one\",   # first\n\n  # a comment line\n"
                        "  'two', \"th,]ree\"\n]>\n"
                        ".after@7=i:1 raw<1>\n");
}

static void test_toml_errors(void **state)
{
    const struct {
        const char *text, *want;
    } cases[] = {
        {"a = \"open\n", "ERR -22: t.toml:1: unterminated string"},
        {"x = 1\na = 'open\n", "ERR -22: t.toml:2: unterminated string"},
        {"x = 1\n\na 1\n", "ERR -22: t.toml:3: missing '=' after key 'a'"},
        {"a =\n", "ERR -22: t.toml:1: missing value for key 'a'"},
        {"a = # c\n", "ERR -22: t.toml:1: missing value for key 'a'"},
        {"= 1\n", "ERR -22: t.toml:1: missing key before '='"},
        {"[s]\na = 1\nb = 2\na = 3\n", "ERR -22: t.toml:4: duplicate key 'a' in [s] (first set on line 2)"},
        {"a = 1\na = 2\n", "ERR -22: t.toml:2: duplicate key 'a' (first set on line 1)"},
        {"[s]\n[t]\n[s]\n", "ERR -22: t.toml:3: duplicate section [s] (first on line 1)"},
        {"[a.b]\n", "ERR -22: t.toml:1: nested tables [a.b] are not supported"},
        {"[]\n", "ERR -22: t.toml:1: expected a section name after '['"},
        {"\n[a\n", "ERR -22: t.toml:2: expected ']' after section name 'a'"},
        {"[a] x\n", "ERR -22: t.toml:1: unexpected 'x' after the section header"},
        {"[[a]]\n", "ERR -22: t.toml:1: arrays of tables [[...]] are not supported"},
        {"[\"a\"]\n", "ERR -22: t.toml:1: quoted section names are not supported"},
        {"a.b = 1\n", "ERR -22: t.toml:1: dotted keys are not supported"},
        {"\"a\" = 1\n", "ERR -22: t.toml:1: quoted keys are not supported"},
        {"a = 1 2\n", "ERR -22: t.toml:1: unexpected '2' after the value"},
        {"a = big\n", "ERR -22: t.toml:1: invalid value 'big' (expected a number, true, false, a \"string\" or "
                      "an array)"},
        {"a = 1.\n", "ERR -22: t.toml:1: invalid value '1.' (expected a number, true, false, a \"string\" or an "
                     "array)"},
        {"a = 01\n", "ERR -22: t.toml:1: invalid value '01' (expected a number, true, false, a \"string\" or an "
                     "array)"},
        {"a = 1__0\n", "ERR -22: t.toml:1: invalid value '1__0' (expected a number, true, false, a \"string\" "
                       "or an array)"},
        {"a = True\n", "ERR -22: t.toml:1: invalid value 'True' (expected a number, true, false, a \"string\" "
                       "or an array)"},
        {"a = 9223372036854775808\n", "ERR -22: t.toml:1: integer 9223372036854775808 does not fit in 64 bits"},
        {"a = 1e999\n", "ERR -22: t.toml:1: float 1e999 is out of range"},
        {"a = \"\\x\"\n", "ERR -22: t.toml:1: invalid escape '\\x' in string"},
        {"a = \"\\u12\"\n", "ERR -22: t.toml:1: \\u escape needs 4 hex digits"},
        {"a = \"\\uD800\"\n", "ERR -22: t.toml:1: escape U+D800 is not a Unicode scalar value"},
        {"a = \"\\u0000\"\n", "ERR -22: t.toml:1: \\u0000 is not allowed (strings cannot hold NUL)"},
        {"a = \"\"\"x\"\"\"\n", "ERR -22: t.toml:1: multi-line strings are not supported"},
        {"a = {x = 1}\n", "ERR -22: t.toml:1: inline tables are not supported"},
        {"a = [1, 2]\n", "ERR -22: t.toml:1: expected a string or ']' in array (opened on line 1), got '1, 2]'"},
        {"a = [\"x\" \"y\"]\n", "ERR -22: t.toml:1: expected ',' or ']' in array, got '\"y\"]'"},
        {"a = [,]\n", "ERR -22: t.toml:1: unexpected ',' in array"},
        {"\na = [\"x\",\n\"y\"\n", "ERR -22: t.toml:2: unterminated array (no ']')"},
        {"a = 'x'\nb = \"\xff\"\n", "ERR -22: t.toml:2: invalid UTF-8"},
        {"a = 1\n\x01\n", "ERR -22: t.toml:2: control character U+0001 is not allowed"},
        {"a = 1\rb = 2\n", "ERR -22: t.toml:1: carriage return without a newline"},
        {"!\n", "ERR -22: t.toml:1: expected a key, a [section] or a comment, got '!'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = parse(cases[i].text);
        if (strcmp(got, cases[i].want))
            fail_msg("case %zu: %s\n  want %s\n  got  %s", i, cases[i].text, cases[i].want, got);
    }
    /* NUL inside the document; and no name gives "line N" */
    char err[256];
    buf b = BUF_INIT;
    assert_int_equal(toml_parse("a = 1\nb\0", 8, NULL, collect, &b, err, sizeof err), -EINVAL);
    assert_string_equal(err, "line 2: control character U+0000 is not allowed");
    buf_free(&b);
}

static int reject_b(void *ud, const toml_item *it, char *err, size_t errlen)
{
    int *calls = ud;
    ++*calls;
    if (it->key && strcmp(it->key, "b") == 0) {
        snprintf(err, errlen, "no b please");
        return -EPERM;
    }
    return 0;
}

static void test_toml_callback_error(void **state)
{
    char err[256];
    int calls = 0;
    const char *text = "[s]\na = 1\nb = [\n'x']\nc = 3\n";
    assert_int_equal(toml_parse(text, strlen(text), "f.toml", reject_b, &calls, err, sizeof err), -EPERM);
    assert_string_equal(err, "f.toml:3: no b please");
    assert_int_equal(calls, 3); /* [s], a, b and never c */
}

static void test_toml_scalars(void **state)
{
    long long i;
    double d;
    assert_int_equal(toml_int_parse("9223372036854775807", 19, &i), 0);
    assert_true(i == INT64_MAX);
    assert_int_equal(toml_int_parse("-9223372036854775808", 20, &i), 0);
    assert_true(i == INT64_MIN);
    assert_int_equal(toml_int_parse("-9223372036854775809", 20, &i), -ERANGE);
    assert_int_equal(toml_int_parse("1_2_3", 5, &i), 0);
    assert_int_equal(i, 123);
    const char *bad_ints[] = {"", "+", "-", "_1", "1_", "1.5", "0x10", "00", " 1", "1e3"};
    for (size_t k = 0; k < sizeof bad_ints / sizeof *bad_ints; k++)
        assert_int_equal(toml_int_parse(bad_ints[k], strlen(bad_ints[k]), &i), -EINVAL);

    assert_int_equal(toml_float_parse("-inf", 4, &d), 0);
    assert_true(isinf(d) && d < 0);
    assert_int_equal(toml_float_parse("nan", 3, &d), 0);
    assert_true(isnan(d));
    assert_int_equal(toml_float_parse("0.5e-2", 6, &d), 0);
    assert_true(d == 0.005);
    const char *bad_floats[] = {"3", ".5", "5.", "1e", "1e+", "1._5", "01.5", "1.5x", "inf5", "Inf"};
    for (size_t k = 0; k < sizeof bad_floats / sizeof *bad_floats; k++)
        assert_int_equal(toml_float_parse(bad_floats[k], strlen(bad_floats[k]), &d), -EINVAL);
}

static void test_toml_writers(void **state)
{
    buf b = BUF_INIT;
    assert_int_equal(toml_quote(&b, "a\"b\\c\nd\te\x01\x7f é"), 0);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\nd\\te\\u0001\\u007F é\"");
    /* what toml_quote writes, toml_parse reads back */
    buf doc = BUF_INIT, got = BUF_INIT;
    buf_printf(&doc, "s = %s\n", b.data);
    assert_int_equal(toml_parse(doc.data, doc.len, NULL, collect, &got, NULL, 0), 0);
    assert_non_null(strstr(got.data, "=s:a\"b\\c\nd\te\x01\x7f é raw"));

    const double vals[] = {0.1, 1.0 / 3, -2.5, 1e300, 5e-324, 0.0, 123456789.0, 1e21};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        buf_reset(&b);
        assert_int_equal(toml_float_format(&b, vals[i]), 0);
        double d;
        if (toml_float_parse(b.data, b.len, &d) != 0 || d != vals[i]) fail_msg("%.17g wrote %s", vals[i], b.data);
    }
    buf_reset(&b);
    toml_float_format(&b, 2.0);
    assert_string_equal(b.data, "2.0");

    /* a locale with a decimal comma must not leak into the file */
    if (setlocale(LC_NUMERIC, "de_DE.UTF-8") || setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
        double d;
        buf_reset(&b);
        toml_float_format(&b, 1.5);
        assert_string_equal(b.data, "1.5");
        assert_int_equal(toml_float_parse("2.25", 4, &d), 0);
        assert_true(d == 2.25);
        setlocale(LC_NUMERIC, "C");
    }
    buf_free(&b);
    buf_free(&doc);
    buf_free(&got);
}

/* Every prefix of a document, and many random byte flips of it, in buffers
 * of exactly that size (so ASan sees any read past the end): the parser may
 * reject them but must not crash, leak or read out of bounds. */
static int count_items(void *ud, const toml_item *it, char *err, size_t errlen)
{
    ++*(int *)ud;
    return 0;
}

static void test_toml_fuzz(void **state)
{
    static const char doc[] = "# c\n[model]\npath = \"/m\\u00e9\\n\" # x\nctx = -4_096\nt = 1.5e-3\n"
                              "lit = 'x'\nb = true\nstop = [\n 'a', # c\n \"b\",\n]\r\n[s-2]\nk = nan\n";
    const size_t len = sizeof doc - 1;
    char err[256];
    int n = 0;
    assert_int_equal(toml_parse(doc, len, NULL, count_items, &n, err, sizeof err), 0);
    assert_int_equal(n, 9);
    for (size_t cut = 0; cut <= len; cut++) {
        char *p = malloc(cut ? cut : 1);
        memcpy(p, doc, cut);
        toml_parse(p, cut, "f", count_items, &n, err, sizeof err);
        free(p);
    }
    static const char alphabet[] = "\"'[]=#,.\\\n\r\t _-+eEuU0129xinf\x80\xc3\xff";
    unsigned seed = 12345;
    for (int round = 0; round < 20000; round++) {
        char *p = malloc(len);
        memcpy(p, doc, len);
        for (int k = 0; k < 1 + round % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % len;
            seed = seed * 1103515245u + 12345u;
            p[at] = alphabet[(seed >> 8) % (sizeof alphabet - 1)];
        }
        toml_parse(p, len, "f", count_items, &n, err, sizeof err);
        toml_parse(p, len, "f", count_items, &n, err, 8); /* a short error buffer */
        free(p);
    }
}

/* ---- config ----------------------------------------------------------- */

static cfg_strlist stop;
static char *path, *name;
static int ctx, threads;
static double temp;
static bool gpu;

static const cfg_key keys[] = {
    {"model", "path", CFG_STRING, &path, "/m.gguf", 0, 0, "Path to the GGUF model."},
    {"model", "ctx", CFG_INT, &ctx, "4096", 128, 1048576, "Context size in tokens."},
    {"model", "temp", CFG_DOUBLE, &temp, "0.7", 0, 2, "Sampling temperature."},
    {"model", "gpu", CFG_BOOL, &gpu, NULL, 0, 0, "Offload to the GPU."},
    {"model", "stop", CFG_STRLIST, &stop, "a,b", 0, 0, "Stop strings."},
    {"server", "threads", CFG_INT, &threads, "4", 1, 8, "Worker threads.\nSecond help line."},
    {"server", "name", CFG_STRING, &name, NULL, 0, 0, "A name."},
};
#define NKEYS (sizeof keys / sizeof keys[0])

static char tmpl[64];

/* Writes text to a new temporary file; its path is in tmpl. */
static const char *write_tmp(const char *text)
{
    snprintf(tmpl, sizeof tmpl, "/tmp/test_config_XXXXXX");
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return tmpl;
}

static void clear_env(void)
{
    const char *vars[] = {"PSYT_MODEL_PATH",  "PSYT_MODEL_CTX",      "PSYT_MODEL_TEMP",  "PSYT_MODEL_GPU",
                          "PSYT_MODEL_STOP",  "PSYT_SERVER_THREADS", "PSYT_SERVER_NAME", "PSYT_MODEL_CTXX",
                          "PSYT_OTHER_THING", "PSYT_MODELX"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) unsetenv(vars[i]);
}

static int setup(void **state)
{
    clear_env();
    return 0;
}

static int teardown(void **state)
{
    cfg_free(keys, NKEYS);
    clear_env();
    if (tmpl[0]) unlink(tmpl), tmpl[0] = '\0';
    return 0;
}

/* Loads from text (NULL: no file) with prefix PSYT; returns rc, message in err. */
static int load(const char *text, char *err, size_t errlen)
{
    cfg_free(keys, NKEYS);
    return cfg_load(keys, NKEYS, text ? write_tmp(text) : NULL, true, "PSYT", err, errlen);
}

static void test_config_defaults(void **state)
{
    char err[512];
    assert_int_equal(load(NULL, err, sizeof err), 0);
    assert_string_equal(path, "/m.gguf");
    assert_int_equal(ctx, 4096);
    assert_true(temp == 0.7);
    assert_false(gpu);
    assert_int_equal(stop.n, 2);
    assert_string_equal(stop.items[0], "a");
    assert_string_equal(stop.items[1], "b");
    assert_int_equal(threads, 4);
    assert_string_equal(name, ""); /* a NULL default is "", never NULL */
    assert_string_equal(cfg_sources(), "defaults");
    cfg_free(keys, NKEYS);
    assert_null(path);
    assert_null(stop.items);
    assert_int_equal(stop.n, 0);
}

static void test_config_layers(void **state)
{
    char err[512], want[256];
    setenv("PSYT_MODEL_CTX", "8192", 1);
    setenv("PSYT_MODEL_GPU", "yes", 1);
    setenv("PSYT_OTHER_THING", "ignored: not one of our sections", 1);
    setenv("PSYT_MODELX", "ignored too", 1);
    assert_int_equal(load("# test\n[model]\nctx = 1_024\ntemp = 1\nstop = ['x', \"y\", 'z',]\n"
                          "path = \"/file.gguf\"\n[server]\nthreads = 2\n",
                          err, sizeof err),
                     0);
    assert_int_equal(ctx, 8192);  /* env beats file */
    assert_true(gpu);             /* env over default */
    assert_true(temp == 1.0);     /* an integer is a fine double */
    assert_int_equal(threads, 2); /* file over default */
    assert_string_equal(path, "/file.gguf");
    assert_int_equal(stop.n, 3);
    assert_string_equal(stop.items[2], "z");
    snprintf(want, sizeof want, "defaults + %s + env(PSYT_MODEL_CTX, PSYT_MODEL_GPU)", tmpl);
    assert_string_equal(cfg_sources(), want);

    /* a flag beats all of them */
    assert_int_equal(cfg_set(keys, NKEYS, "model.ctx", "16384", "--ctx", err, sizeof err), 0);
    assert_int_equal(cfg_set(keys, NKEYS, "server.name", " raw text, with commas ", NULL, err, sizeof err), 0);
    assert_int_equal(cfg_set(keys, NKEYS, "model.gpu", "0", "--no-gpu", err, sizeof err), 0);
    assert_int_equal(ctx, 16384);
    assert_string_equal(name, " raw text, with commas ");
    assert_false(gpu);
    snprintf(want, sizeof want,
             "defaults + %s + env(PSYT_MODEL_CTX, PSYT_MODEL_GPU) + flags(--ctx, server.name, --no-gpu)", tmpl);
    assert_string_equal(cfg_sources(), want);
}

static void test_config_env_kinds(void **state)
{
    char err[512];
    setenv("PSYT_MODEL_STOP", " x , y,,z,", 1);
    setenv("PSYT_MODEL_TEMP", "1.25", 1);
    setenv("PSYT_MODEL_PATH", " /with space ", 1);
    setenv("PSYT_SERVER_NAME", "", 1);
    assert_int_equal(load(NULL, err, sizeof err), 0);
    assert_int_equal(stop.n, 3);
    assert_string_equal(stop.items[0], "x");
    assert_string_equal(stop.items[1], "y");
    assert_string_equal(stop.items[2], "z");
    assert_true(temp == 1.25);
    assert_string_equal(path, " /with space "); /* strings are the raw text */
    assert_string_equal(name, "");

    const char *truthy[] = {"true", "TRUE", "yes", "1", " Yes "}, *falsy[] = {"false", "no", "0", "No"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(cfg_set(keys, NKEYS, "model.gpu", truthy[i], "--gpu", err, sizeof err), 0);
        assert_true(gpu);
    }
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(cfg_set(keys, NKEYS, "model.gpu", falsy[i], "--gpu", err, sizeof err), 0);
        assert_false(gpu);
    }
    assert_int_equal(cfg_set(keys, NKEYS, "model.stop", "", "--stop", err, sizeof err), 0);
    assert_int_equal(stop.n, 0);
}

static void test_config_env_errors(void **state)
{
    char err[512];
    setenv("PSYT_MODEL_CTX", "big", 1);
    assert_int_equal(load(NULL, err, sizeof err), -EINVAL);
    assert_string_equal(err, "environment PSYT_MODEL_CTX: [model] ctx: expected an integer in 128..1048576, got "
                             "\"big\"");
    setenv("PSYT_MODEL_CTX", "1.5", 1);
    assert_int_equal(load(NULL, err, sizeof err), -EINVAL);
    assert_string_equal(err, "environment PSYT_MODEL_CTX: [model] ctx: expected an integer in 128..1048576, got "
                             "\"1.5\"");
    unsetenv("PSYT_MODEL_CTX");
    setenv("PSYT_MODEL_GPU", "maybe", 1);
    assert_int_equal(load(NULL, err, sizeof err), -EINVAL);
    assert_string_equal(err, "environment PSYT_MODEL_GPU: [model] gpu: expected true/false, yes/no or 1/0, got "
                             "\"maybe\"");
    unsetenv("PSYT_MODEL_GPU");
    setenv("PSYT_MODEL_CTXX", "1", 1);
    assert_int_equal(load(NULL, err, sizeof err), -EINVAL);
    assert_string_equal(err, "environment PSYT_MODEL_CTXX: unknown key 'ctxx' in [model] (known keys: path, ctx, "
                             "temp, gpu, stop)");
    /* the destinations still hold valid values */
    assert_string_equal(path, "/m.gguf");
}

static void test_config_file_errors(void **state)
{
    const struct {
        const char *text, *want; /* want follows "PATH:" */
    } cases[] = {
        {"[model]\nctx = 1024\nctxx = 5\n",
         "3: unknown key 'ctxx' in [model] (known keys: path, ctx, temp, gpu, stop)"},
        {"\n[modle]\n", "2: unknown section [modle] (known sections: model, server)"},
        {"ctx = 5\n", "1: key 'ctx' must be in a section (known sections: model, server)"},
        {"[model]\nctx = 5\n", "2: [model] ctx: expected an integer in 128..1048576, got 5"},
        {"[model]\nctx = 99999999999\n", "2: [model] ctx: expected an integer in 128..1048576, got 99999999999"},
        {"[model]\nctx = \"big\"\n", "2: [model] ctx: expected an integer in 128..1048576, got \"big\""},
        {"[model]\nctx = 1.5\n", "2: [model] ctx: expected an integer in 128..1048576, got 1.5"},
        {"[model]\ntemp = 2.5\n", "2: [model] temp: expected a number in 0..2, got 2.5"},
        {"[model]\ntemp = nan\n", "2: [model] temp: expected a number in 0..2, got nan"},
        {"[model]\ngpu = \"yes\"\n", "2: [model] gpu: expected true or false, got \"yes\""},
        {"[model]\npath = 5\n", "2: [model] path: expected a string, got 5"},
        {"[model]\nstop = 'x'\n", "2: [model] stop: expected an array of strings, got 'x'"},
        {"[server]\nname = [\n'a']\n", "2: [server] name: expected a string, got [..."},
        {"[model]\nctx = 200\nctx = 300\n", "3: duplicate key 'ctx' in [model] (first set on line 2)"},
        {"[model]\npath = \"open\n", "2: unterminated string"},
    };
    char err[512], want[600];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cfg_free(keys, NKEYS);
        int rc = cfg_load(keys, NKEYS, write_tmp(cases[i].text), false, "PSYT", err, sizeof err);
        snprintf(want, sizeof want, "%s:%s", tmpl, cases[i].want);
        if (rc != -EINVAL || strcmp(err, want)) fail_msg("case %zu: rc %d\n  want %s\n  got  %s", i, rc, want, err);
        unlink(tmpl);
    }
    tmpl[0] = '\0';
}

static void test_config_missing_file(void **state)
{
    char err[512];
    const char *missing = "/nonexistent/psyche/elpis.toml";
    assert_int_equal(cfg_load(keys, NKEYS, missing, true, "PSYT", err, sizeof err), -ENOENT);
    assert_string_equal(err, "/nonexistent/psyche/elpis.toml: cannot open: No such file or directory");
    assert_string_equal(path, "/m.gguf"); /* defaults are in place */
    cfg_free(keys, NKEYS);
    setenv("PSYT_SERVER_THREADS", "8", 1);
    assert_int_equal(cfg_load(keys, NKEYS, missing, false, "PSYT", err, sizeof err), 0);
    assert_int_equal(threads, 8);
    assert_string_equal(cfg_sources(),
                        "defaults + /nonexistent/psyche/elpis.toml (not found) + env(PSYT_SERVER_THREADS)");
    /* an unreadable "file" is an error even when optional */
    cfg_free(keys, NKEYS);
    assert_true(cfg_load(keys, NKEYS, "/tmp", false, NULL, err, sizeof err) < 0);
    assert_non_null(strstr(err, "/tmp: cannot read"));
}

static void test_config_set_errors(void **state)
{
    char err[512];
    assert_int_equal(load(NULL, err, sizeof err), 0);
    assert_int_equal(cfg_set(keys, NKEYS, "server.threads", "9", "--threads", err, sizeof err), -EINVAL);
    assert_string_equal(err, "--threads: [server] threads: expected an integer in 1..8, got \"9\"");
    assert_int_equal(threads, 4);
    assert_int_equal(cfg_set(keys, NKEYS, "model.temp", "warm", "--temp", err, sizeof err), -EINVAL);
    assert_string_equal(err, "--temp: [model] temp: expected a number in 0..2, got \"warm\"");
    assert_int_equal(cfg_set(keys, NKEYS, "model.nope", "1", "--nope", err, sizeof err), -EINVAL);
    assert_string_equal(err, "--nope: unknown setting 'model.nope' (known: model.path, model.ctx, model.temp, "
                             "model.gpu, model.stop, server.threads, server.name)");
    assert_int_equal(cfg_set(keys, NKEYS, "model.temp", "0.25", "--temp", err, sizeof err), 0);
    assert_true(temp == 0.25);
    assert_int_equal(cfg_set(keys, NKEYS, "model.temp", "2", "--temp", err, sizeof err), 0);
    assert_true(temp == 2.0);
}

static void test_config_bad_default(void **state)
{
    int v = 0;
    const cfg_key bad[] = {{"s", "k", CFG_INT, &v, "lots", 0, 10, "help"}};
    char err[512];
    assert_int_equal(cfg_load(bad, 1, NULL, false, NULL, err, sizeof err), -EINVAL);
    assert_string_equal(err, "default for [s] k: expected an integer in 0..10, got \"lots\"");
    const cfg_key twice[] = {{"s", "k", CFG_INT, &v, "1", 0, 10, "help"}, {"s", "k", CFG_INT, &v, "1", 0, 10, "h"}};
    assert_int_equal(cfg_load(twice, 2, NULL, false, NULL, err, sizeof err), -EINVAL);
    assert_string_equal(err, "[s] k is in the table twice");
}

static void test_config_write_roundtrip(void **state)
{
    char err[512];
    assert_int_equal(load(NULL, err, sizeof err), 0);
    assert_int_equal(cfg_set(keys, NKEYS, "model.path", "/odd \"path\"\\with\ttabs\nand é", NULL, err, sizeof err), 0);
    assert_int_equal(cfg_set(keys, NKEYS, "model.ctx", "131072", NULL, err, sizeof err), 0);
    assert_int_equal(cfg_set(keys, NKEYS, "model.temp", "0.1", NULL, err, sizeof err), 0);
    assert_int_equal(cfg_set(keys, NKEYS, "model.gpu", "true", NULL, err, sizeof err), 0);
    assert_int_equal(cfg_set(keys, NKEYS, "model.stop", "</s>, 'q', \"dq\"", NULL, err, sizeof err), 0);
    assert_int_equal(cfg_set(keys, NKEYS, "server.threads", "7", NULL, err, sizeof err), 0);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cfg_write_toml(keys, NKEYS, f);
    fclose(f);
    assert_non_null(strstr(text, "[model]\n\n# Path to the GGUF model.\n# string, default \"/m.gguf\"\npath = "));
    assert_non_null(strstr(text, "# Context size in tokens.\n# integer in 128..1048576, default 4096\nctx = 131072\n"));
    assert_non_null(
        strstr(text, "# array of strings, default [\"a\", \"b\"]\nstop = [\"</s>\", \"'q'\", \"\\\"dq\\\"\"]\n"));
    assert_non_null(
        strstr(text, "# Worker threads.\n# Second help line.\n# integer in 1..8, default 4\nthreads = 7\n"));
    assert_non_null(strstr(text, "# string, default \"\"\nname = \"\"\n"));

    /* load what was written: same values */
    load(text, err, sizeof err);
    free(text);
    assert_string_equal(err, "");
    assert_string_equal(path, "/odd \"path\"\\with\ttabs\nand é");
    assert_int_equal(ctx, 131072);
    assert_true(temp == 0.1);
    assert_true(gpu);
    assert_int_equal(stop.n, 3);
    assert_string_equal(stop.items[0], "</s>");
    assert_string_equal(stop.items[1], "'q'");
    assert_string_equal(stop.items[2], "\"dq\"");
    assert_int_equal(threads, 7);
    assert_string_equal(name, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_toml_values),
        cmocka_unit_test(test_toml_escapes),
        cmocka_unit_test(test_toml_arrays),
        cmocka_unit_test(test_toml_errors),
        cmocka_unit_test(test_toml_callback_error),
        cmocka_unit_test(test_toml_scalars),
        cmocka_unit_test(test_toml_writers),
        cmocka_unit_test(test_toml_fuzz),
        cmocka_unit_test_setup_teardown(test_config_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_layers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_env_kinds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_env_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_file_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_set_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_bad_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_write_roundtrip, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
