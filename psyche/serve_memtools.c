/* serve_memtools.c - the model's own memory tools inside `psyche serve`
 * ([server] memory_tools): recall_memory and store_memory are offered to
 * the model beside the client's tools; a call to one of them is run here, on
 * the requesting user's mnemosyne, and the model is asked again (at most
 * PSY_SERVE_MEMTOOL_STEPS rounds) before its answer or a client tool call
 * goes out. Worker thread only. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "openai.h"
#include "serve_int.h"
#include "serve_memory.h"
#include "serve_metrics.h"

static const char recall_def[] =
    "{\"type\":\"function\",\"function\":{\"name\":\"recall_memory\","
    "\"description\":\"Search your long-term memory of this user. An empty result is normal.\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{"
    "\"query\":{\"type\":\"string\",\"description\":\"what to look for\"},"
    "\"n_results\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":20,\"description\":\"how many memories (5)\"}},"
    "\"required\":[\"query\"]}}}";
static const char store_def[] = "{\"type\":\"function\",\"function\":{\"name\":\"store_memory\","
                                "\"description\":\"Remember something about this user for later conversations.\","
                                "\"parameters\":{\"type\":\"object\",\"properties\":{"
                                "\"content\":{\"type\":\"string\",\"description\":\"what to remember\"},"
                                "\"memory_type\":{\"enum\":[\"episodic\",\"semantic\",\"procedural\",\"emotional\"]}},"
                                "\"required\":[\"content\"]}}}";

bool psy_serve_memtool_is(const char *name)
{
    return name && (!strcmp(name, "recall_memory") || !strcmp(name, "store_memory"));
}

int psy_serve_memtools_offer(psy_serve *s, const psy_job *j, cJSON *args)
{
    if (!s->scfg->memory_tools || !psy_serve_mem_db(s, j->user)) return 0;
    cJSON *tools = cJSON_GetObjectItemCaseSensitive(args, "tools");
    if (!tools) {
        tools = cJSON_AddArrayToObject(args, "tools");
        cJSON_DeleteItemFromObjectCaseSensitive(args, "emotional_modulation"); /* function_call has none */
    }
    cJSON *r = cJSON_Parse(recall_def), *st = cJSON_Parse(store_def);
    if (!tools || !r || !st) {
        cJSON_Delete(r);
        cJSON_Delete(st);
        return -ENOMEM;
    }
    cJSON_AddItemToArray(tools, r);
    cJSON_AddItemToArray(tools, st);
    return 0;
}

void psy_serve_memtools_withdraw(psy_serve *s, cJSON *args)
{
    cJSON *tools = cJSON_GetObjectItemCaseSensitive(args, "tools");
    for (int i = cJSON_GetArraySize(tools) - 1; i >= 0; i--) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(tools, i), "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        if (cJSON_IsString(name) && psy_serve_memtool_is(name->valuestring)) cJSON_DeleteItemFromArray(tools, i);
    }
    if (tools && !cJSON_GetArraySize(tools)) {
        cJSON_DeleteItemFromObjectCaseSensitive(args, "tools");
        cJSON_AddBoolToObject(args, "emotional_modulation", s->cfg->emotional_modulation);
    }
}

/* recall_memory: {success, memories: [...]} */
static cJSON *run_recall(psy_serve *s, int user, const cJSON *a)
{
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(a, "query");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(a, "n_results");
    cJSON *r = cJSON_CreateObject();
    if (!cJSON_IsString(q) || !*q->valuestring) {
        cJSON_AddBoolToObject(r, "success", false);
        cJSON_AddStringToObject(r, "error", "recall_memory needs a non-empty query string");
        return r;
    }
    int want = cJSON_IsNumber(n) && n->valueint >= 1 && n->valueint <= 20 ? n->valueint : 5;
    cJSON *found = psy_serve_mem_search(s, user, q->valuestring, want);
    cJSON_AddBoolToObject(r, "success", found != NULL);
    if (found) {
        psy_metrics_recalled(&s->metrics, cJSON_GetArraySize(found));
        cJSON_AddItemToObject(r, "memories", found);
    } else {
        cJSON_AddStringToObject(r, "error", "memory is unavailable right now");
    }
    return r;
}

/* store_memory: {success} */
static cJSON *run_store(psy_serve *s, int user, const cJSON *a)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(a, "content");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(a, "memory_type");
    cJSON *r = cJSON_CreateObject();
    if (!cJSON_IsString(c) || !*c->valuestring) {
        cJSON_AddBoolToObject(r, "success", false);
        cJSON_AddStringToObject(r, "error", "store_memory needs a non-empty content string");
        return r;
    }
    cJSON *args = cJSON_CreateObject();
    cJSON_AddStringToObject(args, "content", c->valuestring);
    cJSON_AddStringToObject(args, "memory_type", cJSON_IsString(t) ? t->valuestring : "semantic");
    cJSON_AddItemToObject(args, "tags", cJSON_CreateStringArray((const char *[]){"stored_by_model"}, 1));
    int rc = psy_serve_mem_store(s, user, args);
    cJSON_AddBoolToObject(r, "success", rc == 0);
    if (rc) cJSON_AddStringToObject(r, "error", "the memory could not be stored");
    else psy_metrics_stored(&s->metrics);
    return r;
}

int psy_serve_memtool_run(psy_serve *s, const psy_job *j, cJSON *args, const cJSON *call)
{
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
    cJSON *a = cJSON_IsString(text) ? cJSON_Parse(text->valuestring) : NULL;
    cJSON *result = !strcmp(name->valuestring, "recall_memory") ? run_recall(s, j->user, a) : run_store(s, j->user, a);
    cJSON_Delete(a);
    char *rt = result ? cJSON_PrintUnformatted(result) : NULL;
    cJSON_Delete(result);
    log_info("%s: the model called %s", j->id, name->valuestring);
    int rc = rt ? psy_oai_append_tool_round(cJSON_GetObjectItemCaseSensitive(args, "messages"), call, rt) : -ENOMEM;
    free(rt);
    return rc;
}

static const char *call_name(const cJSON *call)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(call, "function"), "name");
    return cJSON_IsString(name) ? name->valuestring : NULL;
}

int psy_serve_memtools_take(psy_serve *s, const psy_job *j, cJSON *args, cJSON *res, bool *again)
{
    cJSON *calls = cJSON_GetObjectItemCaseSensitive(res, "tool_calls");
    int n = cJSON_GetArraySize(calls), taken = 0;
    *again = false;
    for (int i = 0; i < n;) {
        cJSON *call = cJSON_GetArrayItem(calls, i);
        if (!psy_serve_memtool_is(call_name(call))) {
            i++;
            continue;
        }
        int rc = psy_serve_memtool_run(s, j, args, call);
        if (rc) return rc;
        cJSON_DeleteItemFromArray(calls, i);
        n--;
        taken++;
    }
    if (taken && n) log_info("%s: the model's memory calls ran beside its %d call(s) for the client", j->id, n);
    *again = taken && !n;
    return 0;
}
