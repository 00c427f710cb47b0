/* thoughts.c - reflections, dreams and the consolidation check (see
 * thoughts.h).
 *
 * Everything here is private: it is shown in the thought panel
 * (PSY_EV_THOUGHT) and never added to the conversation. Every generation
 * runs on elpis's background sequence so the conversation's KV cache
 * survives, and every step stops at once when the user types (the idle
 * activity's cancel flag). */
#include "thoughts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "context.h"
#include "generate.h"
#include "log.h"
#include "prompt.h"
#include "toolcall.h"
#include "util.h"

/* Reflection directives (prompt.h picks one of them). */
#define N_DIRECTIVES 4
/* Most memory queries a dream makes. */
#define DREAM_MAX_QUERIES 9

static void add_msg(cJSON *msgs, const char *role, const char *content)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", role);
    cJSON_AddStringToObject(m, "content", content);
    cJSON_AddItemToArray(msgs, m);
}


void psy_maybe_consolidate(psy_env *e, const char *why)
{
    psy_links *l = e->links;
    if (!psy_child_up(&l->mnemo)) return;
    if (strcmp(why, "shutdown") && !psy_idle_consolidation_check(e->idle, now_mono())) return;
    cJSON *res = NULL;
    char err[512];
    if (psy_mnemo(l, "should_consolidate", cJSON_CreateObject(), &res, err, sizeof err)) {
        log_warn("should_consolidate: %s", err);
        cJSON_Delete(res);
        return;
    }
    bool yes = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "should_consolidate"));
    cJSON_Delete(res);
    if (!yes) return;
    psy_set_state(e->bus, "consolidating");
    cJSON *args = psy_consolidate_args(e->cfg->consolidate_importance, e->cfg->consolidate_similarity);
    if (!args) {
        log_warn("consolidate_memories: out of memory");
        return;
    }
    res = NULL;
    if (psy_mnemo(l, "consolidate_memories", args, &res, err, sizeof err)) {
        log_warn("consolidate_memories: %s", err);
        cJSON_Delete(res);
        return;
    }
    char what[160];
    psy_consolidate_describe(res, what, sizeof what);
    buf b = BUF_INIT;
    buf_printf(&b, "consolidated memories (%s): %s", why, what);
    cJSON_AddStringToObject(res, "kind", "consolidation");
    psy_emit(e->bus, PSY_EV_MEMORY, b.data, res);
    buf_free(&b);
}

/* ------------------------------------------------------------ reflection */

typedef struct thought {
    psy_env *e;
    int ts, cs;     /* typing_seq and cancel_seq at the start */
    bool tools_ok;  /* out of warm-up and cooldown */
    int tool_calls; /* asked for (refused ones too) */
    int tools_run;
    cJSON *msgs; /* the private exchange so far */
    buf text;    /* what the thought panel shows */
} thought;

static bool idle_aborted(const thought *t) { return psy_idle_aborted(t->e->bus, t->ts, t->cs); }

/* The thought is complete: show it. out is the model's last text. */
static void emit_thought(thought *t, char *out, psy_toolcall *tc, int prc)
{
    if (prc == 1) {
        out[tc->start < strlen(out) ? tc->start : strlen(out)] = 0;
        psy_toolcall_clear(tc);
    }
    if (t->text.len) buf_puts(&t->text, "\n\n");
    buf_puts(&t->text, out);
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "kind", "reflection");
    cJSON_AddNumberToObject(d, "tool_calls", t->tool_calls);
    psy_emit(t->e->bus, PSY_EV_THOUGHT, buf_str(&t->text), d);
}

/* A tool call in a thought: allowed only read-only, out of warm-up and cooldown. */
static void thought_tool(thought *t, char *out, const psy_toolcall *tc)
{
    psy_env *e = t->e;
    out[tc->end < strlen(out) ? tc->end : strlen(out)] = 0;
    add_msg(t->msgs, "assistant", out);
    const char *why = psy_idle_tool_refusal(tc->name, tc->arguments);
    if (!why && !t->tools_ok) why = "tools are resting now (warm-up or cooldown)";
    if (why) {
        buf m = BUF_INIT;
        buf_printf(&m, "[System] %s: %s. Continue your reflection without this tool.", tc->name, why);
        add_msg(t->msgs, "user", m.data);
        buf_free(&m);
    } else {
        char line[PSY_TOOL_LINE_MAX];
        psy_set_state(e->bus, "running tool");
        cJSON *w = psy_toolset_run(e->tools, tc->name, tc->arguments, PSY_TOOL_READ_ONLY | PSY_TOOL_STRICT_PATHS, false,
                                   line, sizeof line);
        t->tools_run++;
        char *res = psy_tool_result_text(tc->name, w, e->cfg->idle_result_max_chars, -1);
        add_msg(t->msgs, "user", res);
        free(res);
        cJSON_Delete(w);
        buf_printf(&t->text, "%s(%s)", t->text.len ? "\n" : "", line);
        psy_set_state(e->bus, "thinking");
    }
    t->tool_calls++;
}

/* One generation of the thought. Returns true when the thought is over. */
static bool thought_step(thought *t)
{
    psy_env *e = t->e;
    char *out = NULL, err[512];
    psy_gen_params p = {.max_tokens = e->cfg->think_max_tokens,
                        .temperature = e->cfg->think_temperature,
                        .background = true,
                        .timeout_s = e->cfg->generation_timeout_s,
                        .fit = true};
    int rc = psy_generate(e->links, cJSON_Duplicate(t->msgs, 1), &p, &out, NULL, err, sizeof err);
    if (rc) {
        if (rc != -ECANCELED) log_warn("idle thought: %s", err);
        free(out);
        return true;
    }
    psy_toolcall tc;
    char perr[256];
    int prc = psy_toolcall_parse(out, strlen(out), &tc, perr, sizeof perr);
    bool over = prc != 1 || t->tool_calls >= e->cfg->idle_max_tool_calls;
    if (over) {
        emit_thought(t, out, &tc, prc);
    } else {
        thought_tool(t, out, &tc);
        psy_toolcall_clear(&tc);
    }
    free(out);
    return over;
}

void psy_think(psy_env *e, const psy_conv *c)
{
    thought t = {.e = e, .ts = psy_bus_typing_seq(e->bus), .cs = psy_bus_cancel_seq(e->bus), .text = BUF_INIT};
    psy_activity_begin(e->bus, PSY_ACT_IDLE, true);
    if (!idle_aborted(&t)) {
        psy_set_state(e->bus, "thinking");
        psy_toolset_rearm(e->tools); /* a cancel of an earlier activity */
        double now = now_mono();
        /* Warm-up and cooldown are judged once per thought: a thought out of
         * them may make up to [idle] max_tool_calls calls, and the cooldown
         * starts when the thought ends. */
        t.tools_ok = e->idle->cfg.tools && e->cfg->idle_max_tool_calls > 0 && psy_idle_tool_allowed(e->idle, now);
        int directive = (int)(e->idle->thoughts % N_DIRECTIVES + (long)(now_wall()) % N_DIRECTIVES);
        char *prompt = psy_prompt_reflection(directive, t.tools_ok);
        t.msgs = psy_context_render(&c->ctx);
        add_msg(t.msgs, "user", prompt);
        free(prompt);
        while (!idle_aborted(&t) && !thought_step(&t)) {
        }
        cJSON_Delete(t.msgs);
        buf_free(&t.text);
        if (t.tools_run) psy_idle_tool_used(e->idle, now_mono());
        if (!idle_aborted(&t)) psy_maybe_consolidate(e, "idle");
    }
    psy_activity_end(e->bus);
}

/* ----------------------------------------------------------------- dream */

static bool has_id(const cJSON *mems, const cJSON *id)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, mems)
    {
        const cJSON *oid = cJSON_GetObjectItemCaseSensitive(o, "id");
        if (cJSON_IsString(id) && cJSON_IsString(oid) && !strcmp(id->valuestring, oid->valuestring)) return true;
    }
    return false;
}

/* The memories that surface for a dream: a few per query, no duplicates. */
static cJSON *dream_memories(psy_env *e, const cJSON *queries, int ts, int cs)
{
    int nq = cJSON_GetArraySize(queries), max = e->cfg->dream_max_memories;
    int per = nq ? max / nq : 1;
    if (per < 1) per = 1;
    cJSON *mems = cJSON_CreateArray();
    const cJSON *qq;
    cJSON_ArrayForEach(qq, queries)
    {
        if (cJSON_GetArraySize(mems) >= max || psy_idle_aborted(e->bus, ts, cs)) break;
        cJSON *res = NULL;
        if (psy_mem_search(e->mem, qq->valuestring, per, &res)) continue;
        cJSON *m;
        cJSON_ArrayForEach(m, res)
        {
            if (!has_id(mems, cJSON_GetObjectItemCaseSensitive(m, "id")) && cJSON_GetArraySize(mems) < max)
                cJSON_AddItemToArray(mems, cJSON_Duplicate(m, 1));
        }
        cJSON_Delete(res);
    }
    return mems;
}

/* The topics of the recent conversations (idle.h); an empty array when
 * the search fails. Caller frees. */
static cJSON *dream_topics(psy_env *e)
{
    cJSON *res = NULL;
    if (psy_mem_search(e->mem, PSY_DREAM_TOPIC_QUERY, PSY_DREAM_TOPIC_SOURCES, &res)) return cJSON_CreateArray();
    cJSON *topics = psy_dream_topics(res, PSY_DREAM_MAX_TOPICS);
    cJSON_Delete(res);
    return topics;
}

/* Shows a dream and keeps its insight, if it has one. */
static void dream_done(psy_env *e, const psy_dream_theme *theme, const char *out, const cJSON *queries, int n_mems)
{
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "kind", "dream");
    cJSON_AddStringToObject(d, "theme", theme->theme);
    cJSON_AddItemToObject(d, "queries", cJSON_Duplicate(queries, 1));
    cJSON_AddNumberToObject(d, "memories", n_mems);
    psy_emit(e->bus, PSY_EV_THOUGHT, out, d);
    if (!psy_dream_has_insight(out)) return;
    buf c = BUF_INIT, tg = BUF_INIT;
    buf_printf(&c, "[Dream insight - %s] %s", theme->theme, out);
    buf_printf(&tg, "theme:%s", theme->theme);
    const char *tags[] = {"dream", "insight", "semantic", tg.data, NULL};
    if (psy_mem_store(e->mem, psy_mem_args(e->mem, c.data, NULL, "semantic", "dream", tags), NULL) == 0)
        psy_emitf(e->bus, PSY_EV_MEMORY, "kept an insight from a dream about %s", theme->theme);
    buf_free(&c);
    buf_free(&tg);
}

static void dream(psy_env *e, int ts, int cs)
{
    psy_set_state(e->bus, "dreaming");
    cJSON *emo = NULL;
    char err[512];
    if (psy_elpis(e->links, "get_emotion", cJSON_CreateObject(), e->cfg->call_timeout_s * 1000, NULL, NULL, &emo, err,
                  sizeof err) == 0)
        psy_note_emotion(e->links, emo);
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(emo, "quadrant");
    const psy_dream_theme *theme = psy_dream_theme_for(cJSON_IsString(q) ? q->valuestring : NULL);
    cJSON *topics = dream_topics(e);
    cJSON *queries = psy_dream_queries_topics(theme, emo, topics, DREAM_MAX_QUERIES);
    cJSON_Delete(topics);
    cJSON_Delete(emo);
    cJSON *mems = dream_memories(e, queries, ts, cs);
    char *prompt = psy_prompt_dream(theme->theme, theme->guidance, mems);
    cJSON *msgs = cJSON_CreateArray();
    add_msg(msgs, "system", psy_prompt_dream_system());
    add_msg(msgs, "user", prompt);
    free(prompt);
    char *out = NULL;
    psy_gen_params p = {.max_tokens = e->cfg->dream_max_tokens,
                        .temperature = e->cfg->dream_temperature,
                        .background = true,
                        .timeout_s = e->cfg->generation_timeout_s,
                        .fit = true};
    int rc = -ECANCELED;
    if (psy_idle_aborted(e->bus, ts, cs)) cJSON_Delete(msgs);
    else rc = psy_generate(e->links, msgs, &p, &out, NULL, err, sizeof err);
    if (rc == 0 && out && *out) dream_done(e, theme, out, queries, cJSON_GetArraySize(mems));
    else if (rc && rc != -ECANCELED) log_warn("dream: %s", err);
    free(out);
    cJSON_Delete(queries);
    cJSON_Delete(mems);
}

void psy_dream(psy_env *e)
{
    int ts = psy_bus_typing_seq(e->bus), cs = psy_bus_cancel_seq(e->bus);
    psy_activity_begin(e->bus, PSY_ACT_IDLE, true);
    if (!psy_idle_aborted(e->bus, ts, cs) && psy_child_up(&e->links->mnemo)) { /* no memories, no dream */
        dream(e, ts, cs);
        if (!psy_idle_aborted(e->bus, ts, cs)) psy_maybe_consolidate(e, "dream");
    }
    psy_activity_end(e->bus);
}
