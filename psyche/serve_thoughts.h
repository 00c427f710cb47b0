/* serve_thoughts.h - what `psyche serve` thought while nobody was there
 * (dreams, the insights kept from them, consolidations), kept per user in a
 * bounded ring so that clients (Hermes' thoughts panel) can fetch them with
 * GET /v1/psyche/thoughts?since=N.
 *
 * Each ring numbers its entries 1, 2, 3, ... (seq); only the last
 * PSY_THOUGHTS_KEEP are kept. Not thread-safe: psyche serve guards its
 * rings with its mutex (the worker adds, connection threads read). */
#ifndef PSY_SERVE_THOUGHTS_H
#define PSY_SERVE_THOUGHTS_H

#include <cjson/cJSON.h>

#define PSY_THOUGHTS_KEEP 32

typedef struct psy_thought {
    long seq;    /* 0: an empty slot */
    double time; /* epoch seconds */
    char *kind;  /* owned: "dream", "memory" */
    char *theme; /* owned, may be NULL: a dream's theme */
    char *text;  /* owned: untrusted model text, passed on as data */
} psy_thought;

typedef struct psy_thought_ring {
    psy_thought items[PSY_THOUGHTS_KEEP]; /* the entry seq is at items[seq % PSY_THOUGHTS_KEEP] */
    long next;                            /* the seq the next entry gets (0 in a zeroed ring means 1) */
} psy_thought_ring;

/* Adds a copy of the entry, dropping the oldest when full. theme may be
 * NULL. Returns 0 or -ENOMEM (the ring is unchanged). */
int psy_thoughts_add(psy_thought_ring *r, double time, const char *kind, const char *theme, const char *text);
/* {"thoughts":[{seq,time,kind,text[,theme]}...], "next":M}: the entries
 * with seq >= since still kept, oldest first; M is the seq the next entry
 * will get (pass it as since next time). NULL on out of memory. */
cJSON *psy_thoughts_since(const psy_thought_ring *r, long since);
/* Frees the entries (the ring may be reused, numbering from 1 again). */
void psy_thoughts_free(psy_thought_ring *r);

#endif
