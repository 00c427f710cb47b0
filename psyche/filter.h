/* filter.h - the stream filter: splits model text as it streams into what
 * the chat shows, reasoning (<reasoning>/<thinking> blocks) and a tool call
 * (a ```tool_call fence hides everything after it).
 *
 * Pure: no I/O, no allocation but the caller's buffers; calls nothing else
 * in psyche/. Bytes are classified once; a tag or fence split across two
 * feeds is held back until it can be told apart. */
#ifndef PSY_FILTER_H
#define PSY_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

typedef enum { PSY_FILTER_TEXT = 0, PSY_FILTER_REASONING, PSY_FILTER_TOOL_CALL } psy_filter_state;

typedef struct psy_stream_filter {
    psy_filter_state state;
    size_t pos;  /* bytes of raw already classified */
    size_t mark; /* start of the current reasoning block's content */
} psy_stream_filter;

void psy_filter_init(psy_stream_filter *f);
/* Classifies raw[f->pos..len) (raw is the whole text so far, growing between
 * calls): visible text is appended to vis, finished reasoning blocks to
 * reasoning (each followed by a blank line). final: nothing more will come,
 * so pending bytes are settled. */
void psy_filter_feed(psy_stream_filter *f, const char *raw, size_t len, bool final, buf *vis, buf *reasoning);
/* The visible part of a whole model text: reasoning and the tool call
 * removed, trimmed. Returns malloc'd text (caller frees) or NULL (no memory). */
char *psy_filter_visible(const char *text);

#endif
