/* tools.c - the tool registry: registration, argument checking against each
 * tool's JSON Schema, dispatch with the {tool_call_id, success, result,
 * duration_ms} wrapper, and the tool reference for the system prompt.
 * The tools themselves live in tools_fs.c and tools_exec.c, which call
 * this file; toolbox.c, above all three, creates a registry with them. */
#include "tools.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonschema.h"
#include "log.h"
#include "util.h"

void psy_tools_free(psy_tools *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) {
        free((char *)t->defs[i].name);
        free((char *)t->defs[i].description);
        free((char *)t->defs[i].schema_json);
        cJSON_Delete(t->schemas[i]);
    }
    free(t->defs);
    free(t->schemas);
    psy_sandbox_free(&t->sb);
    psy_secrets_free(&t->secrets);
    psy_ws_close(&t->ws);
    free(t);
}

int psy_tools_register(psy_tools *t, const psy_tool_def *def)
{
    if (!def || !def->name || !def->fn) return -EINVAL;
    if (psy_tools_find(t, def->name)) return -EEXIST;
    cJSON *schema = cJSON_Parse(def->schema_json ? def->schema_json : "{\"type\":\"object\",\"properties\":{}}");
    if (!cJSON_IsObject(schema)) {
        log_error("tool %s: its schema is not a JSON object", def->name);
        cJSON_Delete(schema);
        return -EINVAL;
    }
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 16;
        psy_tool_def *d = realloc(t->defs, nc * sizeof *d);
        if (!d) goto oom;
        t->defs = d;
        cJSON **s = realloc(t->schemas, nc * sizeof *s); // NOLINT(bugprone-sizeof-expression): an array of pointers
        if (!s) goto oom;
        t->schemas = s;
        t->cap = nc;
    }
    psy_tool_def c = *def;
    c.name = strdup(def->name);
    c.description = strdup(def->description ? def->description : "");
    c.schema_json = cJSON_PrintUnformatted(schema);
    if (!c.name || !c.description || !c.schema_json) {
        free((char *)c.name);
        free((char *)c.description);
        free((char *)c.schema_json);
        goto oom;
    }
    t->defs[t->n] = c;
    t->schemas[t->n] = schema;
    t->n++;
    return 0;
oom:
    cJSON_Delete(schema);
    return -ENOMEM;
}

size_t psy_tools_count(const psy_tools *t) { return t ? t->n : 0; }

const psy_tool_def *psy_tools_at(const psy_tools *t, size_t i) { return t && i < t->n ? &t->defs[i] : NULL; }

const psy_tool_def *psy_tools_find(const psy_tools *t, const char *name)
{
    if (!t || !name) return NULL;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->defs[i].name, name) == 0) return &t->defs[i];
    return NULL;
}

void psy_tools_cancel(psy_tools *t)
{
    if (t) atomic_store(&t->cancel, true);
}

void psy_tools_reset_cancel(psy_tools *t)
{
    if (t) atomic_store(&t->cancel, false);
}

psy_tool_outcome psy_tools_last_outcome(const psy_tools *t) { return t ? t->outcome : PSY_TOOL_REFUSED; }

const char *psy_tool_emotion(bool ok, psy_tool_outcome oc, double *intensity)
{
    *intensity = ok ? PSY_EMOTION_MILD : PSY_EMOTION_MEDIUM;
    return ok ? "success" : oc == PSY_TOOL_FAILED ? "failure" : "frustration";
}

const psy_workspace *psy_tools_get_workspace(const psy_tools *t) { return &t->ws; }

const psy_sandbox *psy_tools_get_sandbox(const psy_tools *t) { return &t->sb; }

const psy_tools_config *psy_tools_get_config(const psy_tools *t) { return &t->cfg; }

/* ---- helpers for the tools ----------------------------------------------- */

bool psy__tool_fail(cJSON *result, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON_DeleteItemFromObjectCaseSensitive(result, "error");
    psy__add_text(result, "error", msg, strlen(msg));
    return false;
}

cJSON *psy__add_text(cJSON *obj, const char *key, const char *s, size_t n)
{
    buf b = BUF_INIT;
    size_t i = 0;
    while (i < n) {
        const char *z = memchr(s + i, 0, n - i);
        size_t seg = z ? (size_t)(z - (s + i)) : n - i;
        size_t used;
        if (utf8_append_sanitized(&b, s + i, seg, true, &used) || (z && buf_puts(&b, "\xEF\xBF\xBD"))) {
            buf_free(&b);
            return NULL; /* out of memory, as cJSON_AddStringToObject */
        }
        i += seg + (z ? 1 : 0);
    }
    cJSON *item = cJSON_AddStringToObject(obj, key, buf_str(&b));
    buf_free(&b);
    return item;
}

static bool has_dotdot(const char *p)
{
    for (const char *s = p; (s = strstr(s, "..")); s += 2) {
        bool start = s == p || s[-1] == '/';
        bool end = s[2] == 0 || s[2] == '/';
        if (start && end) return true;
    }
    return false;
}

/* Flags of the call in progress on this thread. */
static _Thread_local unsigned call_flags;

unsigned psy__tool_flags(void) { return call_flags; }

char *psy__tool_path(psy_tools *t, const cJSON *args, const char *key, const char *def, cJSON *result)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
    const char *p = cJSON_IsString(v) ? v->valuestring : def;
    if (!p) {
        psy__tool_fail(result, "missing required argument '%s'", key);
        return NULL;
    }
    const char *rule;
    if ((call_flags & PSY_TOOL_STRICT_PATHS) && has_dotdot(p)) {
        psy__tool_fail(result, "Path '%s' uses '..'; not allowed here", p);
        return NULL;
    }
    if ((call_flags & PSY_TOOL_STRICT_PATHS) && psy_path_sensitive(p, &rule)) {
        psy__tool_fail(result, "Path '%s' looks sensitive (%s); not allowed here", p, rule);
        return NULL;
    }
    char err[PATH_MAX + 256];
    char *abs = NULL;
    if (psy_ws_resolve(&t->ws, p, strlen(p), &abs, err, sizeof err)) {
        psy__tool_fail(result, "%s", err);
        return NULL;
    }
    if ((call_flags & PSY_TOOL_STRICT_PATHS) && psy_path_sensitive(psy_ws_rel(&t->ws, abs), &rule)) {
        psy__tool_fail(result, "Path '%s' looks sensitive (%s); not allowed here", p, rule);
        free(abs);
        return NULL;
    }
    return abs;
}

/* ---- argument checking ----------------------------------------------------- */

/* How the model's arguments are checked (common/jsonschema.h): small models
 * write "10" for 10 and "true" for true, leave optional fields null, and send
 * a blank string for a required one; an enum tells them what to pick, and the
 * tools read such fields leniently. */
#define TOOL_SCHEMA_FLAGS (JSONSCHEMA_COERCE | JSONSCHEMA_DEFAULTS | JSONSCHEMA_BLANK_EMPTY | JSONSCHEMA_ENUM_HINT)

/* ---- dispatch -------------------------------------------------------------- */

cJSON *psy_tools_call(psy_tools *t, const char *name, const cJSON *args, const char *tool_call_id, unsigned flags)
{
    int64_t t0 = now_mono_ms();
    cJSON *wrap = cJSON_CreateObject();
    if (!wrap) return NULL;
    char idbuf[40];
    if (!tool_call_id || !*tool_call_id) {
        char u[37];
        uuid4(u);
        snprintf(idbuf, sizeof idbuf, "call_%.8s%.4s", u, u + 9);
        tool_call_id = idbuf;
    }
    cJSON_AddStringToObject(wrap, "tool_call_id", tool_call_id);
    cJSON *succ = cJSON_AddFalseToObject(wrap, "success");
    cJSON *result = cJSON_CreateObject();
    cJSON_AddItemToObject(wrap, "result", result);
    cJSON *rsucc = cJSON_AddFalseToObject(result, "success");
    if (!succ || !result || !rsucc) {
        cJSON_Delete(wrap);
        return NULL;
    }

    bool ok = false;
    if (t) t->outcome = PSY_TOOL_REFUSED;
    size_t idx = t ? t->n : 0;
    for (size_t i = 0; t && i < t->n; i++)
        if (name && strcmp(t->defs[i].name, name) == 0) idx = i;
    if (!t || idx == t->n) {
        buf names = BUF_INIT;
        for (size_t i = 0; t && i < t->n; i++)
            if (!(flags & PSY_TOOL_READ_ONLY) || t->defs[i].read_only)
                buf_printf(&names, "%s%s", names.len ? ", " : "", t->defs[i].name);
        psy__tool_fail(result, "Unknown tool '%s'. Available tools: %s", name ? name : "(none)", buf_str(&names));
        buf_free(&names);
    } else if ((flags & PSY_TOOL_READ_ONLY) && !t->defs[idx].read_only) {
        psy__tool_fail(result, "Tool '%s' is not allowed here: only read-only tools may be used", name);
    } else {
        char msg[512];
        cJSON *checked = NULL;
        if (jsonschema_check_args(t->schemas[idx], args, TOOL_SCHEMA_FLAGS, &checked, msg, sizeof msg)) {
            psy__tool_fail(result, "Invalid arguments for %s: %s", name, msg);
        } else if (atomic_load(&t->cancel)) {
            /* cancelled between the decision to run it and now: it never starts */
            t->outcome = PSY_TOOL_INTERRUPTED;
            psy__tool_fail(result, "Cancelled before %s started; it was not run", name);
            cJSON_Delete(checked);
        } else {
            t->outcome = PSY_TOOL_FAILED;
            unsigned saved = call_flags;
            call_flags = flags;
            ok = t->defs[idx].fn(t, t->defs[idx].ud, checked, result);
            call_flags = saved;
            cJSON_Delete(checked);
            if (ok) t->outcome = PSY_TOOL_OK;
            if (!ok && !cJSON_HasObjectItem(result, "error")) psy__tool_fail(result, "%s failed", name);
        }
    }
    succ->type = ok ? cJSON_True : cJSON_False;
    rsucc->type = ok ? cJSON_True : cJSON_False;
    cJSON_AddNumberToObject(wrap, "duration_ms", (double)(now_mono_ms() - t0));
    return wrap;
}

cJSON *psy_tools_schemas(const psy_tools *t, bool read_only_only)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && t && i < t->n; i++) {
        if (read_only_only && !t->defs[i].read_only) continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", t->defs[i].name);
        cJSON_AddStringToObject(o, "description", t->defs[i].description);
        cJSON_AddItemToObject(o, "inputSchema", cJSON_Duplicate(t->schemas[i], true));
        cJSON_AddBoolToObject(o, "read_only", t->defs[i].read_only);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

/* ---- the tool reference ------------------------------------------------------ */

char *psy_tools_reference(const psy_tools *t, bool read_only_only)
{
    buf b = BUF_INIT;
    for (size_t i = 0; t && i < t->n; i++) {
        const psy_tool_def *d = &t->defs[i];
        if (read_only_only && !d->read_only) continue;
        buf_printf(&b, "- %s: %s\n", d->name, d->description);
        const cJSON *props = cJSON_GetObjectItemCaseSensitive(t->schemas[i], "properties");
        const cJSON *req = cJSON_GetObjectItemCaseSensitive(t->schemas[i], "required");
        const cJSON *p;
        bool first = true;
        cJSON_ArrayForEach(p, props)
        {
            bool required = false;
            const cJSON *r;
            cJSON_ArrayForEach(r, req) if (cJSON_IsString(r) && strcmp(r->valuestring, p->string) == 0) required = true;
            const cJSON *ty = cJSON_GetObjectItemCaseSensitive(p, "type");
            const cJSON *def = cJSON_GetObjectItemCaseSensitive(p, "default");
            const cJSON *desc = cJSON_GetObjectItemCaseSensitive(p, "description");
            buf_printf(&b, "%s%s (", first ? "  arguments: " : "; ", p->string);
            if (cJSON_IsString(ty)) buf_printf(&b, "%s, ", ty->valuestring);
            if (required) buf_puts(&b, "required");
            else if (def) {
                char *ds = cJSON_PrintUnformatted(def);
                buf_printf(&b, "default %s", ds ? ds : "?");
                free(ds);
            } else buf_puts(&b, "optional");
            buf_putc(&b, ')');
            if (cJSON_IsString(desc)) buf_printf(&b, ": %s", desc->valuestring);
            first = false;
        }
        if (!first) buf_putc(&b, '\n');
    }
    if (!b.data) buf_puts(&b, "");
    return buf_detach(&b);
}
