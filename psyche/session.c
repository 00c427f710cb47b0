/* session.c - the slash commands that need the agent and the shutdown path
 * (see session.h).
 *
 * The shutdown path must finish even when a child is down, and a second
 * quit request must cut it short (quit level 2 cancels the call in flight
 * and skips the remaining steps). */
#include "session.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fs.h"
#include "log.h"
#include "prompt.h"
#include "thoughts.h"
#include "util.h"

/* Lines of a down child's log /status shows. */
#define STATUS_LOG_LINES 6
/* Memories /memory shows. */
#define MEMORY_COMMAND_RESULTS 10

/* -------------------------------------------------------------- commands */

/* A child that is down: its cause in full, then the end of its log, where
 * the child itself says what went wrong. */
static void child_down(buf *b, const psy_child *ch)
{
    buf_printf(b, "%s: DOWN (%s)\n", ch->name, ch->last_error[0] ? ch->last_error : "not started");
    char *tail = NULL;
    if (!ch->last_error[0] || fs_file_tail(ch->log_path, 0, STATUS_LOG_LINES, &tail, NULL) || !*tail) {
        free(tail);
        return;
    }
    buf_printf(b, "  last lines of %s:\n", ch->log_path);
    char *save = NULL;
    for (char *line = strtok_r(tail, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        buf_printf(b, "    %s\n", line);
    free(tail);
}

static void child_line(buf *b, const psy_child *ch)
{
    if (!ch->enabled) buf_printf(b, "%s: disabled\n", ch->name);
    else if (psy_child_up(ch))
        buf_printf(b, "%s: running (pid %d, %d restarts, log %s)\n", ch->name, (int)psy_child_pid(ch), ch->restarts,
                   ch->log_path);
    else if (psy_child_starting(ch)) buf_printf(b, "%s: starting (log %s)\n", ch->name, ch->log_path);
    else child_down(b, ch);
}

static void cmd_status(psy_env *e, psy_conv *c)
{
    psy_emit_status(e->bus);
    cJSON *s = psy_bus_status_copy(e->bus);
    psy_links *l = e->links;
    buf b = BUF_INIT;
    buf_printf(&b, "State: %s | messages %d | tokens %ld / %d (context %d)\n", psy_bus_state(e->bus),
               (int)(c->ctx.n - 1), c->ctx.total_tokens, psy_context_available(&c->ctx), l->context_length);
    child_line(&b, &l->elpis);
    child_line(&b, &l->mnemo);
    int pending = e->mem->fallback_pending;
    if (pending) buf_printf(&b, "fallback memories waiting for import: %d (%s)\n", pending, e->mem->fallback_path);
    const cJSON *sb = cJSON_GetObjectItemCaseSensitive(s, "sandbox");
    const cJSON *det = cJSON_GetObjectItemCaseSensitive(sb, "detail");
    bool reasoning = psy_bus_reasoning(e->bus);
    buf_printf(&b, "Workspace: %s\nSandbox: %s\nModel: %s | reasoning %s | idle thinking %s",
               e->tools->workspace ? e->tools->workspace : "", cJSON_IsString(det) ? det->valuestring : "unknown",
               l->model[0] ? l->model : "(unknown)", reasoning ? "on" : "off", e->idle_on ? "on" : "off");
    psy_emit(e->bus, PSY_EV_INFO, buf_str(&b), s);
    buf_free(&b);
}

static const char *str_or(const cJSON *o, const char *key, const char *def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : def;
}

static double num_or(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* The trajectory lines of /emotion: trend, momentum, velocities, spiral. */
static void emotion_trajectory(buf *b, const cJSON *tr)
{
    buf_printf(b, "Trajectory: trend %s, momentum %s (valence %+.4f/s, arousal %+.4f/s), %.0f s in this quadrant\n",
               str_or(tr, "trend", "?"), str_or(tr, "momentum", "?"), num_or(tr, "valence_velocity"),
               num_or(tr, "arousal_velocity"), num_or(tr, "time_in_quadrant"));
    bool spiral = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tr, "spiral_detected"));
    const char *dir = str_or(tr, "spiral_direction", "none");
    buf_printf(b, "Spiral: %s, direction %s\n", spiral ? "detected" : "not detected", dir);
}

/* The modulation lines of /emotion: sampling and steering. */
static void emotion_modulation(buf *b, const psy_env *e, const cJSON *res)
{
    const psy_links *l = e->links;
    if (!e->cfg->emotional_modulation) buf_puts(b, "Sampling: not modulated ([agent] emotional_modulation = false)\n");
    else if (l->modulated)
        buf_printf(b, "Sampling: temperature %.3f, top_p %.3f at the last answer (chosen by elpis from the mood)\n",
                   l->modulated_temperature, l->modulated_top_p);
    else buf_puts(b, "Sampling: modulated by the mood (no answer generated yet)\n");
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(res, "steering_coefficients");
    if (!cJSON_IsObject(sc)) return;
    buf_puts(b, "Steering coefficients (used when the model has emotion vectors):");
    const cJSON *k;
    cJSON_ArrayForEach(k, sc) if (cJSON_IsNumber(k)) buf_printf(b, " %s %.3f", k->string, k->valuedouble);
    buf_puts(b, "\n");
}

/* What elpis reports that the lines above do not show (newer fields too). */
static void emotion_rest(buf *b, const cJSON *res)
{
    static const char *const shown[] = {"valence",      "arousal",    "quadrant",
                                        "baseline",     "trajectory", "steering_coefficients",
                                        "update_count", "last_update"};
    const cJSON *k;
    cJSON_ArrayForEach(k, res)
    {
        bool known = false;
        for (size_t i = 0; i < sizeof shown / sizeof shown[0]; i++) known = known || !strcmp(k->string, shown[i]);
        if (known) continue;
        char *v = cJSON_PrintUnformatted(k);
        if (v) buf_printf(b, "%s: %s\n", k->string, v);
        free(v);
    }
}

/* /emotion in detail: every figure get_emotion returns, one topic a line. */
static void emotion_text(buf *b, const psy_env *e, const cJSON *res)
{
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(res, "baseline");
    buf_printf(b, "Emotion: %s (valence %+.2f, arousal %+.2f)\n", str_or(res, "quadrant", "?"), num_or(res, "valence"),
               num_or(res, "arousal"));
    double last = num_or(res, "last_update");
    buf_printf(b, "Homeostasis: decays toward the baseline (valence %+.2f, arousal %+.2f); %.0f updates",
               num_or(base, "valence"), num_or(base, "arousal"), num_or(res, "update_count"));
    if (last > 0) buf_printf(b, ", the last %.0f s ago", now_wall() > last ? now_wall() - last : 0);
    buf_puts(b, "\n");
    emotion_trajectory(b, cJSON_GetObjectItemCaseSensitive(res, "trajectory"));
    emotion_modulation(b, e, res);
    emotion_rest(b, res);
    while (b->len && b->data[b->len - 1] == '\n') b->data[--b->len] = 0;
}

static void cmd_emotion(psy_env *e)
{
    cJSON *res = NULL;
    char err[256];
    psy_activity_begin(e->bus, PSY_ACT_TURN, false);
    int rc = psy_elpis(e->links, "get_emotion", cJSON_CreateObject(), e->cfg->call_timeout_s * 1000, NULL, NULL, &res,
                       err, sizeof err);
    psy_activity_end(e->bus);
    if (rc) {
        psy_emitf(e->bus, PSY_EV_ERROR, "[Error: %s]", err);
        return;
    }
    psy_note_emotion(e->links, res);
    buf b = BUF_INIT;
    emotion_text(&b, e, res);
    psy_emit(e->bus, PSY_EV_INFO, buf_str(&b), res);
    buf_free(&b);
}

static void cmd_memory(psy_env *e, const char *q)
{
    while (*q == ' ') q++;
    if (!*q) {
        psy_emit(e->bus, PSY_EV_INFO, "usage: /memory <query>", NULL);
        return;
    }
    cJSON *res = NULL;
    if (psy_mem_search(e->mem, q, MEMORY_COMMAND_RESULTS, &res)) {
        psy_emitf(e->bus, PSY_EV_ERROR, "[Error: memory search failed: %s]",
                  psy_child_up(&e->links->mnemo) ? "see the log" : "mnemosyne is not running");
        return;
    }
    buf b = BUF_INIT;
    buf_printf(&b, "%d memories for \"%s\":\n", cJSON_GetArraySize(res), q);
    psy_prompt_memories(res, &b);
    psy_emit(e->bus, PSY_EV_INFO, buf_str(&b), res);
    buf_free(&b);
}

static void cmd_clear(psy_env *e, psy_conv *c)
{
    psy_conv_clear(c); /* cleared messages are staged: still remembered */
    psy_emit(e->bus, PSY_EV_INFO,
             "Conversation cleared (the system prompt stays; cleared messages will be remembered).", NULL);
    psy_emit_status(e->bus);
}

static void cmd_thinking(psy_env *e, psy_conv *c, const char *arg)
{
    bool on = !strcmp(arg, "on") ? true : !strcmp(arg, "off") ? false : !psy_bus_reasoning(e->bus);
    psy_bus_set_reasoning(e->bus, on);
    cJSON *tools = psy_toolset_list(e->tools);
    psy_conv_set_system_prompt(c, tools, on, NULL);
    cJSON_Delete(tools);
    psy_emitf(e->bus, PSY_EV_INFO, "Reasoning mode %s.", on ? "on: the model thinks in <reasoning> tags first" : "off");
    psy_emit_status(e->bus);
}

void psy_run_command(psy_env *e, psy_conv *c, const char *line)
{
    const char *arg = line + strcspn(line, " \t");
    while (*arg == ' ' || *arg == '\t') arg++;
    size_t n = strcspn(line, " \t");
    if (!strncmp(line, "/status", n) || !strncmp(line, "/s", n)) cmd_status(e, c);
    else if (!strncmp(line, "/emotion", n) || !strncmp(line, "/e", n)) cmd_emotion(e);
    else if (!strncmp(line, "/memory", n) || !strncmp(line, "/m", n)) cmd_memory(e, arg);
    else if (!strncmp(line, "/clear", n) || !strncmp(line, "/c", n)) cmd_clear(e, c);
    else if (!strncmp(line, "/thinking", n) || !strncmp(line, "/r", n)) cmd_thinking(e, c, arg);
}

/* -------------------------------------------------------------- shutdown */

static bool has_user_message(const psy_context *ctx)
{
    for (size_t i = 1; i < ctx->n; i++)
        if (!strcmp(ctx->msgs[i].role, "user")) return true;
    for (size_t i = 0; i < ctx->n_staged; i++)
        if (!strcmp(ctx->staged[i].role, "user")) return true;
    return false;
}

static void store_summary(psy_env *e, psy_conv *c)
{
    if (!e->cfg->summary || !e->cfg->quit_summary || !has_user_message(&c->ctx)) return;
    if (!psy_child_up(&e->links->elpis)) {
        log_warn("no conversation summary: elpis is not running");
        return;
    }
    psy_emit(e->bus, PSY_EV_INFO, "Summarising the conversation...", NULL);
    char *text = NULL, err[512];
    psy_activity_begin(e->bus, PSY_ACT_SHUTDOWN, false);
    int rc =
        psy_mem_summary(e->mem, c->ctx.staged, c->ctx.n_staged, c->ctx.msgs, c->ctx.n, true, &text, err, sizeof err);
    psy_activity_end(e->bus);
    if (rc == 0) {
        psy_mem_store_summary(e->mem, text);
    } else {
        log_warn("conversation summary failed: %s", err);
        psy_emitf(e->bus, PSY_EV_ERROR, "[Error: no conversation summary: %s]", err);
    }
    free(text);
}

void psy_shutdown(psy_env *e, psy_conv *c)
{
    psy_bus *bus = e->bus;
    psy_set_state(bus, "stopping");
    log_info("shutting down");
    if (!psy_bus_stop_now(bus)) {
        unsigned f = psy_links_settle(e->links, PSY_SHUTDOWN_SETTLE_MS, &bus->shutdown_cancel);
        if (f & PSY_LINK_MNEMO_UP) psy_mem_import_fallback(e->mem);
        if (f & PSY_LINK_CHANGED) psy_emit_status(bus);
    }
    if (!psy_bus_stop_now(bus)) store_summary(e, c);
    if (!psy_bus_stop_now(bus) && c->ctx.n_staged) {
        int rc = psy_context_flush_staged(&c->ctx, psy_mem_flush, e->mem);
        if (rc) log_error("staged messages could not be stored (%s)", strerror(-rc));
    }
    if (!psy_bus_stop_now(bus) && e->cfg->shutdown_consolidate && psy_child_up(&e->links->mnemo))
        psy_maybe_consolidate(e, "shutdown");
    psy_links_stop(e->links, psy_bus_stop_now(bus) ? PSY_STOP_NOW_GRACE_MS : e->cfg->stop_grace_ms);
    psy_emit_status(bus);
}
