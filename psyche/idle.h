/* idle.h - when to think and when to dream, and what to dream about.
 *
 * The scheduler is pure: every function takes the time as an argument (the
 * agent passes now_mono(), the tests a fake clock), so "30 s of silence" is
 * tested without waiting 30 s. psy_idle_next() says what is due now, or how
 * long the agent may block before anything is - the agent waits exactly that
 * long (poll timeout), so an idle psyche costs no CPU.
 *
 * Policy: a reflection when think_after_s have passed since the last input or
 * the last idle activity, and quiet_after_user_s since the last user message;
 * once the silence reaches dream_after_s (with dreams on) reflections stop and
 * a dream comes every dream_interval_s instead. Any input resets everything.
 * Idle tools: only after tool_warmup_s from start and tool_cooldown_s since the
 * last idle tool use. */
#ifndef PSY_IDLE_H
#define PSY_IDLE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

typedef struct psy_idle_cfg {
    bool enabled;
    double think_after, quiet_after_user;
    bool dreams;
    double dream_after, dream_interval;
    bool tools;
    double tool_warmup, tool_cooldown;
    double consolidate_check; /* at most one should_consolidate per this many seconds */
} psy_idle_cfg;

typedef struct psy_idle {
    psy_idle_cfg cfg;
    double started;
    double last_input;               /* last keystroke or message */
    double last_user_msg;            /* last submitted message; -1 = none yet */
    double last_activity;            /* end of the last thought or dream */
    double last_dream;               /* -1 = none in this silence */
    double last_tool_use;            /* -1 = never */
    double last_consolidation_check; /* -1 = never */
    long thoughts, dreams;
} psy_idle;

typedef enum { PSY_IDLE_NOTHING = 0, PSY_IDLE_THINK, PSY_IDLE_DREAM } psy_idle_action;

void psy_idle_init(psy_idle *s, const psy_idle_cfg *cfg, double now);
/* What is due at now; when nothing is, *wait_s gets the seconds until
 * something will be (-1: nothing ever, e.g. idle disabled). */
psy_idle_action psy_idle_next(const psy_idle *s, double now, double *wait_s);
/* The user typed something (not necessarily a whole message). */
void psy_idle_input(psy_idle *s, double now);
/* The user submitted a message. */
void psy_idle_user_message(psy_idle *s, double now);
/* A thought or dream ended (or was cancelled). */
void psy_idle_done(psy_idle *s, psy_idle_action a, double now);
bool psy_idle_tool_allowed(const psy_idle *s, double now);
void psy_idle_tool_used(psy_idle *s, double now);
/* True (and the check is recorded) when a should_consolidate check may run. */
bool psy_idle_consolidation_check(psy_idle *s, double now);
/* Seconds until the periodic check (the agent's tick, idle or not) is due:
 * consolidate_check after the last check, or after the start when none was
 * made yet; <= 0 means now. */
double psy_idle_consolidation_due(const psy_idle *s, double now);

/* ---- dreams */

typedef struct psy_dream_theme {
    const char *quadrant; /* "frustrated", ... or "other" */
    const char *theme;    /* "resolution", ... */
    const char *guidance;
    const char *queries[5];
} psy_dream_theme;

/* The theme for an emotional_state (quadrant; NULL or unknown -> reflection). */
const psy_dream_theme *psy_dream_theme_for(const char *quadrant);
/* Memory queries for a dream: the theme's five, then the trajectory's
 * (spiral direction, trend, long time in one quadrant) - at most max in all,
 * trajectory queries first so they are never crowded out. Returns a cJSON
 * array of strings (caller frees). */
cJSON *psy_dream_queries(const psy_dream_theme *t, const cJSON *emotional_state, int max);
/* Dynamic queries (trajectory plus topic ones) a dream makes at most, as in
 * the original (2 x dynamic_query_count). */
#define PSY_DREAM_MAX_DYNAMIC 4
/* Memories of "recent conversations" a dream draws its topics from. */
#define PSY_DREAM_TOPIC_SOURCES 5
/* Topics a dream keeps; the first two get queries. */
#define PSY_DREAM_MAX_TOPICS 5
/* The query the topics are drawn from (the original's). */
#define PSY_DREAM_TOPIC_QUERY "recent conversations"

/* The topics of memories (a cJSON array of objects with a "content"
 * string), as the original drew them: each whitespace-separated word
 * lower-cased (ASCII) with everything but letters and digits removed (bytes
 * >= 0x80 are kept, so UTF-8 letters stay), kept when longer than 4
 * characters and not on the stop list, without duplicates, in the order
 * first seen (the original's set order was arbitrary), at most max. Returns
 * a cJSON array of strings (caller frees), or NULL when out of memory. */
cJSON *psy_dream_topics(const cJSON *memories, int max);
/* psy_dream_queries with topic queries: after the trajectory's, "experiences
 * with <topic>" and "what I learned about <topic>" for the first two topics,
 * dynamic ones PSY_DREAM_MAX_DYNAMIC at most, then the theme's five - at most
 * max in all. topics may be NULL. Caller frees. */
cJSON *psy_dream_queries_topics(const psy_dream_theme *t, const cJSON *emotional_state, const cJSON *topics, int max);
/* True when a dream's text holds an insight worth storing. */
bool psy_dream_has_insight(const char *text);

/* An idle tool call is refused unless the tool is read-only and every path
 * argument avoids sensitive names and "..". Returns NULL when allowed, or the
 * reason (static string). */
const char *psy_idle_tool_refusal(const char *tool, const cJSON *args);

#endif
