/* conv.h - one conversation: its messages within a token budget, the
 * messages staged for memory, and its usage. The agent shares everything
 * else (children, tools, idle scheduler, the emotional state) among its
 * conversations; see docs/psyche.md "Conversations".
 *
 * A data layer: calls context.c and prompt.c only, never a child. The local
 * front-ends use the agent's one conversation (psy_agent_conv); a server
 * creates one per client and hands them to psy_agent_submit_to. A
 * conversation is used by one thread at a time (the agent thread while a
 * turn runs on it). */
#ifndef PSY_CONV_H
#define PSY_CONV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "agent.h"
#include "context.h"

/* System prompt levels (prompt.h): full, compact, minimal. */
enum { PSY_PROMPT_FULL = 0, PSY_PROMPT_COMPACT = 1, PSY_PROMPT_MINIMAL = 2 };

typedef struct psy_conv_params {
    int context_length;      /* tokens of the model's context */
    double max_fraction;     /* [context] max_fraction */
    double reserve_fraction; /* [context] reserve_fraction */
    int min_keep;            /* [context] min_messages */
    psy_count_fn count;      /* token counter (may be NULL: byte estimates) */
    void *count_ud;
} psy_conv_params;

struct psy_conv {
    pthread_mutex_t mu; /* held by the agent thread while it works on the conversation */
    psy_context ctx;    /* msgs[0] is the system prompt; staged messages wait for memory */
    psy_usage usage;
    char session[32]; /* elpis's session hint for this conversation: "conv-<n>", unique in the process */
};

/* Creates an empty conversation (no system prompt yet). Returns 0 or -ENOMEM. */
int psy_conv_new(psy_conv **out, const psy_conv_params *p);
/* Frees c at once (nobody may use it any more; see psy_agent_conv_free). */
void psy_conv_free(psy_conv *c);
/* c's lock: the agent thread holds it while a turn, command or thought runs on c. */
void psy_conv_lock(psy_conv *c);
void psy_conv_unlock(psy_conv *c);

/* A new context length (elpis came up with its model): budget and counts. */
void psy_conv_set_context(psy_conv *c, int context_length, double max_fraction, double reserve_fraction);
/* The fullest system prompt whose size leaves at least half of the budget
 * to the conversation (compact ones for small contexts). tools: the tool
 * list of toolglue.h (may be NULL). Returns 0 with *level (may be NULL) set
 * to the PSY_PROMPT_* used, or -ENOMEM. */
int psy_conv_set_system_prompt(psy_conv *c, const cJSON *tools, bool reasoning, int *level);
/* Records one generation's usage; when prompt_tokens is known and the
 * prompt was the first n_rendered messages, the counts are calibrated. */
void psy_conv_note_usage(psy_conv *c, size_t n_rendered, long prompt_tokens, long completion_tokens);
/* Removes every message but the system prompt (they stay staged for memory). */
void psy_conv_clear(psy_conv *c);
/* psy_conv_messages, psy_conv_get_usage, psy_conv_staged (they lock c): agent.h. */

#endif
