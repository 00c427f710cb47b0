/* config.c - layered configuration over a table of cfg_key: defaults, then a
 * TOML file, then the environment, then flags (cfg_set); see config.h.
 *
 * toml.c does the file syntax; this file owns the meaning: which keys exist,
 * their types and ranges, and the messages that tell a user which layer said
 * what. Text values (defaults, environment, flags) all go through set_text(),
 * file values through on_item(), and both end in the same apply_* setters. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "toml.h"
#include "utf8.h"
#include "util.h"

extern char **environ;

/* What cfg_sources() reports. Written at startup only, so no locking. */
static char src_file[512], src_env[1024], src_flags[512], src_all[2100];

static int failf(char *err, size_t errlen, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int failf(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* Appends ", item" (or "item" to an empty list) to a fixed source list. */
static void src_add(char *list, size_t size, const char *item)
{
    size_t len = strlen(list);
    snprintf(list + len, size - len, "%s%s", len ? ", " : "", item);
}

/* "[model] ctx", or just "ctx" for a key outside any section. */
static const char *key_label(const cfg_key *k, char *out, size_t len)
{
    if (*k->section) snprintf(out, len, "[%s] %s", k->section, k->key);
    else snprintf(out, len, "%s", k->key);
    return out;
}

static bool ranged(const cfg_key *k) { return k->min != k->max; }

/* "an integer in 1..8": what a key accepts, for messages and comments. */
static void describe(const cfg_key *k, bool text, char *out, size_t len)
{
    switch (k->type) {
    case CFG_INT:
        if (ranged(k)) snprintf(out, len, "an integer in %.0f..%.0f", k->min, k->max);
        else snprintf(out, len, "an integer");
        break;
    case CFG_DOUBLE:
        if (ranged(k)) snprintf(out, len, "a number in %g..%g", k->min, k->max);
        else snprintf(out, len, "a number");
        break;
    case CFG_BOOL: snprintf(out, len, text ? "true/false, yes/no or 1/0" : "true or false"); break;
    case CFG_STRING: snprintf(out, len, "a string"); break;
    case CFG_STRLIST: snprintf(out, len, text ? "a comma-separated list" : "an array of strings"); break;
    }
}

/* "[model] ctx: expected an integer in 1..8, got \"abc\"" */
static int bad_value(const cfg_key *k, bool text, const char *got, char *err, size_t errlen)
{
    char label[256], what[128];
    describe(k, text, what, sizeof what);
    return failf(err, errlen, -EINVAL, "%s: expected %s, got %s", key_label(k, label, sizeof label), what, got);
}

/* ---- setters: the one place a destination changes -------------------- */

static int apply_int(const cfg_key *k, long long v, bool text, const char *got, char *err, size_t errlen)
{
    if (v < INT_MIN || v > INT_MAX || (ranged(k) && (v < k->min || v > k->max)))
        return bad_value(k, text, got, err, errlen);
    *(int *)k->dest = (int)v;
    return 0;
}

static int apply_double(const cfg_key *k, double v, bool text, const char *got, char *err, size_t errlen)
{
    if (ranged(k) && !(v >= k->min && v <= k->max)) return bad_value(k, text, got, err, errlen);
    *(double *)k->dest = v;
    return 0;
}

static int apply_string(const cfg_key *k, const char *s)
{
    char *c = strdup(s);
    if (!c) return -ENOMEM;
    char **dest = k->dest;
    free(*dest);
    *dest = c;
    return 0;
}

static void list_free(cfg_strlist *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* Takes ownership of items (n strings); replaces the key's list. */
static void apply_list(const cfg_key *k, char **items, size_t n)
{
    cfg_strlist *l = k->dest;
    list_free(l);
    l->items = items;
    l->n = n;
}

static int copy_list(const char *const *src, size_t n, char ***out)
{
    char **v = calloc(n ? n : 1, sizeof *v);
    if (!v) return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!(v[i] = strdup(src[i]))) {
            cfg_strlist l = {v, i};
            list_free(&l);
            return -ENOMEM;
        }
    }
    *out = v;
    return 0;
}

/* "a, b,,c" -> {"a", "b", "c"}: items are trimmed, empty ones dropped. */
static int split_list(const char *s, char ***out, size_t *n)
{
    cfg_strlist l = {NULL, 0};
    size_t cap = 0;
    while (*s) {
        const char *e = strchr(s, ',');
        if (!e) e = s + strlen(s);
        const char *a = s, *b = e;
        while (a < b && (*a == ' ' || *a == '\t')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
        if (b > a) {
            if (l.n == cap) {
                cap = cap ? cap * 2 : 4;
                char **v = realloc(l.items, cap * sizeof *v);
                if (!v) goto oom;
                l.items = v;
            }
            if (!(l.items[l.n] = strndup(a, (size_t)(b - a)))) goto oom;
            l.n++;
        }
        s = *e ? e + 1 : e;
    }
    if (!l.items && !(l.items = calloc(1, sizeof *l.items))) return -ENOMEM;
    *out = l.items;
    *n = l.n;
    return 0;
oom:
    list_free(&l);
    return -ENOMEM;
}

/* ---- text values: defaults, environment, flags ----------------------- */

static bool parse_bool_text(const char *s, size_t len, bool *out)
{
    static const char *const yes[] = {"true", "yes", "1"}, *const no[] = {"false", "no", "0"};
    for (size_t i = 0; i < 3; i++) {
        if (strlen(yes[i]) == len && strncasecmp(s, yes[i], len) == 0) return *out = true, true;
        if (strlen(no[i]) == len && strncasecmp(s, no[i], len) == 0) return *out = false, true;
    }
    return false;
}

/* Sets k from text as found in the environment or a flag. */
static int set_text(const cfg_key *k, const char *text, char *err, size_t errlen)
{
    if (k->type == CFG_STRING) return apply_string(k, text);
    if (k->type == CFG_STRLIST) {
        char **items;
        size_t n;
        int rc = split_list(text, &items, &n);
        if (!rc) apply_list(k, items, n);
        return rc;
    }
    buf got = BUF_INIT;
    if (toml_quote(&got, text)) return -ENOMEM;
    const char *s = text, *e = text + strlen(text);
    while (s < e && (*s == ' ' || *s == '\t')) s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
    size_t len = (size_t)(e - s);
    long long i;
    double d;
    bool b;
    int rc;
    if (k->type == CFG_INT) {
        rc = toml_int_parse(s, len, &i) ? bad_value(k, true, got.data, err, errlen)
                                        : apply_int(k, i, true, got.data, err, errlen);
    } else if (k->type == CFG_DOUBLE) {
        if (toml_int_parse(s, len, &i) == 0) rc = apply_double(k, (double)i, true, got.data, err, errlen);
        else if ((rc = toml_float_parse(s, len, &d)) == 0) rc = apply_double(k, d, true, got.data, err, errlen);
        else if (rc != -ENOMEM) rc = bad_value(k, true, got.data, err, errlen);
    } else {
        rc = parse_bool_text(s, len, &b) ? (*(bool *)k->dest = b, 0) : bad_value(k, true, got.data, err, errlen);
    }
    buf_free(&got);
    return rc;
}

static const cfg_key *find_key(const cfg_key *keys, size_t n, const char *section, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].key, key) == 0) return &keys[i];
    return NULL;
}

static bool section_known(const cfg_key *keys, size_t n, const char *section)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(keys[i].section, section) == 0) return true;
    return false;
}

/* Is keys[i] the first key of its section in the table? */
static bool first_of_section(const cfg_key *keys, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (strcmp(keys[j].section, keys[i].section) == 0) return false;
    return true;
}

/* "a, b, c": the keys of one section, or (section == NULL) all sections. */
static void known_list(const cfg_key *keys, size_t n, const char *section, buf *out)
{
    for (size_t i = 0; i < n; i++) {
        const char *name = section ? keys[i].key : keys[i].section;
        if (section ? strcmp(keys[i].section, section) != 0 : (!*name || !first_of_section(keys, i))) continue;
        buf_printf(out, "%s%s", out->len ? ", " : "", name);
    }
}

static int unknown_key(const cfg_key *keys, size_t n, const char *section, const char *key, char *err, size_t errlen)
{
    buf known = BUF_INIT;
    int rc;
    if (!*section && !section_known(keys, n, "")) {
        known_list(keys, n, NULL, &known);
        rc = failf(err, errlen, -EINVAL, "key '%s' must be in a section (known sections: %s)", key, buf_str(&known));
    } else if (!*section) {
        known_list(keys, n, section, &known);
        rc = failf(err, errlen, -EINVAL, "unknown key '%s' outside any section (known keys: %s)", key, buf_str(&known));
    } else {
        known_list(keys, n, section, &known);
        rc = failf(err, errlen, -EINVAL, "unknown key '%s' in [%s] (known keys: %s)", key, section, buf_str(&known));
    }
    buf_free(&known);
    return rc;
}

/* ---- the file --------------------------------------------------------- */

typedef struct load_ctx {
    const cfg_key *keys;
    size_t n;
} load_ctx;

/* toml_parse callback: err gets a message that toml.c prefixes "FILE:LINE: ". */
static int on_item(void *ud, const toml_item *it, char *err, size_t errlen)
{
    load_ctx *c = ud;
    if (!it->key) {
        if (section_known(c->keys, c->n, it->section)) return 0;
        buf known = BUF_INIT;
        known_list(c->keys, c->n, NULL, &known);
        int rc = failf(err, errlen, -EINVAL, "unknown section [%s] (known sections: %s)", it->section, buf_str(&known));
        buf_free(&known);
        return rc;
    }
    const cfg_key *k = find_key(c->keys, c->n, it->section, it->key);
    if (!k) return unknown_key(c->keys, c->n, it->section, it->key, err, errlen);

    /* the value as written, on one line and not too long */
    char got[80];
    size_t len = 0;
    while (len < it->rawlen && len < 60 && it->raw[len] != '\n' && it->raw[len] != '\r') len++;
    len = utf8_truncate_bytes(it->raw, it->rawlen, len); /* not inside a character at the cut */
    snprintf(got, sizeof got, "%.*s%s", (int)len, it->raw, len < it->rawlen ? "..." : "");

    switch (k->type) {
    case CFG_INT:
        if (it->kind != TOML_INT) break;
        return apply_int(k, it->i, false, got, err, errlen);
    case CFG_DOUBLE:
        if (it->kind == TOML_INT) return apply_double(k, (double)it->i, false, got, err, errlen);
        if (it->kind != TOML_FLOAT) break;
        return apply_double(k, it->f, false, got, err, errlen);
    case CFG_BOOL:
        if (it->kind != TOML_BOOL) break;
        *(bool *)k->dest = it->b;
        return 0;
    case CFG_STRING:
        if (it->kind != TOML_STRING) break;
        return apply_string(k, it->str);
    case CFG_STRLIST: {
        if (it->kind != TOML_STRARRAY) break;
        char **items;
        int rc = copy_list(it->items, it->n, &items);
        if (!rc) apply_list(k, items, it->n);
        return rc;
    }
    }
    return bad_value(k, false, got, err, errlen);
}

static int load_file(const cfg_key *keys, size_t n, const char *file, bool required, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc = read_file_all(file, CFG_MAX_FILE, &text, &len);
    if (rc == -ENOENT && !required) {
        snprintf(src_file, sizeof src_file, " + %s (not found)", file);
        return 0;
    }
    if (rc == -EFBIG)
        return failf(err, errlen, rc, "%s: larger than %zu MiB: not a settings file?", file, CFG_MAX_FILE >> 20);
    if (rc == -ENOMEM) return failf(err, errlen, rc, "%s: out of memory", file);
    if (rc)
        return failf(err, errlen, rc, "%s: cannot %s: %s", file, rc == -EISDIR || rc == -EIO ? "read" : "open",
                     strerror(-rc));
    load_ctx c = {keys, n};
    rc = toml_parse(text, len, file, on_item, &c, err, errlen);
    free(text);
    if (!rc) snprintf(src_file, sizeof src_file, " + %s", file);
    return rc;
}

/* ---- the environment -------------------------------------------------- */

/* PREFIX_SECTION_KEY upper-cased, '-' and '.' as '_'; PREFIX_KEY outside sections. */
static void env_name(const char *prefix, const char *section, const char *key, char *out, size_t len)
{
    snprintf(out, len, "%s%s%s%s%s", prefix, *prefix ? "_" : "", section, *section ? "_" : "", key);
    for (char *p = out; *p; p++) {
        if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
        else if (*p == '-' || *p == '.') *p = '_';
    }
}

/* A PREFIX_SECTION_* variable that names no key is a typo worth stopping for;
 * other PREFIX_* variables may belong to someone else and are left alone. */
static int check_env(const cfg_key *keys, size_t n, const char *prefix, char *err, size_t errlen)
{
    char name[256], want[256];
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || (size_t)(eq - *e) >= sizeof name) continue;
        snprintf(name, sizeof name, "%.*s", (int)(eq - *e), *e);
        bool known = false;
        const cfg_key *sec = NULL; /* the longest section whose prefix matches */
        size_t skip = 0;
        for (size_t i = 0; i < n && !known; i++) {
            env_name(prefix, keys[i].section, keys[i].key, want, sizeof want);
            known = strcmp(name, want) == 0;
            if (!*keys[i].section) continue;
            env_name(prefix, keys[i].section, "", want, sizeof want); /* "ELPIS_MODEL_" */
            size_t wl = strlen(want);
            if (wl > skip && strncmp(name, want, wl) == 0 && name[wl]) sec = &keys[i], skip = wl;
        }
        if (known || !sec) continue;
        char key[256];
        snprintf(key, sizeof key, "%s", name + skip);
        for (char *p = key; *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
        char msg[1024];
        int rc = unknown_key(keys, n, sec->section, key, msg, sizeof msg);
        return failf(err, errlen, rc, "environment %s: %s", name, msg);
    }
    return 0;
}

static int load_env(const cfg_key *keys, size_t n, const char *prefix, char *err, size_t errlen)
{
    int rc = check_env(keys, n, prefix, err, errlen);
    if (rc) return rc;
    char name[256], msg[1024];
    for (size_t i = 0; i < n; i++) {
        env_name(prefix, keys[i].section, keys[i].key, name, sizeof name);
        const char *v = getenv(name);
        if (!v) continue;
        if ((rc = set_text(&keys[i], v, msg, sizeof msg)))
            return failf(err, errlen, rc, "environment %s: %s", name, rc == -ENOMEM ? "out of memory" : msg);
        src_add(src_env, sizeof src_env, name);
    }
    return 0;
}

/* ---- the API ---------------------------------------------------------- */

int cfg_load(const cfg_key *keys, size_t n, const char *file, bool file_required, const char *env_prefix, char *err,
             size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    src_file[0] = src_env[0] = src_flags[0] = '\0';
    char label[256], msg[1024];
    /* Destinations start out as garbage as far as we know: clear, don't free. */
    for (size_t i = 0; i < n; i++) {
        const cfg_key *k = &keys[i];
        switch (k->type) {
        case CFG_INT: *(int *)k->dest = 0; break;
        case CFG_DOUBLE: *(double *)k->dest = 0; break;
        case CFG_BOOL: *(bool *)k->dest = false; break;
        case CFG_STRING: *(char **)k->dest = NULL; break;
        case CFG_STRLIST: *(cfg_strlist *)k->dest = (cfg_strlist){NULL, 0}; break;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const cfg_key *k = &keys[i];
        if (find_key(keys, i, k->section, k->key))
            return failf(err, errlen, -EINVAL, "%s is in the table twice", key_label(k, label, sizeof label));
        int rc = k->def ? set_text(k, k->def, msg, sizeof msg) : k->type == CFG_STRING ? apply_string(k, "") : 0;
        if (rc == -ENOMEM) return failf(err, errlen, rc, "out of memory");
        if (rc) return failf(err, errlen, rc, "default for %s", msg);
    }
    int rc = file ? load_file(keys, n, file, file_required, err, errlen) : 0;
    if (!rc && env_prefix && *env_prefix) rc = load_env(keys, n, env_prefix, err, errlen);
    return rc;
}

int cfg_set(const cfg_key *keys, size_t n, const char *name, const char *value, const char *origin, char *err,
            size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (!origin) origin = name;
    const char *dot = strrchr(name, '.');
    char section[128];
    snprintf(section, sizeof section, "%.*s", dot ? (int)(dot - name) : 0, name);
    const cfg_key *k = find_key(keys, n, section, dot ? dot + 1 : name);
    if (!k) {
        buf known = BUF_INIT;
        for (size_t i = 0; i < n; i++)
            buf_printf(&known, "%s%s%s%s", known.len ? ", " : "", keys[i].section, *keys[i].section ? "." : "",
                       keys[i].key);
        int rc = failf(err, errlen, -EINVAL, "%s: unknown setting '%s' (known: %s)", origin, name, buf_str(&known));
        buf_free(&known);
        return rc;
    }
    if (!value) return failf(err, errlen, -EINVAL, "%s: missing value", origin);
    char msg[1024];
    int rc = set_text(k, value, msg, sizeof msg);
    if (rc) return failf(err, errlen, rc, "%s: %s", origin, rc == -ENOMEM ? "out of memory" : msg);
    src_add(src_flags, sizeof src_flags, origin);
    return 0;
}

void cfg_free(const cfg_key *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (keys[i].type == CFG_STRING) {
            char **s = keys[i].dest;
            free(*s);
            *s = NULL;
        } else if (keys[i].type == CFG_STRLIST) {
            list_free(keys[i].dest);
        }
    }
}

const char *cfg_sources(void)
{
    snprintf(src_all, sizeof src_all, "defaults%s%s%s%s%s%s", src_file, *src_env ? " + env(" : "", src_env,
             *src_env ? ")" : "", *src_flags ? " + flags(" : "", src_flags);
    if (*src_flags) strncat(src_all, ")", sizeof src_all - strlen(src_all) - 1);
    return src_all;
}

/* ---- writing ---------------------------------------------------------- */

static int write_list(buf *b, char *const *items, size_t n)
{
    int rc = buf_putc(b, '[');
    for (size_t i = 0; i < n && !rc; i++) {
        if (i) rc = buf_puts(b, ", ");
        if (!rc) rc = toml_quote(b, items[i]);
    }
    return rc ? rc : buf_putc(b, ']');
}

/* The help text, one comment line per line of help, and the type line. */
static int write_help(buf *b, const cfg_key *k)
{
    static const char *const type_names[] = {"integer", "number", "boolean", "string", "array of strings"};
    int rc = buf_puts(b, "\n# ");
    for (const char *p = k->help ? k->help : ""; *p && !rc; p++)
        rc = *p == '\n' ? buf_puts(b, "\n# ") : buf_putc(b, *p);
    if (!rc) rc = buf_printf(b, "\n# %s", type_names[k->type]);
    if (!rc && k->type == CFG_INT && ranged(k)) rc = buf_printf(b, " in %.0f..%.0f", k->min, k->max);
    if (!rc && k->type == CFG_DOUBLE && ranged(k)) rc = buf_printf(b, " in %g..%g", k->min, k->max);
    if (!rc) rc = buf_puts(b, ", default ");
    if (rc) return rc;
    const char *def = k->def ? k->def : "";
    if (k->type == CFG_STRING) return toml_quote(b, def);
    if (k->type != CFG_STRLIST) return buf_puts(b, *def ? def : k->type == CFG_BOOL ? "false" : "0");
    char **items;
    size_t n;
    if ((rc = split_list(def, &items, &n))) return rc;
    rc = write_list(b, items, n);
    cfg_strlist l = {items, n};
    list_free(&l);
    return rc;
}

static int write_key(buf *b, const cfg_key *k)
{
    int rc = write_help(b, k);
    if (!rc) rc = buf_printf(b, "\n%s = ", k->key);
    if (rc) return rc;
    switch (k->type) {
    case CFG_INT: rc = buf_printf(b, "%d", *(int *)k->dest); break;
    case CFG_DOUBLE: rc = toml_float_format(b, *(double *)k->dest); break;
    case CFG_BOOL: rc = buf_puts(b, *(bool *)k->dest ? "true" : "false"); break;
    case CFG_STRING: rc = toml_quote(b, *(char **)k->dest ? *(char **)k->dest : ""); break;
    case CFG_STRLIST: {
        const cfg_strlist *l = k->dest;
        rc = write_list(b, l->items, l->n);
        break;
    }
    }
    return rc ? rc : buf_putc(b, '\n');
}

int cfg_write_toml(const cfg_key *keys, size_t n, FILE *f)
{
    buf b = BUF_INIT;
    int rc = 0;
    /* keys outside any section must come before the first header */
    for (size_t i = 0; i < n && !rc; i++)
        if (!*keys[i].section) rc = write_key(&b, &keys[i]);
    for (size_t i = 0; i < n && !rc; i++) {
        if (!*keys[i].section || !first_of_section(keys, i)) continue;
        rc = buf_printf(&b, "%s[%s]\n", b.len ? "\n" : "", keys[i].section);
        for (size_t j = i; j < n && !rc; j++)
            if (strcmp(keys[j].section, keys[i].section) == 0) rc = write_key(&b, &keys[j]);
    }
    if (!rc && (fwrite(buf_str(&b), 1, b.len, f) != b.len || fflush(f))) rc = -EIO;
    buf_free(&b);
    return rc;
}
