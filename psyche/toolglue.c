/* toolglue.c - the agent's side of the tools (see toolglue.h): opening the
 * tool set from the settings, registering the memory tools, running a call
 * with its UI events and readable one-line descriptions.
 *
 * Owns the psy_tools instance. The tools themselves (confinement, sandbox,
 * blocklist) live in tools*.c; nothing here bypasses psy_tools_call. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "toolglue.h"
#include "buf.h"
#include "log.h"
#include "utf8.h"

/* Characters of an argument shown in a tool line. */
#define SHORT_ARG_CHARS 40

static bool mem_tool(psy_tools *t, void *ud, const cJSON *args, cJSON *result, const char *name)
{
    (void)t;
    cJSON *r = psy_mem_tool(ud, name, args);
    bool ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "success"));
    cJSON *it = r ? r->child : NULL;
    while (it) {
        cJSON *next = it->next;
        if (strcmp(it->string, "success")) cJSON_AddItemToObject(result, it->string, cJSON_DetachItemViaPointer(r, it));
        it = next;
    }
    cJSON_Delete(r);
    if (!ok && !cJSON_GetObjectItemCaseSensitive(result, "error"))
        cJSON_AddStringToObject(result, "error", "memory tool failed");
    return ok;
}

static bool recall_fn(psy_tools *t, void *ud, const cJSON *args, cJSON *result)
{
    return mem_tool(t, ud, args, result, "recall_memory");
}

static bool store_fn(psy_tools *t, void *ud, const cJSON *args, cJSON *result)
{
    return mem_tool(t, ud, args, result, "store_memory");
}

static const psy_tool_def memory_tools[] = {
    {"recall_memory", "Search your long-term memory (mood-congruent). An empty result is normal.",
     "{\"type\":\"object\",\"properties\":{"
     "\"query\":{\"type\":\"string\",\"minLength\":1,\"description\":\"what to look for\"},"
     "\"n_results\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":20,\"default\":5,\"description\":\"how many "
     "memories\"}},"
     "\"required\":[\"query\"]}",
     true, recall_fn, NULL},
    {"store_memory",
     "Remember something for later conversations (use when the user asks you to remember, or for a fact worth "
     "keeping).",
     /* Only content is checked here: the optional fields are read leniently by the tool (a string for tags,
      * any emotional_context, an unknown memory_type), so an oddly-typed extra never fails the call. */
     "{\"type\":\"object\",\"properties\":{"
     "\"content\":{\"type\":\"string\",\"minLength\":1,\"description\":\"what to remember\"},"
     "\"summary\":{\"description\":\"a short summary (text)\"},"
     "\"memory_type\":{\"enum\":[\"episodic\",\"semantic\",\"procedural\",\"emotional\"],"
     "\"default\":\"semantic\",\"description\":\"kind of memory: episodic, semantic, procedural or emotional\"},"
     "\"tags\":{\"description\":\"keywords: a list of strings or one comma-separated string\"},"
     "\"emotional_context\":{\"description\":\"ignored: your current emotion is used\"}},"
     "\"required\":[\"content\"]}",
     false, store_fn, NULL},
};

/* The tools' settings; cwd backs the workspace when none is configured. */
static int tools_config(const psy_settings *cfg, psy_tools_config *tc, char *cwd, size_t cwdlen, char *err,
                        size_t errlen)
{
    psy_tools_default_config(tc);
    tc->workspace = cfg->workspace && *cfg->workspace ? cfg->workspace : getcwd(cwd, cwdlen);
    if (!tc->workspace) {
        int e = errno;
        snprintf(err, errlen, "cannot determine the current directory for the workspace: %s", strerror(e));
        return -e;
    }
    tc->bash_timeout_s = cfg->bash_timeout_s;
    tc->dangerous_commands = cfg->dangerous_commands;
    tc->sandbox = cfg->sandbox;
    tc->allow_network = cfg->allow_network;
    tc->sandbox_tmp = cfg->sandbox_tmp;
    return 0;
}

int psy_toolset_open(psy_toolset *ts, const psy_settings *cfg, psy_bus *bus, psy_memflow *mem, char *err, size_t errlen)
{
    memset(ts, 0, sizeof *ts);
    ts->bus = bus;
    psy_tools_config tc;
    char cwd[PATH_MAX];
    int rc = tools_config(cfg, &tc, cwd, sizeof cwd, err, errlen);
    if (!rc) rc = psy_tools_new(&tc, &ts->tools, err, errlen);
    if (rc) return rc;
    for (size_t i = 0; cfg->memory && i < sizeof memory_tools / sizeof memory_tools[0]; i++) {
        psy_tool_def d = memory_tools[i];
        d.ud = mem;
        rc = psy_tools_register(ts->tools, &d);
        if (rc) {
            snprintf(err, errlen, "cannot register %s: %s", d.name, strerror(-rc));
            return rc;
        }
    }
    ts->workspace = strdup(psy_tools_get_workspace(ts->tools)->root);
    log_info("workspace %s; sandbox: %s", ts->workspace ? ts->workspace : "?",
             psy_sandbox_detail(psy_tools_get_sandbox(ts->tools)));
    return ts->workspace ? 0 : -ENOMEM;
}

void psy_toolset_close(psy_toolset *ts)
{
    psy_tools_free(ts->tools);
    ts->tools = NULL;
    free(ts->workspace);
    ts->workspace = NULL;
}

cJSON *psy_toolset_list(const psy_toolset *ts)
{
    return ts->tools ? psy_tools_schemas(ts->tools, false) : cJSON_CreateArray();
}

cJSON *psy_toolset_sandbox(const psy_toolset *ts)
{
    const psy_sandbox *sb = ts->tools ? psy_tools_get_sandbox(ts->tools) : NULL;
    cJSON *o = sb ? psy_sandbox_report(sb) : NULL; /* {active, mode, detail, protections} */
    if (o) return o;
    o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "active", false);
    cJSON_AddStringToObject(o, "detail", "no tools");
    return o;
}

void psy_toolset_cancel(psy_toolset *ts)
{
    if (ts->tools) psy_tools_cancel(ts->tools);
}

void psy_toolset_rearm(psy_toolset *ts)
{
    if (ts->tools) psy_tools_reset_cancel(ts->tools);
}

psy_tool_outcome psy_toolset_last_outcome(const psy_toolset *ts)
{
    return ts->tools ? psy_tools_last_outcome(ts->tools) : PSY_TOOL_REFUSED;
}

/* ------------------------------------------------------- readable lines */

static const char *str_arg(const cJSON *o, const char *key, const char *def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : def;
}

static int num_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? (int)v->valuedouble : -1;
}

/* Appends s cut at SHORT_ARG_CHARS characters (whole UTF-8 characters), one line. */
static void short_arg(buf *b, const char *s)
{
    size_t line = strcspn(s, "\n");
    size_t n = utf8_truncate_chars(s, line, SHORT_ARG_CHARS);
    buf_append(b, s, n);
    if (s[n]) buf_puts(b, "...");
}

static void describe(const char *name, const cJSON *args, const cJSON *wrapper, char *out, size_t outlen)
{
    buf b = BUF_INIT;
    const cJSON *res = wrapper ? cJSON_GetObjectItemCaseSensitive(wrapper, "result") : NULL;
    bool ok = wrapper && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(wrapper, "success"));
    int n;
    if (!strcmp(name, "read_file")) {
        buf_puts(&b, "Reading "), short_arg(&b, str_arg(args, "file_path", "?"));
        if (ok && (n = num_of(res, "line_count")) >= 0) buf_printf(&b, " (%d lines)", n);
    } else if (!strcmp(name, "create_file")) {
        buf_puts(&b, "Creating "), short_arg(&b, str_arg(args, "file_path", "?"));
        if (ok && (n = num_of(res, "lines_written")) >= 0) buf_printf(&b, " (%d lines)", n);
    } else if (!strcmp(name, "edit_file")) {
        buf_puts(&b, "Editing "), short_arg(&b, str_arg(args, "file_path", "?"));
    } else if (!strcmp(name, "list_directory")) {
        buf_puts(&b, "Listing "), short_arg(&b, str_arg(args, "dir_path", "."));
        if (ok && (n = num_of(res, "total_items")) >= 0) buf_printf(&b, " (%d items)", n);
    } else if (!strcmp(name, "search_codebase")) {
        buf_puts(&b, "Searching for "), short_arg(&b, str_arg(args, "pattern", "?"));
        if (ok && (n = num_of(res, "match_count")) >= 0) buf_printf(&b, " (%d matches)", n);
    } else if (!strcmp(name, "execute_bash")) {
        buf_puts(&b, "$ "), short_arg(&b, str_arg(args, "command", "?"));
        if (wrapper && (n = num_of(res, "exit_code")) >= 0) buf_printf(&b, " (exit %d)", n);
    } else if (!strcmp(name, "recall_memory")) {
        buf_puts(&b, "Recalling: "), short_arg(&b, str_arg(args, "query", "?"));
        if (ok && (n = num_of(res, "count")) >= 0) buf_printf(&b, " (%d memories)", n);
    } else if (!strcmp(name, "store_memory")) {
        buf_puts(&b, "Remembering: "), short_arg(&b, str_arg(args, "content", "?"));
    } else {
        buf_puts(&b, "Using "), short_arg(&b, name);
    }
    if (wrapper && !ok) {
        buf_puts(&b, " - failed: ");
        short_arg(&b, str_arg(res, "error", "unknown error"));
    }
    snprintf(out, outlen, "%s", buf_str(&b));
    if (outlen) utf8_trim_partial(out); /* cut by outlen: between characters */
    buf_free(&b);
}

cJSON *psy_toolset_run(psy_toolset *ts, const char *name, const cJSON *args, unsigned flags, bool events, char *line,
                       size_t linelen)
{
    if (events) {
        describe(name, args, NULL, line, linelen);
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "name", name);
        cJSON_AddItemToObject(d, "arguments", cJSON_Duplicate(args, 1));
        psy_emit(ts->bus, PSY_EV_TOOL_START, line, d);
    }
    cJSON *w = ts->tools ? psy_tools_call(ts->tools, name, args, NULL, flags) : NULL;
    describe(name, args, w, line, linelen);
    if (events) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "name", name);
        cJSON_AddBoolToObject(d, "success", w && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(w, "success")));
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(w, "duration_ms");
        cJSON_AddNumberToObject(d, "duration_ms", cJSON_IsNumber(ms) ? ms->valuedouble : 0);
        cJSON_AddItemToObject(d, "result", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(w, "result"), 1));
        psy_emit(ts->bus, PSY_EV_TOOL_END, line, d);
    }
    return w;
}
