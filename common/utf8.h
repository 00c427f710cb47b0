/* utf8.h - the one UTF-8 helper of the project: validate, decode, encode,
 * count, cut at a character boundary, and terminal display width.
 *
 * "Valid" is RFC 3629: shortest form only, no surrogates (U+D800..U+DFFF),
 * nothing above U+10FFFF. Every function takes an explicit length and never
 * reads past it; none allocates except utf8_append_sanitized (into a buf).
 * Where a function walks text that may be invalid, each byte that does not
 * start a valid sequence counts as one character (shown as U+FFFD, one
 * column wide), so counts, cuts and widths agree with what a sanitised copy
 * would give.
 *
 * Widths follow Unicode's East Asian Width (W and F are 2 columns) and
 * general category (Mn, Me, Cf and Hangul medial/final jamo are 0), from a
 * built-in table: results do not depend on the process locale. */
#ifndef PSY_UTF8_H
#define PSY_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define UTF8_MAX_CP 0x10FFFFu    /* the largest Unicode scalar value */
#define UTF8_REPLACEMENT 0xFFFDu /* U+FFFD REPLACEMENT CHARACTER */
#define UTF8_MAX_SEQ 4           /* bytes in the longest sequence */

struct buf;

/* True when s[0..n) is entirely valid UTF-8 (NUL bytes are valid). */
bool utf8_valid(const char *s, size_t n);

/* Decodes the sequence at s[0..n). Returns its length (1..4) and sets *cp;
 * -EILSEQ when the bytes there are not valid UTF-8 (*cp = U+FFFD; skip one
 * byte); -ENODATA when n is 0 or the bytes are a valid but incomplete start
 * of a sequence that runs past n (*cp = U+FFFD). */
ssize_t utf8_decode(const char *s, size_t n, uint32_t *cp);

/* Writes cp as UTF-8 into out (at least UTF8_MAX_SEQ bytes) and returns the
 * length. A surrogate or a value above U+10FFFF is written as U+FFFD. */
size_t utf8_encode(uint32_t cp, char *out);

/* True when cp is a Unicode scalar value (not a surrogate, <= U+10FFFF). */
bool utf8_is_scalar(uint32_t cp);

/* Characters in s[0..n) (each invalid byte counts as one). */
size_t utf8_count(const char *s, size_t n);

/* The longest prefix of s[0..n) that does not end inside a sequence that
 * runs past n (for streams: the rest is kept for the next chunk). */
size_t utf8_complete_prefix(const char *s, size_t n);

/* Cutting text: the byte length of the longest prefix of s[0..n) that holds
 * at most max_bytes bytes / max_chars characters / max_cols columns and ends
 * on a character boundary. Never splits a valid sequence. */
size_t utf8_truncate_bytes(const char *s, size_t n, size_t max_bytes);
size_t utf8_truncate_chars(const char *s, size_t n, size_t max_chars);
size_t utf8_truncate_width(const char *s, size_t n, size_t max_cols);

/* Appends to out the longest prefix of s[0..n) of at most max_bytes bytes
 * that ends on a character boundary, followed by mark (when not NULL) if
 * anything was cut: the one way to cut text by bytes for a preview, a
 * transcript or a memory. Returns 0 or -ENOMEM. */
int utf8_append_cut(struct buf *out, const char *s, size_t n, size_t max_bytes, const char *mark);

/* The precision for printf's "%.*s" that prints at most max bytes of the
 * NUL-terminated s, ending between characters: printf("%.*s", utf8_prec(s,
 * 64), s) where "%.64s" could print half a character. */
int utf8_prec(const char *s, size_t max);

/* Ends the NUL-terminated s before a character cut off at its end (as
 * snprintf into a fixed buffer leaves one) and returns the new length: the
 * fix-up after formatting text of any length into a char array. */
size_t utf8_trim_partial(char *s);

/* Terminal columns of one code point: 0 (combining, zero-width, controls),
 * 1, or 2 (wide: CJK, Hangul syllables, most emoji). */
int utf8_cp_width(uint32_t cp);

/* Terminal columns of s[0..n) (an invalid byte is one U+FFFD column). */
size_t utf8_width(const char *s, size_t n);

/* Appends s[0..n) to out as valid UTF-8: each invalid byte becomes U+FFFD.
 * Unless final, an incomplete sequence at the end is not consumed. *used
 * gets the number of bytes of s consumed (the caller keeps the rest for next
 * time). Returns 0 or -ENOMEM (then out holds a valid prefix and *used says
 * how far it got). */
int utf8_append_sanitized(struct buf *out, const char *s, size_t n, bool final, size_t *used);

#endif
