/* links.h - the agent's links to its children, second layer from the bottom:
 * calling elpis and mnemosyne, supervising them (start, restart, report),
 * the cache of the companion's emotional state, and token counting.
 *
 * Calls only the bus (events, the current activity's cancel flag) and
 * supervisor.c. What a child coming up means for a conversation (a new
 * context length, a fallback import) is returned as flags by
 * psy_links_supervise and handled by the layer above. Agent thread only,
 * except psy_links_emotion_copy (any thread). */
#ifndef PSY_LINKS_H
#define PSY_LINKS_H

#include <poll.h>
#include <stdbool.h>

#include <cjson/cJSON.h>

#include "bus.h"
#include "settings.h"
#include "supervisor.h"

/* Seconds between get_emotion polls while the mood is away from its baseline. */
#define PSY_EMOTION_POLL_S 2.0
/* The intensities of the emotion events the agent sends (update_emotion),
 * PSY_EMOTION_MILD/MEDIUM/FULL, are in tools.h (tools report their outcome
 * as one). */
/* Timeout of a get_emotion poll. */
#define PSY_EMOTION_POLL_TIMEOUT_MS 5000
/* Below this a context_length from elpis is not believed. */
#define PSY_MIN_CONTEXT_LENGTH 64

typedef struct psy_links {
    psy_bus *bus;            /* not owned */
    const psy_settings *cfg; /* not owned */
    psy_child elpis, mnemo;
    psy_sup_policy pol;
    int context_length; /* of elpis's model (fallback_context_length until known) */
    char model[256];    /* file name of elpis's model */
    bool elpis_synced;  /* capabilities read since it (re)started */
    cJSON *emotion;     /* [bus mu] the last emotional_state, owned */
    double last_emotion_poll;
    /* the sampling elpis chose from the mood for the last generation that let
     * it (psy_generate; /emotion shows it); valid when modulated is set */
    bool modulated;
    double modulated_temperature, modulated_top_p;
    const char *fallback_path; /* named in the "memory unavailable" notice; not owned */
} psy_links;

/* What psy_links_supervise saw happen (bit flags). */
enum {
    PSY_LINK_CHANGED = 1,      /* something shown in the status changed */
    PSY_LINK_ELPIS_SYNCED = 2, /* elpis came up and context_length was read */
    PSY_LINK_MNEMO_UP = 4,     /* mnemosyne came up: import the fallback file */
};

/* Prepares both children (nothing starts yet). db: mnemosyne's --db (may be
 * NULL). Returns 0, or -errno with a message in err. */
int psy_links_init(psy_links *l, psy_bus *bus, const psy_settings *cfg, const char *state_dir, const char *db,
                   char *err, size_t errlen);
/* Stops the children and frees everything. */
void psy_links_free(psy_links *l);

/* One supervision step: starts, restarts, syncs. Returns PSY_LINK_* flags. */
unsigned psy_links_supervise(psy_links *l);
/* Waits up to wait_ms for mnemosyne's start in progress (cancel may end it
 * early). Returns PSY_LINK_* flags like psy_links_supervise. */
unsigned psy_links_settle(psy_links *l, int wait_ms, const int *cancel);
/* Seconds until a child needs a supervision step, -1 for none. */
double psy_links_next_due(const psy_links *l, double now);
/* Adds the children's pidfds to pf (room for 2); returns how many. *poll_ms
 * is lowered to 1000 when a child has no pidfd and must be looked at. */
int psy_links_pollfds(const psy_links *l, struct pollfd *pf, int *poll_ms);
/* {elpis: {...}, mnemosyne: {...}} for the status (caller frees). */
cJSON *psy_links_status(const psy_links *l);
void psy_links_stop(psy_links *l, int grace_ms);

/* ---- calls. Each returns 0, -ENOTCONN when the child is down (err says
 * why), -ECANCELED, -ETIMEDOUT, -EPIPE when it died during the call (reported,
 * restarted by the next supervision step), or MCP_CLIENT_TOOL_ERROR. */

/* A call that the current activity's cancel flag may end. */
int psy_elpis(psy_links *l, const char *tool, cJSON *args /* owned */, int timeout_ms, mcp_progress_cb cb, void *ud,
              cJSON **res, char *err, size_t errlen);
/* A call nothing cancels (a cancelled turn still feels its outcome). */
int psy_elpis_uncancellable(psy_links *l, const char *tool, cJSON *args /* owned */, cJSON **res, char *err,
                            size_t errlen);
int psy_mnemo(psy_links *l, const char *tool, cJSON *args /* owned */, cJSON **res, char *err, size_t errlen);

/* ---- the emotional state (one per agent, shared by its conversations) */
/* Remembers a new emotional_state (not owned) and emits it. */
void psy_note_emotion(psy_links *l, const cJSON *state);
/* update_emotion on elpis; quiet when elpis is down. */
void psy_emotion_event(psy_links *l, const char *event, double intensity, const char *context);
/* {valence, arousal, quadrant} of the last known state, or NULL (caller frees). */
cJSON *psy_emotion_context(psy_links *l);
/* The last known state (caller frees), or NULL. Any thread. */
cJSON *psy_links_emotion_copy(psy_links *l);
/* True while the mood is visibly away from its baseline (its decay is followed). */
bool psy_links_emotion_away(psy_links *l);
/* A get_emotion poll (idle activity); returns 0 or -errno. */
int psy_links_poll_emotion(psy_links *l, double now);

/* ---- token counting: a psy_count_fn (context.h) with ud = the links */
int psy_links_count_tokens(void *ud, const char *role, const char *text);
/* Tokens of a whole prompt (messages as templated for generation). Returns
 * 0 with *tokens, or -errno (elpis down: -ENOTCONN). */
int psy_links_count_messages(psy_links *l, const cJSON *messages, int *tokens);

#endif
