/* memflow.c - how memories flow between the conversation and mnemosyne:
 * retrieval per message, storage of compacted messages (through the storage
 * filter), important exchanges, the memory tools, and the fallback file
 * while mnemosyne is down.
 *
 * Owns the memory policy; the transport is agent.c's psy_mnemo(). A memory
 * is never silently lost: when mnemosyne cannot take it, it goes to the
 * fallback file and is imported when mnemosyne is back. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent_int.h"
#include "buf.h"
#include "log.h"
#include "prompt.h"
#include "util.h"

cJSON *psy_mem_args(psy_agent *a, const char *content, const char *summary, const char *type, const char *source,
                    const char *const *tags)
{
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "content", content);
    if (summary && *summary) cJSON_AddStringToObject(args, "summary", summary);
    cJSON_AddStringToObject(args, "memory_type", type);
    cJSON *t = cJSON_AddArrayToObject(args, "tags");
    for (size_t i = 0; tags && tags[i]; i++) cJSON_AddItemToArray(t, cJSON_CreateString(tags[i]));
    cJSON *emo = psy_emotion_context(a);
    if (emo) cJSON_AddItemToObject(args, "emotional_context", emo);
    cJSON_AddStringToObject(args, "source", source);
    return args;
}

/* 0 stored; 1 written to the fallback file; < 0 lost (logged). */
int psy_mem_store(psy_agent *a, cJSON *args)
{
    if (a->cfg->memory && psy_child_up(&a->mnemo)) {
        cJSON *res = NULL;
        char err[512];
        int rc = psy_mnemo(a, "store_memory", cJSON_Duplicate(args, 1), &res, err, sizeof err);
        cJSON_Delete(res);
        if (rc == 0) {
            cJSON_Delete(args);
            return 0;
        }
        if (rc == MCP_CLIENT_TOOL_ERROR || rc == -EPROTO) {
            /* mnemosyne refused it (bad input): the file would not help */
            log_error("store_memory refused: %s", err);
            cJSON_Delete(args);
            return -EINVAL;
        }
        log_warn("store_memory failed (%s); using the fallback file", err);
    }
    int rc = psy_fallback_append(a->fallback_path, args);
    cJSON_Delete(args);
    if (!rc) a->fallback_pending++;
    return rc ? rc : 1;
}

cJSON *psy_mem_search(psy_agent *a, const char *query, int n)
{
    if (!psy_child_up(&a->mnemo)) return NULL;
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "query", query);
    cJSON_AddNumberToObject(args, "n_results", n);
    cJSON *emo = psy_emotion_context(a);
    if (emo) {
        cJSON_DeleteItemFromObjectCaseSensitive(emo, "quadrant");
        cJSON_AddItemToObject(args, "emotional_context", emo);
    }
    cJSON *res = NULL;
    char err[512];
    int rc = psy_mnemo(a, "search_memories", args, &res, err, sizeof err);
    if (rc) {
        log_warn("search_memories: %s", err);
        cJSON_Delete(res);
        return NULL;
    }
    cJSON *r = cJSON_DetachItemFromObjectCaseSensitive(res, "results");
    cJSON_Delete(res);
    return cJSON_IsArray(r) ? r : (cJSON_Delete(r), cJSON_CreateArray());
}

int psy_mem_flush(void *ud, const psy_msg *msgs, size_t n)
{
    psy_agent *a = ud;
    int stored = 0, fallback = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) {
        const psy_msg *m = &msgs[i];
        const char *type;
        if ((m->flags & (PSY_MSG_TOOL_RESULT | PSY_MSG_TOOL_CALL)) || !psy_should_store(m->role, m->content, &type)) {
            skipped++;
            continue;
        }
        const char *tags[] = {"compacted", m->role, type, NULL};
        size_t len = strlen(m->content);
        buf s = BUF_INIT;
        buf_printf(&s, "%.*s%s", (int)(len > 100 ? 100 : len), m->content, len > 100 ? "..." : "");
        int rc = psy_mem_store(a, psy_mem_args(a, m->content, s.data, type, "compaction", tags));
        buf_free(&s);
        if (rc == 0) stored++;
        else if (rc == 1) fallback++;
        else if (rc != -EINVAL) return rc; /* the fallback file failed too: keep them staged */
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
        psy_emit(a, PSY_EV_MEMORY, b.data, d);
        buf_free(&b);
    }
    return 0;
}

char *psy_mem_summarize(void *ud, const psy_msg *msgs, size_t n)
{
    psy_agent *a = ud;
    if (!psy_child_up(&a->elpis) || !n) return NULL;
    buf t = BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(msgs[i].content);
        buf_printf(&t, "%s: %.*s%s\n", msgs[i].role, (int)(len > 500 ? 500 : len), msgs[i].content,
                   len > 500 ? "..." : "");
    }
    cJSON *msgsj = cJSON_CreateArray();
    cJSON *sm = cJSON_CreateObject();
    cJSON_AddStringToObject(sm, "role", "system");
    cJSON_AddStringToObject(sm, "content", psy_prompt_summary_system());
    cJSON_AddItemToArray(msgsj, sm);
    cJSON *um = cJSON_CreateObject();
    cJSON_AddStringToObject(um, "role", "user");
    cJSON_AddStringToObject(um, "content", buf_str(&t));
    cJSON_AddItemToArray(msgsj, um);
    buf_free(&t);
    char *text = NULL, err[256];
    int rc = psy_generate(a, msgsj, a->cfg->summary_max_tokens, a->cfg->summary_temperature, true, false,
                          a->cfg->generation_timeout_s, &text, err, sizeof err);
    if (rc || !text || !*text) {
        log_warn("compaction summary failed (%s); sliding window instead", rc ? err : "empty");
        free(text);
        return NULL;
    }
    return text;
}

void psy_mem_import_fallback(psy_agent *a)
{
    a->fallback_pending = psy_fallback_count(a->fallback_path); /* another psyche may have added lines */
    if (!a->fallback_pending || !psy_child_up(&a->mnemo)) return;
    int imported = 0, failed = 0;
    int rc = psy_fallback_import(a->fallback_path, a->mnemo.c, a->cfg->call_timeout_s * 1000, &imported, &failed);
    a->fallback_pending = psy_fallback_count(a->fallback_path);
    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "imported", imported);
    cJSON_AddNumberToObject(d, "failed", failed);
    cJSON_AddStringToObject(d, "file", a->fallback_path);
    buf b = BUF_INIT;
    buf_printf(&b, "imported %d memor%s from the fallback file", imported, imported == 1 ? "y" : "ies");
    if (failed) buf_printf(&b, "; %d could not be imported and stay in %s", failed, a->fallback_path);
    if (rc) buf_printf(&b, " (%s)", strerror(-rc));
    psy_emit(a, PSY_EV_MEMORY, b.data, d);
    log_info("%s", b.data);
    buf_free(&b);
}

void psy_mem_consider_exchange(psy_agent *a, const char *user_text, const char *answer, int tools_used,
                               const char *tool_results)
{
    if (!a->cfg->auto_store) return; /* without mnemosyne (--no-memory) psy_mem_store uses the fallback file */
    double v = 0, ar = 0;
    cJSON *emo = psy_emotion_context(a);
    const cJSON *jv = cJSON_GetObjectItemCaseSensitive(emo, "valence");
    const cJSON *ja = cJSON_GetObjectItemCaseSensitive(emo, "arousal");
    if (cJSON_IsNumber(jv)) v = jv->valuedouble;
    if (cJSON_IsNumber(ja)) ar = ja->valuedouble;
    cJSON_Delete(emo);
    char why[200];
    double score = psy_importance(user_text, answer, tools_used, tool_results, v, ar, why, sizeof why);
    log_debug("importance %s", why);
    if (score < a->cfg->importance_threshold) return;
    size_t ul = strlen(user_text), al = strlen(answer);
    buf c = BUF_INIT, s = BUF_INIT;
    buf_printf(&c, "User: %.*s%s\n\nAssistant: %.*s%s", (int)(ul > 300 ? 300 : ul), user_text, ul > 300 ? "..." : "",
               (int)(al > 800 ? 800 : al), answer, al > 800 ? "..." : "");
    buf_printf(&s, "%.150s", c.data);
    static const char *const tags[] = {"auto-stored", "important", NULL};
    int rc = psy_mem_store(a, psy_mem_args(a, c.data, s.data, "episodic", "assistant", tags));
    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "importance", score);
    cJSON_AddStringToObject(d, "breakdown", why);
    psy_emit(a, PSY_EV_MEMORY,
             rc == 0 ? "remembered this exchange" : rc == 1 ? "saved this exchange (fallback file)" : "could not store this exchange",
             d);
    buf_free(&c);
    buf_free(&s);
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

static cJSON *recall(psy_agent *a, const cJSON *args)
{
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(args, "query");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(args, "n_results");
    if (!cJSON_IsString(q) || !*q->valuestring) return tool_error("query must be a non-empty string%s", NULL);
    int k = cJSON_IsNumber(n) ? (int)n->valuedouble : 5;
    if (k < 1 || k > 20) return tool_error("n_results must be between 1 and 20%s", NULL);
    if (!psy_child_up(&a->mnemo))
        return tool_error("memory is unavailable right now (mnemosyne is not running%s)", a->mnemo.enabled ? "" : ": disabled");
    cJSON *res = psy_mem_search(a, q->valuestring, k);
    if (!res) return tool_error("memory search failed%s", NULL);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddBoolToObject(r, "success", 1);
    cJSON_AddStringToObject(r, "query", q->valuestring);
    cJSON_AddNumberToObject(r, "count", cJSON_GetArraySize(res));
    cJSON *mems = cJSON_AddArrayToObject(r, "memories");
    const cJSON *m;
    static const char *const keep[] = {"content", "summary", "memory_type", "tags", "emotional_context",
                                       "created_at", "source", "trust"};
    cJSON_ArrayForEach(m, res)
    {
        cJSON *o = cJSON_CreateObject();
        for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, keep[i]);
            if (v) cJSON_AddItemToObject(o, keep[i], cJSON_Duplicate(v, 1));
        }
        const cJSON *rel = cJSON_GetObjectItemCaseSensitive(m, "relevance_score");
        cJSON_AddNumberToObject(o, "relevance", cJSON_IsNumber(rel) ? rel->valuedouble : 0);
        cJSON_AddItemToArray(mems, o);
    }
    cJSON_Delete(res);
    return r;
}

/* Tags from an array (its strings, numbers and booleans as text) or one
 * comma-separated string; anything else gives none. At most 16, trimmed,
 * empty ones skipped. Returns the count; the strings live in *store. */
static size_t tags_of(const cJSON *tags, const char *tagv[17], cJSON *store)
{
    size_t nt = 0;
    if (cJSON_IsString(tags)) {
        const char *p = tags->valuestring;
        while (*p && nt < 16) {
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
            if (nt >= 16) break;
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
 * leniently (the original's tool rejected every call over such fields). */
static cJSON *store(psy_agent *a, const cJSON *args)
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
    const char *tagv[17];
    cJSON *tag_store = cJSON_CreateArray(); /* owns tags made from a string or numbers */
    size_t nt = tags_of(tags, tagv, tag_store);
    const char *summary = cJSON_IsString(s) ? s->valuestring : NULL;
    cJSON *margs = psy_mem_args(a, c->valuestring, summary, type, "assistant", tagv);
    if (!psy_child_up(&a->mnemo)) {
        int rc = psy_mem_store(a, margs);
        cJSON_Delete(tag_store);
        if (rc < 0) return tool_error("memory is unavailable and the fallback file failed%s", NULL);
        cJSON *r = cJSON_CreateObject();
        cJSON_AddBoolToObject(r, "success", 1);
        cJSON_AddBoolToObject(r, "saved_to_fallback", 1);
        cJSON_AddStringToObject(r, "note", "mnemosyne is down; the memory was saved and will be imported when it is back");
        return r;
    }
    cJSON *res = NULL;
    char err[512];
    int rc = psy_mnemo(a, "store_memory", margs, &res, err, sizeof err);
    if (rc) {
        cJSON_Delete(res);
        cJSON_Delete(tag_store);
        return tool_error("store_memory failed: %s", err);
    }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddBoolToObject(r, "success", 1);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(res, "id");
    cJSON_AddStringToObject(r, "memory_id", cJSON_IsString(id) ? id->valuestring : "");
    if (summary) cJSON_AddStringToObject(r, "summary", summary);
    cJSON_AddStringToObject(r, "memory_type", type);
    cJSON *tout = cJSON_AddArrayToObject(r, "tags");
    for (size_t i = 0; i < nt; i++) cJSON_AddItemToArray(tout, cJSON_CreateString(tagv[i]));
    if (note) cJSON_AddStringToObject(r, "note", note);
    cJSON_Delete(res);
    cJSON_Delete(tag_store);
    psy_emit(a, PSY_EV_MEMORY, "stored a memory", cJSON_Duplicate(r, 1));
    return r;
}

cJSON *psy_mem_tool(psy_agent *a, const char *name, const cJSON *args)
{
    if (!strcmp(name, "recall_memory")) return recall(a, args);
    if (!strcmp(name, "store_memory")) return store(a, args);
    return tool_error("unknown memory tool %s", name);
}
