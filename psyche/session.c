/* session.c - the edges of a session: the slash commands that need the
 * agent (/status, /emotion, /memory, /clear, /thinking) and the shutdown
 * path (summary, staged messages, consolidation, stopping the children).
 *
 * Runs on the agent thread only. The shutdown path must finish even when a
 * child is down, and a second quit request must cut it short (quit_level 2
 * cancels the call in flight and skips the remaining steps). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_int.h"
#include "buf.h"
#include "log.h"
#include "prompt.h"

/* -------------------------------------------------------------- commands */

static void cmd_status(psy_agent *a)
{
    psy_emit_status(a);
    cJSON *s = psy_agent_status(a);
    buf b = BUF_INIT;
    buf_printf(&b, "State: %s | messages %d | tokens %ld / %d (context %d)\n", a->state, (int)(a->ctx.n - 1),
               a->ctx.total_tokens, psy_context_available(&a->ctx), a->context_length);
    psy_child *chs[2] = {&a->elpis, &a->mnemo};
    for (int i = 0; i < 2; i++) {
        psy_child *ch = chs[i];
        if (!ch->enabled) buf_printf(&b, "%s: disabled\n", ch->name);
        else if (psy_child_up(ch))
            buf_printf(&b, "%s: running (pid %d, %d restarts, log %s)\n", ch->name, (int)psy_child_pid(ch),
                       ch->restarts, ch->log_path);
        else if (psy_child_starting(ch)) buf_printf(&b, "%s: starting (log %s)\n", ch->name, ch->log_path);
        else buf_printf(&b, "%s: DOWN (%s)\n", ch->name, ch->last_error[0] ? ch->last_error : "not started");
    }
    int pending = a->fallback_pending;
    if (pending) buf_printf(&b, "fallback memories waiting for import: %d (%s)\n", pending, a->fallback_path);
    const cJSON *sb = cJSON_GetObjectItemCaseSensitive(s, "sandbox");
    const cJSON *det = cJSON_GetObjectItemCaseSensitive(sb, "detail");
    buf_printf(&b, "Workspace: %s\nSandbox: %s\nModel: %s | reasoning %s | idle thinking %s",
               a->workspace ? a->workspace : "", cJSON_IsString(det) ? det->valuestring : "unknown",
               a->model[0] ? a->model : "(unknown)", a->reasoning ? "on" : "off", a->idle_on ? "on" : "off");
    psy_emit(a, PSY_EV_INFO, buf_str(&b), s);
    buf_free(&b);
}

static void cmd_emotion(psy_agent *a)
{
    cJSON *res = NULL;
    char err[256];
    a->active_cancel = &a->turn_cancel;
    if (psy_elpis(a, "get_emotion", cJSON_CreateObject(), a->cfg->call_timeout_s * 1000, NULL, NULL, &res, err,
                  sizeof err)) {
        psy_emitf(a, PSY_EV_ERROR, "[Error: %s]", err);
        return;
    }
    psy_note_emotion(a, res);
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(res, "quadrant");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(res, "valence");
    const cJSON *ar = cJSON_GetObjectItemCaseSensitive(res, "arousal");
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(res, "trajectory");
    const cJSON *trend = cJSON_GetObjectItemCaseSensitive(tr, "trend");
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(tr, "spiral_detected");
    const cJSON *sd = cJSON_GetObjectItemCaseSensitive(tr, "spiral_direction");
    buf b = BUF_INIT;
    buf_printf(&b, "Emotion: %s (valence %+.2f, arousal %+.2f), trend %s%s%s",
               cJSON_IsString(q) ? q->valuestring : "?", cJSON_IsNumber(v) ? v->valuedouble : 0,
               cJSON_IsNumber(ar) ? ar->valuedouble : 0, cJSON_IsString(trend) ? trend->valuestring : "?",
               cJSON_IsTrue(sp) ? ", spiral " : "", cJSON_IsTrue(sp) && cJSON_IsString(sd) ? sd->valuestring : "");
    psy_emit(a, PSY_EV_INFO, buf_str(&b), res);
    buf_free(&b);
}

static void cmd_memory(psy_agent *a, const char *q)
{
    while (*q == ' ') q++;
    if (!*q) {
        psy_emit(a, PSY_EV_INFO, "usage: /memory <query>", NULL);
        return;
    }
    cJSON *res = psy_mem_search(a, q, 10);
    if (!res) {
        psy_emitf(a, PSY_EV_ERROR, "[Error: memory search failed: %s]",
                  psy_child_up(&a->mnemo) ? "see the log" : "mnemosyne is not running");
        return;
    }
    buf b = BUF_INIT;
    buf_printf(&b, "%d memories for \"%s\":\n", cJSON_GetArraySize(res), q);
    int i = 1;
    const cJSON *m;
    cJSON_ArrayForEach(m, res) psy_prompt_memory_line(i++, m, &b);
    psy_emit(a, PSY_EV_INFO, buf_str(&b), res);
    buf_free(&b);
}

void psy_run_command(psy_agent *a, const char *line)
{
    const char *arg = line + strcspn(line, " \t");
    while (*arg == ' ' || *arg == '\t') arg++;
    size_t n = strcspn(line, " \t");
    if (!strncmp(line, "/status", n) || !strncmp(line, "/s", n)) cmd_status(a);
    else if (!strncmp(line, "/emotion", n) || !strncmp(line, "/e", n)) cmd_emotion(a);
    else if (!strncmp(line, "/memory", n) || !strncmp(line, "/m", n)) cmd_memory(a, arg);
    else if (!strncmp(line, "/clear", n) || !strncmp(line, "/c", n)) {
        psy_context_clear(&a->ctx); /* cleared messages are staged: still remembered */
        psy_emit(a, PSY_EV_INFO, "Conversation cleared (the system prompt stays; cleared messages will be remembered).",
                 NULL);
        psy_emit_status(a);
    } else if (!strncmp(line, "/thinking", n) || !strncmp(line, "/r", n)) {
        bool on = !strcmp(arg, "on") ? true : !strcmp(arg, "off") ? false : !a->reasoning;
        pthread_mutex_lock(&a->mu);
        a->reasoning = on;
        pthread_mutex_unlock(&a->mu);
        psy_set_system_prompt(a);
        psy_emitf(a, PSY_EV_INFO, "Reasoning mode %s.", on ? "on: the model thinks in <reasoning> tags first" : "off");
        psy_emit_status(a);
    }
}

/* -------------------------------------------------------------- shutdown */

static bool stop_now(psy_agent *a) { return __atomic_load_n(&a->quit_level, __ATOMIC_ACQUIRE) >= 2; }

static void store_summary(psy_agent *a)
{
    size_t users = 0;
    for (size_t i = 1; i < a->ctx.n; i++) users += !strcmp(a->ctx.msgs[i].role, "user");
    for (size_t i = 0; i < a->ctx.n_staged; i++) users += !strcmp(a->ctx.staged[i].role, "user");
    if (!a->cfg->summary || !users) return;
    if (!psy_child_up(&a->elpis)) {
        log_warn("no conversation summary: elpis is not running");
        return;
    }
    psy_emit(a, PSY_EV_INFO, "Summarising the conversation...", NULL);
    buf t = BUF_INIT;
    const psy_msg *lists[2] = {a->ctx.staged, a->ctx.msgs};
    size_t ns[2] = {a->ctx.n_staged, a->ctx.n};
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < ns[l]; i++) {
            const psy_msg *m = &lists[l][i];
            if (!strcmp(m->role, "system")) continue;
            size_t len = strlen(m->content);
            buf_printf(&t, "%s: %.*s%s\n", m->role, (int)(len > 500 ? 500 : len), m->content, len > 500 ? "..." : "");
        }
    cJSON *msgs = cJSON_CreateArray();
    cJSON *sm = cJSON_CreateObject();
    cJSON_AddStringToObject(sm, "role", "system");
    cJSON_AddStringToObject(sm, "content", psy_prompt_summary_system());
    cJSON_AddItemToArray(msgs, sm);
    cJSON *um = cJSON_CreateObject();
    cJSON_AddStringToObject(um, "role", "user");
    cJSON_AddStringToObject(um, "content", buf_str(&t));
    cJSON_AddItemToArray(msgs, um);
    buf_free(&t);
    char *text = NULL, err[512];
    a->active_cancel = &a->shutdown_cancel;
    int rc = psy_generate(a, msgs, a->cfg->summary_max_tokens, a->cfg->summary_temperature, true, false,
                          a->cfg->generation_timeout_s, &text, err, sizeof err);
    if ((rc == 0 || rc == -ETIMEDOUT) && text && *text) {
        size_t len = strlen(text);
        buf s = BUF_INIT;
        buf_printf(&s, "%.*s%s", (int)(len > 100 ? 100 : len), text, len > 100 ? "..." : "");
        static const char *const tags[] = {"conversation_summary", "shutdown", NULL};
        cJSON *args = psy_mem_args(a, text, buf_str(&s), "semantic", "summary", tags);
        buf_free(&s);
        int sr = psy_mem_store(a, args);
        psy_emitf(a, PSY_EV_MEMORY, "%s the conversation summary", sr == 0 ? "stored" : sr == 1 ? "saved (fallback file)" : "could not store");
    } else {
        log_warn("conversation summary failed: %s", rc ? err : "empty text");
        psy_emitf(a, PSY_EV_ERROR, "[Error: no conversation summary: %s]", rc ? err : "the model returned nothing");
    }
    free(text);
}

void psy_shutdown(psy_agent *a)
{
    psy_set_state(a, "stopping");
    log_info("shutting down");
    if (!stop_now(a)) psy_settle_children(a, 5000, &a->shutdown_cancel);
    if (!stop_now(a)) store_summary(a);
    if (!stop_now(a) && a->ctx.n_staged) {
        int rc = psy_context_flush_staged(&a->ctx, psy_mem_flush, a);
        if (rc) log_error("staged messages could not be stored (%s)", strerror(-rc));
    }
    if (!stop_now(a) && a->cfg->shutdown_consolidate && psy_child_up(&a->mnemo)) psy_maybe_consolidate(a, "shutdown");
    int grace = stop_now(a) ? 200 : a->cfg->stop_grace_ms;
    psy_child_stop(&a->elpis, grace);
    psy_child_stop(&a->mnemo, grace);
    psy_emit_status(a);
}

