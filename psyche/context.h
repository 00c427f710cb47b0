/* context.h - the conversation as the model sees it, within a real token budget.
 *
 * Message 0 is always the system prompt; compaction never removes it. Token
 * counts come from a counting callback (elpis count_tokens in psyche, a fake
 * in the tests), never from word-count estimates. The budget is
 * max_fraction * context_length - reserve_fraction * context_length (0.75 and
 * 0.20 by default): adding messages past it makes psy_context_compact() drop
 * the oldest ones (keeping at least min_keep besides the system prompt). The
 * dropped messages are staged and handed to the flush callback at the *next*
 * compaction (or at shutdown), so a message is stored once the conversation
 * has really moved on.
 *
 * Also here, because they judge messages: the storage filter for dropped
 * messages and the importance heuristic for automatic storage of exchanges;
 * and the two halves of a consolidation request that the agent and the
 * server share. */
#ifndef PSY_CONTEXT_H
#define PSY_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

typedef enum {
    PSY_MSG_PLAIN = 0,
    PSY_MSG_TOOL_RESULT = 1, /* "[Tool result for x]": shown to the model, never stored as a memory */
    PSY_MSG_SUMMARY = 2,     /* "[Previous conversation summary]" made by summarising compaction */
    PSY_MSG_TOOL_CALL = 4,   /* an assistant message that holds a tool call */
} psy_msg_flags;

typedef struct psy_msg {
    char *role;           /* "system", "user", "assistant" */
    char *content;        /* what was said */
    char *extra;          /* volatile text the model sees before content (memories, mood); may be NULL */
    int tokens;           /* real count of the rendered message */
    bool estimated;       /* the counter was unavailable; tokens is a byte-based upper estimate */
    int flags;            /* psy_msg_flags */
    size_t body_len;      /* shortened in place: bytes of the full content still kept (0 = never shortened) */
    size_t omitted_chars; /* shortened in place: characters of the full content cut so far */
} psy_msg;

/* Returns the token count of one rendered message, or < 0 when unavailable. */
typedef int (*psy_count_fn)(void *ud, const char *role, const char *text);
/* Stores staged messages; returns 0 when they are taken care of (stored or
 * written to the fallback file) so they may be forgotten. */
typedef int (*psy_flush_fn)(void *ud, const psy_msg *msgs, size_t n);
/* Summarises msgs (the previous summary first, if any); returns malloc'd text or NULL. */
typedef char *(*psy_summarize_fn)(void *ud, const psy_msg *msgs, size_t n);

typedef struct psy_context {
    psy_msg *msgs; /* msgs[0] is the system prompt */
    size_t n, cap;
    psy_msg *staged;
    size_t n_staged, cap_staged;
    long total_tokens;
    int context_length;
    int max_tokens;     /* max_fraction * context_length */
    int reserve_tokens; /* reserve_fraction * context_length */
    int min_keep;
    long messages_added;
    long compactions;
    long shortened; /* tool results shortened in place because nothing more could be dropped */
    psy_count_fn count;
    void *count_ud;
} psy_context;

void psy_context_init(psy_context *c, int min_keep, psy_count_fn count, void *ud);
void psy_context_free(psy_context *c);
void psy_context_set_budget(psy_context *c, int context_length, double max_fraction, double reserve_fraction);
/* Tokens the conversation may use before compaction (max - reserve). */
int psy_context_available(const psy_context *c);

/* Sets (or replaces) the system prompt. Returns 0 or -ENOMEM. */
int psy_context_set_system(psy_context *c, const char *text);
/* Appends a message (extra may be NULL). Returns 0 or -ENOMEM. Does not compact. */
int psy_context_add(psy_context *c, const char *role, const char *content, const char *extra, int flags);
/* Removes the last message (an abandoned turn's leftovers). */
void psy_context_pop(psy_context *c);
bool psy_context_over_budget(const psy_context *c);
/* Tokens one more message may take so that compaction can still bring the
 * conversation within budget: the budget minus what compaction never drops
 * (the system prompt, a summary, and the newest min_keep - 1 messages). 0
 * when even those do not fit. */
int psy_context_room(const psy_context *c);
/* Calibrates the counts with a generation's real usage: when the prompt was
 * the first n_rendered messages and that is still the whole context, the
 * message counts are scaled so that total_tokens == prompt_tokens (the
 * per-message counts miss how the chat template joins messages). */
void psy_context_calibrate(psy_context *c, size_t n_rendered, long prompt_tokens);
/* Recounts messages whose count was estimated (the counter came back). */
void psy_context_recount(psy_context *c);

/* Compacts when over budget: first hands the previously staged messages to
 * flush (they are forgotten when it returns 0), then drops the oldest
 * messages after the system prompt (and after a summary message, which is
 * replaced) until the total fits or only min_keep are left, and stages them.
 * With summarize, the dropped messages (and an old summary) become one
 * "[Previous conversation summary]" system message; if it fails, plain
 * sliding window. When nothing more may be dropped and the total still does
 * not fit, the largest tool results are shortened in place (with a note
 * saying how many characters were cut; c->shortened counts them). Returns
 * the number of messages dropped (0 when within budget). */
int psy_context_compact(psy_context *c, psy_flush_fn flush, psy_summarize_fn summarize, void *ud);
/* Tokens kept free between the prompt plus its answer and the end of the context. */
#define PSY_FIT_SLACK_TOKENS 16
/* A message is not shortened below this. */
#define PSY_FIT_MIN_TOKENS 24

/* What psy_context_fit did. */
typedef struct psy_fit_report {
    int dropped;           /* messages removed (staged for memory) */
    int shortened_results; /* tool results shortened in place */
    bool extra_dropped;    /* the newest message's note (memories, mood) removed */
    size_t chars_cut;      /* characters cut from the newest message (0: none) */
} psy_fit_report;

/* Makes the whole prompt plus an answer of answer_tokens fit the context
 * (context_length - PSY_FIT_SLACK_TOKENS), whatever min_keep says: drops the
 * oldest messages (staged) and then an earlier summary, shortens tool
 * results, drops the newest message's note and at last shortens the newest
 * message itself, with a note in its text saying how much was cut. Returns 0,
 * or -E2BIG when even that is not enough (the system prompt alone is too big). */
int psy_context_fit(psy_context *c, int answer_tokens, psy_fit_report *rep);
/* Hands everything staged to flush (shutdown). */
int psy_context_flush_staged(psy_context *c, psy_flush_fn flush, void *ud);
/* Removes every message but the system prompt (staging the removed ones). */
void psy_context_clear(psy_context *c);

/* The rendered messages [{role, content}] for generate/count_tokens (caller frees). */
cJSON *psy_context_render(const psy_context *c);
/* The text a message is rendered to (extra + blank line + content); caller frees. */
char *psy_msg_render(const psy_msg *m);

/* ---- judging messages */

/* The storage filter for dropped messages: true when worth a memory; *type
 * gets "semantic" or "episodic". */
bool psy_should_store(const char *role, const char *text, const char **type);

/* Importance of one exchange in [0, 1] (store at >= threshold, 0.6):
 * length of the answer, code fences, tools used, errors in tool results, an
 * explicit request in the user's text, strong emotion. breakdown (may be
 * NULL) gets "total=0.65 (length=0.25, code=0.00, ...)". */
double psy_importance(const char *user_text, const char *answer, int tools_used, const char *tool_results,
                      double valence, double arousal, char *breakdown, size_t breakdown_len);

/* Consolidation as psyche asks mnemosyne for it (agent and server alike):
 * the consolidate_memories arguments (caller owns; NULL when out of memory),
 * and one line describing its result, "N clusters, N promoted to long-term,
 * N archived" (missing numbers count as 0). */
cJSON *psy_consolidate_args(double importance_threshold, double similarity_threshold);
void psy_consolidate_describe(const cJSON *res, char *out, size_t n);

#endif
