/* toolcall.h - finds the tool call in a model's text.
 *
 * The protocol (see the system prompt): the model writes a fenced block whose
 * info string is `tool_call`, holding {"name": ..., "arguments": {...}}, and
 * stops. This parser takes the FIRST such block (info string matched
 * case-insensitively, any whitespace or newlines around the JSON, nested
 * objects, braces and backticks inside JSON strings). Without a block, it
 * falls back to the first raw JSON object that carries a "name" string and is
 * either the start of the text or has an "arguments" key, so a JSON example
 * in an answer (a package.json, say) is not mistaken for a call.
 *
 * Pure functions on text: no I/O, no globals, safe from any thread. */
#ifndef PSY_TOOLCALL_H
#define PSY_TOOLCALL_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

typedef struct psy_toolcall {
    char *name;        /* owned (malloc) */
    cJSON *arguments;  /* owned; always an object, {} when the model gave none */
    size_t start, end; /* the call's bytes in the text: [start, end), the whole
                          fenced block including its closing fence, or the raw
                          object; also set for an invalid block */
    bool fenced;       /* found in a tool_call block (false: raw-JSON fallback) */
} psy_toolcall;

/* Looks for a tool call in text[0..len).
 * Returns 1 and fills *out when one is found (free it with psy_toolcall_clear);
 *         0 when the text holds no tool call (a plain answer);
 *         -EBADMSG when the first tool_call block cannot be used (invalid
 *           JSON, no "name", "arguments" not an object, a NUL escape): err
 *           then holds a message meant for the model so it can retry, and
 *           out->start/end locate the block;
 *         -ENOMEM.
 * "arguments" may also be given as a JSON string holding an object (the
 * OpenAI style) or under "parameters"; both are accepted. *out is zeroed first. */
int psy_toolcall_parse(const char *text, size_t len, psy_toolcall *out, char *err, size_t errlen);

void psy_toolcall_clear(psy_toolcall *tc);

/* For streaming: true once text[0..len) contains the first tool_call block
 * up to and including its closing fence; *end (may be NULL) is then the
 * offset just past that fence, where generation can stop. False while the
 * block is still open or when there is none. */
bool psy_toolcall_stream_done(const char *text, size_t len, size_t *end);

#endif
