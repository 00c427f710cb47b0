/* generate.h - one generation on elpis: the layer above the links and the
 * stream filter. Streams TOKEN/REASONING events for the chat, stops at the
 * closing fence of a tool call, reports usage and the new emotional state.
 *
 * Calls links.c, filter.c and bus.c only. Agent thread only; the call is
 * ended by the current activity's cancel flag (bus.h). */
#ifndef PSY_GENERATE_H
#define PSY_GENERATE_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "links.h"

/* The least answer a fitted request keeps room for. */
#define PSY_GEN_MIN_TOKENS 32
/* Tokens kept free at the end of the context. */
#define PSY_GEN_SLACK_TOKENS 16

/* The session hint of background work (thoughts, dreams, summaries), so it
 * never takes the place of a conversation's prefix. */
#define PSY_GEN_BACKGROUND_SESSION "psyche-background"

/* temperature below this: elpis picks it from the emotional state */
#define PSY_GEN_TEMPERATURE_EMOTION (-1.0)

typedef struct psy_gen_params {
    int max_tokens;
    double temperature; /* PSY_GEN_TEMPERATURE_EMOTION: modulated by the emotion */
    bool background;    /* elpis's background sequence: the conversation's KV cache survives */
    bool stream;        /* emit TOKEN/REASONING events as the text comes */
    int timeout_s;
    bool fit; /* make the request fit the context first (psy_generate says how) */
    /* elpis's `session` hint: it keeps a conversation on the slot that holds
     * its prefix. NULL: PSY_GEN_BACKGROUND_SESSION for background work, none
     * otherwise. Borrowed for the call. */
    const char *session;
} psy_gen_params;

/* max_tokens from cfg->max_tokens, emotional temperature, foreground, no
 * stream, cfg->generation_timeout_s. */
psy_gen_params psy_gen_default_params(const psy_settings *cfg);

/* What one generation used (from elpis's usage). */
typedef struct psy_gen_usage {
    long prompt_tokens;     /* -1 when elpis did not say */
    long completion_tokens; /* -1 when elpis did not say */
} psy_gen_usage;

/* Generates one answer into *out (malloc'd) from messages. With p->fit, the
 * prompt is counted first and, when it and max_tokens do not fit the
 * context, max_tokens is lowered (to PSY_GEN_MIN_TOKENS at least), then the
 * oldest messages between the first and the last are left out, then the last
 * message is cut with a note. Returns 0,
 * -ETIMEDOUT or -ECANCELED (out holds the partial text), -EIO (elpis refused:
 * err has its message, e.g. a context overflow), or another -errno with err
 * set. usage (may be NULL) is filled on 0, else set to -1s. */
int psy_generate(psy_links *l, cJSON *messages /* owned */, const psy_gen_params *p, char **out, psy_gen_usage *usage,
                 char *err, size_t errlen);

#endif
