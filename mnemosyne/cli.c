/* cli.c - subcommands for people (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "jsonio.h"
#include "jsontext.h"
#include "tools.h"
#include "util.h"

/* msg: why (the store's message); when it is empty (a bare errno such as
 * -ENOMEM), the errno's text, so the user never reads an empty reason. */
static int fail(char *err, size_t errlen, int rc, const char *msg)
{
    snprintf(err, errlen, "%s", msg && *msg ? msg : strerror(rc < 0 ? -rc : EIO));
    return rc;
}

static int print_json(FILE *out, cJSON *o, bool pretty)
{
    char *t = o ? (pretty ? cJSON_Print(o) : cJSON_PrintUnformatted(o)) : NULL;
    cJSON_Delete(o);
    if (!t) return -ENOMEM;
    fprintf(out, "%s\n", t);
    free(t);
    return 0;
}

int mem_cli_stats(mem_store *s, FILE *out, char *err, size_t errlen)
{
    mem_stats st;
    int rc = mem_store_stats(s, &st);
    if (rc) return fail(err, errlen, rc, mem_store_errmsg(s));
    return print_json(out, mem_stats_to_json(&st, mem_store_path(s)), true);
}

static int export_one(const mem_record *r, void *ud)
{
    return print_json(ud, mem_record_to_json(r, MEM_JSON_FULL), false);
}

int mem_cli_export(mem_store *s, FILE *out, char *err, size_t errlen)
{
    int rc = mem_store_foreach(s, export_one, out);
    if (rc) return fail(err, errlen, rc, *mem_store_errmsg(s) ? mem_store_errmsg(s) : "export failed");
    if (fflush(out) != 0) return fail(err, errlen, -EIO, "writing the export failed");
    return 0;
}

/* --replace with a line naming a present memory: the line's keys over the
 * stored record, so a line may give only what changes ({"id", "content"}). */
static cJSON *overlay_stored(mem_store *s, cJSON *line, int *rc)
{
    *rc = 0;
    const cJSON *idj = cJSON_GetObjectItemCaseSensitive(line, "id");
    if (!cJSON_IsString(idj) || !*idj->valuestring || strlen(idj->valuestring) >= MEM_ID_LEN) return line;
    char id[MEM_ID_LEN];
    if (mem_id_is_uuid(idj->valuestring)) snprintf(id, sizeof id, "%s", idj->valuestring);
    else mem_id_from_name(idj->valuestring, id);
    mem_record old;
    int g = mem_store_get(s, id, &old);
    if (g == -ENOENT) return line;
    if (g) {
        *rc = g;
        return line;
    }
    cJSON *base = mem_record_to_json(&old, MEM_JSON_FULL);
    /* times as exact epoch seconds: the ISO form keeps milliseconds only */
    const char *tkeys[] = {"created_at", "last_accessed", "archived_at"};
    double tvals[] = {old.created_at, old.last_accessed, old.archived_at};
    for (int i = 0; base && i < 3; i++)
        if (tvals[i] > 0) cJSON_ReplaceItemInObjectCaseSensitive(base, tkeys[i], cJSON_CreateNumber(tvals[i]));
    mem_record_clear(&old);
    if (!base) {
        *rc = -ENOMEM;
        return line;
    }
    for (cJSON *it = line->child; it; it = it->next) {
        cJSON *dup = cJSON_Duplicate(it, true);
        bool ok = dup && (cJSON_GetObjectItemCaseSensitive(base, it->string)
                              ? cJSON_ReplaceItemInObjectCaseSensitive(base, it->string, dup)
                              : cJSON_AddItemToObject(base, it->string, dup));
        if (!ok) {
            cJSON_Delete(dup);
            cJSON_Delete(base);
            *rc = -ENOMEM;
            return line;
        }
    }
    cJSON_Delete(line);
    return base;
}

int mem_cli_import(mem_store *s, const char *file, const mem_import_opts *opts, FILE *out, char *err, size_t errlen)
{
    FILE *f = strcmp(file, "-") ? fopen(file, "r") : stdin;
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "cannot open %s: %s", file, strerror(e));
        return -e;
    }
    mem_record *recs = NULL;
    size_t n = 0, cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    int rc = 0, lineno = 0;
    double now = mem_store_now(s);
    while ((len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        size_t k = 0;
        while (line[k] == ' ' || line[k] == '\t') k++;
        if (!line[k]) continue;
        char why[256];
        if (json_text_check(line, (size_t)len, why, sizeof why)) { /* NUL, \u0000, bad UTF-8: never cut silently */
            snprintf(err, errlen, "%s:%d: %s; nothing was imported", file, lineno, why);
            rc = -EINVAL;
            break;
        }
        cJSON *o = cJSON_Parse(line);
        if (!o) {
            snprintf(err, errlen, "%s:%d: not a JSON object; nothing was imported", file, lineno);
            rc = -EINVAL;
            break;
        }
        if (opts->replace && cJSON_IsObject(o)) {
            o = overlay_stored(s, o, &rc);
            if (rc) {
                cJSON_Delete(o);
                snprintf(err, errlen, "%s:%d: %s; nothing was imported", file, lineno,
                         rc == -ENOMEM ? "out of memory" : mem_store_errmsg(s));
                break;
            }
        }
        if (n == cap) {
            mem_record *r2 = realloc(recs, (cap = cap ? cap * 2 : 64) * sizeof *recs);
            if (!r2) {
                cJSON_Delete(o);
                rc = fail(err, errlen, -ENOMEM, "out of memory");
                break;
            }
            recs = r2;
        }
        char msg[256];
        rc = mem_record_from_json(o, now, &recs[n], msg, sizeof msg);
        cJSON_Delete(o);
        if (rc) {
            snprintf(err, errlen, "%s:%d: %s; nothing was imported", file, lineno, msg);
            break;
        }
        n++;
    }
    free(line);
    if (f != stdin) (void)fclose(f); /* read-only: nothing to lose */
    if (!rc) {
        mem_import_result res;
        rc = mem_store_import_ex(s, recs, n, opts, &res);
        if (rc) snprintf(err, errlen, "%s: %s", file, mem_store_errmsg(s));
        else if (opts->replace)
            fprintf(out, "imported %zu memories, replaced %zu (%s)\n", res.imported, res.replaced,
                    opts->keep_trust ? "trust kept" : "marked low-trust; use --keep-trust for your own edits");
        else
            fprintf(out, "imported %zu memories, skipped %zu already present (%s)\n", res.imported, res.skipped,
                    opts->keep_trust ? "trust kept" : "marked low-trust; use --keep-trust for your own backups");
    }
    mem_records_free(recs, n);
    return rc;
}

int mem_cli_edit(mem_store *s, const char *id, const mem_edit *e, FILE *out, char *err, size_t errlen)
{
    mem_record r;
    int rc = mem_store_edit(s, id, e, &r);
    if (rc) return fail(err, errlen, rc, mem_store_errmsg(s));
    rc = print_json(out, mem_record_to_json(&r, MEM_JSON_FULL), true);
    mem_record_clear(&r);
    return rc ? fail(err, errlen, rc, "out of memory") : 0;
}

int mem_cli_search(mem_store *s, const char *query, int n, unsigned status_mask, bool json, FILE *out, char *err,
                   size_t errlen)
{
    mem_query q;
    mem_query_default(&q);
    q.text = query;
    q.n_results = n;
    q.status_mask = status_mask;
    q.touch = false;
    mem_record *res;
    size_t nres;
    int rc = mem_store_search(s, &q, &res, &nres);
    if (rc) return fail(err, errlen, rc, mem_store_errmsg(s));
    for (size_t i = 0; i < nres; i++) {
        const mem_record *r = &res[i];
        if (json) {
            print_json(out, mem_record_to_json(r, MEM_JSON_RELEVANCE), false);
            continue;
        }
        char iso[40];
        iso8601(r->created_at, iso, sizeof iso);
        fprintf(out, "%2zu. %.3f  %s  %s %s %s%s\n    %s\n", i + 1, r->relevance, r->id, iso, r->memory_type,
                mem_status_name(r->status), !strcmp(r->trust, "low") ? " LOW-TRUST" : "", r->summary);
    }
    if (!json && !nres) fprintf(out, "no memories match\n");
    mem_records_free(res, nres);
    return 0;
}

int mem_cli_restore(mem_store *s, const char *id, FILE *out, char *err, size_t errlen)
{
    int rc = mem_store_restore(s, id);
    if (rc) return fail(err, errlen, rc, mem_store_errmsg(s));
    fprintf(out, "restored %s to short-term\n", id);
    return 0;
}

int mem_cli_delete(mem_store *s, const char *id, bool purge, FILE *out, char *err, size_t errlen)
{
    bool deleted = false;
    int rc = purge ? mem_store_delete(s, id, &deleted) : mem_store_archive(s, id);
    if (!rc && purge && !deleted) rc = -ENOENT, snprintf(err, errlen, "no memory with id %s", id);
    else if (rc) fail(err, errlen, rc, mem_store_errmsg(s));
    if (rc) return rc;
    if (purge) fprintf(out, "deleted %s for good\n", id);
    else
        fprintf(out, "archived %s (mnemosyne restore %s brings it back; delete --purge removes it for good)\n", id, id);
    return 0;
}

int mem_cli_unlink(mem_store *s, const char *id, FILE *out, char *err, size_t errlen)
{
    bool done;
    mem_record r;
    int rc = mem_store_get(s, id, &r); /* "no memory with id", not "no link", for an unknown id */
    mem_record_clear(&r);
    if (rc) return fail(err, errlen, rc, mem_store_errmsg(s));
    rc = mem_store_unlink(s, id, &done);
    if (rc) return fail(err, errlen, rc, mem_store_errmsg(s));
    fprintf(out, "removed the update link of %s\n", id);
    return 0;
}

int mem_cli_forget(mem_store *s, bool yes, FILE *in, FILE *out, char *err, size_t errlen)
{
    mem_stats st;
    int rc = mem_store_stats(s, &st);
    if (rc) return fail(err, errlen, rc, mem_store_errmsg(s));
    if (!yes) {
        if (!isatty(fileno(in)))
            return fail(err, errlen, -ECANCELED,
                        "forget deletes every memory and needs a confirmation: run it in a terminal, or add --yes");
        fprintf(out,
                "This deletes all %lld memories in %s for good (an export first keeps a copy).\n"
                "Type 'forget' to confirm: ",
                (long long)st.total, mem_store_path(s));
        (void)fflush(out); /* a prompt; the answer is read either way */
        char line[64] = "";
        if (!fgets(line, sizeof line, in) || strcmp(line, "forget\n"))
            return fail(err, errlen, -ECANCELED, "not confirmed; nothing was deleted");
    }
    int64_t n;
    if ((rc = mem_store_forget_all(s, &n))) return fail(err, errlen, rc, mem_store_errmsg(s));
    fprintf(out, "forgot %lld memories\n", (long long)n);
    return 0;
}
