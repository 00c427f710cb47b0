/* agent.c - the agent thread: its queues to and from the front-end, the
 * main loop (supervise children, take input, idle), commands, status, and
 * the shutdown path.
 *
 * Owns the agent thread and every call to the children: nothing outside
 * this thread may touch a psy_child or the context. Front-end calls only
 * queue work and set flags (psy_agent_quit is async-signal-safe: it sets an
 * atomic and writes an eventfd, so a SIGTERM handler may call it). */
#include "agent_int.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "prompt.h"
#include "util.h"

/* ---------------------------------------------------------------- events */

const char *psy_event_kind_name(psy_event_kind k)
{
    static const char *const names[] = {"token", "answer", "reasoning", "thought", "tool_start", "tool_end",
                                        "emotion", "memory", "status", "child", "error", "info", "quit"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "unknown";
}

void psy_event_free(psy_event *ev)
{
    if (!ev) return;
    free(ev->text);
    cJSON_Delete(ev->data);
    free(ev);
}

static void wake(int fd)
{
    uint64_t one = 1;
    ssize_t w = write(fd, &one, sizeof one);
    (void)w;
}

static void drain(int fd)
{
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof v);
    (void)r;
}

void psy_emit(psy_agent *a, psy_event_kind kind, const char *text, cJSON *data)
{
    psy_event *ev = calloc(1, sizeof *ev);
    psy_evnode *n = calloc(1, sizeof *n);
    if (!ev || !n || (text && !(ev->text = strdup(text)))) {
        log_error("out of memory: event %s lost", psy_event_kind_name(kind));
        free(n);
        psy_event_free(ev);
        cJSON_Delete(data);
        return;
    }
    ev->kind = kind;
    ev->data = data;
    n->ev = ev;
    pthread_mutex_lock(&a->mu);
    if (a->ev_tail) a->ev_tail->next = n;
    else a->ev_head = n;
    a->ev_tail = n;
    wake(a->ev_fd);
    pthread_mutex_unlock(&a->mu);
}

void psy_emitf(psy_agent *a, psy_event_kind kind, const char *fmt, ...)
{
    buf b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    psy_emit(a, kind, buf_str(&b), NULL);
    buf_free(&b);
}

int psy_agent_fd(psy_agent *a) { return a->ev_fd; }

psy_event *psy_agent_next_event(psy_agent *a)
{
    pthread_mutex_lock(&a->mu);
    psy_evnode *n = a->ev_head;
    if (n) {
        a->ev_head = n->next;
        if (!a->ev_head) a->ev_tail = NULL;
    }
    if (!a->ev_head) drain(a->ev_fd); /* not readable again until the next event */
    pthread_mutex_unlock(&a->mu);
    if (!n) return NULL;
    psy_event *ev = n->ev;
    free(n);
    return ev;
}

/* ----------------------------------------------------------------- input */

static void push_input(psy_agent *a, int kind, const char *text)
{
    psy_input *in = calloc(1, sizeof *in);
    if (!in || !(in->text = strdup(text))) {
        free(in);
        log_error("out of memory: input lost");
        return;
    }
    in->kind = kind;
    pthread_mutex_lock(&a->mu);
    if (a->in_tail) a->in_tail->next = in;
    else a->in_head = in;
    a->in_tail = in;
    if (kind == 0) a->n_messages_waiting++;
    pthread_mutex_unlock(&a->mu);
}

static psy_input *pop_input(psy_agent *a)
{
    pthread_mutex_lock(&a->mu);
    psy_input *in = a->in_head;
    if (in) {
        a->in_head = in->next;
        if (!a->in_head) a->in_tail = NULL;
        if (in->kind == 0) a->n_messages_waiting--;
    }
    pthread_mutex_unlock(&a->mu);
    return in;
}

static bool input_waiting(psy_agent *a, bool messages_only)
{
    pthread_mutex_lock(&a->mu);
    bool r = messages_only ? a->n_messages_waiting > 0 : a->in_head != NULL;
    pthread_mutex_unlock(&a->mu);
    return r;
}

void psy_agent_submit(psy_agent *a, const char *text)
{
    push_input(a, 0, text);
    if (a->tools) psy_tools_cancel(a->tools); /* a running command is killed too */
    __atomic_store_n(&a->turn_cancel, 1, __ATOMIC_RELEASE); /* the new input wins */
    __atomic_store_n(&a->idle_cancel, 1, __ATOMIC_RELEASE);
    wake(a->wake_fd);
}

void psy_agent_cancel(psy_agent *a)
{
    __atomic_add_fetch(&a->cancel_seq, 1, __ATOMIC_ACQ_REL);
    if (a->tools) psy_tools_cancel(a->tools);
    __atomic_store_n(&a->turn_cancel, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&a->idle_cancel, 1, __ATOMIC_RELEASE);
    wake(a->wake_fd);
}

void psy_agent_typing(psy_agent *a)
{
    __atomic_add_fetch(&a->typing_seq, 1, __ATOMIC_ACQ_REL);
    __atomic_store_n(&a->idle_cancel, 1, __ATOMIC_RELEASE);
    wake(a->wake_fd);
}

void psy_agent_quit(psy_agent *a)
{
    int lv = __atomic_add_fetch(&a->quit_level, 1, __ATOMIC_ACQ_REL);
    __atomic_store_n(&a->turn_cancel, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&a->idle_cancel, 1, __ATOMIC_RELEASE);
    if (lv >= 2) __atomic_store_n(&a->shutdown_cancel, 1, __ATOMIC_RELEASE);
    wake(a->wake_fd);
}

bool psy_agent_command(psy_agent *a, const char *line)
{
    static const char *const cmds[] = {"/status", "/s", "/emotion", "/e", "/memory", "/m", "/clear", "/c",
                                       "/thinking", "/r"};
    size_t n = strcspn(line, " \t");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strlen(cmds[i]) == n && !strncmp(line, cmds[i], n)) {
            push_input(a, 1, line);
            wake(a->wake_fd);
            return true;
        }
    return false;
}

bool psy_turn_aborted(psy_agent *a, int seq)
{
    return __atomic_load_n(&a->quit_level, __ATOMIC_ACQUIRE) || input_waiting(a, true) ||
           __atomic_load_n(&a->cancel_seq, __ATOMIC_ACQUIRE) != seq;
}

bool psy_idle_aborted(psy_agent *a, int typing_seq, int cancel_seq)
{
    return __atomic_load_n(&a->quit_level, __ATOMIC_ACQUIRE) || input_waiting(a, false) ||
           __atomic_load_n(&a->typing_seq, __ATOMIC_ACQUIRE) != typing_seq ||
           __atomic_load_n(&a->cancel_seq, __ATOMIC_ACQUIRE) != cancel_seq;
}

/* ---------------------------------------------------------------- status */

void psy_set_state(psy_agent *a, const char *state)
{
    pthread_mutex_lock(&a->mu);
    bool changed = a->state != state;
    a->state = state;
    pthread_mutex_unlock(&a->mu);
    if (changed) psy_emit_status(a);
}

static cJSON *child_json(const psy_child *ch)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "alive", psy_child_up(ch));
    cJSON_AddBoolToObject(o, "starting", psy_child_starting(ch));
    cJSON_AddNumberToObject(o, "restarts", ch->restarts);
    cJSON_AddNumberToObject(o, "pid", psy_child_pid(ch));
    if (ch->last_error[0] && !psy_child_up(ch)) cJSON_AddStringToObject(o, "error", ch->last_error);
    return o;
}

static cJSON *build_status(psy_agent *a)
{
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "state", a->state ? a->state : "starting");
    cJSON_AddNumberToObject(s, "messages", a->ctx.n > 0 ? (double)(a->ctx.n - 1) : 0);
    cJSON_AddNumberToObject(s, "tokens_used", (double)a->ctx.total_tokens);
    cJSON_AddNumberToObject(s, "tokens_budget", psy_context_available(&a->ctx));
    cJSON_AddNumberToObject(s, "context_length", a->context_length);
    cJSON *ch = cJSON_AddObjectToObject(s, "children");
    cJSON_AddItemToObject(ch, "elpis", child_json(&a->elpis));
    cJSON *m = child_json(&a->mnemo);
    cJSON_AddBoolToObject(m, "disabled", !a->mnemo.enabled);
    cJSON_AddNumberToObject(m, "fallback_pending", a->fallback_pending);
    cJSON_AddItemToObject(ch, "mnemosyne", m);
    cJSON_AddItemToObject(s, "sandbox", psy_tools_sandbox(a));
    cJSON_AddStringToObject(s, "workspace", a->workspace ? a->workspace : "");
    cJSON_AddStringToObject(s, "model", a->model);
    cJSON_AddBoolToObject(s, "reasoning", a->reasoning);
    cJSON_AddBoolToObject(s, "idle_enabled", a->idle_on);
    cJSON_AddNumberToObject(s, "staged", (double)a->ctx.n_staged);
    cJSON_AddStringToObject(s, "state_dir", a->state_dir ? a->state_dir : "");
    cJSON_AddItemToObject(s, "last_tools", cJSON_Duplicate(a->last_tools, 1));
    return s;
}

void psy_emit_status(psy_agent *a)
{
    pthread_mutex_lock(&a->mu);
    cJSON *s = build_status(a);
    cJSON_Delete(a->status_cache);
    a->status_cache = cJSON_Duplicate(s, 1);
    pthread_mutex_unlock(&a->mu);
    psy_emit(a, PSY_EV_STATUS, NULL, s);
}

cJSON *psy_agent_status(psy_agent *a)
{
    pthread_mutex_lock(&a->mu);
    cJSON *s = a->status_cache ? cJSON_Duplicate(a->status_cache, 1) : cJSON_CreateObject();
    /* Delete-then-add: Replace fails (and leaks the new item) when the key is absent. */
    cJSON_DeleteItemFromObjectCaseSensitive(s, "state");
    cJSON_AddStringToObject(s, "state", a->state ? a->state : "starting");
    cJSON_DeleteItemFromObjectCaseSensitive(s, "reasoning");
    cJSON_AddBoolToObject(s, "reasoning", a->reasoning);
    pthread_mutex_unlock(&a->mu);
    return s;
}

cJSON *psy_agent_emotion(psy_agent *a)
{
    pthread_mutex_lock(&a->mu);
    cJSON *e = a->emotion ? cJSON_Duplicate(a->emotion, 1) : NULL;
    pthread_mutex_unlock(&a->mu);
    return e;
}

void psy_note_emotion(psy_agent *a, const cJSON *state)
{
    if (!cJSON_IsObject(state) || !cJSON_GetObjectItemCaseSensitive(state, "valence")) return;
    pthread_mutex_lock(&a->mu);
    cJSON_Delete(a->emotion);
    a->emotion = cJSON_Duplicate(state, 1);
    pthread_mutex_unlock(&a->mu);
    a->last_emotion_poll = now_mono();
    psy_emit(a, PSY_EV_EMOTION, NULL, cJSON_Duplicate(state, 1));
}

cJSON *psy_emotion_context(psy_agent *a)
{
    pthread_mutex_lock(&a->mu);
    cJSON *e = NULL;
    if (a->emotion) {
        e = cJSON_CreateObject();
        const char *keys[] = {"valence", "arousal", "quadrant"};
        for (int i = 0; i < 3; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(a->emotion, keys[i]);
            if (v) cJSON_AddItemToObject(e, keys[i], cJSON_Duplicate(v, 1));
        }
    }
    pthread_mutex_unlock(&a->mu);
    return e;
}

void psy_emotion_event(psy_agent *a, const char *event, double intensity, const char *context)
{
    if (!psy_child_up(&a->elpis)) return;
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "event_type", event);
    cJSON_AddNumberToObject(args, "intensity", intensity);
    if (context) cJSON_AddStringToObject(args, "context", context);
    cJSON *res = NULL;
    char err[256];
    const int *saved = a->active_cancel;
    a->active_cancel = NULL; /* a cancelled turn still feels its outcome */
    if (psy_elpis(a, "update_emotion", args, a->cfg->call_timeout_s * 1000, NULL, NULL, &res, err, sizeof err) == 0)
        psy_note_emotion(a, res);
    else
        log_warn("update_emotion %s: %s", event, err);
    a->active_cancel = saved;
    cJSON_Delete(res);
}

void psy_note_tool(psy_agent *a, const char *line, bool success)
{
    pthread_mutex_lock(&a->mu);
    if (!a->last_tools) a->last_tools = cJSON_CreateArray();
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "line", line);
    cJSON_AddBoolToObject(t, "success", success);
    cJSON_AddItemToArray(a->last_tools, t);
    while (cJSON_GetArraySize(a->last_tools) > 5) cJSON_DeleteItemFromArray(a->last_tools, 0);
    pthread_mutex_unlock(&a->mu);
}

/* -------------------------------------------------------------- children */

static void on_child(void *ud, psy_child *ch, const char *event, const char *text, const char *detail,
                     const char *log_tail)
{
    psy_agent *a = ud;
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "child", ch->name);
    cJSON_AddStringToObject(d, "event", event);
    if (detail) cJSON_AddStringToObject(d, "detail", detail);
    if (log_tail) cJSON_AddStringToObject(d, "log_tail", log_tail);
    cJSON_AddStringToObject(d, "log", ch->log_path);
    cJSON_AddNumberToObject(d, "pid", psy_child_pid(ch));
    buf b = BUF_INIT;
    buf_puts(&b, text);
    if (log_tail && *log_tail) buf_printf(&b, "\nlast lines of %s:\n%s", ch->log_path, log_tail);
    psy_emit(a, PSY_EV_CHILD, buf_str(&b), d);
    buf_free(&b);
    if (ch == &a->elpis && (!strcmp(event, "started") || !strcmp(event, "restarted"))) a->elpis_synced = false;
    if (ch == &a->mnemo && !strcmp(event, "start_failed"))
        psy_emitf(a, PSY_EV_INFO, "Memory is unavailable for now; memories go to %s and are imported when "
                                  "mnemosyne is back.", a->fallback_path);
}

static void sync_elpis(psy_agent *a)
{
    cJSON *res = NULL;
    char err[512];
    int tmo = a->cfg->call_timeout_s * 1000;
    int ctx = a->cfg->fallback_context_length;
    if (psy_elpis(a, "get_capabilities", cJSON_CreateObject(), tmo, NULL, NULL, &res, err, sizeof err) == 0) {
        const cJSON *cl = cJSON_GetObjectItemCaseSensitive(res, "context_length");
        const cJSON *mp = cJSON_GetObjectItemCaseSensitive(res, "model_path");
        if (cJSON_IsNumber(cl) && cl->valuedouble >= 64) ctx = (int)cl->valuedouble;
        else log_warn("elpis reported no context_length; assuming %d", ctx);
        if (cJSON_IsString(mp)) {
            const char *slash = strrchr(mp->valuestring, '/');
            snprintf(a->model, sizeof a->model, "%s", slash ? slash + 1 : mp->valuestring);
        }
    } else {
        log_warn("get_capabilities: %s; assuming a context of %d tokens", err, ctx);
    }
    cJSON_Delete(res);
    a->context_length = ctx;
    psy_context_set_budget(&a->ctx, ctx, a->cfg->max_fraction, a->cfg->reserve_fraction);
    psy_context_recount(&a->ctx);
    psy_set_system_prompt(a); /* its size depends on the context */
    res = NULL;
    if (psy_elpis(a, "get_emotion", cJSON_CreateObject(), tmo, NULL, NULL, &res, err, sizeof err) == 0)
        psy_note_emotion(a, res);
    cJSON_Delete(res);
    a->elpis_synced = true;
    log_info("elpis: context %d tokens, conversation budget %d", ctx, psy_context_available(&a->ctx));
}

static bool tick_mnemo(psy_agent *a)
{
    bool was_starting = psy_child_starting(&a->mnemo);
    if (psy_child_tick(&a->mnemo, &a->pol, now_mono(), &a->quit_level, on_child, a)) {
        psy_mem_import_fallback(a);
        return true;
    }
    return was_starting != psy_child_starting(&a->mnemo);
}

/* mnemosyne starts in the background (a hanging one never stalls a turn),
 * so it goes first: its start overlaps elpis's, which the agent waits for. */
static void supervise(psy_agent *a)
{
    bool changed = tick_mnemo(a);
    if (psy_child_tick(&a->elpis, &a->pol, now_mono(), &a->quit_level, on_child, a)) changed = true;
    if (psy_child_up(&a->elpis) && !a->elpis_synced) sync_elpis(a), changed = true;
    if (tick_mnemo(a)) changed = true;
    if (changed) psy_emit_status(a);
}

void psy_settle_children(psy_agent *a, int wait_ms, const int *cancel)
{
    if (!psy_child_starting(&a->mnemo)) return;
    log_info("waiting up to %d ms for mnemosyne's start", wait_ms);
    psy_child_wait_start(&a->mnemo, wait_ms, cancel);
    if (tick_mnemo(a)) psy_emit_status(a);
}

static int child_call(psy_agent *a, psy_child *ch, const char *tool, cJSON *args, int timeout_ms, mcp_progress_cb cb,
                      void *ud, const int *cancel, cJSON **res, char *err, size_t errlen)
{
    *res = NULL;
    if (!psy_child_up(ch)) {
        cJSON_Delete(args);
        if (!ch->enabled) snprintf(err, errlen, "%s is disabled", ch->name);
        else snprintf(err, errlen, "%s is not running%s%s", ch->name, ch->last_error[0] ? ": " : "", ch->last_error);
        return -ENOTCONN;
    }
    int rc = mcp_client_call(ch->c, tool, args, timeout_ms, cb, ud, cancel, res, err, errlen);
    if (rc < 0 && rc != -ECANCELED && rc != -ETIMEDOUT && !mcp_client_alive(ch->c)) {
        /* report the death now (which child, how, its log); the main loop
         * restarts it before the next input, never in the middle of this call's caller */
        if (psy_child_check(ch, now_mono(), on_child, a)) psy_emit_status(a);
        snprintf(err, errlen, "%s died (%s) during %s; restarting it", ch->name,
                 ch->last_exit[0] ? ch->last_exit : "exited", tool);
        rc = -EPIPE;
    }
    return rc;
}

int psy_elpis(psy_agent *a, const char *tool, cJSON *args, int timeout_ms, mcp_progress_cb cb, void *ud, cJSON **res,
              char *err, size_t errlen)
{
    return child_call(a, &a->elpis, tool, args, timeout_ms, cb, ud, a->active_cancel, res, err, errlen);
}

int psy_mnemo(psy_agent *a, const char *tool, cJSON *args, cJSON **res, char *err, size_t errlen)
{
    return child_call(a, &a->mnemo, tool, args, a->cfg->call_timeout_s * 1000, NULL, NULL, NULL, res, err, errlen);
}

/* Elpis counts tokens for the context (one rendered message). */
static int count_tokens(void *ud, const char *role, const char *text)
{
    psy_agent *a = ud;
    if (!psy_child_up(&a->elpis)) return -1;
    cJSON *args = cJSON_CreateObject();
    cJSON *msgs = cJSON_AddArrayToObject(args, "messages");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", role);
    cJSON_AddStringToObject(m, "content", text);
    cJSON_AddItemToArray(msgs, m);
    cJSON *res = NULL;
    char err[256];
    const int *saved = a->active_cancel;
    a->active_cancel = NULL;
    int rc = psy_elpis(a, "count_tokens", args, a->cfg->call_timeout_s * 1000, NULL, NULL, &res, err, sizeof err);
    a->active_cancel = saved;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(res, "tokens");
    int n = rc == 0 && cJSON_IsNumber(t) ? (int)t->valuedouble : -1;
    if (n < 0) log_warn("count_tokens: %s", rc ? err : "no count in the answer");
    cJSON_Delete(res);
    return n;
}

/* The fullest system prompt that leaves most of the budget to the
 * conversation: a small context (the 512-token test model) gets a compact one. */
void psy_set_system_prompt(psy_agent *a)
{
    cJSON *tools = psy_tools_list(a);
    int avail = psy_context_available(&a->ctx);
    for (int level = 0; level <= 2; level++) {
        char *sys = psy_prompt_system(tools, a->reasoning, level);
        if (sys) psy_context_set_system(&a->ctx, sys);
        free(sys);
        if (a->ctx.n && a->ctx.msgs[0].tokens <= avail / 2) break;
        if (level < 2)
            log_warn("the system prompt (%d tokens) would take over half of the conversation budget (%d); using a %s one",
                     a->ctx.n ? a->ctx.msgs[0].tokens : 0, avail, level == 0 ? "compact" : "minimal");
    }
    cJSON_Delete(tools);
}

/* ------------------------------------------------------------ main loop */

/* True while the last known emotion is visibly away from its baseline: then
 * the sidebar follows its decay (a get_emotion every 2 s); at rest, nothing. */
static bool emotion_away(psy_agent *a)
{
    pthread_mutex_lock(&a->mu);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a->emotion, "valence");
    const cJSON *ar = cJSON_GetObjectItemCaseSensitive(a->emotion, "arousal");
    const cJSON *bl = cJSON_GetObjectItemCaseSensitive(a->emotion, "baseline");
    const cJSON *bv = cJSON_GetObjectItemCaseSensitive(bl, "valence");
    const cJSON *ba = cJSON_GetObjectItemCaseSensitive(bl, "arousal");
    bool away = cJSON_IsNumber(v) && cJSON_IsNumber(ar) &&
                (fabs(v->valuedouble - (cJSON_IsNumber(bv) ? bv->valuedouble : 0)) > 0.02 ||
                 fabs(ar->valuedouble - (cJSON_IsNumber(ba) ? ba->valuedouble : 0)) > 0.02);
    pthread_mutex_unlock(&a->mu);
    return away && psy_child_up(&a->elpis);
}

/* Seconds the agent may sleep: until the next idle action, child retry or
 * emotion refresh; -1 = until input. */
static double poll_timeout(psy_agent *a, double now)
{
    double t = -1, w;
    psy_idle_action act = a->idle_on ? psy_idle_next(&a->idle, now, &w) : PSY_IDLE_NOTHING;
    if (!a->idle_on) w = -1;
    if (act != PSY_IDLE_NOTHING) w = 0;
    if (w >= 0 && psy_child_up(&a->elpis)) t = w;
    double d = psy_child_next_due(&a->elpis, now);
    if (d >= 0 && (t < 0 || d < t)) t = d;
    d = psy_child_next_due(&a->mnemo, now);
    if (d >= 0 && (t < 0 || d < t)) t = d;
    if (emotion_away(a)) {
        d = a->last_emotion_poll + 2.0 - now;
        if (d < 0) d = 0;
        if (t < 0 || d < t) t = d;
    }
    return t;
}

static void *agent_main(void *arg)
{
    psy_agent *a = arg;
    psy_set_state(a, "starting");
    supervise(a);
    if (a->ctx.n == 0) psy_set_system_prompt(a); /* elpis is down: counted again when it is back */
    psy_set_state(a, "idle");
    int seen_typing = __atomic_load_n(&a->typing_seq, __ATOMIC_ACQUIRE);
    while (!__atomic_load_n(&a->quit_level, __ATOMIC_ACQUIRE)) {
        supervise(a);
        int ts = __atomic_load_n(&a->typing_seq, __ATOMIC_ACQUIRE);
        if (ts != seen_typing) {
            seen_typing = ts;
            psy_idle_input(&a->idle, now_mono());
        }
        psy_input *in = pop_input(a);
        if (in) {
            if (in->kind == 0) psy_react_turn(a, in->text);
            else psy_run_command(a, in->text);
            free(in->text);
            free(in);
            psy_set_state(a, "idle");
            continue;
        }
        double now = now_mono(), w;
        psy_idle_action act = a->idle_on ? psy_idle_next(&a->idle, now, &w) : PSY_IDLE_NOTHING;
        if (act != PSY_IDLE_NOTHING && psy_child_up(&a->elpis)) {
            if (act == PSY_IDLE_DREAM) psy_dream(a);
            else psy_think(a);
            psy_idle_done(&a->idle, act, now_mono());
            psy_set_state(a, "idle");
            continue;
        }
        if (now - a->last_emotion_poll >= 2.0 && emotion_away(a)) {
            cJSON *res = NULL;
            char err[128];
            a->active_cancel = &a->idle_cancel;
            if (psy_elpis(a, "get_emotion", cJSON_CreateObject(), 5000, NULL, NULL, &res, err, sizeof err) == 0)
                psy_note_emotion(a, res);
            else a->last_emotion_poll = now;
            cJSON_Delete(res);
            continue;
        }
        double t = poll_timeout(a, now);
        struct pollfd pf[3] = {{.fd = a->wake_fd, .events = POLLIN}};
        int n = 1;
        if (a->elpis.pidfd >= 0) pf[n++] = (struct pollfd){.fd = a->elpis.pidfd, .events = POLLIN};
        if (a->mnemo.pidfd >= 0) pf[n++] = (struct pollfd){.fd = a->mnemo.pidfd, .events = POLLIN};
        int ms = t < 0 ? -1 : (int)ceil(t * 1000);
        if (t >= 0 && ms < 1) ms = 1;
        /* without pidfds, look at the children once a second */
        if ((a->elpis.c && a->elpis.pidfd < 0) || (a->mnemo.c && a->mnemo.pidfd < 0)) ms = ms < 0 || ms > 1000 ? 1000 : ms;
        if (poll(pf, (nfds_t)n, ms) > 0 && (pf[0].revents & POLLIN)) drain(a->wake_fd);
        __atomic_store_n(&a->idle_cancel, 0, __ATOMIC_RELEASE);
    }
    /* commands sent just before the quit (a script's "/status" then EOF) still answer */
    psy_input *in;
    while ((in = pop_input(a))) {
        if (in->kind == 1 && __atomic_load_n(&a->quit_level, __ATOMIC_ACQUIRE) < 2) psy_run_command(a, in->text);
        else if (in->kind == 0) log_info("a message arrived after the quit request; dropped");
        free(in->text);
        free(in);
    }
    psy_shutdown(a);
    psy_emit(a, PSY_EV_QUIT, NULL, NULL);
    return NULL;
}

/* ------------------------------------------------------------ lifecycle */

/* The directory psyche's binary is in (children default to siblings). */
static void self_dir(char *out, size_t outlen)
{
    ssize_t n = readlink("/proc/self/exe", out, outlen - 1);
    if (n <= 0) {
        snprintf(out, outlen, ".");
        return;
    }
    out[n] = 0;
    char *slash = strrchr(out, '/');
    if (slash) *slash = 0;
}

static int child_setup(psy_agent *a, psy_child *ch, const char *name, const cfg_strlist *cmd, const char *extra_flag,
                       const char *extra_val, bool enabled, char *err, size_t errlen)
{
    char dir[PATH_MAX], exe[PATH_MAX + 32];
    char *argv[64];
    size_t n = 0;
    if (cmd->n) {
        for (size_t i = 0; i < cmd->n && n < 60; i++) argv[n++] = cmd->items[i];
    } else {
        self_dir(dir, sizeof dir);
        snprintf(exe, sizeof exe, "%s/%s", dir, name);
        argv[n++] = exe;
    }
    if (extra_flag && extra_val && *extra_val) {
        argv[n++] = (char *)extra_flag;
        argv[n++] = (char *)extra_val;
    }
    argv[n] = NULL;
    buf log = BUF_INIT;
    buf_printf(&log, "%s/%s.log", a->state_dir, name);
    int rc = psy_child_init(ch, name, argv, buf_str(&log), enabled);
    buf_free(&log);
    if (rc) snprintf(err, errlen, "out of memory");
    return rc;
}

int psy_agent_new(psy_agent **out, const psy_settings *cfg, char *err, size_t errlen)
{
    psy_agent *a = calloc(1, sizeof *a);
    if (!a) return -ENOMEM;
    a->cfg = cfg;
    pthread_mutex_init(&a->mu, NULL);
    a->ev_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    a->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    a->elpis.pidfd = a->mnemo.pidfd = -1;
    a->state = "starting";
    a->last_prompt_tokens = -1;
    a->reasoning = cfg->reasoning;
    a->idle_on = cfg->idle;
    if (a->ev_fd < 0 || a->wake_fd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        psy_agent_free(a);
        return -EMFILE;
    }
    a->state_dir = psy_settings_state_dir(cfg, err, errlen);
    if (!a->state_dir) {
        psy_agent_free(a);
        return -ENOENT;
    }
    buf fb = BUF_INIT;
    if (cfg->fallback_file && *cfg->fallback_file) buf_puts(&fb, cfg->fallback_file);
    else buf_printf(&fb, "%s/fallback-memories.jsonl", a->state_dir);
    a->fallback_path = buf_detach(&fb);
    a->fallback_pending = psy_fallback_count(a->fallback_path);

    char *db = NULL;
    if (!cfg->mnemosyne_command.n) {
        if (cfg->db_path && *cfg->db_path) db = strdup(cfg->db_path);
        else {
            char derr[256];
            char *d = psy_settings_data_dir(derr, sizeof derr);
            if (!d) log_warn("%s", derr);
            else {
                buf b = BUF_INIT;
                buf_printf(&b, "%s/memories.db", d);
                db = buf_detach(&b);
            }
            free(d);
        }
    }
    int rc = child_setup(a, &a->elpis, "elpis", &cfg->elpis_command, "--model", cfg->model_path, true, err, errlen);
    if (!rc)
        rc = child_setup(a, &a->mnemo, "mnemosyne", &cfg->mnemosyne_command, "--db", db, cfg->memory, err, errlen);
    free(db);
    if (rc) {
        psy_agent_free(a);
        return rc;
    }
    a->mnemo.async = true; /* see supervise() */
    a->mnemo.notify_fd = a->wake_fd;
    a->elpis.backoff_max_s = a->mnemo.backoff_max_s = cfg->restart_backoff_max_s;
    a->elpis.stable_s = a->mnemo.stable_s = cfg->restart_backoff_max_s;
    a->pol = (psy_sup_policy){.attempts = cfg->start_attempts,
                              .start_timeout_ms = cfg->start_timeout_s * 1000,
                              .restart_max = cfg->restart_max,
                              .restart_window_s = cfg->restart_window_s,
                              .retry_s = cfg->restart_retry_s,
                              .stop_grace_ms = cfg->stop_grace_ms};
    a->context_length = cfg->fallback_context_length;
    psy_context_init(&a->ctx, cfg->min_messages, count_tokens, a);
    psy_context_set_budget(&a->ctx, a->context_length, cfg->max_fraction, cfg->reserve_fraction);
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
    rc = psy_tools_open(a, err, errlen);
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
    psy_child_free(&a->elpis);
    psy_child_free(&a->mnemo);
    psy_tools_close(a);
    psy_context_free(&a->ctx);
    psy_event *ev;
    if (a->ev_fd >= 0)
        while ((ev = psy_agent_next_event(a))) psy_event_free(ev);
    psy_input *in;
    while ((in = pop_input(a))) free(in->text), free(in);
    if (a->ev_fd >= 0) close(a->ev_fd);
    if (a->wake_fd >= 0) close(a->wake_fd);
    cJSON_Delete(a->emotion);
    cJSON_Delete(a->last_tools);
    cJSON_Delete(a->status_cache);
    free(a->workspace);
    free(a->state_dir);
    free(a->fallback_path);
    pthread_mutex_destroy(&a->mu);
    free(a);
}
