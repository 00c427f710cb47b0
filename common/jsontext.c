/* jsontext.c - a strict, non-allocating JSON scanner (see jsontext.h): it
 * validates text and locates members; it builds nothing. One recursive
 * descent over the bytes with a depth limit. */
#include "jsontext.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "utf8.h"

#define HIGH_SURROGATE_FIRST 0xD800u
#define LOW_SURROGATE_FIRST 0xDC00u
#define LOW_SURROGATE_LAST 0xDFFFu

typedef struct scan {
    const char *s;
    size_t n, i;
    int depth;
    char *err; /* may be NULL: json_text_member does not report */
    size_t errlen;
} scan;

static int fail(scan *c, const char *what)
{
    if (c->err && c->errlen) snprintf(c->err, c->errlen, "byte %zu: %s", c->i, what);
    return -EINVAL;
}

/* A character we refuse in text that is otherwise on its way to being JSON. */
static int refuse(scan *c, const char *what)
{
    fail(c, what);
    return -EILSEQ;
}

static void skip_ws(scan *c)
{
    while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\n' || c->s[c->i] == '\r')) c->i++;
}

static int hex4(scan *c, uint32_t *v)
{
    *v = 0;
    for (int k = 0; k < 4; k++, c->i++) {
        char h = c->i < c->n ? c->s[c->i] : '\0';
        int d = h >= '0' && h <= '9' ? h - '0' : (h | 0x20) >= 'a' && (h | 0x20) <= 'f' ? (h | 0x20) - 'a' + 10 : -1;
        if (d < 0) return fail(c, "\\u needs four hex digits");
        *v = *v << 4 | (uint32_t)d;
    }
    return 0;
}

/* After "\u": the escape, and its low half when it is a high surrogate. */
static int unicode_escape(scan *c)
{
    uint32_t v, lo;
    int rc = hex4(c, &v);
    if (rc) return rc;
    if (v == 0) return refuse(c, "\\u0000 is not allowed (strings cannot hold NUL)");
    if (v >= LOW_SURROGATE_FIRST && v <= LOW_SURROGATE_LAST) return refuse(c, "unpaired surrogate escape");
    if (v < HIGH_SURROGATE_FIRST || v >= LOW_SURROGATE_FIRST) return 0;
    if (c->i + 2 > c->n || c->s[c->i] != '\\' || c->s[c->i + 1] != 'u') return refuse(c, "unpaired surrogate escape");
    c->i += 2;
    if ((rc = hex4(c, &lo))) return rc;
    return lo >= LOW_SURROGATE_FIRST && lo <= LOW_SURROGATE_LAST ? 0 : refuse(c, "unpaired surrogate escape");
}

/* A string; c->i is on the opening quote. */
static int string(scan *c)
{
    c->i++;
    while (c->i < c->n) {
        unsigned char ch = (unsigned char)c->s[c->i];
        if (ch == '"') {
            c->i++;
            return 0;
        }
        if (ch < 0x20) {
            char m[80];
            snprintf(m, sizeof m, "raw control character 0x%02X inside a string (escape it)", ch);
            return refuse(c, m);
        }
        if (ch == '\\') {
            char e = c->i + 1 < c->n ? c->s[c->i + 1] : '\0';
            c->i += 2;
            if (e == 'u') {
                int rc = unicode_escape(c);
                if (rc) return rc;
            } else if (!e || !strchr("\"\\/bfnrt", e)) {
                c->i -= 2;
                return fail(c, "invalid escape in a string");
            }
            continue;
        }
        uint32_t cp;
        ssize_t l = utf8_decode(c->s + c->i, c->n - c->i, &cp);
        if (l < 0) return refuse(c, "invalid UTF-8 in a string");
        c->i += (size_t)l;
    }
    return fail(c, "unterminated string");
}

static size_t digits(scan *c)
{
    size_t from = c->i;
    while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9') c->i++;
    return c->i - from;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int number(scan *c)
{
    if (c->s[c->i] == '-') c->i++;
    size_t first = c->i;
    size_t k = digits(c);
    if (k == 0) return fail(c, "invalid number");
    if (k > 1 && c->s[first] == '0') return fail(c, "leading zeros are not allowed in a number");
    if (c->i < c->n && c->s[c->i] == '.') {
        c->i++;
        if (!digits(c)) return fail(c, "a number needs digits after '.'");
    }
    if (c->i < c->n && (c->s[c->i] == 'e' || c->s[c->i] == 'E')) {
        c->i++;
        if (c->i < c->n && (c->s[c->i] == '+' || c->s[c->i] == '-')) c->i++;
        if (!digits(c)) return fail(c, "a number needs digits in its exponent");
    }
    return 0;
}

static int literal(scan *c, const char *word)
{
    size_t k = strlen(word);
    if (c->n - c->i < k || memcmp(c->s + c->i, word, k)) return fail(c, "invalid JSON value");
    c->i += k;
    return 0;
}

static int value(scan *c);

/* Object or array; c->i is on '{' or '['. */
static int container(scan *c)
{
    bool obj = c->s[c->i] == '{';
    char close = obj ? '}' : ']';
    if (++c->depth > JSON_TEXT_MAX_DEPTH) return fail(c, "nested too deeply");
    c->i++;
    skip_ws(c);
    if (c->i < c->n && c->s[c->i] == close) {
        c->i++;
        c->depth--;
        return 0;
    }
    for (;;) {
        int rc;
        if (obj) {
            if (c->i >= c->n || c->s[c->i] != '"') return fail(c, "expected a string key");
            if ((rc = string(c))) return rc;
            skip_ws(c);
            if (c->i >= c->n || c->s[c->i] != ':') return fail(c, "expected ':' after a key");
            c->i++;
        }
        if ((rc = value(c))) return rc;
        skip_ws(c);
        if (c->i < c->n && c->s[c->i] == ',') {
            c->i++;
            skip_ws(c);
            continue;
        }
        if (c->i < c->n && c->s[c->i] == close) break;
        return fail(c, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    c->i++;
    c->depth--;
    return 0;
}

static int value(scan *c)
{
    skip_ws(c);
    if (c->i >= c->n) return fail(c, "expected a JSON value");
    switch (c->s[c->i]) {
    case '{':
    case '[': return container(c);
    case '"': return string(c);
    case 't': return literal(c, "true");
    case 'f': return literal(c, "false");
    case 'n': return literal(c, "null");
    default:
        if (c->s[c->i] == '-' || (c->s[c->i] >= '0' && c->s[c->i] <= '9')) return number(c);
        return fail(c, "invalid JSON value");
    }
}

int json_text_check(const char *s, size_t n, char *err, size_t errlen)
{
    scan c = {s, n, 0, 0, err, errlen};
    int rc = value(&c);
    if (rc) return rc;
    skip_ws(&c);
    if (c.i < n) {
        fail(&c, "trailing data after the JSON value (send one message per line)");
        return -E2BIG;
    }
    return 0;
}

/* In the object at c->i: the member path[0], then deeper. */
static int member(scan *c, const char *const *path, size_t depth, size_t *start, size_t *len)
{
    skip_ws(c);
    if (c->i >= c->n || c->s[c->i] != '{') return -ENOENT;
    size_t want = strlen(path[0]);
    c->i++;
    skip_ws(c);
    while (c->i < c->n && c->s[c->i] == '"') {
        size_t key = c->i + 1;
        int rc = string(c);
        if (rc) return rc;
        bool hit = c->i - 1 - key == want && memcmp(c->s + key, path[0], want) == 0;
        skip_ws(c);
        if (c->i >= c->n || c->s[c->i] != ':') return -EINVAL;
        c->i++;
        skip_ws(c);
        if (hit && depth > 1) return member(c, path + 1, depth - 1, start, len);
        size_t from = c->i;
        if ((rc = value(c))) return rc;
        if (hit) {
            *start = from;
            *len = c->i - from;
            return 0;
        }
        skip_ws(c);
        if (c->i >= c->n || c->s[c->i] != ',') break;
        c->i++;
        skip_ws(c);
    }
    return -ENOENT;
}

int json_text_member(const char *s, size_t n, const char *const *path, size_t depth, size_t *start, size_t *len)
{
    if (depth == 0) return -EINVAL;
    scan c = {s, n, 0, 0, NULL, 0};
    return member(&c, path, depth, start, len);
}
