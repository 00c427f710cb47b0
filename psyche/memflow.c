/* memflow.c - how memories flow between a conversation and mnemosyne
 * (see memflow.h): retrieval, storage with the fallback file, compacted
 * messages, important exchanges, the one summary builder, the memory tools.
 *
 * Owns the memory policy; the transport is links.c's psy_mnemo(). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "memflow.h"
#include "buf.h"
#include "log.h"
#include "utf8.h"
#include "prompt.h"
#include "fallback.h"
#include "generate.h"
#include "util.h"

/* Most tags a store_memory call keeps. */
#define MEM_MAX_TAGS 16
/* Characters of an exchange kept in its memory: the user's part, the answer, the summary. */
#define EXCHANGE_USER_CHARS 300
#define EXCHANGE_ANSWER_CHARS 800
#define EXCHANGE_SUMMARY_CHARS 150
/* Most results recall_memory may ask for. */
#define RECALL_MAX 20
#define RECALL_DEFAULT 5

int psy_memflow_init(psy_memflow *m, psy_links *l, const psy_settings *cfg, const char *state_dir)
{
    memset(m, 0, sizeof *m);
    m->l = l;
    m->cfg = cfg;
    buf fb = BUF_INIT;
    if (cfg->fallback_file && *cfg->fallback_file) buf_puts(&fb, cfg->fallback_file);
    else buf_printf(&fb, "%s/fallback-memories.jsonl", state_dir);
    m->fallback_path = buf_detach(&fb);
    if (!m->fallback_path) return -ENOMEM;
    m->fallback_pending = psy_fallback_count(m->fallback_path);
    l->fallback_path = m->fallback_path;
    return 0;
}

void psy_memflow_free(psy_memflow *m)
{
    if (m->l && m->l->fallback_path == m->fallback_path) m->l->fallback_path = NULL;
    free(m->fallback_path);
    m->fallback_path = NULL;
}

void psy_text_append_cut(buf *out, const char *s, size_t max_chars)
{
    size_t len = strlen(s);
    size_t keep = utf8_truncate_chars(s, len, max_chars);
    buf_append(out, s, keep);
    if (keep < len) buf_puts(out, "...");
}

cJSON *psy_mem_args(psy_memflow *m, const char *content, const char *summary, const char *type, const char *source,
                    const char *const *tags)
{
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "content", content);
    if (summary && *summary) cJSON_AddStringToObject(args, "summary", summary);
    cJSON_AddStringToObject(args, "memory_type", type);
    cJSON *t = cJSON_AddArrayToObject(args, "tags");
    for (size_t i = 0; tags && tags[i]; i++) cJSON_AddItemToArray(t, cJSON_CreateString(tags[i]));
    cJSON *emo = psy_emotion_context(m->l);
    if (emo) cJSON_AddItemToObject(args, "emotional_context", emo);
    cJSON_AddStringToObject(args, "source", source);
    return args;
}

/* psy_mem_store with mnemosyne's answer (*res, caller frees; NULL when the
 * memory went to the fallback file). */
static int store_res(psy_memflow *m, cJSON *args, psy_mem_where *where, cJSON **res)
{
    *res = NULL;
    if (where) *where = PSY_MEM_STORED;
    if (m->cfg->memory && psy_child_up(&m->l->mnemo)) {
        char err[512];
        int rc = psy_mnemo(m->l, "store_memory", cJSON_Duplicate(args, 1), res, err, sizeof err);
        if (rc == 0) {
            cJSON_Delete(args);
            return 0;
        }
        cJSON_Delete(*res);
        *res = NULL;
        /* refused (bad input) or failed (crash, timeout): never lost; a refused
         * one stays in the file, reported at every import, for a person to fix */
        if (rc == MCP_CLIENT_TOOL_ERROR || rc == -EPROTO)
            log_error("store_memory refused (%s); kept in the fallback file %s", err, m->fallback_path);
        else log_warn("store_memory failed (%s); using the fallback file", err);
    }
    int rc = psy_fallback_append(m->fallback_path, args);
    cJSON_Delete(args);
    if (rc) return rc;
    m->fallback_pending++;
    if (where) *where = PSY_MEM_FALLBACK;
    return 0;
}

int psy_mem_store(psy_memflow *m, cJSON *args, psy_mem_where *where)
{
    cJSON *res;
    int rc = store_res(m, args, where, &res);
    cJSON_Delete(res);
    return rc;
}

static bool any_low_trust(const cJSON *results);

int psy_mem_search(psy_memflow *m, const char *query, int n, cJSON **results)
{
    *results = NULL;
    if (!psy_child_up(&m->l->mnemo)) return -ENOTCONN;
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "query", query);
    cJSON_AddNumberToObject(args, "n_results", n);
    cJSON *emo = psy_emotion_context(m->l);
    if (emo) {
        cJSON_DeleteItemFromObjectCaseSensitive(emo, "quadrant");
        cJSON_AddItemToObject(args, "emotional_context", emo);
    }
    cJSON *res = NULL;
    char err[512];
    int rc = psy_mnemo(m->l, "search_memories", args, &res, err, sizeof err);
    if (rc) {
        log_warn("search_memories: %s", err);
        cJSON_Delete(res);
        return rc < 0 ? rc : -EIO;
    }
    cJSON *r = cJSON_DetachItemFromObjectCaseSensitive(res, "results");
    cJSON_Delete(res);
    if (!cJSON_IsArray(r)) {
        cJSON_Delete(r);
        r = cJSON_CreateArray();
    }
    if (any_low_trust(r)) psy_mem_turn_untrusted(m); /* they reach the model: provenance */
    *results = r;
    return r ? 0 : -ENOMEM;
}

int psy_mem_flush(void *ud, const psy_msg *msgs, size_t n)
{
    psy_memflow *m = ud;
    int stored = 0, fallback = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) {
        const psy_msg *msg = &msgs[i];
        const char *type;
        if ((msg->flags & (PSY_MSG_TOOL_RESULT | PSY_MSG_TOOL_CALL)) ||
            !psy_should_store(msg->role, msg->content, &type)) {
            skipped++;
            continue;
        }
        const char *tags[] = {"compacted", msg->role, type, NULL};
        buf s = BUF_INIT;
        psy_text_append_cut(&s, msg->content, PSY_MEM_SUMMARY_CHARS);
        psy_mem_where where;
        int rc = psy_mem_store(m, psy_mem_args(m, msg->content, buf_str(&s), type, "compaction", tags), &where);
        buf_free(&s);
        if (rc == 0 && where == PSY_MEM_STORED) stored++;
        else if (rc == 0) fallback++;
        else return rc; /* the fallback file failed too: keep them staged */
    }
    if (stored || fallback) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddNumberToObject(d, "stored", stored);
        cJSON_AddNumberToObject(d, "fallback", fallback);
        cJSON_AddNumberToObject(d, "skipped", skipped);
        buf b = BUF_INIT;
        buf_printf(&b, "stored %d memor%s from earlier in the conversation", stored + fallback,
                   stored + fallback == 1 ? "y" : "ies");
        if (fallback) buf_printf(&b, " (%d in the fallback file)", fallback);
        psy_emit(m->l->bus, PSY_EV_MEMORY, b.data, d);
        buf_free(&b);
    }
    return 0;
}

/* A transcript line per message; system messages only when they are an earlier summary. */
static void transcript(buf *t, const psy_msg *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(msgs[i].role, "system") && !(msgs[i].flags & PSY_MSG_SUMMARY)) continue;
        buf_printf(t, "%s: ", msgs[i].role);
        psy_text_append_cut(t, msgs[i].content, PSY_SUMMARY_MSG_CHARS);
        buf_putc(t, '\n');
    }
}

static void add_msg(cJSON *msgs, const char *role, const char *content)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "role", role);
    cJSON_AddStringToObject(o, "content", content);
    cJSON_AddItemToArray(msgs, o);
}

int psy_mem_summary(psy_memflow *m, const psy_msg *first, size_t n_first, const psy_msg *second, size_t n_second,
                    bool accept_partial, char **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!psy_child_up(&m->l->elpis)) {
        snprintf(err, errlen, "elpis is not running");
        return -ENOTCONN;
    }
    buf t = BUF_INIT;
    transcript(&t, first, n_first);
    transcript(&t, second, n_second);
    cJSON *msgs = cJSON_CreateArray();
    add_msg(msgs, "system", psy_prompt_summary_system());
    add_msg(msgs, "user", buf_str(&t));
    buf_free(&t);
    psy_gen_params p = {.max_tokens = m->cfg->summary_max_tokens,
                        .temperature = m->cfg->summary_temperature,
                        .background = true,
                        .timeout_s = m->cfg->generation_timeout_s,
                        .fit = true};
    char *text = NULL;
    int rc = psy_generate(m->l, msgs, &p, &text, NULL, err, errlen);
    if (rc == -ETIMEDOUT && accept_partial) rc = 0;
    if (!rc && (!text || !*text)) {
        snprintf(err, errlen, "the model returned nothing");
        rc = -ENODATA;
    }
    if (rc) {
        free(text);
        return rc;
    }
    *out = text;
    return 0;
}

char *psy_mem_summarize(void *ud, const psy_msg *msgs, size_t n)
{
    psy_memflow *m = ud;
    if (!n || !psy_child_up(&m->l->elpis)) return NULL;
    char *text = NULL, err[256];
    int rc = psy_mem_summary(m, msgs, n, NULL, 0, false, &text, err, sizeof err);
    if (rc) log_warn("compaction summary failed (%s); sliding window instead", err);
    return text;
}

void psy_mem_store_summary(psy_memflow *m, const char *text)
{
    buf s = BUF_INIT;
    psy_text_append_cut(&s, text, PSY_MEM_SUMMARY_CHARS);
    static const char *const tags[] = {"conversation_summary", "shutdown", NULL};
    psy_mem_where where;
    int rc = psy_mem_store(m, psy_mem_args(m, text, buf_str(&s), "semantic", "summary", tags), &where);
    buf_free(&s);
    psy_emitf(m->l->bus, PSY_EV_MEMORY, "%s the conversation summary",
              rc                        ? "could not store"
              : where == PSY_MEM_STORED ? "stored"
                                        : "saved (fallback file)");
}

void psy_mem_import_fallback(psy_memflow *m)
{
    m->fallback_pending = psy_fallback_count(m->fallback_path); /* another psyche may have added lines */
    if (!m->fallback_pending || !psy_child_up(&m->l->mnemo)) return;
    int imported = 0, failed = 0;
    int rc = psy_fallback_import(m->fallback_path, m->l->mnemo.c, m->cfg->call_timeout_s * 1000, &imported, &failed);
    m->fallback_pending = psy_fallback_count(m->fallback_path);
    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "imported", imported);
    cJSON_AddNumberToObject(d, "failed", failed);
    cJSON_AddStringToObject(d, "file", m->fallback_path);
    buf b = BUF_INIT;
    buf_printf(&b, "imported %d memor%s from the fallback file", imported, imported == 1 ? "y" : "ies");
    if (failed) buf_printf(&b, "; %d could not be imported and stay in %s", failed, m->fallback_path);
    if (rc) buf_printf(&b, " (%s)", strerror(-rc));
    psy_emit(m->l->bus, PSY_EV_MEMORY, b.data, d);
    log_info("%s", b.data);
    buf_free(&b);
}

void psy_mem_consider_exchange(psy_memflow *m, const char *user_text, const char *answer, int tools_used,
                               const char *tool_results)
{
    if (!m->cfg->auto_store) return; /* without mnemosyne (--no-memory) psy_mem_store uses the fallback file */
    double v = 0, ar = 0;
    cJSON *emo = psy_emotion_context(m->l);
    const cJSON *jv = cJSON_GetObjectItemCaseSensitive(emo, "valence");
    const cJSON *ja = cJSON_GetObjectItemCaseSensitive(emo, "arousal");
    if (cJSON_IsNumber(jv)) v = jv->valuedouble;
    if (cJSON_IsNumber(ja)) ar = ja->valuedouble;
    cJSON_Delete(emo);
    char why[200];
    double score = psy_importance(user_text, answer, tools_used, tool_results, v, ar, why, sizeof why);
    log_debug("importance %s", why);
    if (score < m->cfg->importance_threshold) return;
    buf c = BUF_INIT, s = BUF_INIT;
    buf_puts(&c, "User: ");
    psy_text_append_cut(&c, user_text, EXCHANGE_USER_CHARS);
    buf_puts(&c, "\n\nAssistant: ");
    psy_text_append_cut(&c, answer, EXCHANGE_ANSWER_CHARS);
    buf_append(&s, buf_str(&c), utf8_truncate_chars(buf_str(&c), c.len, EXCHANGE_SUMMARY_CHARS));
    static const char *const tags[] = {"auto-stored", "important", NULL};
    psy_mem_where where;
    const char *source = psy_mem_source(m, "assistant");
    int rc = psy_mem_store(m, psy_mem_args(m, buf_str(&c), buf_str(&s), "episodic", source, tags), &where);
    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "importance", score);
    cJSON_AddStringToObject(d, "breakdown", why);
    psy_emit(m->l->bus, PSY_EV_MEMORY,
             rc                        ? "could not store this exchange"
             : where == PSY_MEM_STORED ? "remembered this exchange"
                                       : "saved this exchange (fallback file)",
             d);
    buf_free(&c);
    buf_free(&s);
}

/* ------------------------------------------------------------ provenance */

bool psy_mem_user_asks_to_remember(const char *text)
{
    static const char *const asks[] = {"remember",   "don't forget", "do not forget", "note that", "keep in mind",
                                       "store this", "save this",    "memorize",      "memorise"};
    if (!text) return false;
    for (size_t i = 0; i < sizeof asks / sizeof asks[0]; i++)
        if (strcasestr(text, asks[i])) return true;
    return false;
}

void psy_mem_turn_begin(psy_memflow *m, const char *user_text)
{
    m->turn_untrusted = false;
    m->user_asked = psy_mem_user_asks_to_remember(user_text);
}

void psy_mem_turn_untrusted(psy_memflow *m) { m->turn_untrusted = true; }

const char *psy_mem_source(const psy_memflow *m, const char *own)
{
    return m->turn_untrusted && !m->user_asked ? "tool" : own;
}

/* Whether any of the search results is low-trust. */
static bool any_low_trust(const cJSON *results)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, results) if (psy_prompt_memory_low_trust(r)) return true;
    return false;
}

/* ------------------------------------------------------------ the tools */

static cJSON *tool_error(const char *fmt, const char *arg)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddBoolToObject(r, "success", 0);
    buf msg = BUF_INIT;
    buf_printf(&msg, fmt, arg ? arg : "");
    cJSON_AddStringToObject(r, "error", buf_str(&msg));
    buf_free(&msg);
    return r;
}

static cJSON *recall(psy_memflow *m, const cJSON *args)
{
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(args, "query");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(args, "n_results");
    if (!cJSON_IsString(q) || !*q->valuestring) return tool_error("query must be a non-empty string%s", NULL);
    int k = cJSON_IsNumber(n) ? (int)n->valuedouble : RECALL_DEFAULT;
    if (k < 1 || k > RECALL_MAX) return tool_error("n_results must be between 1 and 20%s", NULL);
    if (!psy_child_up(&m->l->mnemo))
        return tool_error("memory is unavailable right now (mnemosyne is not running%s)",
                          m->l->mnemo.enabled ? "" : ": disabled");
    cJSON *res = NULL;
    if (psy_mem_search(m, q->valuestring, k, &res)) return tool_error("memory search failed%s", NULL);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddBoolToObject(r, "success", 1);
    cJSON_AddStringToObject(r, "query", q->valuestring);
    cJSON_AddNumberToObject(r, "count", cJSON_GetArraySize(res));
    cJSON *mems = cJSON_AddArrayToObject(r, "memories");
    const cJSON *mem;
    static const char *const keep[] = {"content",           "summary",    "memory_type", "tags",
                                       "emotional_context", "created_at", "source",      "trust"};
    cJSON_ArrayForEach(mem, res)
    {
        cJSON *o = cJSON_CreateObject();
        for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(mem, keep[i]);
            if (v) cJSON_AddItemToObject(o, keep[i], cJSON_Duplicate(v, 1));
        }
        const cJSON *rel = cJSON_GetObjectItemCaseSensitive(mem, "relevance_score");
        cJSON_AddNumberToObject(o, "relevance", cJSON_IsNumber(rel) ? rel->valuedouble : 0);
        cJSON_AddItemToArray(mems, o);
    }
    cJSON_Delete(res);
    return r;
}

/* Tags from an array (its strings, numbers and booleans as text) or one
 * comma-separated string; anything else gives none. At most MEM_MAX_TAGS, trimmed,
 * empty ones skipped. Returns the count; the strings live in *store. */
static size_t tags_of(const cJSON *tags, const char *tagv[MEM_MAX_TAGS + 1], cJSON *store)
{
    size_t nt = 0;
    if (cJSON_IsString(tags)) {
        const char *p = tags->valuestring;
        while (*p && nt < MEM_MAX_TAGS) {
            size_t n = strcspn(p, ",");
            const char *b = p, *e = p + n;
            while (b < e && (*b == ' ' || *b == '\t' || *b == '\n')) b++;
            while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n')) e--;
            if (e > b) {
                char *t = strndup(b, (size_t)(e - b));
                cJSON *it = t ? cJSON_CreateString(t) : NULL;
                free(t);
                if (it) {
                    cJSON_AddItemToArray(store, it);
                    tagv[nt++] = it->valuestring;
                }
            }
            p += n;
            if (*p) p++;
        }
    } else if (cJSON_IsArray(tags)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, tags)
        {
            if (nt >= MEM_MAX_TAGS) break;
            if (cJSON_IsString(e) && *e->valuestring) tagv[nt++] = e->valuestring;
            else if (cJSON_IsNumber(e) || cJSON_IsBool(e)) {
                char *t = cJSON_PrintUnformatted(e);
                cJSON *it = t ? cJSON_CreateString(t) : NULL;
                free(t);
                if (it) {
                    cJSON_AddItemToArray(store, it);
                    tagv[nt++] = it->valuestring;
                }
            }
        }
    }
    tagv[nt] = NULL;
    return nt;
}

/* store_memory: content is required; every other field is optional and read
 * leniently, so an oddly typed extra never fails the call. */
static cJSON *store(psy_memflow *m, const cJSON *args)
{
    static const char *const types[] = {"episodic", "semantic", "procedural", "emotional"};
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(args, "content");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(args, "summary");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(args, "memory_type");
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(args, "tags");
    if (!cJSON_IsString(c) || !*c->valuestring) return tool_error("content must be a non-empty string%s", NULL);
    const char *type = "semantic";
    const char *note = NULL;
    if (cJSON_IsString(t)) {
        bool known = false;
        for (size_t i = 0; i < 4; i++)
            if (!strcasecmp(t->valuestring, types[i])) type = types[i], known = true;
        if (!known) note = "memory_type was not one of episodic, semantic, procedural, emotional; stored as semantic";
    } else if (t) {
        note = "memory_type was not a string; stored as semantic";
    }
    const char *tagv[MEM_MAX_TAGS + 1];
    cJSON *tag_store = cJSON_CreateArray(); /* owns tags made from a string or numbers */
    size_t nt = tags_of(tags, tagv, tag_store);
    const char *summary = cJSON_IsString(s) ? s->valuestring : NULL;
    const char *source = psy_mem_source(m, "assistant");
    cJSON *margs = psy_mem_args(m, c->valuestring, summary, type, source, tagv);
    cJSON *res = NULL;
    psy_mem_where where;
    if (store_res(m, margs, &where, &res) < 0) {
        cJSON_Delete(tag_store);
        return tool_error("memory is unavailable and the fallback file failed%s", NULL);
    }
    if (where == PSY_MEM_FALLBACK) {
        cJSON_Delete(tag_store);
        cJSON *r = cJSON_CreateObject();
        cJSON_AddBoolToObject(r, "success", 1);
        cJSON_AddBoolToObject(r, "saved_to_fallback", 1);
        cJSON_AddStringToObject(r, "source", source);
        cJSON_AddStringToObject(r, "note",
                                "memory could not take it now; the memory was saved and will be imported "
                                "later");
        return r;
    }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddBoolToObject(r, "success", 1);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(res, "id");
    cJSON_AddStringToObject(r, "memory_id", cJSON_IsString(id) ? id->valuestring : "");
    if (summary) cJSON_AddStringToObject(r, "summary", summary);
    cJSON_AddStringToObject(r, "memory_type", type);
    cJSON_AddStringToObject(r, "source", source);
    const cJSON *trust = cJSON_GetObjectItemCaseSensitive(res, "trust");
    if (cJSON_IsString(trust)) cJSON_AddStringToObject(r, "trust", trust->valuestring);
    cJSON *tout = cJSON_AddArrayToObject(r, "tags");
    for (size_t i = 0; i < nt; i++) cJSON_AddItemToArray(tout, cJSON_CreateString(tagv[i]));
    if (note) cJSON_AddStringToObject(r, "note", note);
    cJSON_Delete(res);
    cJSON_Delete(tag_store);
    psy_emit(m->l->bus, PSY_EV_MEMORY, "stored a memory", cJSON_Duplicate(r, 1));
    return r;
}

cJSON *psy_mem_tool(psy_memflow *m, const char *name, const cJSON *args)
{
    if (!strcmp(name, "recall_memory")) return recall(m, args);
    if (!strcmp(name, "store_memory")) return store(m, args);
    return tool_error("unknown memory tool %s", name);
}
