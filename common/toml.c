/* toml.c - the TOML subset parser and the few writers that match it.
 *
 * One pass over the text, one line at a time; only arrays cross lines. The
 * document is checked first for valid UTF-8 and stray control characters, so
 * the rest of the parser only ever sees "\n" or "\r\n" line ends. See toml.h
 * for the subset and the callback contract. */
#include "toml.h"

#include "utf8.h"

#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    const char *p, *end;
    int line;
    const char *name; /* for messages; NULL gives "line N" */
    char *err;
    size_t errlen;
} parser;

/* Names already seen (sections, or keys of the current section) with the
 * line each was first seen on, to report duplicates. */
typedef struct names {
    char **v;
    int *lines;
    size_t n, cap;
} names;

/* The strings of one array value while it is being parsed. */
typedef struct strvec {
    char **v;
    size_t n, cap;
} strvec;

static int fail_at(parser *ps, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail_at(parser *ps, int line, const char *fmt, ...)
{
    if (!ps->err || !ps->errlen) return -EINVAL;
    int n = ps->name ? snprintf(ps->err, ps->errlen, "%s:%d: ", ps->name, line)
                     : snprintf(ps->err, ps->errlen, "line %d: ", line);
    if (n >= 0 && (size_t)n < ps->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    utf8_trim_partial(ps->err); /* a message cut by errlen ends between characters */
    return -EINVAL;
}

static bool is_bare(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* ---- names and string vectors ---------------------------------------- */

static int names_find(const names *s, const char *p)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], p) == 0) return (int)i;
    return -1;
}

static int names_add(names *s, const char *p, int line)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v) return -ENOMEM;
        s->v = v;
        int *l = realloc(s->lines, cap * sizeof *l);
        if (!l) return -ENOMEM;
        s->lines = l;
        s->cap = cap;
    }
    char *c = strdup(p);
    if (!c) return -ENOMEM;
    s->v[s->n] = c;
    s->lines[s->n++] = line;
    return 0;
}

static void names_clear(names *s)
{
    for (size_t i = 0; i < s->n; i++) free(s->v[i]);
    s->n = 0;
}

static void names_free(names *s)
{
    names_clear(s);
    free(s->v);
    free(s->lines);
}

static int strvec_push(strvec *a, const char *s)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        char **v = realloc(a->v, cap * sizeof *v);
        if (!v) return -ENOMEM;
        a->v = v;
        a->cap = cap;
    }
    char *c = strdup(s);
    if (!c) return -ENOMEM;
    a->v[a->n++] = c;
    return 0;
}

static void strvec_clear(strvec *a)
{
    for (size_t i = 0; i < a->n; i++) free(a->v[i]);
    a->n = 0;
}

/* ---- the document as a whole ----------------------------------------- */

/* Valid UTF-8, no NUL, no control characters but tab and line ends, and a
 * carriage return only before a newline (TOML requires all of it). */
static int check_text(parser *ps)
{
    const unsigned char *s = (const unsigned char *)ps->p, *e = (const unsigned char *)ps->end;
    int line = 1;
    while (s < e) {
        unsigned c = *s;
        if (c == '\n') {
            line++, s++;
            continue;
        }
        if (c == '\r') {
            if (s + 1 >= e || s[1] != '\n') return fail_at(ps, line, "carriage return without a newline");
            s++;
            continue;
        }
        if (c == '\t' || (c >= 0x20 && c < 0x7f)) {
            s++;
            continue;
        }
        if (c < 0x20 || c == 0x7f) return fail_at(ps, line, "control character U+%04X is not allowed", c);
        uint32_t cp;
        ssize_t l = utf8_decode((const char *)s, (size_t)(e - s), &cp);
        if (l < 0) return fail_at(ps, line, "invalid UTF-8");
        s += l;
    }
    return 0;
}

static bool at_eol(const parser *ps) { return ps->p >= ps->end || *ps->p == '\n' || *ps->p == '\r'; }

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t')) ps->p++;
}

static void skip_comment(parser *ps)
{
    if (ps->p < ps->end && *ps->p == '#')
        while (!at_eol(ps)) ps->p++;
}

static void next_line(parser *ps)
{
    if (ps->p < ps->end && *ps->p == '\r') ps->p++;
    if (ps->p < ps->end && *ps->p == '\n') ps->p++, ps->line++;
}

/* Length of the rest of the line, capped, for quoting it in a message. */
static int rest_len(const parser *ps)
{
    const char *q = ps->p;
    while (q < ps->end && *q != '\n' && *q != '\r') q++;
    return (int)utf8_truncate_bytes(ps->p, (size_t)(q - ps->p), 40); /* whole characters */
}

/* After a header or a value only blanks and a comment may follow. */
static int end_of_line(parser *ps, const char *after)
{
    skip_ws(ps);
    skip_comment(ps);
    if (!at_eol(ps)) return fail_at(ps, ps->line, "unexpected '%.*s' after %s", rest_len(ps), ps->p, after);
    next_line(ps);
    return 0;
}

/* Blanks, line ends and comments, as allowed between array elements. */
static void skip_ws_lines(parser *ps)
{
    for (;;) {
        skip_ws(ps);
        skip_comment(ps);
        if (ps->p >= ps->end || (*ps->p != '\n' && *ps->p != '\r')) return;
        next_line(ps);
    }
}

/* ---- strings ----------------------------------------------------------- */

static int put_utf8(buf *b, uint32_t cp)
{
    char u[UTF8_MAX_SEQ];
    return buf_append(b, u, utf8_encode(cp, u));
}

static int parse_escape_hex(parser *ps, int digits, buf *out)
{
    uint32_t cp = 0;
    for (int i = 0; i < digits; i++) {
        char c = ps->p < ps->end ? *ps->p : '\0';
        int d = is_digit(c) ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
        if (d < 0) return fail_at(ps, ps->line, "\\%c escape needs %d hex digits", digits == 4 ? 'u' : 'U', digits);
        cp = cp << 4 | (uint32_t)d;
        ps->p++;
    }
    if (cp == 0) return fail_at(ps, ps->line, "\\u0000 is not allowed (strings cannot hold NUL)");
    if (!utf8_is_scalar(cp)) return fail_at(ps, ps->line, "escape U+%04X is not a Unicode scalar value", (unsigned)cp);
    return put_utf8(out, cp);
}

/* A basic ("...") or literal ('...') string; ps->p is on the opening quote. */
static int parse_string(parser *ps, buf *out)
{
    char q = *ps->p;
    buf_reset(out);
    if (ps->end - ps->p >= 3 && ps->p[1] == q && ps->p[2] == q)
        return fail_at(ps, ps->line, "multi-line strings are not supported");
    ps->p++;
    for (;;) {
        const char *run = ps->p;
        while (!at_eol(ps) && *ps->p != q && (q == '\'' || *ps->p != '\\')) ps->p++;
        int rc = buf_append(out, run, (size_t)(ps->p - run));
        if (rc) return rc;
        if (at_eol(ps)) return fail_at(ps, ps->line, "unterminated string");
        if (*ps->p++ == q) return 0;
        /* a backslash in a basic string */
        char e = ps->p < ps->end ? *ps->p++ : '\n';
        const char *rep = NULL;
        switch (e) {
        case 'b': rep = "\b"; break;
        case 't': rep = "\t"; break;
        case 'n': rep = "\n"; break;
        case 'f': rep = "\f"; break;
        case 'r': rep = "\r"; break;
        case '"': rep = "\""; break;
        case '\\': rep = "\\"; break;
        case 'u': rc = parse_escape_hex(ps, 4, out); break;
        case 'U': rc = parse_escape_hex(ps, 8, out); break;
        case '\n':
        case '\r': return fail_at(ps, ps->line, "unterminated string");
        default:
            if ((unsigned char)e >= 0x80) return fail_at(ps, ps->line, "invalid escape in string");
            return fail_at(ps, ps->line, "invalid escape '\\%c' in string", e);
        }
        if (rep) rc = buf_puts(out, rep);
        if (rc) return rc;
    }
}

/* ---- values ------------------------------------------------------------ */

static int parse_array(parser *ps, strvec *arr, buf *tmp)
{
    int open = ps->line;
    ps->p++;
    for (;;) {
        skip_ws_lines(ps);
        if (ps->p >= ps->end) return fail_at(ps, open, "unterminated array (no ']')");
        if (*ps->p == ']') break;
        if (*ps->p != '"' && *ps->p != '\'') {
            if (*ps->p == ',') return fail_at(ps, ps->line, "unexpected ',' in array");
            return fail_at(ps, ps->line, "expected a string or ']' in array (opened on line %d), got '%.*s'", open,
                           rest_len(ps), ps->p);
        }
        int rc = parse_string(ps, tmp);
        if (!rc) rc = strvec_push(arr, buf_str(tmp));
        if (rc) return rc;
        skip_ws_lines(ps);
        if (ps->p >= ps->end) return fail_at(ps, open, "unterminated array (no ']')");
        if (*ps->p == ']') break;
        if (*ps->p != ',')
            return fail_at(ps, ps->line, "expected ',' or ']' in array, got '%.*s'", rest_len(ps), ps->p);
        ps->p++;
    }
    ps->p++;
    return 0;
}

/* A bare value: a boolean or a number. */
static int parse_scalar(parser *ps, toml_item *it)
{
    const char *s = ps->p;
    while (!at_eol(ps) && *ps->p != ' ' && *ps->p != '\t' && *ps->p != '#') ps->p++;
    size_t len = (size_t)(ps->p - s);
    if (len == 4 && memcmp(s, "true", 4) == 0) {
        it->kind = TOML_BOOL, it->b = true;
        return 0;
    }
    if (len == 5 && memcmp(s, "false", 5) == 0) {
        it->kind = TOML_BOOL, it->b = false;
        return 0;
    }
    int rc = toml_int_parse(s, len, &it->i);
    if (rc == 0) {
        it->kind = TOML_INT;
        return 0;
    }
    if (rc == -ERANGE) return fail_at(ps, ps->line, "integer %.*s does not fit in 64 bits", (int)len, s);
    rc = toml_float_parse(s, len, &it->f);
    if (rc == 0) {
        it->kind = TOML_FLOAT;
        return 0;
    }
    if (rc == -ERANGE) return fail_at(ps, ps->line, "float %.*s is out of range", (int)len, s);
    if (rc != -EINVAL) return rc;
    return fail_at(ps, ps->line, "invalid value '%.*s' (expected a number, true, false, a \"string\" or an array)",
                   (int)len, s);
}

static int parse_value(parser *ps, toml_item *it, buf *str, strvec *arr)
{
    switch (*ps->p) {
    case '"':
    case '\'': {
        int rc = parse_string(ps, str);
        if (rc) return rc;
        it->kind = TOML_STRING, it->str = buf_str(str);
        return 0;
    }
    case '[': {
        int rc = parse_array(ps, arr, str);
        if (rc) return rc;
        it->kind = TOML_STRARRAY, it->items = (const char *const *)arr->v, it->n = arr->n;
        return 0;
    }
    case '{': return fail_at(ps, ps->line, "inline tables are not supported");
    default: return parse_scalar(ps, it);
    }
}

/* ---- lines ------------------------------------------------------------- */

typedef struct doc {
    parser ps;
    toml_cb cb;
    void *ud;
    buf section; /* current section name */
    buf key, str;
    strvec arr;
    names sections, keys;
} doc;

static int call(doc *d, const toml_item *it)
{
    char msg[1024] = "";
    int rc = d->cb(d->ud, it, msg, sizeof msg);
    if (rc) {
        fail_at(&d->ps, it->line, "%s", msg[0] ? msg : "rejected");
        return rc < 0 ? rc : -EINVAL;
    }
    return 0;
}

static int parse_header(doc *d)
{
    parser *ps = &d->ps;
    int line = ps->line;
    ps->p++;
    if (ps->p < ps->end && *ps->p == '[') return fail_at(ps, line, "arrays of tables [[...]] are not supported");
    skip_ws(ps);
    const char *s = ps->p;
    while (ps->p < ps->end && is_bare(*ps->p)) ps->p++;
    size_t len = (size_t)(ps->p - s);
    if (len == 0) {
        if (ps->p < ps->end && (*ps->p == '"' || *ps->p == '\''))
            return fail_at(ps, line, "quoted section names are not supported");
        return fail_at(ps, line, "expected a section name after '['");
    }
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '.') return fail_at(ps, line, "nested tables [a.b] are not supported");
    if (ps->p >= ps->end || *ps->p != ']')
        return fail_at(ps, line, "expected ']' after section name '%.*s'", (int)len, s);
    ps->p++;
    int rc = end_of_line(ps, "the section header");
    if (rc) return rc;
    buf_reset(&d->section);
    if ((rc = buf_append(&d->section, s, len))) return rc;
    int i = names_find(&d->sections, d->section.data);
    if (i >= 0)
        return fail_at(ps, line, "duplicate section [%s] (first on line %d)", d->section.data, d->sections.lines[i]);
    if ((rc = names_add(&d->sections, d->section.data, line))) return rc;
    names_clear(&d->keys);
    toml_item it = {.line = line, .section = d->section.data};
    return call(d, &it);
}

static int parse_keyval(doc *d)
{
    parser *ps = &d->ps;
    int line = ps->line;
    const char *s = ps->p;
    while (ps->p < ps->end && is_bare(*ps->p)) ps->p++;
    size_t len = (size_t)(ps->p - s);
    if (len == 0) {
        if (*ps->p == '"' || *ps->p == '\'') return fail_at(ps, line, "quoted keys are not supported");
        if (*ps->p == '=') return fail_at(ps, line, "missing key before '='");
        return fail_at(ps, line, "expected a key, a [section] or a comment, got '%.*s'", rest_len(ps), ps->p);
    }
    buf_reset(&d->key);
    int rc = buf_append(&d->key, s, len);
    if (rc) return rc;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '.') return fail_at(ps, line, "dotted keys are not supported");
    if (ps->p >= ps->end || *ps->p != '=') return fail_at(ps, line, "missing '=' after key '%s'", d->key.data);
    ps->p++;
    skip_ws(ps);
    if (at_eol(ps) || *ps->p == '#') return fail_at(ps, line, "missing value for key '%s'", d->key.data);

    const char *section = buf_str(&d->section);
    int i = names_find(&d->keys, d->key.data);
    if (i >= 0) {
        if (*section)
            return fail_at(ps, line, "duplicate key '%s' in [%s] (first set on line %d)", d->key.data, section,
                           d->keys.lines[i]);
        return fail_at(ps, line, "duplicate key '%s' (first set on line %d)", d->key.data, d->keys.lines[i]);
    }
    if ((rc = names_add(&d->keys, d->key.data, line))) return rc;

    toml_item it = {.line = line, .section = section, .key = d->key.data, .raw = ps->p};
    strvec_clear(&d->arr);
    if ((rc = parse_value(ps, &it, &d->str, &d->arr))) return rc;
    it.rawlen = (size_t)(ps->p - it.raw);
    if ((rc = end_of_line(ps, "the value"))) return rc;
    return call(d, &it);
}

int toml_parse(const char *text, size_t len, const char *name, toml_cb cb, void *ud, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (!text) text = "", len = 0;
    doc d = {.ps = {text, text + len, 1, name, err, errlen}, .cb = cb, .ud = ud};
    int rc = check_text(&d.ps);
    while (!rc && d.ps.p < d.ps.end) {
        skip_ws(&d.ps);
        skip_comment(&d.ps);
        if (at_eol(&d.ps)) next_line(&d.ps);
        else if (*d.ps.p == '[') rc = parse_header(&d);
        else rc = parse_keyval(&d);
    }
    if (rc == -ENOMEM && err && errlen && !err[0]) snprintf(err, errlen, "out of memory");
    buf_free(&d.section);
    buf_free(&d.key);
    buf_free(&d.str);
    strvec_clear(&d.arr);
    free(d.arr.v);
    names_free(&d.sections);
    names_free(&d.keys);
    return rc;
}

/* ---- scalars on their own -------------------------------------------- */

int toml_int_parse(const char *s, size_t len, long long *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (i >= len || (s[i] == '0' && len - i > 1)) return -EINVAL; /* no leading zeros */
    unsigned long long lim = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX, v = 0;
    bool prev_digit = false;
    for (; i < len; i++) {
        if (s[i] == '_') {
            if (!prev_digit || i + 1 >= len || !is_digit(s[i + 1])) return -EINVAL;
            prev_digit = false;
            continue;
        }
        if (!is_digit(s[i])) return -EINVAL;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (lim - d) / 10) return -ERANGE;
        v = v * 10 + d;
        prev_digit = true;
    }
    *out = neg ? (v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v) : (long long)v;
    return 0;
}

/* Copies a run of digits with single '_' between digits into tmp. */
static bool take_digits(const char *s, size_t len, size_t *i, char *tmp, size_t *n)
{
    size_t j = *i;
    while (j < len) {
        if (is_digit(s[j])) tmp[(*n)++] = s[j];
        else if (!(s[j] == '_' && j > *i && is_digit(s[j - 1]) && j + 1 < len && is_digit(s[j + 1]))) break;
        j++;
    }
    if (j == *i) return false;
    *i = j;
    return true;
}

int toml_float_parse(const char *s, size_t len, double *out)
{
    char tmp[128];
    size_t i = 0, n = 0;
    if (len == 0 || len >= sizeof tmp) return -EINVAL;
    if (s[0] == '+' || s[0] == '-') tmp[n++] = s[i++];
    if (len - i == 3 && (memcmp(s + i, "inf", 3) == 0 || memcmp(s + i, "nan", 3) == 0)) {
        double d = s[i] == 'i' ? INFINITY : NAN;
        *out = s[0] == '-' ? -d : d;
        return 0;
    }
    size_t start = i;
    if (!take_digits(s, len, &i, tmp, &n)) return -EINVAL;
    if (s[start] == '0' && i - start > 1) return -EINVAL;
    bool frac = false, exp = false;
    if (i < len && s[i] == '.') {
        tmp[n++] = s[i++];
        if (!take_digits(s, len, &i, tmp, &n)) return -EINVAL;
        frac = true;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        tmp[n++] = s[i++];
        if (i < len && (s[i] == '+' || s[i] == '-')) tmp[n++] = s[i++];
        if (!take_digits(s, len, &i, tmp, &n)) return -EINVAL;
        exp = true;
    }
    if (i != len || (!frac && !exp)) return -EINVAL;
    tmp[n] = '\0';
    /* strtod follows LC_NUMERIC, and the TUI sets a locale: parse in "C". */
    locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (!c) return -ENOMEM;
    char *e;
    double d = strtod_l(tmp, &e, c);
    freelocale(c);
    if (*e) return -EINVAL;
    if (isinf(d)) return -ERANGE;
    *out = d;
    return 0;
}

/* ---- writers ----------------------------------------------------------- */

int toml_quote(buf *b, const char *s)
{
    size_t len0 = b->len;
    int rc = buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; !rc && *p; p++) {
        switch (*p) {
        case '"': rc = buf_puts(b, "\\\""); break;
        case '\\': rc = buf_puts(b, "\\\\"); break;
        case '\n': rc = buf_puts(b, "\\n"); break;
        case '\t': rc = buf_puts(b, "\\t"); break;
        case '\r': rc = buf_puts(b, "\\r"); break;
        case '\b': rc = buf_puts(b, "\\b"); break;
        case '\f': rc = buf_puts(b, "\\f"); break;
        default: rc = *p < 0x20 || *p == 0x7f ? buf_printf(b, "\\u%04X", *p) : buf_putc(b, (char)*p);
        }
    }
    if (!rc) rc = buf_putc(b, '"');
    if (rc && b->data) b->len = len0, b->data[len0] = '\0';
    return rc;
}

int toml_float_format(buf *b, double d)
{
    if (isnan(d)) return buf_puts(b, "nan");
    if (isinf(d)) return buf_puts(b, d < 0 ? "-inf" : "inf");
    char tmp[64];
    locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    locale_t old = c ? uselocale(c) : (locale_t)0;
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d) break;
    }
    if (c) {
        uselocale(old);
        freelocale(c);
    }
    if (!strpbrk(tmp, ".e")) return buf_printf(b, "%s.0", tmp);
    return buf_puts(b, tmp);
}
