/* termsafe.c - the terminal-safe text filter (see termsafe.h): a UTF-8
 * decoder feeding a small state machine over ECMA-48 control sequences.
 * Owns nothing but the caller's term_safe state. */
#include "termsafe.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

enum {
    TS_TEXT,       /* plain text */
    TS_ESC,        /* after ESC */
    TS_ESC_INTER,  /* ESC and intermediate bytes (0x20..0x2F): nF sequences */
    TS_CSI,        /* inside ESC [ ... (or U+009B) until a final byte */
    TS_STRING,     /* inside OSC/DCS/SOS/PM/APC until BEL, ST or ESC \ */
    TS_STRING_ESC, /* ESC inside a string: '\' ends it */
};

#define REPLACEMENT "\xEF\xBF\xBD"

void term_safe_init(term_safe *f) { memset(f, 0, sizeof *f); }

static bool opens_string(uint32_t c) { return c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_'; }
static bool c1_opens_string(uint32_t c) { return c == 0x9D || c == 0x90 || c == 0x98 || c == 0x9E || c == 0x9F; }

/* Plain text: what is kept, and where sequences begin. */
static int on_text(term_safe *f, uint32_t c, const unsigned char *bytes, size_t k, buf *out)
{
    if (c == 0x1B) f->state = TS_ESC;
    else if (c == 0x9B) f->state = TS_CSI;
    else if (c1_opens_string(c)) f->state = TS_STRING;
    else if (c == '\n' || c == '\t') return buf_putc(out, (char)c);
    else if (c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0)) return 0; /* a control: dropped */
    else return buf_append(out, bytes, k);
    return 0;
}

/* One character (c, encoded as bytes[0..k)) through the state machine. A
 * character that ends a malformed sequence is looked at again as text, so
 * nothing but the sequence itself is lost. */
static int on_char(term_safe *f, uint32_t c, const unsigned char *bytes, size_t k, buf *out)
{
    switch (f->state) {
    case TS_TEXT: return on_text(f, c, bytes, k, out);
    case TS_ESC:
        if (c == '[') f->state = TS_CSI;
        else if (opens_string(c)) f->state = TS_STRING;
        else if (c >= 0x20 && c <= 0x2F) f->state = TS_ESC_INTER;
        else if (c >= 0x30 && c <= 0x7E) f->state = TS_TEXT; /* ESC c, ESC 7, ESC = ...: dropped */
        else if (c != 0x1B) {
            f->state = TS_TEXT; /* a lone ESC: dropped, the character kept */
            return on_text(f, c, bytes, k, out);
        }
        return 0;
    case TS_ESC_INTER:
        if (c >= 0x20 && c <= 0x2F) return 0;
        f->state = TS_TEXT;
        if (c >= 0x30 && c <= 0x7E) return 0;
        return on_text(f, c, bytes, k, out);
    case TS_CSI:
        if (c >= 0x20 && c <= 0x3F) return 0; /* parameters and intermediates */
        f->state = TS_TEXT;
        if (c >= 0x40 && c <= 0x7E) return 0; /* the final byte */
        return on_text(f, c, bytes, k, out);
    case TS_STRING:
        if (c == 0x07 || c == 0x9C) f->state = TS_TEXT;
        else if (c == 0x1B) f->state = TS_STRING_ESC;
        else if (c == '\n') {
            f->state = TS_TEXT; /* unterminated: the text after it is shown */
            return buf_putc(out, '\n');
        }
        return 0;
    case TS_STRING_ESC:
        if (c == '\\') {
            f->state = TS_TEXT;
            return 0;
        }
        f->state = TS_ESC; /* ESC ends the string and starts a new sequence */
        return on_char(f, c, bytes, k, out);
    }
    return 0;
}

/* Expected length of a UTF-8 sequence from its first byte; 0 if invalid. */
static unsigned seq_len(unsigned char b)
{
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) return 2;
    if (b >= 0xE0 && b <= 0xEF) return 3;
    if (b >= 0xF0 && b <= 0xF4) return 4;
    return 0;
}

/* Whether b may follow the bytes held so far (rejects overlongs, surrogates
 * and code points above U+10FFFF at the second byte). */
static bool continues(const term_safe *f, unsigned char b)
{
    if ((b & 0xC0) != 0x80) return false;
    if (f->un != 1) return true;
    unsigned char l = f->u[0];
    if (l == 0xE0) return b >= 0xA0;
    if (l == 0xED) return b < 0xA0;
    if (l == 0xF0) return b >= 0x90;
    if (l == 0xF4) return b < 0x90;
    return true;
}

static uint32_t decode(const unsigned char *u, unsigned n)
{
    if (n == 1) return u[0];
    uint32_t c = u[0] & (0x7F >> n);
    for (unsigned i = 1; i < n; i++) c = (c << 6) | (u[i] & 0x3F);
    return c;
}

/* An invalid byte: one U+FFFD, seen as text (it also ends any sequence). */
static int bad_byte(term_safe *f, buf *out)
{
    f->un = f->need = 0;
    static const unsigned char rep[] = REPLACEMENT;
    return on_char(f, 0xFFFD, rep, 3, out);
}

int term_safe_feed(term_safe *f, const char *s, size_t n, buf *out)
{
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        unsigned char b = (unsigned char)s[i];
        if (f->un == 0) {
            unsigned len = seq_len(b);
            i++;
            if (len == 0) rc = bad_byte(f, out);
            else if (len == 1) rc = on_char(f, b, &b, 1, out);
            else f->u[0] = b, f->un = 1, f->need = (unsigned char)len;
            continue;
        }
        if (!continues(f, b)) {
            rc = bad_byte(f, out); /* the held lead byte; b is looked at again */
            continue;
        }
        f->u[f->un++] = b;
        i++;
        if (f->un == f->need) {
            unsigned k = f->un;
            f->un = f->need = 0;
            rc = on_char(f, decode(f->u, k), f->u, k, out);
        }
    }
    return rc;
}

int term_safe_finish(term_safe *f, buf *out)
{
    int rc = f->un ? bad_byte(f, out) : 0;
    term_safe_init(f);
    return rc;
}

int term_safe_dup(const char *s, size_t n, char **out)
{
    term_safe f;
    term_safe_init(&f);
    buf b = BUF_INIT;
    int rc = term_safe_feed(&f, s, n, &b);
    if (!rc) rc = term_safe_finish(&f, &b);
    if (!rc) rc = buf_reserve(&b, 1);
    if (rc) {
        buf_free(&b);
        *out = NULL;
        return rc < 0 ? rc : -ENOMEM;
    }
    b.data[b.len] = 0;
    *out = buf_detach(&b);
    return 0;
}
