/* toolcalls.c - OpenAI-format tool calls read out of a model's free text;
 * see toolcalls.h. */
#include "toolcalls.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static bool offered(const cJSON *tools, const char *name)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, tools)
    {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
        const cJSON *fname = cJSON_GetObjectItemCaseSensitive(fn ? fn : t, "name");
        if (cJSON_IsString(fname) && !strcmp(fname->valuestring, name)) return true;
    }
    return false;
}

/* One call in OpenAI's shape out of a parsed {"name", "arguments"|"parameters"}. */
static cJSON *call_of(const cJSON *o, const char *name)
{
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(o, "arguments");
    if (!args) args = cJSON_GetObjectItemCaseSensitive(o, "parameters");
    char *args_text = cJSON_IsString(args) ? strdup(args->valuestring)
                      : args               ? cJSON_PrintUnformatted(args)
                                           : strdup("{}");
    char id[37], cid[20];
    uuid4(id);
    snprintf(cid, sizeof cid, "call_%.12s", id + 24);
    cJSON *call = cJSON_CreateObject();
    cJSON *f = cJSON_AddObjectToObject(call, "function");
    if (!args_text || !cJSON_AddStringToObject(call, "id", cid) || !cJSON_AddStringToObject(call, "type", "function") ||
        !f || !cJSON_AddStringToObject(f, "name", name) || !cJSON_AddStringToObject(f, "arguments", args_text)) {
        cJSON_Delete(call);
        call = NULL;
    }
    free(args_text);
    return call;
}

cJSON *tool_calls_parse(const char *text, const cJSON *tools, int max_calls)
{
    cJSON *calls = NULL;
    int n = 0;
    const char *p = strchr(text, '{');
    while (p && (max_calls <= 0 || n < max_calls)) {
        const char *end = NULL;
        cJSON *o = cJSON_ParseWithOpts(p, &end, 0);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
        if (!cJSON_IsObject(o) || !cJSON_IsString(name) || !offered(tools, name->valuestring)) {
            cJSON_Delete(o); /* not a call: one inside it may be */
            p = strchr(p + 1, '{');
            continue;
        }
        cJSON *call = call_of(o, name->valuestring);
        cJSON_Delete(o);
        if (!calls) calls = cJSON_CreateArray();
        if (!call || !calls || !cJSON_AddItemToArray(calls, call)) {
            cJSON_Delete(call);
            cJSON_Delete(calls);
            return NULL;
        }
        n++;
        p = strchr(end, '{'); /* the next call starts after this one */
    }
    return calls;
}
