/* serve_memory.c - one mnemosyne per user of `psyche serve`, started on
 * first use, and the automatic retrieval before a chat (see serve_memory.h).
 * The worker and the chat runners call in here: every use of the users'
 * children (start, supervision, each call) holds s->mem_mu, so a restart
 * never frees a client another thread is calling. Calls are short; a
 * consolidation (dreams, shutdown) ends at once when its cancel flag is set. */
#include "serve_memory.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "context.h"
#include "log.h"
#include "mcp_client.h"
#include "serve_int.h"
#include "utf8.h"
#include "util.h"

struct psy_serve_user {
    psy_child child;
    char *db;     /* owned */
    bool started; /* the first start was made (then psy_child_tick supervises) */
};

void psy_serve_mem_key_id(const char *key, char *out)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *c = key; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ULL;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* The database of each user: see serve_memory.h. Returns a malloc'd path or NULL. */
static char *user_db(const psy_settings *cfg, const char *key, char *err, size_t errlen)
{
    if (!key && cfg->db_path && *cfg->db_path) return strdup(cfg->db_path);
    char *data = psy_settings_data_dir(err, errlen);
    if (!data) return NULL;
    buf b = BUF_INIT;
    if (key) {
        char id[17];
        psy_serve_mem_key_id(key, id);
        buf_printf(&b, "%s/serve-users", data);
        if (mkdir(b.data, 0700) && errno != EEXIST) {
            snprintf(err, errlen, "cannot create %s: %s", b.data, strerror(errno));
            buf_free(&b);
            free(data);
            return NULL;
        }
        buf_printf(&b, "/%s.db", id);
    } else buf_printf(&b, "%s/memories.db", data);
    free(data);
    return buf_detach(&b);
}

static int user_child(psy_serve *s, struct psy_serve_user *u, int index)
{
    char exe[PATH_MAX + 16], dir[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    dir[n > 0 ? n : 0] = 0;
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    snprintf(exe, sizeof exe, "%s/mnemosyne", dir);
    char *argv[64];
    size_t k = 0;
    const cfg_strlist *cmd = &s->cfg->mnemosyne_command;
    if (cmd->n)
        for (size_t i = 0; i < cmd->n && k < 60; i++) argv[k++] = cmd->items[i];
    else argv[k++] = exe;
    argv[k++] = "--db";
    argv[k++] = u->db;
    argv[k] = NULL;
    buf log = BUF_INIT;
    buf_printf(&log, "%s/mnemosyne-user%d.log", s->state_dir, index);
    int rc = psy_child_init(&u->child, "mnemosyne", argv, buf_str(&log), true);
    buf_free(&log);
    u->child.backoff_max_s = s->cfg->restart_backoff_max_s;
    u->child.stable_s = s->cfg->restart_backoff_max_s;
    return rc;
}

int psy_serve_mem_init(psy_serve *s, char *const *keys, size_t n_keys, char *err, size_t errlen)
{
    if (!s->cfg->memory) return 0;
    size_t n = n_keys ? n_keys : 1;
    s->users = calloc(n, sizeof *s->users);
    if (!s->users) return -ENOMEM;
    s->n_users = n;
    for (size_t i = 0; i < n; i++) {
        struct psy_serve_user *u = &s->users[i];
        u->child.pidfd = -1;
        u->db = user_db(s->cfg, n_keys ? keys[i] : NULL, err, errlen);
        if (!u->db) return -ENOENT;
        int rc = user_child(s, u, (int)i);
        if (rc) {
            snprintf(err, errlen, "out of memory");
            return rc;
        }
    }
    return 0;
}

void psy_serve_mem_free(psy_serve *s)
{
    for (size_t i = 0; i < s->n_users; i++) {
        psy_child_free(&s->users[i].child);
        free(s->users[i].db);
    }
    free(s->users);
    s->users = NULL;
    s->n_users = 0;
}

static void on_mem_child(void *ud, psy_child *ch, const char *event, const char *text, const char *detail,
                         const char *log_tail)
{
    psy_serve *s = ud;
    (void)ch, (void)detail, (void)log_tail;
    log_notice("memory: %s", text);
    if (!strcmp(event, "restarted")) psy_metrics_restart(&s->metrics, "mnemosyne");
}

void psy_serve_mem_tick(psy_serve *s)
{
    pthread_mutex_lock(&s->mem_mu);
    for (size_t i = 0; i < s->n_users; i++)
        if (s->users[i].started)
            psy_child_tick(&s->users[i].child, &s->pol, now_mono(), &s->stop_flag, on_mem_child, s);
    pthread_mutex_unlock(&s->mem_mu);
}

int psy_serve_mem_running(psy_serve *s)
{
    int n = 0;
    pthread_mutex_lock(&s->mem_mu);
    for (size_t i = 0; i < s->n_users; i++) n += psy_child_up(&s->users[i].child);
    pthread_mutex_unlock(&s->mem_mu);
    return n;
}

void psy_serve_mem_stop(psy_serve *s)
{
    pthread_mutex_lock(&s->mem_mu);
    for (size_t i = 0; i < s->n_users; i++)
        if (s->users[i].started) psy_child_stop(&s->users[i].child, s->cfg->stop_grace_ms);
    pthread_mutex_unlock(&s->mem_mu);
}

static struct psy_serve_user *user_of(psy_serve *s, int user)
{
    size_t i = user < 0 ? 0 : (size_t)user;
    return i < s->n_users ? &s->users[i] : NULL;
}

const char *psy_serve_mem_db(psy_serve *s, int user)
{
    struct psy_serve_user *u = user_of(s, user);
    return u ? u->db : NULL;
}

/* The user's mnemosyne, started on first use. NULL when it is down.
 * Called with mem_mu held. */
static mcp_client *user_client(psy_serve *s, struct psy_serve_user *u)
{
    if (!u->started) {
        u->started = true;
        char err[1024];
        if (psy_child_start(&u->child, &s->pol, &s->stop_flag, err, sizeof err)) {
            log_error("memory: %s (answering without memories)", err);
            return NULL;
        }
        log_info("memory: mnemosyne started on %s", u->db);
    }
    return psy_child_up(&u->child) ? u->child.c : NULL;
}

/* psy_serve_mem_call with a timeout of its own (ms); under mem_mu. */
static int call_within(psy_serve *s, int user, const char *tool, cJSON *args, int timeout_ms, const int *cancel,
                       cJSON **res, char *err, size_t errlen)
{
    struct psy_serve_user *u = user_of(s, user);
    *res = NULL;
    pthread_mutex_lock(&s->mem_mu);
    mcp_client *c = u ? user_client(s, u) : NULL;
    int rc = -ENOTCONN;
    if (c) rc = mcp_client_call(c, tool, args, timeout_ms, NULL, NULL, cancel, res, err, errlen);
    pthread_mutex_unlock(&s->mem_mu);
    if (!c) {
        cJSON_Delete(args);
        snprintf(err, errlen, "memory is off or its mnemosyne is not running");
    }
    return rc;
}

int psy_serve_mem_call(psy_serve *s, int user, const char *tool, cJSON *args, cJSON **res, char *err, size_t errlen)
{
    return call_within(s, user, tool, args, s->cfg->call_timeout_s * 1000, NULL, res, err, errlen);
}


int psy_serve_mem_consolidate(psy_serve *s, int user, int timeout_ms, const int *cancel, char *summary,
                              size_t summary_len)
{
    cJSON *res = NULL;
    char err[512] = "";
    int rc =
        call_within(s, user, "should_consolidate", cJSON_CreateObject(), timeout_ms, cancel, &res, err, sizeof err);
    bool yes = !rc && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "should_consolidate"));
    cJSON_Delete(res);
    if (rc) {
        log_warn("memory: should_consolidate (user %d): %s", user, err);
        return rc;
    }
    log_info("memory: should_consolidate (user %d): %s", user, yes ? "yes" : "no");
    if (!yes) return 0;
    cJSON *args = psy_consolidate_args(s->cfg->consolidate_importance, s->cfg->consolidate_similarity);
    if (!args) {
        log_warn("memory: consolidate_memories (user %d): out of memory", user);
        return -ENOMEM;
    }
    rc = call_within(s, user, "consolidate_memories", args, timeout_ms, cancel, &res, err, sizeof err);
    if (rc) log_warn("memory: consolidate_memories (user %d): %s", user, err);
    else {
        char what[160];
        psy_consolidate_describe(res, what, sizeof what);
        log_info("memory: consolidated user %d's memories: %s", user, what);
        if (summary) snprintf(summary, summary_len, "consolidated memories: %s", what);
    }
    cJSON_Delete(res);
    return rc ? rc : 1;
}

cJSON *psy_serve_mem_search(psy_serve *s, int user, const char *query, int n)
{
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "query", query);
    cJSON_AddNumberToObject(args, "n_results", n);
    cJSON *res = NULL;
    char err[512];
    int rc = call_within(s, user, "search_memories", args, s->cfg->call_timeout_s * 1000, NULL, &res, err, sizeof err);
    if (rc == -ENOTCONN) return NULL;
    if (rc) {
        log_warn("memory: search_memories: %s", err);
        cJSON_Delete(res);
        return NULL;
    }
    cJSON *r = cJSON_DetachItemFromObjectCaseSensitive(res, "results");
    cJSON_Delete(res);
    if (cJSON_IsArray(r)) return r;
    cJSON_Delete(r);
    return cJSON_CreateArray();
}

int psy_serve_mem_store(psy_serve *s, int user, cJSON *args)
{
    cJSON *res = NULL;
    char err[512];
    int rc = call_within(s, user, "store_memory", args, s->cfg->call_timeout_s * 1000, NULL, &res, err, sizeof err);
    cJSON_Delete(res);
    if (rc == -ENOTCONN) return rc;
    if (rc) log_warn("memory: store_memory: %s", err);
    return rc < 0 ? rc : rc ? -EIO : 0;
}

int psy_serve_mem_next_active(psy_serve *s, int after)
{
    size_t n = s->n_users, start = after < 0 ? 0 : (size_t)after + 1;
    int found = -2;
    pthread_mutex_lock(&s->mem_mu);
    for (size_t k = 0; k < n && found < 0; k++) {
        size_t i = (start + k) % n;
        if (s->users[i].started && psy_child_up(&s->users[i].child)) found = (int)i;
    }
    pthread_mutex_unlock(&s->mem_mu);
    return found;
}

cJSON *psy_serve_mem_recall(psy_serve *s, int user, const char *query)
{
    if (!user_of(s, user) || !s->cfg->auto_retrieval || !query || !*query) return NULL;
    cJSON *r = psy_serve_mem_search(s, user, query, s->cfg->retrieval_count);
    if (cJSON_GetArraySize(r) > 0) return r;
    cJSON_Delete(r);
    return NULL;
}

/* "User: <text>\n\nAssistant: <answer>", each cut (with "...") so one
 * exchange stays a readable memory. */
static void exchange_text(buf *out, const char *user_text, const char *answer)
{
    buf_puts(out, "User: ");
    utf8_append_cut(out, user_text, strlen(user_text), 300, "..."); /* whole characters: mnemosyne wants UTF-8 */
    buf_puts(out, "\n\nAssistant: ");
    utf8_append_cut(out, answer, strlen(answer), 800, "...");
}

int psy_serve_mem_store_exchange(psy_serve *s, int user, const char *user_text, const char *answer,
                                 const cJSON *emotion)
{
    struct psy_serve_user *u = user_of(s, user);
    if (!u || !s->cfg->auto_store || !user_text || !answer || !*answer) return 0;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(emotion, "valence");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(emotion, "arousal");
    char why[200];
    double score = psy_importance(user_text, answer, 0, NULL, cJSON_IsNumber(v) ? v->valuedouble : 0,
                                  cJSON_IsNumber(a) ? a->valuedouble : 0, why, sizeof why);
    log_debug("memory: importance %s", why);
    if (score < s->cfg->importance_threshold) return 0;
    buf text = BUF_INIT;
    exchange_text(&text, user_text, answer);
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "content", buf_str(&text));
    cJSON_AddStringToObject(args, "memory_type", "episodic");
    cJSON *tags = cJSON_AddArrayToObject(args, "tags");
    cJSON_AddItemToArray(tags, cJSON_CreateString("auto-stored"));
    cJSON_AddItemToArray(tags, cJSON_CreateString("server"));
    cJSON_AddStringToObject(args, "source", "assistant");
    buf_free(&text);
    int rc = psy_serve_mem_store(s, user, args);
    return rc ? rc : 1;
}
