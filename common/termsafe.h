/* termsafe.h - text made safe to write to a terminal.
 *
 * Model and tool text is hostile: an answer that contains OSC 52 writes the
 * user's clipboard, ESC[2J clears the screen, a DCS or a C1 control can
 * reprogram the terminal, and "\r" or backspaces can hide what came before.
 * This filter removes every control and escape sequence and keeps plain
 * text, "\n" and "\t":
 *
 *   - ESC sequences: CSI (ESC [ ... final), OSC / DCS / SOS / PM / APC strings
 *     (up to BEL, ST or ESC \), two-byte and nF sequences (ESC c, ESC ( B),
 *     and a lone ESC;
 *   - C1 controls as UTF-8 (U+0080..U+009F; U+009B opens a CSI and U+009D,
 *     U+0090, U+0098, U+009E, U+009F a string, like their ESC forms);
 *   - every other C0 control and DEL: BEL, backspace, CR, form feed, ...
 *   - invalid UTF-8 becomes U+FFFD (one per bad byte).
 *
 * A sequence is removed whole, also when it is split across several feeds
 * (streamed tokens). An unterminated string sequence ends at a line break,
 * so one stray introducer cannot swallow the rest of an answer; the output
 * is plain text either way. Pure: no I/O, no globals. */
#ifndef PSY_TERMSAFE_H
#define PSY_TERMSAFE_H

#include <stddef.h>

struct buf;

typedef struct term_safe {
    unsigned char state;    /* TS_* in termsafe.c */
    unsigned char u[4];     /* an incomplete UTF-8 character held back */
    unsigned char un, need; /* bytes held, bytes the character has */
} term_safe;

void term_safe_init(term_safe *f);
/* Appends the safe form of s[0..n) to out. An incomplete UTF-8 character at
 * the end is held until the next feed. Returns 0 or -ENOMEM (out may then
 * hold part of the text). */
int term_safe_feed(term_safe *f, const char *s, size_t n, struct buf *out);
/* The end of the text: a held incomplete character becomes U+FFFD, an
 * unfinished sequence is dropped, and f is ready for new text. 0 or -ENOMEM. */
int term_safe_finish(term_safe *f, struct buf *out);
/* One-shot: the safe form of s[0..n) in *out (NUL-terminated, caller frees).
 * Returns 0 or -ENOMEM (*out NULL). */
int term_safe_dup(const char *s, size_t n, char **out);

#endif
