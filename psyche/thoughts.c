/* thoughts.c - what psyche does while the user is quiet: private
 * reflections (with a few read-only tool calls), dreams over surfacing
 * memories, and the consolidation check after them.
 *
 * Runs on the agent thread when idle.c says so. Everything here is private:
 * it is shown in the thought panel (PSY_EV_THOUGHT) and never added to the
 * conversation. Every generation runs on elpis's background sequence so the
 * conversation's KV cache survives, and every step stops at once when the
 * user types (idle_cancel). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_int.h"
#include "buf.h"
#include "log.h"
#include "prompt.h"
#include "toolcall.h"
#include "util.h"

static void add_msg(cJSON *msgs, const char *role, const char *content)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", role);
    cJSON_AddStringToObject(m, "content", content);
    cJSON_AddItemToArray(msgs, m);
}

void psy_maybe_consolidate(psy_agent *a, const char *why)
{
    if (!psy_child_up(&a->mnemo)) return;
    if (strcmp(why, "shutdown") && !psy_idle_consolidation_check(&a->idle, now_mono())) return;
    cJSON *res = NULL;
    char err[512];
    if (psy_mnemo(a, "should_consolidate", cJSON_CreateObject(), &res, err, sizeof err)) {
        log_warn("should_consolidate: %s", err);
        cJSON_Delete(res);
        return;
    }
    bool yes = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "should_consolidate"));
    cJSON_Delete(res);
    if (!yes) return;
    psy_set_state(a, "consolidating");
    cJSON *args = cJSON_CreateObject();
    cJSON_AddNumberToObject(args, "importance_threshold", a->cfg->consolidate_importance);
    cJSON_AddNumberToObject(args, "similarity_threshold", a->cfg->consolidate_similarity);
    res = NULL;
    if (psy_mnemo(a, "consolidate_memories", args, &res, err, sizeof err)) {
        log_warn("consolidate_memories: %s", err);
        cJSON_Delete(res);
        return;
    }
    const cJSON *cl = cJSON_GetObjectItemCaseSensitive(res, "clusters_formed");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(res, "memories_promoted");
    const cJSON *ar = cJSON_GetObjectItemCaseSensitive(res, "memories_archived");
    buf b = BUF_INIT;
    buf_printf(&b, "consolidated memories (%s): %d clusters, %d promoted to long-term, %d archived", why,
               cJSON_IsNumber(cl) ? (int)cl->valuedouble : 0, cJSON_IsNumber(pr) ? (int)pr->valuedouble : 0,
               cJSON_IsNumber(ar) ? (int)ar->valuedouble : 0);
    cJSON_AddStringToObject(res, "kind", "consolidation");
    psy_emit(a, PSY_EV_MEMORY, b.data, res);
    buf_free(&b);
}

void psy_think(psy_agent *a)
{
    int ts = __atomic_load_n(&a->typing_seq, __ATOMIC_ACQUIRE);
    int cs = __atomic_load_n(&a->cancel_seq, __ATOMIC_ACQUIRE);
    a->active_cancel = &a->idle_cancel;
    __atomic_store_n(&a->idle_cancel, 0, __ATOMIC_RELEASE);
    if (psy_idle_aborted(a, ts, cs)) return;
    psy_set_state(a, "thinking");
    psy_tools_reset_cancel(a->tools); /* a cancel of an earlier activity */
    double now = now_mono();
    /* Warm-up and cooldown are judged once per thought: a thought out of
     * them may make up to [idle] max_tool_calls calls, and the cooldown
     * starts when the thought ends. */
    bool tools_ok = a->idle.cfg.tools && a->cfg->idle_max_tool_calls > 0 && psy_idle_tool_allowed(&a->idle, now);
    int tools_run = 0;
    int directive = (int)(a->idle.thoughts % 4 + (long)(now_wall()) % 4);
    char *prompt = psy_prompt_reflection(directive, tools_ok);
    cJSON *msgs = psy_context_render(&a->ctx);
    add_msg(msgs, "user", prompt);
    free(prompt);
    buf thought = BUF_INIT;
    int tool_calls = 0;
    for (int step = 0;; step++) {
        if (psy_idle_aborted(a, ts, cs)) break;
        char *out = NULL, err[512];
        int rc = psy_generate(a, cJSON_Duplicate(msgs, 1), a->cfg->think_max_tokens, a->cfg->think_temperature, true,
                              false, a->cfg->generation_timeout_s, &out, err, sizeof err);
        if (rc) {
            if (rc != -ECANCELED) log_warn("idle thought: %s", err);
            free(out);
            break;
        }
        psy_toolcall tc;
        char perr[256];
        int prc = psy_toolcall_parse(out, strlen(out), &tc, perr, sizeof perr);
        if (prc != 1 || tool_calls >= a->cfg->idle_max_tool_calls) {
            if (prc == 1) {
                out[tc.start < strlen(out) ? tc.start : strlen(out)] = 0;
                psy_toolcall_clear(&tc);
            }
            if (thought.len) buf_puts(&thought, "\n\n");
            buf_puts(&thought, out);
            free(out);
            cJSON *d = cJSON_CreateObject();
            cJSON_AddStringToObject(d, "kind", "reflection");
            cJSON_AddNumberToObject(d, "tool_calls", tool_calls);
            psy_emit(a, PSY_EV_THOUGHT, buf_str(&thought), d);
            break;
        }
        /* a tool call: allowed only read-only, out of warm-up and cooldown */
        out[tc.end < strlen(out) ? tc.end : strlen(out)] = 0;
        add_msg(msgs, "assistant", out);
        const char *why = psy_idle_tool_refusal(tc.name, tc.arguments);
        if (!why && !tools_ok) why = "tools are resting now (warm-up or cooldown)";
        if (why) {
            buf m = BUF_INIT;
            buf_printf(&m, "[System] %s: %s. Continue your reflection without this tool.", tc.name, why);
            add_msg(msgs, "user", m.data);
            buf_free(&m);
        } else {
            char line[320];
            psy_set_state(a, "running tool");
            cJSON *w = psy_tools_run(a, tc.name, tc.arguments, PSY_TOOL_READ_ONLY | PSY_TOOL_STRICT_PATHS, false,
                                     line, sizeof line);
            tools_run++;
            char *res = psy_tool_result_text(tc.name, w, a->cfg->idle_result_max_chars, -1);
            add_msg(msgs, "user", res);
            free(res);
            cJSON_Delete(w);
            buf_printf(&thought, "%s(%s)", thought.len ? "\n" : "", line);
            psy_set_state(a, "thinking");
        }
        tool_calls++;
        psy_toolcall_clear(&tc);
        free(out);
    }
    cJSON_Delete(msgs);
    buf_free(&thought);
    if (tools_run) psy_idle_tool_used(&a->idle, now_mono());
    if (!psy_idle_aborted(a, ts, cs)) psy_maybe_consolidate(a, "idle");
}

void psy_dream(psy_agent *a)
{
    int ts = __atomic_load_n(&a->typing_seq, __ATOMIC_ACQUIRE);
    int cs = __atomic_load_n(&a->cancel_seq, __ATOMIC_ACQUIRE);
    a->active_cancel = &a->idle_cancel;
    __atomic_store_n(&a->idle_cancel, 0, __ATOMIC_RELEASE);
    if (psy_idle_aborted(a, ts, cs) || !psy_child_up(&a->mnemo)) return; /* no memories, no dream */
    psy_set_state(a, "dreaming");
    cJSON *emo = NULL;
    char err[512];
    if (psy_elpis(a, "get_emotion", cJSON_CreateObject(), a->cfg->call_timeout_s * 1000, NULL, NULL, &emo, err,
                  sizeof err) == 0)
        psy_note_emotion(a, emo);
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(emo, "quadrant");
    const psy_dream_theme *theme = psy_dream_theme_for(cJSON_IsString(q) ? q->valuestring : NULL);
    cJSON *queries = psy_dream_queries(theme, emo, 9);
    cJSON_Delete(emo);
    int nq = cJSON_GetArraySize(queries), max = a->cfg->dream_max_memories;
    int per = nq ? max / nq : 1;
    if (per < 1) per = 1;
    cJSON *mems = cJSON_CreateArray();
    const cJSON *qq;
    cJSON_ArrayForEach(qq, queries)
    {
        if (cJSON_GetArraySize(mems) >= max || psy_idle_aborted(a, ts, cs)) break;
        cJSON *res = psy_mem_search(a, qq->valuestring, per);
        cJSON *m;
        cJSON_ArrayForEach(m, res)
        {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "id");
            bool dup = false;
            const cJSON *o;
            cJSON_ArrayForEach(o, mems)
            {
                const cJSON *oid = cJSON_GetObjectItemCaseSensitive(o, "id");
                if (cJSON_IsString(id) && cJSON_IsString(oid) && !strcmp(id->valuestring, oid->valuestring)) dup = true;
            }
            if (!dup && cJSON_GetArraySize(mems) < max) cJSON_AddItemToArray(mems, cJSON_Duplicate(m, 1));
        }
        cJSON_Delete(res);
    }
    char *prompt = psy_prompt_dream(theme->theme, theme->guidance, mems);
    cJSON *msgs = cJSON_CreateArray();
    add_msg(msgs, "system", psy_prompt_dream_system());
    add_msg(msgs, "user", prompt);
    free(prompt);
    char *out = NULL;
    int rc = psy_idle_aborted(a, ts, cs)
                 ? (cJSON_Delete(msgs), -ECANCELED)
                 : psy_generate(a, msgs, a->cfg->dream_max_tokens, a->cfg->dream_temperature, true, false,
                                a->cfg->generation_timeout_s, &out, err, sizeof err);
    if (rc == 0 && out && *out) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "kind", "dream");
        cJSON_AddStringToObject(d, "theme", theme->theme);
        cJSON_AddItemToObject(d, "queries", cJSON_Duplicate(queries, 1));
        cJSON_AddNumberToObject(d, "memories", cJSON_GetArraySize(mems));
        psy_emit(a, PSY_EV_THOUGHT, out, d);
        if (psy_dream_has_insight(out)) {
            buf c = BUF_INIT, tg = BUF_INIT;
            buf_printf(&c, "[Dream insight - %s] %s", theme->theme, out);
            buf_printf(&tg, "theme:%s", theme->theme);
            const char *tags[] = {"dream", "insight", "semantic", tg.data, NULL};
            int sr = psy_mem_store(a, psy_mem_args(a, c.data, NULL, "semantic", "dream", tags));
            if (sr >= 0) psy_emitf(a, PSY_EV_MEMORY, "kept an insight from a dream about %s", theme->theme);
            buf_free(&c);
            buf_free(&tg);
        }
    } else if (rc && rc != -ECANCELED) {
        log_warn("dream: %s", err);
    }
    free(out);
    cJSON_Delete(queries);
    cJSON_Delete(mems);
    if (!psy_idle_aborted(a, ts, cs)) psy_maybe_consolidate(a, "dream");
}
