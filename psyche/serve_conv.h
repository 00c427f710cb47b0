/* serve_conv.h - the conversations `psyche serve` knows: one entry per key
 * (X-Psyche-Conversation, the user field or a hash of the first messages,
 * always within one API key's user), with its last use and token counts;
 * idle ones are evicted, and the least recently used when the table is full.
 *
 * A plain table without locking: serve.c holds its mutex around every call.
 * It is the small interface the agent's conversation objects (psy_conv) are
 * to plug into: today an entry holds counters only, because OpenAI clients
 * send the whole history with every request. */
#ifndef PSY_SERVE_CONV_H
#define PSY_SERVE_CONV_H

#include <stddef.h>

#define PSY_CONV_KEY 48

typedef struct psy_conv_entry {
    char key[PSY_CONV_KEY];
    int user;         /* whose conversation (API key index, -1 without keys) */
    char *transcript; /* owned, or NULL: "role: text" lines of the newest exchanges, for the summary */
    double last_used; /* now_mono() of the last request */
    long requests;
    long prompt_tokens, completion_tokens, cached_tokens;
} psy_conv_entry;

/* A conversation that left the table (evicted, or all of them at SIGTERM)
 * with a transcript to summarise into its user's memories. */
typedef struct psy_conv_gone {
    int user;
    char *transcript; /* owned */
} psy_conv_gone;

typedef struct psy_conv_table {
    psy_conv_entry *v;   /* owned */
    psy_conv_gone *gone; /* owned: waiting for the worker (psy_convs_take_gone) */
    size_t n_gone;
    size_t n, cap; /* cap: the most conversations kept */
    double idle_s; /* an entry unused this long is evicted */
} psy_conv_table;

/* Returns 0 or -ENOMEM. */
int psy_convs_init(psy_conv_table *t, size_t cap, double idle_s);
void psy_convs_free(psy_conv_table *t);
/* The conversation's key for a request: "<user>:<kind>:<16 hex digits>"
 * where kind is h (header), u (user field) or p (prefix hash) and the digits
 * hash the identity. user_index: the API key's index, -1 without keys.
 * out needs PSY_CONV_KEY bytes. */
void psy_conv_key(int user_index, char kind, const char *identity, char *out);
/* Finds or adds key (evicting idle entries first, then the least recently
 * used one when full) and marks it used at now. Returns the entry (valid
 * until the next call that changes the table). */
psy_conv_entry *psy_convs_touch(psy_conv_table *t, const char *key, double now);
/* Adds one generation's tokens to key's entry (if it is still there). */
void psy_convs_usage(psy_conv_table *t, const char *key, long prompt, long completion, long cached);
/* Removes entries idle since before now - idle_s. Returns how many. */
size_t psy_convs_evict_idle(psy_conv_table *t, double now);
/* Replaces key's transcript with text (copied; only its last
 * PSY_CONV_TRANSCRIPT_MAX bytes are kept) and records its user. */
#define PSY_CONV_TRANSCRIPT_MAX 8192
void psy_convs_set_transcript(psy_conv_table *t, const char *key, int user, const char *text);
/* Removes every entry (SIGTERM); those with a transcript join the gone list. */
void psy_convs_evict_all(psy_conv_table *t);
/* Hands the gone list to the caller (who frees each transcript and the
 * array); *n is its length. */
void psy_convs_take_gone(psy_conv_table *t, psy_conv_gone **list, size_t *n);

#endif
