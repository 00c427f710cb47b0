/* jsontext.h - checks JSON text before cJSON parses it, for what cJSON would
 * let through silently, and finds the exact text of a member.
 *
 * cJSON ends a string at a raw NUL byte or a \u0000 escape (the rest is
 * lost), accepts raw control characters inside strings, parses one value and
 * ignores what follows it, and turns every number into a double (so the id
 * 12345678901234567890 comes back as 1.2345678901234567e+19 and 1e400 as
 * null). Every path that reads JSON from outside (the MCP servers, mnemosyne
 * import) calls json_text_check first, and the MCP layer echoes ids from the
 * text json_text_member finds.
 *
 * Contract: 0 or a negative errno; no allocation; s need not be
 * NUL-terminated. */
#ifndef PSY_JSONTEXT_H
#define PSY_JSONTEXT_H

#include <stddef.h>

/* Deeper nesting is refused (cJSON's own limit). */
#define JSON_TEXT_MAX_DEPTH 1000

/* Checks that s[0..n) is exactly one JSON value (RFC 8259), with only
 * whitespace around it: valid UTF-8, no raw control character (U+0000 to
 * U+001F) inside a string, no \u0000 escape, no unpaired surrogate escape,
 * nesting at most JSON_TEXT_MAX_DEPTH. On failure err gives the byte offset
 * and the reason, and the return value the kind: -EILSEQ for a character we
 * refuse inside a string ("byte 17: raw control character 0x00 inside a
 * string (escape it)", \u0000, invalid UTF-8, an unpaired surrogate: what
 * came before it is well-formed), -E2BIG for one complete value followed by
 * more ("byte 40: trailing data after the JSON value (send one message per
 * line)"), -EINVAL for anything else (a syntax error). */
int json_text_check(const char *s, size_t n, char *err, size_t errlen);

/* Finds the value of the member named by path (path[0] in the top-level
 * object, path[1] inside that, ...; keys compared as written, without
 * escapes) and gives its exact text: s + *start, *len bytes (for a string
 * value, the quotes and escapes as sent). -ENOENT when a key is absent or a
 * value on the way is not an object; -EINVAL when the text up to it is not
 * valid JSON. */
int json_text_member(const char *s, size_t n, const char *const *path, size_t depth, size_t *start, size_t *len);

#endif
