/* jsonschema.c - checks JSON values against the subset of JSON Schema our
 * tools declare (see jsonschema.h). Pure: no I/O, no global state; allocates
 * only the copy jsonschema_check_args hands back and temporary messages. */
#include "jsonschema.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "toml.h"
#include "utf8.h"

#define NAME_MAX_LEN 160 /* a field's path in messages: "messages[3].role" */

typedef struct ctx {
    unsigned flags; /* JSONSCHEMA_*; coercion only happens on a copy */
    char *err;
    size_t errlen;
} ctx;

static int fail(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(ctx *c, const char *fmt, ...)
{
    if (c->err && c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

const char *jsonschema_type_name(const cJSON *v)
{
    if (cJSON_IsString(v)) return "string";
    if (cJSON_IsBool(v)) return "boolean";
    if (cJSON_IsNumber(v)) return "number";
    if (cJSON_IsArray(v)) return "array";
    if (cJSON_IsObject(v)) return "object";
    if (cJSON_IsNull(v)) return "null";
    return "invalid";
}

static bool has_type(const cJSON *v, const char *type)
{
    if (!strcmp(type, "string")) return cJSON_IsString(v);
    if (!strcmp(type, "boolean")) return cJSON_IsBool(v);
    if (!strcmp(type, "number")) return cJSON_IsNumber(v);
    if (!strcmp(type, "integer"))
        return cJSON_IsNumber(v) && isfinite(v->valuedouble) && floor(v->valuedouble) == v->valuedouble;
    if (!strcmp(type, "array")) return cJSON_IsArray(v);
    if (!strcmp(type, "object")) return cJSON_IsObject(v);
    if (!strcmp(type, "null")) return cJSON_IsNull(v);
    return true; /* a type we do not know: accept */
}

/* The replacement a lenient caller wants for v under type, or NULL. */
static cJSON *coerced(const cJSON *v, const char *type)
{
    if (!cJSON_IsString(v)) return NULL;
    const char *s = v->valuestring;
    size_t n = strlen(s);
    long long i;
    double d;
    if (!strcmp(type, "integer") || !strcmp(type, "number")) {
        if (toml_int_parse(s, n, &i) == 0) return cJSON_CreateNumber((double)i);
        if (toml_float_parse(s, n, &d) == 0 && isfinite(d)) return cJSON_CreateNumber(d);
    }
    if (!strcmp(type, "boolean") && (!strcmp(s, "true") || !strcmp(s, "false"))) return cJSON_CreateBool(s[0] == 't');
    return NULL;
}

/* Checks *v against type (a name or a list of names). With coercion and a
 * parent, a string that reads as the wanted type replaces *v in parent. */
static int check_type(ctx *c, cJSON *parent, cJSON **v, const cJSON *type, const char *name)
{
    buf want = BUF_INIT;
    const cJSON *t;
    bool ok = false, any = false;
    const cJSON *list = cJSON_IsArray(type) ? type : NULL;
    cJSON_ArrayForEach(t, list)
    {
        if (!cJSON_IsString(t)) continue;
        any = true;
        ok |= has_type(*v, t->valuestring);
        if (buf_printf(&want, "%s%s", want.len ? " or " : "", t->valuestring)) goto oom;
    }
    if (cJSON_IsString(type)) {
        any = true;
        ok = has_type(*v, type->valuestring);
        if (buf_puts(&want, type->valuestring)) goto oom;
    }
    if (!ok && any && parent && (c->flags & JSONSCHEMA_COERCE) && cJSON_IsString(type)) {
        cJSON *r = coerced(*v, type->valuestring);
        /* In an object the key moves over too (by name: *v is the first item
         * with it, as cJSON_GetObjectItemCaseSensitive found it). */
        bool put = r && (cJSON_IsObject(parent) ? cJSON_ReplaceItemInObjectCaseSensitive(parent, (*v)->string, r)
                                                : cJSON_ReplaceItemViaPointer(parent, *v, r));
        if (r && !put) {
            cJSON_Delete(r);
            r = NULL;
        }
        if (r) {
            *v = r;
            ok = true;
        }
    }
    int rc = ok || !any
                 ? 0
                 : fail(c, "argument '%s' must be %s %s, got %s", name, strchr("aeiou", buf_str(&want)[0]) ? "an" : "a",
                        buf_str(&want), jsonschema_type_name(*v));
    buf_free(&want);
    return rc;
oom:
    buf_free(&want);
    return -ENOMEM;
}

static int check_enum(ctx *c, const cJSON *v, const cJSON *en, const char *name)
{
    if (!cJSON_IsArray(en)) return 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, en) if (cJSON_Compare(e, v, true)) return 0;
    buf list = BUF_INIT;
    int rc = 0;
    cJSON_ArrayForEach(e, en)
    {
        char *t = cJSON_IsString(e) ? NULL : cJSON_PrintUnformatted(e);
        rc = buf_printf(&list, "%s%s", list.len ? ", " : "", cJSON_IsString(e) ? e->valuestring : t ? t : "?");
        cJSON_free(t);
        if (rc) break;
    }
    char *got = cJSON_IsString(v) ? NULL : cJSON_PrintUnformatted(v);
    if (!rc)
        rc = fail(c, "argument '%s' must be one of: %s (got '%s')", name, buf_str(&list),
                  cJSON_IsString(v) ? v->valuestring
                  : got             ? got
                                    : "?");
    cJSON_free(got);
    buf_free(&list);
    return rc;
}

static int check_range(ctx *c, const cJSON *v, const cJSON *schema, const char *name)
{
    if (!cJSON_IsNumber(v)) return 0;
    const cJSON *mn = cJSON_GetObjectItemCaseSensitive(schema, "minimum");
    const cJSON *mx = cJSON_GetObjectItemCaseSensitive(schema, "maximum");
    double d = v->valuedouble;
    if (!isfinite(d)) return fail(c, "argument '%s' must be a finite number", name);
    if ((cJSON_IsNumber(mn) && d < mn->valuedouble) || (cJSON_IsNumber(mx) && d > mx->valuedouble)) {
        char lo[32] = "-inf", hi[32] = "inf";
        if (cJSON_IsNumber(mn)) snprintf(lo, sizeof lo, "%g", mn->valuedouble);
        if (cJSON_IsNumber(mx)) snprintf(hi, sizeof hi, "%g", mx->valuedouble);
        return fail(c, "argument '%s' must be in %s..%s, got %g", name, lo, hi, d);
    }
    return 0;
}

static bool blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') return false;
    return true;
}

static int check_length(ctx *c, const cJSON *v, const cJSON *schema, const char *name)
{
    if (!cJSON_IsString(v)) return 0;
    const cJSON *minl = cJSON_GetObjectItemCaseSensitive(schema, "minLength");
    const cJSON *maxl = cJSON_GetObjectItemCaseSensitive(schema, "maxLength");
    size_t n = utf8_count(v->valuestring, strlen(v->valuestring));
    if (cJSON_IsNumber(maxl) && (double)n > maxl->valuedouble)
        return fail(c, "argument '%s' is too long (%zu characters, at most %.0f)", name, n, maxl->valuedouble);
    if ((c->flags & JSONSCHEMA_BLANK_EMPTY) && blank(v->valuestring)) n = 0;
    if (cJSON_IsNumber(minl) && (double)n < minl->valuedouble) {
        if (minl->valuedouble <= 1) return fail(c, "argument '%s' must not be empty", name);
        return fail(c, "argument '%s' is too short (%zu characters, at least %.0f)", name, n, minl->valuedouble);
    }
    return 0;
}

static int check_value(ctx *c, cJSON *parent, cJSON *v, const cJSON *schema, const char *name);

/* Required keys and known properties of an object; name "" is the top level. */
static int check_object(ctx *c, cJSON *obj, const cJSON *schema, const char *name)
{
    const cJSON *k;
    cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(schema, "required"))
    {
        if (!cJSON_IsString(k)) continue;
        const cJSON *got = cJSON_GetObjectItemCaseSensitive(obj, k->valuestring);
        if (got && !cJSON_IsNull(got)) continue;
        if (!*name) return fail(c, "missing required argument '%s'", k->valuestring);
        return fail(c, "argument '%s' is missing required field '%s'", name, k->valuestring);
    }
    const cJSON *ps;
    cJSON_ArrayForEach(ps, cJSON_GetObjectItemCaseSensitive(schema, "properties"))
    {
        cJSON *got = cJSON_GetObjectItemCaseSensitive(obj, ps->string);
        if (!got || cJSON_IsNull(got)) continue; /* null = absent for optional keys */
        char sub[NAME_MAX_LEN];
        snprintf(sub, sizeof sub, "%s%s%s", name, *name ? "." : "", ps->string);
        int rc = check_value(c, obj, got, ps, sub);
        if (rc) return rc;
    }
    return 0;
}

static int check_value(ctx *c, cJSON *parent, cJSON *v, const cJSON *schema, const char *name)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(schema, "type");
    int rc = type ? check_type(c, parent, &v, type, name) : 0;
    if (!rc && !(c->flags & JSONSCHEMA_ENUM_HINT))
        rc = check_enum(c, v, cJSON_GetObjectItemCaseSensitive(schema, "enum"), name);
    if (!rc) rc = check_range(c, v, schema, name);
    if (!rc) rc = check_length(c, v, schema, name);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(schema, "items");
    if (!rc && cJSON_IsArray(v) && cJSON_IsObject(items)) {
        int i = 0;
        for (cJSON *it = v->child, *next; it && !rc; it = next, i++) {
            next = it->next; /* coercion may replace it */
            char sub[NAME_MAX_LEN];
            snprintf(sub, sizeof sub, "%s[%d]", name, i);
            rc = check_value(c, v, it, items, sub);
        }
    }
    if (!rc && cJSON_IsObject(v) &&
        (cJSON_GetObjectItemCaseSensitive(schema, "properties") ||
         cJSON_GetObjectItemCaseSensitive(schema, "required")))
        rc = check_object(c, v, schema, name);
    return rc;
}

static int check_top(ctx *c, cJSON *args, const cJSON *schema)
{
    if (!cJSON_IsObject(args)) return fail(c, "'arguments' must be an object, got %s", jsonschema_type_name(args));
    return check_object(c, args, schema, "");
}

int jsonschema_validate(const cJSON *schema, const cJSON *args, char *err, size_t errlen)
{
    ctx c = {0, err, errlen}; /* no coercion: nothing is written through the cast */
    return check_top(&c, (cJSON *)args, schema);
}

static int fill_defaults(cJSON *a, const cJSON *schema)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(schema, "properties"))
    {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(p, "default");
        if (!d || cJSON_IsNull(d) || cJSON_HasObjectItem(a, p->string)) continue;
        cJSON *copy = cJSON_Duplicate(d, true);
        if (!copy || !cJSON_AddItemToObject(a, p->string, copy)) {
            cJSON_Delete(copy);
            return -ENOMEM;
        }
    }
    return 0;
}

int jsonschema_check_args(const cJSON *schema, const cJSON *args, unsigned flags, cJSON **out, char *err, size_t errlen)
{
    ctx c = {flags, err, errlen};
    if (args && !cJSON_IsObject(args))
        return fail(&c, "'arguments' must be an object, got %s", jsonschema_type_name(args));
    cJSON *a = args ? cJSON_Duplicate(args, true) : cJSON_CreateObject();
    if (!a) {
        fail(&c, "out of memory");
        return -ENOMEM;
    }
    for (cJSON *v = a->child, *next; v; v = next) {
        next = v->next;
        if (cJSON_IsNull(v)) cJSON_Delete(cJSON_DetachItemViaPointer(a, v));
    }
    int rc = check_top(&c, a, schema);
    if (!rc && (flags & JSONSCHEMA_DEFAULTS)) rc = fill_defaults(a, schema);
    if (rc == -ENOMEM) fail(&c, "out of memory");
    if (rc) {
        cJSON_Delete(a);
        return rc;
    }
    *out = a;
    return 0;
}
