/* toml.h - a parser for the subset of TOML our config files use.
 *
 * Supported: comments, blank lines, [section] headers with bare names,
 * key = value with bare keys, and values that are basic strings "..." (with
 * escapes), literal strings '...', integers (sign, _ separators), floats
 * (1.5, -0.2, 1e3, inf, nan), booleans, and arrays of strings (which may span
 * lines and end with a trailing comma). Not supported, and reported as such:
 * dotted or quoted keys, [a.b] tables, [[arrays of tables]], inline tables,
 * multi-line strings, dates, arrays of anything but strings.
 *
 * The parser holds no state between calls and allocates only while it runs:
 * toml_parse() hands each section header and each key/value to a callback,
 * in document order, with pointers that are valid only during that call.
 * Duplicate keys and duplicate sections are errors. Every error names its
 * line: "configs/elpis.toml:12: unterminated string". */
#ifndef PSY_TOML_H
#define PSY_TOML_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

typedef enum { TOML_STRING, TOML_INT, TOML_FLOAT, TOML_BOOL, TOML_STRARRAY } toml_kind;

typedef struct toml_item {
    int line;            /* 1-based line of the header or of the key */
    const char *section; /* current section; "" before the first header */
    const char *key;     /* NULL: this item is the [section] header itself */
    /* The rest is set only when key != NULL. */
    toml_kind kind;
    const char *str;          /* TOML_STRING: decoded, NUL-terminated (no NULs inside) */
    long long i;              /* TOML_INT */
    double f;                 /* TOML_FLOAT */
    bool b;                   /* TOML_BOOL */
    const char *const *items; /* TOML_STRARRAY: n decoded strings */
    size_t n;
    const char *raw; /* the value as written in the document (not */
    size_t rawlen;   /*   NUL-terminated), for error messages */
} toml_item;

/* Called once per header and once per key. Return 0 to go on, or a negative
 * errno to stop; then write a message without location into err (at most
 * errlen bytes) and toml_parse() prefixes "NAME:LINE: " to it. */
typedef int (*toml_cb)(void *ud, const toml_item *item, char *err, size_t errlen);

/* Parses text[0..len) (need not be NUL-terminated). name is used in error
 * messages ("name:LINE: ..."); NULL gives "line LINE: ...".
 * Returns 0, -EINVAL for a syntax error, -ENOMEM, or what the callback
 * returned; on error err holds the message and no more callbacks are made. */
int toml_parse(const char *text, size_t len, const char *name, toml_cb cb, void *ud, char *err, size_t errlen);

/* The scalar grammars on their own, for values from the environment or flags.
 * Each takes the whole of s[0..len) and returns 0, -EINVAL for bad syntax or
 * -ERANGE for an integer outside 64 bits or a float that overflows.
 * toml_float_parse() wants a TOML float (a fraction, an exponent, inf or nan);
 * "3" is an integer, not a float. Floats parse the same in every locale. */
int toml_int_parse(const char *s, size_t len, long long *out);
int toml_float_parse(const char *s, size_t len, double *out);

/* Appends s as a TOML basic string, quotes included, escaping what must be.
 * Returns 0 or -ENOMEM. */
int toml_quote(buf *b, const char *s);

/* Appends d as a TOML float that parses back to exactly d (always with a
 * '.' or exponent, or inf/nan), whatever the process locale. 0 or -ENOMEM. */
int toml_float_format(buf *b, double d);

#endif
