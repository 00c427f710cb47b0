/* links.c - calls to the children, their supervision, the emotion cache and
 * token counting (see links.h). Calls only bus.c and supervisor.c. */
#include "links.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "util.h"

/* A mood closer than this to its baseline counts as at rest. */
#define EMOTION_REST_EPSILON 0.02
/* Without pidfds, children are looked at this often. */
#define CHILD_LOOK_MS 1000
/* Most argv entries taken from a configured child command. */
#define CHILD_ARGV_MAX 60

/* ------------------------------------------------------------ reporting */

static void on_child(void *ud, psy_child *ch, const char *event, const char *text, const char *detail,
                     const char *log_tail)
{
    psy_links *l = ud;
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
    psy_emit(l->bus, PSY_EV_CHILD, buf_str(&b), d);
    buf_free(&b);
    if (ch == &l->elpis && (!strcmp(event, "started") || !strcmp(event, "restarted"))) l->elpis_synced = false;
    if (ch == &l->mnemo && !strcmp(event, "start_failed"))
        psy_emitf(l->bus, PSY_EV_INFO,
                  "Memory is unavailable for now; memories go to %s and are imported when mnemosyne is back.",
                  l->fallback_path ? l->fallback_path : "the fallback file");
}

/* ----------------------------------------------------------------- setup */

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

static int child_setup(psy_child *ch, const char *state_dir, const char *name, const cfg_strlist *cmd,
                       const char *extra_flag, const char *extra_val, bool enabled, char *err, size_t errlen)
{
    char dir[PATH_MAX], exe[PATH_MAX + 32];
    char *argv[CHILD_ARGV_MAX + 4];
    size_t n = 0;
    if (cmd->n) {
        for (size_t i = 0; i < cmd->n && n < CHILD_ARGV_MAX; i++) argv[n++] = cmd->items[i];
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
    buf_printf(&log, "%s/%s.log", state_dir, name);
    int rc = psy_child_init(ch, name, argv, buf_str(&log), enabled);
    buf_free(&log);
    if (rc) snprintf(err, errlen, "out of memory");
    return rc;
}

int psy_links_init(psy_links *l, psy_bus *bus, const psy_settings *cfg, const char *state_dir, const char *db,
                   char *err, size_t errlen)
{
    memset(l, 0, sizeof *l);
    l->bus = bus;
    l->cfg = cfg;
    l->elpis.pidfd = l->mnemo.pidfd = -1;
    l->context_length = cfg->fallback_context_length;
    int rc =
        child_setup(&l->elpis, state_dir, "elpis", &cfg->elpis_command, "--model", cfg->model_path, true, err, errlen);
    if (!rc)
        rc = child_setup(&l->mnemo, state_dir, "mnemosyne", &cfg->mnemosyne_command, "--db", db, cfg->memory, err,
                         errlen);
    /* The children's config files: none the agent could have written. */
    if (!rc) rc = psy_child_trust_config(&l->elpis, "ELPIS", cfg->workspace);
    if (!rc) rc = psy_child_trust_config(&l->mnemo, "MNEMOSYNE", cfg->workspace);
    if (rc) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    l->mnemo.async = true; /* a hanging mnemosyne never stalls a turn; see psy_links_supervise */
    l->mnemo.notify_fd = bus->wake_fd;
    l->elpis.backoff_max_s = l->mnemo.backoff_max_s = cfg->restart_backoff_max_s;
    l->elpis.stable_s = l->mnemo.stable_s = cfg->restart_backoff_max_s;
    l->pol = (psy_sup_policy){.attempts = cfg->start_attempts,
                              .start_timeout_ms = cfg->start_timeout_s * 1000,
                              .restart_max = cfg->restart_max,
                              .restart_window_s = cfg->restart_window_s,
                              .retry_s = cfg->restart_retry_s,
                              .stop_grace_ms = cfg->stop_grace_ms};
    return 0;
}

void psy_links_free(psy_links *l)
{
    psy_child_free(&l->elpis);
    psy_child_free(&l->mnemo);
    cJSON_Delete(l->emotion);
    l->emotion = NULL;
}

void psy_links_stop(psy_links *l, int grace_ms)
{
    psy_child_stop(&l->elpis, grace_ms);
    psy_child_stop(&l->mnemo, grace_ms);
}

/* ----------------------------------------------------------- supervision */

static void sync_elpis(psy_links *l)
{
    cJSON *res = NULL;
    char err[512];
    int tmo = l->cfg->call_timeout_s * 1000;
    int ctx = l->cfg->fallback_context_length;
    if (psy_elpis(l, "get_capabilities", cJSON_CreateObject(), tmo, NULL, NULL, &res, err, sizeof err) == 0) {
        const cJSON *cl = cJSON_GetObjectItemCaseSensitive(res, "context_length");
        const cJSON *mp = cJSON_GetObjectItemCaseSensitive(res, "model_path");
        if (cJSON_IsNumber(cl) && cl->valuedouble >= PSY_MIN_CONTEXT_LENGTH) ctx = (int)cl->valuedouble;
        else log_warn("elpis reported no context_length; assuming %d", ctx);
        if (cJSON_IsString(mp)) {
            const char *slash = strrchr(mp->valuestring, '/');
            snprintf(l->model, sizeof l->model, "%s", slash ? slash + 1 : mp->valuestring);
        }
    } else {
        log_warn("get_capabilities: %s; assuming a context of %d tokens", err, ctx);
    }
    cJSON_Delete(res);
    l->context_length = ctx;
    res = NULL;
    if (psy_elpis(l, "get_emotion", cJSON_CreateObject(), tmo, NULL, NULL, &res, err, sizeof err) == 0)
        psy_note_emotion(l, res);
    cJSON_Delete(res);
    l->elpis_synced = true;
}

static unsigned tick_mnemo(psy_links *l, const int *quit)
{
    bool was_starting = psy_child_starting(&l->mnemo);
    if (psy_child_tick(&l->mnemo, &l->pol, now_mono(), quit, on_child, l)) return PSY_LINK_MNEMO_UP | PSY_LINK_CHANGED;
    return was_starting != psy_child_starting(&l->mnemo) ? PSY_LINK_CHANGED : 0;
}

/* mnemosyne starts in the background, so it goes first: its start overlaps
 * elpis's, which the agent waits for. */
unsigned psy_links_supervise(psy_links *l)
{
    const int *quit = &l->bus->quit_level;
    unsigned f = tick_mnemo(l, quit);
    if (psy_child_tick(&l->elpis, &l->pol, now_mono(), quit, on_child, l)) f |= PSY_LINK_CHANGED;
    if (psy_child_up(&l->elpis) && !l->elpis_synced) {
        sync_elpis(l);
        f |= PSY_LINK_CHANGED | PSY_LINK_ELPIS_SYNCED;
    }
    return f | tick_mnemo(l, quit);
}

unsigned psy_links_settle(psy_links *l, int wait_ms, const int *cancel)
{
    if (!psy_child_starting(&l->mnemo)) return 0;
    log_info("waiting up to %d ms for mnemosyne's start", wait_ms);
    psy_child_wait_start(&l->mnemo, wait_ms, cancel);
    return tick_mnemo(l, &l->bus->quit_level);
}

double psy_links_next_due(const psy_links *l, double now)
{
    double t = psy_child_next_due(&l->elpis, now);
    double d = psy_child_next_due(&l->mnemo, now);
    if (d >= 0 && (t < 0 || d < t)) t = d;
    return t;
}

int psy_links_pollfds(const psy_links *l, struct pollfd *pf, int *poll_ms)
{
    int n = 0;
    if (l->elpis.pidfd >= 0) pf[n++] = (struct pollfd){.fd = l->elpis.pidfd, .events = POLLIN};
    if (l->mnemo.pidfd >= 0) pf[n++] = (struct pollfd){.fd = l->mnemo.pidfd, .events = POLLIN};
    /* without pidfds, look at the children once a second */
    if ((l->elpis.c && l->elpis.pidfd < 0) || (l->mnemo.c && l->mnemo.pidfd < 0))
        *poll_ms = *poll_ms < 0 || *poll_ms > CHILD_LOOK_MS ? CHILD_LOOK_MS : *poll_ms;
    return n;
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

cJSON *psy_links_status(const psy_links *l)
{
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddItemToObject(ch, "elpis", child_json(&l->elpis));
    cJSON *m = child_json(&l->mnemo);
    cJSON_AddBoolToObject(m, "disabled", !l->mnemo.enabled);
    cJSON_AddItemToObject(ch, "mnemosyne", m);
    return ch;
}

/* ----------------------------------------------------------------- calls */

static int child_call(psy_links *l, psy_child *ch, const char *tool, cJSON *args, int timeout_ms, mcp_progress_cb cb,
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
        if (psy_child_check(ch, now_mono(), on_child, l)) psy_emit_status(l->bus);
        snprintf(err, errlen, "%s died (%s) during %s; restarting it", ch->name,
                 ch->last_exit[0] ? ch->last_exit : "exited", tool);
        rc = -EPIPE;
    }
    return rc;
}

int psy_elpis(psy_links *l, const char *tool, cJSON *args, int timeout_ms, mcp_progress_cb cb, void *ud, cJSON **res,
              char *err, size_t errlen)
{
    return child_call(l, &l->elpis, tool, args, timeout_ms, cb, ud, psy_activity_cancel(l->bus), res, err, errlen);
}

int psy_elpis_uncancellable(psy_links *l, const char *tool, cJSON *args, cJSON **res, char *err, size_t errlen)
{
    return child_call(l, &l->elpis, tool, args, l->cfg->call_timeout_s * 1000, NULL, NULL, NULL, res, err, errlen);
}

int psy_mnemo(psy_links *l, const char *tool, cJSON *args, cJSON **res, char *err, size_t errlen)
{
    return child_call(l, &l->mnemo, tool, args, l->cfg->call_timeout_s * 1000, NULL, NULL, NULL, res, err, errlen);
}

/* --------------------------------------------------------------- emotion */

void psy_note_emotion(psy_links *l, const cJSON *state)
{
    if (!cJSON_IsObject(state) || !cJSON_GetObjectItemCaseSensitive(state, "valence")) return;
    pthread_mutex_lock(&l->bus->mu);
    cJSON_Delete(l->emotion);
    l->emotion = cJSON_Duplicate(state, 1);
    pthread_mutex_unlock(&l->bus->mu);
    l->last_emotion_poll = now_mono();
    psy_emit(l->bus, PSY_EV_EMOTION, NULL, cJSON_Duplicate(state, 1));
}

cJSON *psy_links_emotion_copy(psy_links *l)
{
    pthread_mutex_lock(&l->bus->mu);
    cJSON *e = l->emotion ? cJSON_Duplicate(l->emotion, 1) : NULL;
    pthread_mutex_unlock(&l->bus->mu);
    return e;
}

cJSON *psy_emotion_context(psy_links *l)
{
    pthread_mutex_lock(&l->bus->mu);
    cJSON *e = NULL;
    if (l->emotion) {
        e = cJSON_CreateObject();
        static const char *const keys[] = {"valence", "arousal", "quadrant"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(l->emotion, keys[i]);
            if (v) cJSON_AddItemToObject(e, keys[i], cJSON_Duplicate(v, 1));
        }
    }
    pthread_mutex_unlock(&l->bus->mu);
    return e;
}

void psy_emotion_event(psy_links *l, const char *event, double intensity, const char *context)
{
    if (!psy_child_up(&l->elpis)) return;
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "event_type", event);
    cJSON_AddNumberToObject(args, "intensity", intensity);
    if (context) cJSON_AddStringToObject(args, "context", context);
    cJSON *res = NULL;
    char err[256];
    if (psy_elpis_uncancellable(l, "update_emotion", args, &res, err, sizeof err) == 0) psy_note_emotion(l, res);
    else log_warn("update_emotion %s: %s", event, err);
    cJSON_Delete(res);
}

static double num_or(const cJSON *v, double def) { return cJSON_IsNumber(v) ? v->valuedouble : def; }

bool psy_links_emotion_away(psy_links *l)
{
    pthread_mutex_lock(&l->bus->mu);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(l->emotion, "valence");
    const cJSON *ar = cJSON_GetObjectItemCaseSensitive(l->emotion, "arousal");
    const cJSON *bl = cJSON_GetObjectItemCaseSensitive(l->emotion, "baseline");
    double bv = num_or(cJSON_GetObjectItemCaseSensitive(bl, "valence"), 0);
    double ba = num_or(cJSON_GetObjectItemCaseSensitive(bl, "arousal"), 0);
    bool away = cJSON_IsNumber(v) && cJSON_IsNumber(ar) &&
                (fabs(v->valuedouble - bv) > EMOTION_REST_EPSILON || fabs(ar->valuedouble - ba) > EMOTION_REST_EPSILON);
    pthread_mutex_unlock(&l->bus->mu);
    return away && psy_child_up(&l->elpis);
}

int psy_links_poll_emotion(psy_links *l, double now)
{
    cJSON *res = NULL;
    char err[128];
    int rc = psy_elpis(l, "get_emotion", cJSON_CreateObject(), PSY_EMOTION_POLL_TIMEOUT_MS, NULL, NULL, &res, err,
                       sizeof err);
    if (rc == 0) psy_note_emotion(l, res);
    else l->last_emotion_poll = now;
    cJSON_Delete(res);
    return rc;
}

/* ------------------------------------------------------ token counting */

int psy_links_count_messages(psy_links *l, const cJSON *messages, int *tokens)
{
    if (!psy_child_up(&l->elpis)) return -ENOTCONN;
    cJSON *args = cJSON_CreateObject();
    cJSON_AddItemToObject(args, "messages", cJSON_Duplicate(messages, 1));
    cJSON *res = NULL;
    char err[256];
    int rc = psy_elpis_uncancellable(l, "count_tokens", args, &res, err, sizeof err);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(res, "tokens");
    if (rc == 0 && !cJSON_IsNumber(t)) snprintf(err, sizeof err, "no count in the answer"), rc = -EPROTO;
    if (rc) log_warn("count_tokens: %s", err);
    else *tokens = (int)t->valuedouble;
    cJSON_Delete(res);
    return rc < 0 ? rc : rc ? -EIO : 0;
}

int psy_links_count_tokens(void *ud, const char *role, const char *text)
{
    cJSON *msgs = cJSON_CreateArray();
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", role);
    cJSON_AddStringToObject(m, "content", text);
    cJSON_AddItemToArray(msgs, m);
    int n = -1;
    if (psy_links_count_messages(ud, msgs, &n)) n = -1;
    cJSON_Delete(msgs);
    return n;
}
