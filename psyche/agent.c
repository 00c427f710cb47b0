/* agent.c - the top of psyche's agent: the agent thread's loop (supervise
 * the children, take input, think when idle, sleep) and the public API of
 * agent.h on top of the layers below.
 *
 * Owns the agent struct and every layer in it (bus, links, memory flow,
 * tools, idle scheduler, the front-ends' conversation). Nothing outside the
 * agent thread touches a child or a conversation: front-end calls only queue
 * work and set flags through the bus (psy_agent_quit is async-signal-safe).
 * See docs/architecture.md for who calls whom. */
#include "agent.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "bus.h"
#include "conv.h"
#include "env.h"
#include "idle.h"
#include "links.h"
#include "log.h"
#include "memflow.h"
#include "react.h"
#include "session.h"
#include "settings.h"
#include "thoughts.h"
#include "toolglue.h"
#include "util.h"

/* Most poll fds: the wake fd and one pidfd per child. */
#define AGENT_POLLFDS 3

struct psy_agent {
    const psy_settings *cfg;
    pthread_t thread;
    bool thread_started;
    bool bus_ready, links_ready, mem_ready;
    psy_bus bus;
    psy_links links;
    psy_memflow mem;
    psy_toolset tools;
    psy_idle idle;
    psy_env env;    /* pointers to the above, for the activities */
    psy_conv *conv; /* the front-ends' conversation */
    char *state_dir;
};

/* ------------------------------------------------------- front-end calls */

int psy_agent_fd(psy_agent *a) { return a->bus.ev_fd; }

psy_event *psy_agent_next_event(psy_agent *a) { return psy_bus_next_event(&a->bus); }

int psy_agent_submit_to(psy_agent *a, psy_conv *c, const char *text)
{
    int rc = psy_bus_push_input(&a->bus, PSY_INPUT_MESSAGE, text, c);
    psy_toolset_cancel(&a->tools); /* a running command is killed too */
    psy_bus_signal_input(&a->bus);
    return rc;
}

void psy_agent_submit(psy_agent *a, const char *text) { psy_agent_submit_to(a, NULL, text); }

void psy_agent_cancel(psy_agent *a)
{
    psy_toolset_cancel(&a->tools);
    psy_bus_signal_cancel(&a->bus);
}

void psy_agent_typing(psy_agent *a) { psy_bus_signal_typing(&a->bus); }

void psy_agent_quit(psy_agent *a) { psy_bus_signal_quit(&a->bus); }

bool psy_agent_command(psy_agent *a, const char *line)
{
    static const char *const cmds[] = {"/status", "/s",     "/emotion", "/e",        "/memory",
                                       "/m",      "/clear", "/c",       "/thinking", "/r"};
    size_t n = strcspn(line, " \t");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strlen(cmds[i]) == n && !strncmp(line, cmds[i], n)) {
            psy_bus_push_input(&a->bus, PSY_INPUT_COMMAND, line, NULL);
            psy_bus_wake(&a->bus);
            return true;
        }
    return false;
}

cJSON *psy_agent_status(psy_agent *a) { return psy_bus_status_copy(&a->bus); }

cJSON *psy_agent_emotion(psy_agent *a) { return psy_links_emotion_copy(&a->links); }

psy_conv *psy_agent_conv(psy_agent *a) { return a->conv; }

int psy_agent_conv_free(psy_agent *a, psy_conv *c)
{
    if (!c || c == a->conv) return 0; /* the agent's own goes with the agent */
    int rc = psy_bus_push_input(&a->bus, PSY_INPUT_CONV_FREE, "", c);
    if (!rc) psy_bus_wake(&a->bus);
    return rc;
}

static psy_conv_params conv_params(psy_agent *a)
{
    return (psy_conv_params){.context_length = a->links.context_length,
                             .max_fraction = a->cfg->max_fraction,
                             .reserve_fraction = a->cfg->reserve_fraction,
                             .min_keep = a->cfg->min_messages,
                             .count = psy_links_count_tokens,
                             .count_ud = &a->links};
}

/* The system prompt is set on the agent thread before the first turn (its
 * size is counted by elpis). */
int psy_agent_conv_new(psy_agent *a, psy_conv **out)
{
    psy_conv_params p = conv_params(a);
    return psy_conv_new(out, &p);
}

/* ----------------------------------------------------------------- status */

/* The status snapshot (status_fn of the bus; called with the bus's mu held). */
static cJSON *build_status(void *ud)
{
    psy_agent *a = ud;
    const psy_context *ctx = &a->conv->ctx;
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "state", a->bus.state ? a->bus.state : "starting");
    cJSON_AddNumberToObject(s, "messages", ctx->n > 0 ? (double)(ctx->n - 1) : 0);
    cJSON_AddNumberToObject(s, "tokens_used", (double)ctx->total_tokens);
    cJSON_AddNumberToObject(s, "tokens_budget", psy_context_available(ctx));
    cJSON_AddNumberToObject(s, "context_length", a->links.context_length);
    cJSON *ch = psy_links_status(&a->links);
    cJSON_AddNumberToObject(cJSON_GetObjectItemCaseSensitive(ch, "mnemosyne"), "fallback_pending",
                            a->mem.fallback_pending);
    cJSON_AddItemToObject(s, "children", ch);
    cJSON_AddItemToObject(s, "sandbox", psy_toolset_sandbox(&a->tools));
    cJSON_AddStringToObject(s, "workspace", a->tools.workspace ? a->tools.workspace : "");
    cJSON_AddStringToObject(s, "model", a->links.model);
    cJSON_AddBoolToObject(s, "reasoning", a->bus.reasoning);
    cJSON_AddBoolToObject(s, "idle_enabled", a->env.idle_on);
    cJSON_AddNumberToObject(s, "staged", (double)ctx->n_staged);
    cJSON_AddStringToObject(s, "state_dir", a->state_dir ? a->state_dir : "");
    cJSON_AddItemToObject(s, "last_tools", cJSON_Duplicate(a->bus.last_tools, 1));
    return s;
}

/* -------------------------------------------------------------- the loop */

static void set_system_prompt(psy_agent *a, psy_conv *c)
{
    cJSON *tools = psy_toolset_list(&a->tools);
    psy_conv_set_system_prompt(c, tools, psy_bus_reasoning(&a->bus), NULL);
    cJSON_Delete(tools);
}

/* A conversation is brought up to date with elpis's context before a turn. */
static void prepare_conv(psy_agent *a, psy_conv *c)
{
    if (c->ctx.context_length != a->links.context_length) {
        psy_conv_set_context(c, a->links.context_length, a->cfg->max_fraction, a->cfg->reserve_fraction);
        set_system_prompt(a, c); /* its size depends on the context */
    } else if (c->ctx.n == 0) {
        set_system_prompt(a, c);
    }
}

static void supervise(psy_agent *a)
{
    unsigned f = psy_links_supervise(&a->links);
    if (f & PSY_LINK_ELPIS_SYNCED) {
        psy_conv_set_context(a->conv, a->links.context_length, a->cfg->max_fraction, a->cfg->reserve_fraction);
        set_system_prompt(a, a->conv); /* its size depends on the context */
        log_info("elpis: context %d tokens, conversation budget %d", a->links.context_length,
                 psy_context_available(&a->conv->ctx));
    }
    if (f & PSY_LINK_MNEMO_UP) psy_mem_import_fallback(&a->mem);
    if (f) psy_emit_status(&a->bus);
}

/* Runs one queued input. Returns false when there was none. */
static bool take_input(psy_agent *a)
{
    psy_input *in = psy_bus_pop_input(&a->bus);
    if (!in) return false;
    psy_conv *c = in->conv ? in->conv : a->conv;
    if (in->kind == PSY_INPUT_CONV_FREE) {
        psy_conv_free(c);
        psy_input_free(in);
        return true;
    }
    psy_conv_lock(c);
    if (in->kind == PSY_INPUT_MESSAGE) {
        prepare_conv(a, c);
        psy_react_turn(&a->env, c, in->text, in->cancel_seq);
    } else {
        psy_run_command(&a->env, c, in->text);
    }
    psy_conv_unlock(c);
    psy_input_free(in);
    psy_set_state(&a->bus, "idle");
    return true;
}

/* The periodic should_consolidate check ([memory] consolidate_check_s), with
 * or without idle thinking. Returns false when none was due. */
static bool periodic_consolidation(psy_agent *a, double now)
{
    if (!a->cfg->memory || psy_idle_consolidation_due(&a->idle, now) > 0) return false;
    if (!psy_child_up(&a->links.mnemo)) {
        psy_idle_consolidation_check(&a->idle, now); /* counted: asked again one period later */
        return false;
    }
    psy_activity_begin(&a->bus, PSY_ACT_IDLE, true);
    psy_maybe_consolidate(&a->env, "periodic");
    psy_activity_end(&a->bus);
    psy_set_state(&a->bus, "idle");
    return true;
}

/* A thought, dream or emotion poll when one is due. Returns false when none was. */
static bool idle_work(psy_agent *a, double now)
{
    double w;
    psy_idle_action act = a->env.idle_on ? psy_idle_next(&a->idle, now, &w) : PSY_IDLE_NOTHING;
    if (act != PSY_IDLE_NOTHING && psy_child_up(&a->links.elpis)) {
        if (act == PSY_IDLE_DREAM) psy_dream(&a->env);
        else {
            psy_conv_lock(a->conv);
            psy_think(&a->env, a->conv);
            psy_conv_unlock(a->conv);
        }
        psy_idle_done(&a->idle, act, now_mono());
        psy_set_state(&a->bus, "idle");
        return true;
    }
    if (now - a->links.last_emotion_poll >= PSY_EMOTION_POLL_S && psy_links_emotion_away(&a->links)) {
        psy_activity_begin(&a->bus, PSY_ACT_IDLE, false);
        psy_links_poll_emotion(&a->links, now);
        psy_activity_end(&a->bus);
        return true;
    }
    return false;
}

/* Seconds the agent may sleep: until the next idle action, child retry or
 * emotion refresh; -1 = until input. */
static double poll_timeout(psy_agent *a, double now)
{
    double t = -1, w = -1;
    if (a->env.idle_on && psy_idle_next(&a->idle, now, &w) != PSY_IDLE_NOTHING) w = 0;
    if (w >= 0 && psy_child_up(&a->links.elpis)) t = w;
    double d = psy_links_next_due(&a->links, now);
    if (d >= 0 && (t < 0 || d < t)) t = d;
    if (a->cfg->memory) {
        d = psy_idle_consolidation_due(&a->idle, now);
        if (d < 0) d = 0;
        if (t < 0 || d < t) t = d;
    }
    if (psy_links_emotion_away(&a->links)) {
        d = a->links.last_emotion_poll + PSY_EMOTION_POLL_S - now;
        if (d < 0) d = 0;
        if (t < 0 || d < t) t = d;
    }
    return t;
}

static void wait_for_work(psy_agent *a, double now)
{
    double t = poll_timeout(a, now);
    int ms = t < 0 ? -1 : (int)ceil(t * 1000);
    if (t >= 0 && ms < 1) ms = 1;
    struct pollfd pf[AGENT_POLLFDS] = {{.fd = a->bus.wake_fd, .events = POLLIN}};
    int n = 1 + psy_links_pollfds(&a->links, pf + 1, &ms);
    if (poll(pf, (nfds_t)n, ms) > 0 && (pf[0].revents & POLLIN)) psy_bus_drain_wake(&a->bus);
    __atomic_store_n(&a->bus.idle_cancel, 0, __ATOMIC_RELEASE);
}

/* Commands sent just before the quit (a script's "/status" then EOF) still
 * answer; conversations whose free is queued are freed. run: commands may run. */
static void drain_inputs(psy_agent *a, bool run)
{
    psy_input *in;
    while ((in = psy_bus_pop_input(&a->bus))) {
        psy_conv *c = in->conv ? in->conv : a->conv;
        if (in->kind == PSY_INPUT_CONV_FREE) {
            psy_conv_free(c);
        } else if (in->kind == PSY_INPUT_COMMAND && run && !psy_bus_stop_now(&a->bus)) {
            psy_conv_lock(c);
            psy_run_command(&a->env, c, in->text);
            psy_conv_unlock(c);
        } else if (in->kind == PSY_INPUT_MESSAGE) {
            log_info("a message arrived after the quit request; dropped");
        }
        psy_input_free(in);
    }
}

static void *agent_main(void *arg)
{
    psy_agent *a = arg;
    psy_set_state(&a->bus, "starting");
    supervise(a);
    if (a->conv->ctx.n == 0) set_system_prompt(a, a->conv); /* elpis is down: counted again when it is back */
    psy_set_state(&a->bus, "idle");
    int seen_typing = psy_bus_typing_seq(&a->bus);
    while (!psy_bus_quit_level(&a->bus)) {
        supervise(a);
        int ts = psy_bus_typing_seq(&a->bus);
        if (ts != seen_typing) {
            seen_typing = ts;
            psy_idle_input(&a->idle, now_mono());
        }
        if (take_input(a)) continue;
        double now = now_mono();
        if (periodic_consolidation(a, now) || idle_work(a, now)) continue;
        wait_for_work(a, now);
    }
    drain_inputs(a, true);
    psy_conv_lock(a->conv);
    psy_shutdown(&a->env, a->conv);
    psy_conv_unlock(a->conv);
    psy_emit(&a->bus, PSY_EV_QUIT, NULL, NULL);
    return NULL;
}

/* ------------------------------------------------------------- lifecycle */

/* mnemosyne's --db: [memory] db_path or <data dir>/memories.db; NULL when a
 * mnemosyne command is configured (it brings its own) or no folder exists. */
static char *db_path(const psy_settings *cfg)
{
    if (cfg->mnemosyne_command.n) return NULL;
    if (cfg->db_path && *cfg->db_path) return strdup(cfg->db_path);
    char derr[256];
    char *d = psy_settings_data_dir(derr, sizeof derr);
    if (!d) {
        log_warn("%s", derr);
        return NULL;
    }
    buf b = BUF_INIT;
    buf_printf(&b, "%s/memories.db", d);
    free(d);
    return buf_detach(&b);
}

static void idle_setup(psy_agent *a)
{
    const psy_settings *cfg = a->cfg;
    psy_idle_cfg ic = {.enabled = cfg->idle,
                       .think_after = cfg->think_after_s,
                       .quiet_after_user = cfg->quiet_after_user_s,
                       .dreams = cfg->dreams && cfg->memory,
                       .dream_after = cfg->dream_after_s,
                       .dream_interval = cfg->dream_interval_s,
                       .tools = cfg->idle_tools,
                       .tool_warmup = cfg->idle_tool_warmup_s,
                       .tool_cooldown = cfg->idle_tool_cooldown_s,
                       .consolidate_check = cfg->consolidate_check_s};
    psy_idle_init(&a->idle, &ic, now_mono());
}

/* Sets up every layer, bottom first. Returns 0 or -errno with err set. */
static int layers_setup(psy_agent *a, char *err, size_t errlen)
{
    const psy_settings *cfg = a->cfg;
    int rc = psy_bus_init(&a->bus);
    a->bus_ready = true;
    if (rc) {
        snprintf(err, errlen, "eventfd: %s", strerror(-rc));
        return rc;
    }
    psy_bus_set_status_fn(&a->bus, build_status, a);
    a->bus.reasoning = cfg->reasoning;
    a->state_dir = psy_settings_state_dir(cfg, err, errlen);
    if (!a->state_dir) return -ENOENT;
    char *db = db_path(cfg);
    rc = psy_links_init(&a->links, &a->bus, cfg, a->state_dir, db, err, errlen);
    free(db);
    a->links_ready = true;
    if (rc) return rc;
    rc = psy_memflow_init(&a->mem, &a->links, cfg, a->state_dir);
    a->mem_ready = true;
    if (rc) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    psy_conv_params p = conv_params(a);
    rc = psy_conv_new(&a->conv, &p);
    if (rc) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    idle_setup(a);
    return psy_toolset_open(&a->tools, cfg, &a->bus, &a->mem, err, errlen);
}

int psy_agent_new(psy_agent **out, const psy_settings *cfg, char *err, size_t errlen)
{
    *out = NULL;
    psy_agent *a = calloc(1, sizeof *a);
    if (!a) return -ENOMEM;
    a->cfg = cfg;
    a->bus.ev_fd = a->bus.wake_fd = -1;
    a->env = (psy_env){.cfg = cfg,
                       .bus = &a->bus,
                       .links = &a->links,
                       .mem = &a->mem,
                       .tools = &a->tools,
                       .idle = &a->idle,
                       .idle_on = cfg->idle};
    int rc = layers_setup(a, err, errlen);
    if (rc) {
        psy_agent_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

int psy_agent_start(psy_agent *a)
{
    int rc = pthread_create(&a->thread, NULL, agent_main, a);
    if (rc) return -rc;
    a->thread_started = true;
    return 0;
}

void psy_agent_free(psy_agent *a)
{
    if (!a) return;
    if (a->thread_started) {
        psy_agent_quit(a);
        psy_agent_quit(a); /* nobody waits for a graceful stop any more */
        pthread_join(a->thread, NULL);
    }
    if (a->bus_ready && a->bus.ev_fd >= 0) drain_inputs(a, false); /* frees queued conversations */
    if (a->links_ready) psy_links_free(&a->links);
    psy_toolset_close(&a->tools);
    psy_conv_free(a->conv);
    if (a->mem_ready) psy_memflow_free(&a->mem);
    if (a->bus_ready) psy_bus_free(&a->bus);
    free(a->state_dir);
    free(a);
}
