/* idle.c - the idle scheduler (pure, clock passed in) and the dream themes.
 *
 * Owns decisions only: it never calls a child, never sleeps and never reads
 * a clock itself, so the tests drive it with a fake one. The agent runs what
 * it decides (thoughts.c). */
#include "idle.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "utf8.h"
#include "workspace.h"

/* Longest topic word kept, in bytes. */
#define PSY_TOPIC_MAX 48

void psy_idle_init(psy_idle *s, const psy_idle_cfg *cfg, double now)
{
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    s->started = now;
    s->last_input = now;
    s->last_activity = now;
    s->last_user_msg = -1;
    s->last_dream = -1;
    s->last_tool_use = -1;
    s->last_consolidation_check = -1;
}

psy_idle_action psy_idle_next(const psy_idle *s, double now, double *wait_s)
{
    *wait_s = -1;
    if (!s->cfg.enabled) return PSY_IDLE_NOTHING;
    double silence = now - s->last_input;
    bool dreaming_time = s->cfg.dreams && silence >= s->cfg.dream_after;
    if (s->cfg.dreams) {
        double due = s->last_input + s->cfg.dream_after;
        if (s->last_dream >= 0 && s->last_dream + s->cfg.dream_interval > due)
            due = s->last_dream + s->cfg.dream_interval;
        /* never right on the heels of a thought */
        if (s->last_activity > s->last_input && s->last_activity > due) due = s->last_activity;
        if (now >= due) return PSY_IDLE_DREAM;
        *wait_s = due - now;
    }
    if (dreaming_time) return PSY_IDLE_NOTHING; /* reflections give way to dreams */
    double t = fmax(s->last_input, s->last_activity) + s->cfg.think_after;
    if (s->last_user_msg >= 0 && s->last_user_msg + s->cfg.quiet_after_user > t)
        t = s->last_user_msg + s->cfg.quiet_after_user;
    if (s->cfg.dreams && t >= s->last_input + s->cfg.dream_after) return PSY_IDLE_NOTHING; /* the dream comes first */
    if (now >= t) return PSY_IDLE_THINK;
    if (*wait_s < 0 || t - now < *wait_s) *wait_s = t - now;
    return PSY_IDLE_NOTHING;
}

void psy_idle_input(psy_idle *s, double now)
{
    s->last_input = now;
    s->last_dream = -1;
}

void psy_idle_user_message(psy_idle *s, double now)
{
    psy_idle_input(s, now);
    s->last_user_msg = now;
}

void psy_idle_done(psy_idle *s, psy_idle_action a, double now)
{
    s->last_activity = now;
    if (a == PSY_IDLE_DREAM) {
        s->last_dream = now;
        s->dreams++;
    } else if (a == PSY_IDLE_THINK) {
        s->thoughts++;
    }
}

bool psy_idle_tool_allowed(const psy_idle *s, double now)
{
    if (!s->cfg.tools) return false;
    if (now - s->started < s->cfg.tool_warmup) return false;
    return s->last_tool_use < 0 || now - s->last_tool_use >= s->cfg.tool_cooldown;
}

void psy_idle_tool_used(psy_idle *s, double now) { s->last_tool_use = now; }

bool psy_idle_consolidation_check(psy_idle *s, double now)
{
    if (s->last_consolidation_check >= 0 && now - s->last_consolidation_check < s->cfg.consolidate_check) return false;
    s->last_consolidation_check = now;
    return true;
}

double psy_idle_consolidation_due(const psy_idle *s, double now)
{
    double from = s->last_consolidation_check >= 0 ? s->last_consolidation_check : s->started;
    return from + s->cfg.consolidate_check - now;
}

/* ---------------------------------------------------------------- dreams */

static const psy_dream_theme themes[] = {
    {"frustrated",
     "resolution",
     "Look for how past challenges were resolved, and what that says about this one.",
     {"problems I solved", "challenges overcome", "moments of success", "when things clicked", "breakthroughs"}},
    {"depleted",
     "restoration",
     "Reconnect with what gives meaning and energy.",
     {"moments of joy", "meaningful connections", "things that matter", "what gives me energy", "why I do this"}},
    {"excited",
     "exploration",
     "Explore complexity and open questions; follow curiosity.",
     {"interesting questions", "things to learn", "curiosity and wonder", "complex problems", "possibilities"}},
    {"calm",
     "synthesis",
     "Integrate experiences and find the patterns connecting them.",
     {"patterns noticed", "connections between ideas", "emerging understanding", "things coming together", "insights"}},
    {"other",
     "reflection",
     "Let the mind wander over what has happened.",
     {"important moments", "things learned", "conversations", "feelings and emotions", "discoveries"}},
};

const psy_dream_theme *psy_dream_theme_for(const char *quadrant)
{
    for (size_t i = 0; quadrant && i < sizeof themes / sizeof themes[0] - 1; i++)
        if (!strcmp(quadrant, themes[i].quadrant)) return &themes[i];
    return &themes[sizeof themes / sizeof themes[0] - 1];
}

static void add_query(cJSON *arr, const char *q, int max)
{
    if (cJSON_GetArraySize(arr) >= max) return;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) if (!strcmp(e->valuestring, q)) return;
    cJSON_AddItemToArray(arr, cJSON_CreateString(q));
}

/* The trajectory's queries (spiral direction, trend, a long time in one quadrant). */
static void add_trajectory_queries(cJSON *arr, const cJSON *st, int max)
{
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(st, "trajectory");
    const cJSON *spiral = cJSON_GetObjectItemCaseSensitive(tr, "spiral_detected");
    const cJSON *dir = cJSON_GetObjectItemCaseSensitive(tr, "spiral_direction");
    const cJSON *trend = cJSON_GetObjectItemCaseSensitive(tr, "trend");
    const cJSON *tiq = cJSON_GetObjectItemCaseSensitive(tr, "time_in_quadrant");
    if (cJSON_IsTrue(spiral) && cJSON_IsString(dir)) {
        const char *d = dir->valuestring;
        if (!strcmp(d, "positive")) add_query(arr, "progress and growth, what's working", max);
        else if (!strcmp(d, "negative")) add_query(arr, "comfort and support, what helps", max);
        else if (!strcmp(d, "escalating")) add_query(arr, "grounding, calm moments, stability", max);
        else if (!strcmp(d, "withdrawing")) add_query(arr, "energy, motivation, excitement", max);
    }
    if (cJSON_IsString(trend)) {
        const char *d = trend->valuestring;
        if (!strcmp(d, "improving")) add_query(arr, "keeping momentum, recent wins", max);
        else if (!strcmp(d, "declining")) add_query(arr, "turning points, resilience", max);
        else if (!strcmp(d, "oscillating")) add_query(arr, "balance, stability, patterns", max);
    }
    if (cJSON_IsNumber(tiq) && tiq->valuedouble > 300) add_query(arr, "what brings peace", max);
}

cJSON *psy_dream_queries_topics(const psy_dream_theme *t, const cJSON *st, const cJSON *topics, int max)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr) return NULL;
    int dyn = max < PSY_DREAM_MAX_DYNAMIC ? max : PSY_DREAM_MAX_DYNAMIC;
    add_trajectory_queries(arr, st, dyn);
    for (int i = 0; i < 2 && i < cJSON_GetArraySize(topics); i++) {
        const cJSON *tp = cJSON_GetArrayItem(topics, i);
        if (!cJSON_IsString(tp)) continue;
        char q[PSY_TOPIC_MAX + 32];
        snprintf(q, sizeof q, "experiences with %s", tp->valuestring);
        add_query(arr, q, dyn);
        snprintf(q, sizeof q, "what I learned about %s", tp->valuestring);
        add_query(arr, q, dyn);
    }
    for (int i = 0; i < 5; i++) add_query(arr, t->queries[i], max);
    return arr;
}

cJSON *psy_dream_queries(const psy_dream_theme *t, const cJSON *st, int max)
{
    return psy_dream_queries_topics(t, st, NULL, max);
}

/* Common words of five letters or more that name no topic. */
static const char *const topic_stop[] = {
    "about", "after",        "again",         "always", "assistant", "because", "before", "being",
    "could", "conversation", "conversations", "doing",  "every",     "first",   "going",  "great",
    "hello", "maybe",        "might",         "never",  "other",     "really",  "right",  "should",
    "since", "something",    "still",         "thank",  "thanks",    "their",   "there",  "these",
    "thing", "things",       "think",         "those",  "through",   "today",   "under",  "until",
    "where", "which",        "while",         "would",  "yours",     "summary"};

static bool topic_stopword(const char *w)
{
    for (size_t i = 0; i < sizeof topic_stop / sizeof topic_stop[0]; i++)
        if (!strcmp(w, topic_stop[i])) return true;
    return false;
}

/* Adds the topic words of text to topics (up to max). */
static void add_topics(cJSON *topics, const char *text, int max)
{
    const char *p = text;
    while (*p && cJSON_GetArraySize(topics) < max) {
        while (*p && isspace((unsigned char)*p)) p++;
        char w[PSY_TOPIC_MAX + 1];
        size_t n = 0;
        for (; *p && !isspace((unsigned char)*p); p++) {
            unsigned char ch = (unsigned char)*p;
            if (n < PSY_TOPIC_MAX && (isalnum(ch) || ch >= 0x80)) w[n++] = (char)tolower(ch);
        }
        n = utf8_complete_prefix(w, n); /* a word cut at PSY_TOPIC_MAX keeps whole characters */
        w[n] = 0;
        if (utf8_count(w, n) > 4 && !topic_stopword(w)) add_query(topics, w, max);
    }
}

cJSON *psy_dream_topics(const cJSON *memories, int max)
{
    cJSON *topics = cJSON_CreateArray();
    if (!topics) return NULL;
    const cJSON *m;
    cJSON_ArrayForEach(m, memories)
    {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (cJSON_IsString(c)) add_topics(topics, c->valuestring, max);
    }
    return topics;
}

bool psy_dream_has_insight(const char *text)
{
    static const char *const words[] = {"realize", "connect",  "pattern", "understand", "feel",
                                        "notice",  "remember", "insight", "meaning",    "significance"};
    if (!text) return false;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasestr(text, words[i])) return true;
    return false;
}

const char *psy_idle_tool_refusal(const char *tool, const cJSON *args)
{
    static const char *const ok[] = {"read_file", "list_directory", "search_codebase", "recall_memory"};
    bool allowed = false;
    for (size_t i = 0; tool && i < sizeof ok / sizeof ok[0]; i++)
        if (!strcmp(tool, ok[i])) allowed = true;
    if (!allowed) return "only read_file, list_directory, search_codebase and recall_memory are allowed while idle";
    static const char *const path_keys[] = {"file_path", "dir_path", "path", "file_glob", "pattern"};
    for (size_t i = 0; i < sizeof path_keys / sizeof path_keys[0]; i++) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(args, path_keys[i]);
        if (!cJSON_IsString(p)) continue;
        bool is_path = i < 3 || !strcmp(tool, "list_directory") || i == 3;
        if (!is_path) continue; /* search_codebase's pattern is a regex, not a path */
        if (strstr(p->valuestring, "..")) return "paths with '..' are refused while idle";
        if (psy_path_sensitive(p->valuestring, NULL)) return "that path may hold secrets; refused while idle";
    }
    return NULL;
}
