/* openai.c - the OpenAI wire format: request parsing and validation, response,
 * chunk, model list and error builders, stop-sequence search. Pure functions
 * (see openai.h); the HTTP side is http.c, the serving logic serve.c. */
#include "openai.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "util.h"

static int bad(char *err, size_t errlen, const char **param, const char *p, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int bad(char *err, size_t errlen, const char **param, const char *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    *param = p;
    return -EINVAL;
}

void psy_chat_req_free(psy_chat_req *r)
{
    cJSON_Delete(r->messages);
    cJSON_Delete(r->tools);
    free(r->system);
    free(r->model);
    free(r->user);
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    memset(r, 0, sizeof *r);
    r->max_tokens = -1;
}

/* content: a string, null, or [{type:"text", text}] parts joined; appended to out. */
static int content_text(const cJSON *content, buf *out, char *err, size_t errlen, const char **param)
{
    if (!content || cJSON_IsNull(content)) return 0;
    if (cJSON_IsString(content)) return buf_puts(out, content->valuestring);
    if (!cJSON_IsArray(content))
        return bad(err, errlen, param, "messages", "a message's content must be a string or an array of text parts");
    const cJSON *part;
    cJSON_ArrayForEach(part, content)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") || !cJSON_IsString(text))
            return bad(err, errlen, param, "messages",
                       "only text content parts ({\"type\":\"text\",\"text\":...}) are supported");
        if (out->len && buf_putc(out, '\n')) return -ENOMEM;
        if (buf_puts(out, text->valuestring)) return -ENOMEM;
    }
    return 0;
}

static bool known_role(const char *r)
{
    static const char *const roles[] = {"system", "developer", "user", "assistant", "tool"};
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (!strcmp(r, roles[i])) return true;
    return false;
}

/* An assistant's tool_calls, appended to its text the way the model is asked
 * to write a call ({"name": ..., "arguments": {...}}), so it sees what it did. */
static int render_tool_calls(const cJSON *calls, int i, buf *out, char *err, size_t errlen, const char **param)
{
    if (!calls || cJSON_IsNull(calls)) return 0;
    const cJSON *c;
    bool ok = cJSON_IsArray(calls);
    cJSON_ArrayForEach(c, (ok ? calls : NULL))
    {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(c, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
        if (!cJSON_IsString(name) || (args && !cJSON_IsString(args))) {
            ok = false;
            break;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", name->valuestring);
        cJSON *parsed = args ? cJSON_Parse(args->valuestring) : cJSON_CreateObject();
        if (parsed) cJSON_AddItemToObject(o, "arguments", parsed);
        else cJSON_AddStringToObject(o, "arguments", args->valuestring);
        char *t = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        int rc = !t || (out->len && buf_putc(out, '\n')) || buf_puts(out, t) ? -ENOMEM : 0;
        free(t);
        if (rc) return rc;
    }
    if (!ok)
        return bad(err, errlen, param, "messages",
                   "messages[%d].tool_calls must be [{id, type: \"function\", function: {name, arguments}}]", i);
    return 0;
}

/* A tool result becomes a user message naming the call (every chat template
 * knows the user role; not all know a tool role). */
static int render_tool_result(const cJSON *m, int i, buf *text, char *err, size_t errlen, const char **param)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "tool_call_id");
    if (!cJSON_IsString(id))
        return bad(err, errlen, param, "messages", "messages[%d] (role tool) needs tool_call_id", i);
    buf b = BUF_INIT;
    int rc = buf_printf(&b, "[Tool result for call %s]\n%s", id->valuestring, buf_str(text));
    if (!rc) {
        buf_free(text);
        *text = b;
    } else buf_free(&b);
    return rc;
}

int psy_oai_append_tool_round(cJSON *elpis_msgs, const cJSON *call, const char *result)
{
    cJSON *calls = cJSON_CreateArray(), *am = cJSON_CreateObject(), *um = cJSON_CreateObject();
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(call, "id");
    buf said = BUF_INIT, res = BUF_INIT;
    char err[128];
    const char *param;
    int rc = !calls || !am || !um || !cJSON_AddItemToArray(calls, cJSON_Duplicate(call, true)) ? -ENOMEM : 0;
    if (!rc) rc = render_tool_calls(calls, 0, &said, err, sizeof err, &param);
    cJSON *tm = cJSON_CreateObject();
    cJSON_AddStringToObject(tm, "tool_call_id", cJSON_IsString(id) ? id->valuestring : "call");
    if (!rc) rc = buf_puts(&res, result) ? -ENOMEM : render_tool_result(tm, 0, &res, err, sizeof err, &param);
    cJSON_Delete(tm);
    if (!rc) {
        cJSON_AddStringToObject(am, "role", "assistant");
        cJSON_AddStringToObject(am, "content", buf_str(&said));
        cJSON_AddStringToObject(um, "role", "user");
        cJSON_AddStringToObject(um, "content", buf_str(&res));
        cJSON_AddItemToArray(elpis_msgs, am);
        cJSON_AddItemToArray(elpis_msgs, um);
        am = um = NULL;
    }
    cJSON_Delete(calls);
    cJSON_Delete(am);
    cJSON_Delete(um);
    buf_free(&said);
    buf_free(&res);
    return rc;
}

/* One message: system/developer text goes to *sys, the rest to r->messages. */
static int take_message(const cJSON *m, int i, psy_chat_req *r, buf *sys, char *err, size_t errlen, const char **param)
{
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
    if (!cJSON_IsObject(m) || !cJSON_IsString(role) || !known_role(role->valuestring))
        return bad(err, errlen, param, "messages",
                   "messages[%d] needs a role: system, developer, user, assistant or tool", i);
    const char *rn = role->valuestring;
    buf text = BUF_INIT;
    int rc = content_text(cJSON_GetObjectItemCaseSensitive(m, "content"), &text, err, errlen, param);
    if (!rc && !strcmp(rn, "assistant"))
        rc = render_tool_calls(cJSON_GetObjectItemCaseSensitive(m, "tool_calls"), i, &text, err, errlen, param);
    if (!rc && !strcmp(rn, "tool")) {
        rc = render_tool_result(m, i, &text, err, errlen, param);
        rn = "user";
    }
    if (rc) {
        buf_free(&text);
        return rc;
    }
    bool is_sys = !strcmp(rn, "system") || !strcmp(rn, "developer");
    if (!is_sys) /* the last message decides: a tool round's is the tool's result */
        r->question = !strcmp(role->valuestring, "user") && strchr(buf_str(&text), '?');
    if (is_sys) {
        if (sys->len) rc = buf_puts(sys, "\n\n");
        if (!rc) rc = buf_puts(sys, buf_str(&text));
    } else {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddStringToObject(o, "role", rn) || !cJSON_AddStringToObject(o, "content", buf_str(&text)) ||
            !cJSON_AddItemToArray(r->messages, o)) {
            cJSON_Delete(o);
            rc = -ENOMEM;
        }
    }
    buf_free(&text);
    return rc;
}

static int parse_messages(const cJSON *msgs, psy_chat_req *r, char *err, size_t errlen, const char **param)
{
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0)
        return bad(err, errlen, param, "messages", "messages must be a non-empty array of {role, content}");
    r->messages = cJSON_CreateArray();
    if (!r->messages) return -ENOMEM;
    buf sys = BUF_INIT;
    int i = 0, rc = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        rc = take_message(m, i++, r, &sys, err, errlen, param);
        if (rc) break;
    }
    if (!rc && cJSON_GetArraySize(r->messages) == 0)
        rc = bad(err, errlen, param, "messages", "messages holds only system messages; add a user message");
    if (!rc && sys.len) r->system = buf_detach(&sys);
    buf_free(&sys);
    return rc;
}

/* A number in [lo, hi]; absent or null leaves *has false. */
static int opt_number(const cJSON *o, const char *name, double lo, double hi, bool *has, double *v, char *err,
                      size_t errlen, const char **param)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, name);
    *has = false;
    if (!j || cJSON_IsNull(j)) return 0;
    if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble) || j->valuedouble < lo || j->valuedouble > hi)
        return bad(err, errlen, param, name, "%s must be a number from %g to %g", name, lo, hi);
    *has = true;
    *v = j->valuedouble;
    return 0;
}

static int parse_max_tokens(const cJSON *o, psy_chat_req *r, char *err, size_t errlen, const char **param)
{
    static const char *const names[] = {"max_completion_tokens", "max_tokens"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, names[i]);
        if (!j || cJSON_IsNull(j)) continue;
        if (!cJSON_IsNumber(j) || j->valuedouble < 1 || j->valuedouble > 1e7 || j->valuedouble != floor(j->valuedouble))
            return bad(err, errlen, param, names[i], "%s must be a positive integer", names[i]);
        if (r->max_tokens < 0) r->max_tokens = (int)j->valuedouble;
    }
    return 0;
}

static int add_stop(psy_chat_req *r, const cJSON *s, char *err, size_t errlen, const char **param)
{
    if (!cJSON_IsString(s) || !*s->valuestring)
        return bad(err, errlen, param, "stop", "stop must be a non-empty string or an array of up to 4 of them");
    if (r->n_stop >= PSY_OAI_MAX_STOP)
        return bad(err, errlen, param, "stop", "stop takes at most %d sequences", PSY_OAI_MAX_STOP);
    if (!(r->stop[r->n_stop] = strdup(s->valuestring))) return -ENOMEM;
    r->n_stop++;
    return 0;
}

static int parse_stop(const cJSON *o, psy_chat_req *r, char *err, size_t errlen, const char **param)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, "stop");
    if (!j || cJSON_IsNull(j)) return 0;
    if (!cJSON_IsArray(j)) return add_stop(r, j, err, errlen, param);
    const cJSON *s;
    cJSON_ArrayForEach(s, j)
    {
        int rc = add_stop(r, s, err, errlen, param);
        if (rc) return rc;
    }
    return 0;
}

static int opt_string(const cJSON *o, const char *name, char **out, char *err, size_t errlen, const char **param)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!j || cJSON_IsNull(j)) return 0;
    if (!cJSON_IsString(j)) return bad(err, errlen, param, name, "%s must be a string", name);
    return (*out = strdup(j->valuestring)) ? 0 : -ENOMEM;
}

/* tools: [{type: "function", function: {name, description?, parameters?}}];
 * tool_choice "none" drops them (the model is not offered any). */
static int parse_tools(const cJSON *o, psy_chat_req *r, char *err, size_t errlen, const char **param)
{
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(o, "tools");
    const cJSON *choice = cJSON_GetObjectItemCaseSensitive(o, "tool_choice");
    if (!tools || cJSON_IsNull(tools)) return 0;
    bool ok = cJSON_IsArray(tools);
    const cJSON *t;
    cJSON_ArrayForEach(t, (ok ? tools : NULL))
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(t, "type");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t, "function"), "name");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "function") || !cJSON_IsString(name) ||
            !*name->valuestring)
            ok = false;
    }
    if (!ok)
        return bad(err, errlen, param, "tools",
                   "tools must be an array of {\"type\": \"function\", \"function\": {\"name\", \"description\", "
                   "\"parameters\"}}");
    const cJSON *par = cJSON_GetObjectItemCaseSensitive(o, "parallel_tool_calls");
    if (par && !cJSON_IsNull(par) && !cJSON_IsBool(par))
        return bad(err, errlen, param, "parallel_tool_calls", "parallel_tool_calls must be true or false");
    r->single_call = cJSON_IsFalse(par);
    if (cJSON_IsString(choice) && !strcmp(choice->valuestring, "none")) return 0;
    if (cJSON_GetArraySize(tools) && !(r->tools = cJSON_Duplicate(tools, 1))) return -ENOMEM;
    return 0;
}

/* stream, stream_options.include_usage, n, tools, user. */
static int parse_flags(const cJSON *o, psy_chat_req *r, char *err, size_t errlen, const char **param)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "stream");
    if (st && !cJSON_IsNull(st) && !cJSON_IsBool(st))
        return bad(err, errlen, param, "stream", "stream must be true or false");
    r->stream = cJSON_IsTrue(st);
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(o, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        const cJSON *iu = cJSON_GetObjectItemCaseSensitive(so, "include_usage");
        if (!cJSON_IsObject(so) || (iu && !cJSON_IsBool(iu)))
            return bad(err, errlen, param, "stream_options", "stream_options must be {\"include_usage\": true|false}");
        r->include_usage = cJSON_IsTrue(iu);
    }
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "n");
    if (n && !cJSON_IsNull(n) && !(cJSON_IsNumber(n) && n->valuedouble == 1))
        return bad(err, errlen, param, "n", "only n=1 is supported: Psyche gives one answer per request");
    int rc = parse_tools(o, r, err, errlen, param);
    return rc ? rc : opt_string(o, "user", &r->user, err, errlen, param);
}

int psy_oai_parse_chat(const char *body, size_t len, psy_chat_req *out, char *err, size_t errlen, const char **param)
{
    memset(out, 0, sizeof *out);
    out->max_tokens = -1;
    *param = NULL;
    cJSON *o = cJSON_ParseWithLength(body, len);
    int rc;
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return bad(err, errlen, param, NULL,
                   "the request body is not a JSON object (check the JSON syntax and Content-Type)");
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(o, "model");
    if (!cJSON_IsString(model) || !*model->valuestring)
        rc = bad(err, errlen, param, "model", "model is required (any name; GET /v1/models lists Psyche's)");
    else if (!(out->model = strdup(model->valuestring))) rc = -ENOMEM;
    else rc = parse_messages(cJSON_GetObjectItemCaseSensitive(o, "messages"), out, err, errlen, param);
    if (!rc) rc = opt_number(o, "temperature", 0, 2, &out->has_temperature, &out->temperature, err, errlen, param);
    if (!rc) rc = opt_number(o, "top_p", 0, 1, &out->has_top_p, &out->top_p, err, errlen, param);
    if (!rc) rc = parse_max_tokens(o, out, err, errlen, param);
    if (!rc) rc = parse_stop(o, out, err, errlen, param);
    if (!rc) rc = parse_flags(o, out, err, errlen, param);
    cJSON_Delete(o);
    if (rc == -ENOMEM) snprintf(err, errlen, "out of memory while reading the request");
    if (rc) psy_chat_req_free(out);
    return rc;
}

cJSON *psy_oai_elpis_messages(const char *psyche_system, const psy_chat_req *r)
{
    buf sys = BUF_INIT;
    if (psyche_system && *psyche_system) buf_puts(&sys, psyche_system);
    if (r->system) {
        if (sys.len) buf_puts(&sys, "\n\n## Instructions from the application\n\n");
        buf_puts(&sys, r->system);
    }
    cJSON *arr = cJSON_CreateArray();
    if (arr && sys.len) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "system");
        cJSON_AddStringToObject(m, "content", buf_str(&sys));
        cJSON_AddItemToArray(arr, m);
    }
    buf_free(&sys);
    const cJSON *m;
    cJSON_ArrayForEach(m, r->messages) cJSON_AddItemToArray(arr, cJSON_Duplicate(m, 1));
    if (arr &&
        cJSON_GetArraySize(arr) != cJSON_GetArraySize(r->messages) + ((psyche_system && *psyche_system) || r->system)) {
        cJSON_Delete(arr); /* an allocation failed on the way */
        return NULL;
    }
    return arr;
}

static const char *error_type(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

char *psy_oai_error_json(int status, const char *message, const char *param, const char *code)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "message", message ? message : "error");
    cJSON_AddStringToObject(e, "type", error_type(status));
    if (param) cJSON_AddStringToObject(e, "param", param);
    else cJSON_AddNullToObject(e, "param");
    if (code) cJSON_AddStringToObject(e, "code", code);
    else cJSON_AddNullToObject(e, "code");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static void add_usage(cJSON *o, const psy_oai_usage *u)
{
    cJSON *j = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(j, "prompt_tokens", (double)u->prompt_tokens);
    cJSON_AddNumberToObject(j, "completion_tokens", (double)u->completion_tokens);
    cJSON_AddNumberToObject(j, "total_tokens", (double)(u->prompt_tokens + u->completion_tokens));
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(j, "prompt_tokens_details"), "cached_tokens",
                            (double)u->cached_tokens);
}

static cJSON *envelope(const char *id, const char *object, long created, const char *model)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", (double)created);
    cJSON_AddStringToObject(o, "model", model);
    cJSON_AddNullToObject(o, "system_fingerprint");
    return o;
}

cJSON *psy_oai_completion(const char *id, long created, const char *model, const char *content, const cJSON *tool_calls,
                          const char *finish_reason, const psy_oai_usage *u)
{
    cJSON *o = envelope(id, "chat.completion", created, model);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), c);
    cJSON_AddNumberToObject(c, "index", 0);
    cJSON *m = cJSON_AddObjectToObject(c, "message");
    cJSON_AddStringToObject(m, "role", "assistant");
    if (tool_calls && cJSON_GetArraySize(tool_calls)) {
        cJSON_AddNullToObject(m, "content");
        cJSON_AddItemToObject(m, "tool_calls", cJSON_Duplicate(tool_calls, 1));
    } else cJSON_AddStringToObject(m, "content", content ? content : "");
    cJSON_AddNullToObject(m, "refusal");
    cJSON_AddNullToObject(c, "logprobs");
    cJSON_AddStringToObject(c, "finish_reason", finish_reason ? finish_reason : "stop");
    add_usage(o, u);
    return o;
}

cJSON *psy_oai_chunk(const char *id, long created, const char *model, const char *role, const char *content,
                     const char *finish_reason, const psy_oai_usage *u)
{
    cJSON *o = envelope(id, "chat.completion.chunk", created, model);
    cJSON *choices = cJSON_AddArrayToObject(o, "choices");
    if (u) {
        add_usage(o, u);
        return o;
    }
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, c);
    cJSON_AddNumberToObject(c, "index", 0);
    cJSON *d = cJSON_AddObjectToObject(c, "delta");
    if (role) cJSON_AddStringToObject(d, "role", role);
    if (content) cJSON_AddStringToObject(d, "content", content);
    cJSON_AddNullToObject(c, "logprobs");
    if (finish_reason) cJSON_AddStringToObject(c, "finish_reason", finish_reason);
    else cJSON_AddNullToObject(c, "finish_reason");
    return o;
}

cJSON *psy_oai_tool_chunk(const char *id, long created, const char *model, int index, const cJSON *call, bool head)
{
    cJSON *o = psy_oai_chunk(id, created, model, NULL, NULL, NULL, NULL);
    cJSON *d = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "choices"), 0),
                                                "delta");
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
    const cJSON *cid = cJSON_GetObjectItemCaseSensitive(call, "id");
    cJSON *tc = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(d, "tool_calls"), tc);
    cJSON_AddNumberToObject(tc, "index", index);
    if (head) {
        cJSON_AddStringToObject(tc, "id", cJSON_IsString(cid) ? cid->valuestring : "call_0");
        cJSON_AddStringToObject(tc, "type", "function");
    }
    cJSON *f = cJSON_AddObjectToObject(tc, "function");
    if (head) cJSON_AddStringToObject(f, "name", cJSON_IsString(name) ? name->valuestring : "");
    cJSON_AddStringToObject(f, "arguments", head ? "" : cJSON_IsString(args) ? args->valuestring : "{}");
    return o;
}

char *psy_oai_sse(const cJSON *chunk)
{
    char *s = cJSON_PrintUnformatted(chunk);
    if (!s) return NULL;
    buf b = BUF_INIT;
    int rc = buf_printf(&b, "data: %s\n\n", s);
    free(s);
    if (rc) {
        buf_free(&b);
        return NULL;
    }
    return buf_detach(&b);
}

cJSON *psy_oai_models(const char *model_id, long created)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", model_id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)created);
    cJSON_AddStringToObject(m, "owned_by", "psyche");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "data"), m);
    return o;
}

const char *psy_oai_finish_reason(const char *elpis_reason)
{
    if (elpis_reason && (!strcmp(elpis_reason, "length") || !strcmp(elpis_reason, "context_full"))) return "length";
    return "stop";
}

bool psy_oai_find_stop(const char *text, size_t len, char *const *stop, int n_stop, size_t *cut, size_t *safe)
{
    size_t best = len + 1, hold = 0;
    for (int i = 0; i < n_stop; i++) {
        size_t sl = strlen(stop[i]);
        if (!sl) continue;
        for (size_t p = 0; p + sl <= len && p < best; p++)
            if (!memcmp(text + p, stop[i], sl)) {
                best = p;
                break;
            }
        /* the longest tail of text that is a proper prefix of this stop */
        for (size_t k = sl - 1 < len ? sl - 1 : len; k > hold; k--)
            if (!memcmp(text + len - k, stop[i], k)) {
                hold = k;
                break;
            }
    }
    if (best <= len) {
        *cut = best;
        *safe = best;
        return true;
    }
    *safe = utf8_complete_prefix(text, len - hold);
    return false;
}

/* ------------------------------------------------------------ tool calls */

static bool blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Length of the JSON object opening t[0..n) (braces matched outside
 * strings), or 0 while it is unfinished. */
static size_t object_len(const char *t, size_t n)
{
    int depth = 0;
    bool str = false, esc = false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (str) {
            if (esc) esc = false;
            else if (c == '\\') esc = true;
            else if (c == '"') str = false;
        } else if (c == '"') str = true;
        else if (c == '{') depth++;
        else if (c == '}' && --depth == 0) return i + 1;
    }
    return 0;
}

/* Where the JSON string opening at t[i] ends (after its quote), or n. */
static size_t string_end(const char *t, size_t n, size_t i)
{
    for (i++; i < n; i++)
        if (t[i] == '\\') i++;
        else if (t[i] == '"') return i + 1;
    return n;
}

/* Whether the finished object t[0..n) has, at any depth, a key "name" with
 * a string value: what elpis takes for a call. One pass, no parse, so text
 * nested deep costs no more than text nested once. */
static bool call_like(const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (t[i] != '"') continue;
        size_t e = string_end(t, n, i), k = e;
        if (e - i == 6 && !memcmp(t + i, "\"name\"", 6)) {
            while (k < n && blank(t[k])) k++;
            if (k < n && t[k] == ':') {
                for (k++; k < n && blank(t[k]); k++) {
                }
                if (k < n && t[k] == '"') return true;
            }
        }
        i = e - 1;
    }
    return false;
}

/* Whether the object at t[0..n) (t[0] == '{') is or may become a call;
 * *skip is its length when it cannot. */
static bool call_possible(const char *t, size_t n, size_t *skip)
{
    size_t k = 1;
    while (k < n && blank(t[k])) k++;
    *skip = 1;
    if (k < n && t[k] != '"' && t[k] != '}') return false; /* "{ braces in prose": not JSON */
    size_t m = object_len(t, n);
    if (!m || call_like(t, m)) return true;
    *skip = m;
    return false;
}

size_t psy_oai_tool_safe(const char *text, size_t len, size_t from)
{
    static const char *const openers[] = {"<tool_call>", "```json"};
    size_t i = from, skip;
    while (i < len) {
        if (text[i] == '{') {
            if (call_possible(text + i, len - i, &skip)) return i;
            i += skip;
            continue;
        }
        size_t next = i + 1;
        for (size_t o = 0; o < sizeof openers / sizeof *openers; o++) {
            size_t ol = strlen(openers[o]), rest = len - i;
            if (memcmp(text + i, openers[o], rest < ol ? rest : ol)) continue;
            if (rest <= ol) return i; /* the opener, or a part of it: what follows decides */
            size_t k = i + ol;
            while (k < len && blank(text[k])) k++;
            if (k == len) return i;
            if (text[k] == '{' && call_possible(text + k, len - k, &skip)) return i;
            next = k;
        }
        i = next;
    }
    return len;
}

/* ------------------------------------------------------------ embeddings */

/* input: a string or an array of strings, as {input: [...]} items. */
static int take_input(const cJSON *in, cJSON *out, char *err, size_t errlen, const char **param)
{
    cJSON *list = cJSON_AddArrayToObject(out, "input");
    if (!list) return -ENOMEM;
    if (cJSON_IsString(in)) return cJSON_AddItemToArray(list, cJSON_CreateString(in->valuestring)) ? 0 : -ENOMEM;
    int n = cJSON_GetArraySize(in);
    if (!cJSON_IsArray(in) || n < 1 || n > 256)
        return bad(err, errlen, param, "input", "input must be a string or an array of 1 to 256 strings");
    const cJSON *t;
    cJSON_ArrayForEach(t, in)
    {
        if (!cJSON_IsString(t))
            return bad(err, errlen, param, "input",
                       "input must hold strings (token arrays are not supported: send the text)");
        if (!cJSON_AddItemToArray(list, cJSON_CreateString(t->valuestring))) return -ENOMEM;
    }
    return 0;
}

cJSON *psy_oai_parse_embeddings(const char *body, size_t len, char *err, size_t errlen, const char **param)
{
    cJSON *o = cJSON_ParseWithLength(body, len), *out = cJSON_CreateObject();
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(o, "model");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(o, "encoding_format");
    int rc = !out ? -ENOMEM : 0;
    if (!rc && !cJSON_IsObject(o))
        rc = bad(err, errlen, param, NULL, "the body must be a JSON object {model, input, encoding_format?}");
    else if (!rc && (!cJSON_IsString(model) || !*model->valuestring))
        rc = bad(err, errlen, param, "model", "model must be a non-empty string");
    else if (!rc && fmt && !cJSON_IsNull(fmt) &&
             !(cJSON_IsString(fmt) && (!strcmp(fmt->valuestring, "float") || !strcmp(fmt->valuestring, "base64"))))
        rc = bad(err, errlen, param, "encoding_format", "encoding_format must be \"float\" or \"base64\"");
    if (!rc) rc = take_input(cJSON_GetObjectItemCaseSensitive(o, "input"), out, err, errlen, param);
    if (!rc) {
        cJSON_AddStringToObject(out, "model", model->valuestring);
        cJSON_AddBoolToObject(out, "base64", cJSON_IsString(fmt) && !strcmp(fmt->valuestring, "base64"));
    }
    if (rc == -ENOMEM) bad(err, errlen, param, NULL, "out of memory");
    cJSON_Delete(o);
    if (rc) {
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

/* Base64 (RFC 4648, padded) of n little-endian float32 values. Caller frees. */
static char *floats_base64(const cJSON *row)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = (size_t)cJSON_GetArraySize(row), bytes = n * 4, k = 0;
    unsigned char *raw = malloc(bytes + 1);
    char *out = malloc((bytes + 2) / 3 * 4 + 1);
    const cJSON *v;
    cJSON_ArrayForEach(v, (raw && out ? row : NULL))
    {
        float f = (float)v->valuedouble;
        uint32_t u;
        memcpy(&u, &f, 4);
        for (int b = 0; b < 4; b++) raw[k++] = (unsigned char)(u >> (8 * b));
    }
    size_t o = 0;
    for (size_t i = 0; raw && out && i < bytes; i += 3) {
        uint32_t w =
            (uint32_t)raw[i] << 16 | (i + 1 < bytes ? (uint32_t)raw[i + 1] << 8 : 0) | (i + 2 < bytes ? raw[i + 2] : 0);
        out[o++] = al[w >> 18 & 63];
        out[o++] = al[w >> 12 & 63];
        out[o++] = i + 1 < bytes ? al[w >> 6 & 63] : '=';
        out[o++] = i + 2 < bytes ? al[w & 63] : '=';
    }
    free(raw);
    if (out) out[o] = 0;
    return out;
}

cJSON *psy_oai_embeddings(const cJSON *res, const char *model, bool b64)
{
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(res, "embeddings"), *row;
    const cJSON *chars = cJSON_GetObjectItemCaseSensitive(res, "chars");
    if (!cJSON_IsArray(rows) || !cJSON_GetArraySize(rows)) return NULL;
    cJSON *o = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(o, "data");
    cJSON_AddStringToObject(o, "object", "list");
    int i = 0;
    cJSON_ArrayForEach(row, rows)
    {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "object", "embedding");
        cJSON_AddNumberToObject(e, "index", i++);
        if (b64) {
            char *t = floats_base64(row);
            cJSON_AddItemToObject(e, "embedding", t ? cJSON_CreateString(t) : cJSON_CreateNull());
            free(t);
        } else {
            cJSON_AddItemToObject(e, "embedding", cJSON_Duplicate(row, true));
        }
        cJSON_AddItemToArray(data, e);
    }
    cJSON_AddStringToObject(o, "model", model);
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    double tokens = cJSON_IsNumber(chars) ? (chars->valuedouble + 3) / 4 : 0;
    cJSON_AddNumberToObject(u, "prompt_tokens", (long)tokens);
    cJSON_AddNumberToObject(u, "total_tokens", (long)tokens);
    return o;
}
