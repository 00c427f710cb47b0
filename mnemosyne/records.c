/* records.c - single memories: validation of what comes in, store, get,
 * delete, archive, restore, edit, recent, forget and export iteration; the
 * row writers that import.c shares. (The record itself, ids and rows are
 * record.c's; access counting is search.c's.)
 *
 * Every writing call is one BEGIN IMMEDIATE transaction; embeddings are
 * computed before it starts so the write lock is held only for the SQL.
 * The in-memory vector copy is updated only after a successful commit. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "store_int.h"
#include "utf8.h"
#include "util.h"


/* ------------------------------------------------------------- validation */

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i])) return false;
    return true;
}

static int check_text(mem_store *s, const char *what, const char *t, size_t max, bool required)
{
    if (!t) return required ? mem__set_err(s, -EINVAL, "%s is required", what) : 0;
    size_t n = strlen(t);
    if (required && blank(t, n)) return mem__set_err(s, -EINVAL, "%s is empty; give some text to remember", what);
    if (n > max)
        return mem__set_err(s, -EINVAL,
                            "%s is %zu bytes, over the limit of %zu bytes ([storage] max_content_bytes); "
                            "split it or store a summary",
                            what, n, max);
    if (!utf8_valid(t, n)) return mem__set_err(s, -EINVAL, "%s is not valid UTF-8", what);
    return 0;
}

static int join_names(char *out, size_t outlen, const char *const *list)
{
    size_t u = 0;
    out[0] = '\0';
    for (size_t i = 0; list[i] && u < outlen; i++)
        u += (size_t)snprintf(out + u, outlen - u, "%s%s", i ? ", " : "", list[i]);
    return 0;
}

static int check_type(mem_store *s, const char *t)
{
    if (mem_memory_type_valid(t)) return 0;
    char names[128];
    join_names(names, sizeof names, mem_memory_types);
    return mem__set_err(s, -EINVAL, "unknown memory_type '%.*s'; valid types: %s", utf8_prec(t, 64), t, names);
}

static int check_source(mem_store *s, const char *src)
{
    if (mem_source_valid(src)) return 0;
    char names[160];
    join_names(names, sizeof names, mem_sources);
    return mem__set_err(s, -EINVAL, "unknown source '%.*s'; valid sources: %s", utf8_prec(src, 64), src, names);
}

static int check_json(mem_store *s, const char *what, const char *text, int want_type)
{
    if (!text) return 0;
    size_t n = strlen(text);
    if (n > MEM_MAX_METADATA_BYTES)
        return mem__set_err(s, -EINVAL, "%s is %zu bytes, over the limit of %d", what, n, MEM_MAX_METADATA_BYTES);
    if (!utf8_valid(text, n)) return mem__set_err(s, -EINVAL, "%s is not valid UTF-8", what);
    cJSON *j = cJSON_Parse(text);
    bool ok = j && (j->type & 0xff) == want_type;
    if (ok && want_type == cJSON_Array) {
        const cJSON *it;
        cJSON_ArrayForEach(it, j) if (!cJSON_IsString(it)) ok = false;
    }
    cJSON_Delete(j);
    if (!ok)
        return mem__set_err(s, -EINVAL, "%s must be a JSON %s", what,
                            want_type == cJSON_Array ? "array of strings" : "object");
    return 0;
}

static char *tags_json(mem_store *s, const char *const *tags, size_t n, int *rc)
{
    *rc = 0;
    if (n > MEM_MAX_TAGS) {
        *rc = mem__set_err(s, -EINVAL, "%zu tags given; at most %d are kept per memory", n, MEM_MAX_TAGS);
        return NULL;
    }
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < n; i++) {
        const char *t = tags[i];
        size_t len = t ? strlen(t) : 0;
        if (!t || !len || blank(t, len) || len > MEM_MAX_TAG_BYTES || !utf8_valid(t, len)) {
            *rc = mem__set_err(s, -EINVAL, "tag %zu is %s; tags are non-empty UTF-8 strings of at most %d bytes", i,
                               !t || !len || blank(t, len) ? "empty"
                               : len > MEM_MAX_TAG_BYTES   ? "too long"
                                                           : "not valid UTF-8",
                               MEM_MAX_TAG_BYTES);
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddItemToArray(arr, cJSON_CreateString(t));
    }
    char *out = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    if (!out) *rc = mem__set_err(s, -ENOMEM, "out of memory");
    return out;
}

int mem__check_emotion(mem_store *s, const mem_emotion *e, mem_emotion *out)
{
    memset(out, 0, sizeof *out);
    if (!e || !e->present) return 0;
    if (!isfinite(e->valence) || !isfinite(e->arousal))
        return mem__set_err(s, -EINVAL, "emotional_context valence and arousal must be finite numbers");
    *out = *e;
    out->valence = e->valence < -1 ? -1 : e->valence > 1 ? 1 : e->valence;
    out->arousal = e->arousal < -1 ? -1 : e->arousal > 1 ? 1 : e->arousal;
    size_t ql = strnlen(e->quadrant, sizeof e->quadrant);
    if (ql == 0 || ql >= sizeof e->quadrant || !utf8_valid(e->quadrant, ql))
        snprintf(out->quadrant, sizeof out->quadrant, "%s", mem_quadrant(out->valence, out->arousal));
    return 0;
}

/* --------------------------------------------------------------- insert */

/* Binds ?1..?22 of an insert or update of every column, in mem__record_cols order. */
static void bind_record(sqlite3_stmt *st, const mem_record *r)
{
    sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->content, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, r->summary, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, r->memory_type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, mem_status_name(r->status), -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 6, r->created_at);
    sqlite3_bind_double(st, 7, r->last_accessed);
    sqlite3_bind_int64(st, 8, r->access_count);
    if (r->emotion.present) {
        sqlite3_bind_double(st, 9, r->emotion.valence);
        sqlite3_bind_double(st, 10, r->emotion.arousal);
        sqlite3_bind_text(st, 11, r->emotion.quadrant, -1, SQLITE_STATIC);
    }
    sqlite3_bind_double(st, 12, r->salience);
    sqlite3_bind_double(st, 13, r->importance);
    sqlite3_bind_text(st, 14, r->tags ? r->tags : "[]", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 15, r->metadata ? r->metadata : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 16, r->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 17, r->trust, -1, SQLITE_STATIC);
    if (r->superseded_by[0]) sqlite3_bind_text(st, 18, r->superseded_by, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 19, r->lineage ? r->lineage : "[]", -1, SQLITE_STATIC);
    if (r->archived_at > 0) sqlite3_bind_double(st, 20, r->archived_at);
    if (r->archive_reason[0]) sqlite3_bind_text(st, 21, r->archive_reason, -1, SQLITE_STATIC);
    if (r->supersedes[0]) sqlite3_bind_text(st, 22, r->supersedes, -1, SQLITE_STATIC);
}

static int put_vector(mem_store *s, int64_t seq, const float *vec, bool replace)
{
    sqlite3_stmt *st;
    int rc = mem__prepare(s,
                          replace ? "INSERT OR REPLACE INTO memory_vectors(seq, model, vec) VALUES (?1, ?2, ?3)"
                                  : "INSERT INTO memory_vectors(seq, model, vec) VALUES (?1, ?2, ?3)",
                          &st);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_text(st, 2, mem_embedder_name(s->emb), -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, vec, (int)(sizeof *vec * (size_t)mem_embedder_dim(s->emb)), SQLITE_STATIC);
    int x = sqlite3_step(st);
    sqlite3_finalize(st);
    return x == SQLITE_DONE ? 0 : mem__sql_err(s, x, "storing the memory's vector");
}

/* Runs sql with every column of r bound (bind_record's numbering); what
 * names it in the error. 0 or a negative errno with the store's error set. */
static int exec_record(mem_store *s, const char *sql, const mem_record *r, const char *what)
{
    sqlite3_stmt *st;
    int rc = mem__prepare(s, sql, &st);
    if (rc) return rc;
    bind_record(st, r);
    int x = sqlite3_step(st);
    sqlite3_finalize(st);
    return x == SQLITE_DONE ? 0 : mem__sql_err(s, x, what);
}

int mem__insert_row(mem_store *s, const mem_record *r, const float *vec, int64_t *seq)
{
    static const char sql[] =
        "INSERT INTO memories(id, content, summary, memory_type, status, created_at, last_accessed, access_count,"
        " valence, arousal, quadrant, salience, importance, tags, metadata, source, trust, superseded_by, lineage,"
        " archived_at, archive_reason, supersedes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
        " ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)";
    int rc = exec_record(s, sql, r, "storing the memory");
    if (rc) return rc;
    *seq = sqlite3_last_insert_rowid(s->db);
    return put_vector(s, *seq, vec, false);
}

/* Rewrites every column of the row with r's id (the FTS trigger re-indexes
 * it) and, with vec, its vector. The vector of a seq changes, which the
 * other processes' vector copies cannot see from data_version alone: the
 * caller bumps vector_epoch (mem__bump_vector_epoch) in the same transaction. */
int mem__update_row(mem_store *s, const mem_record *r, int64_t seq, const float *vec)
{
    static const char sql[] =
        "UPDATE memories SET content = ?2, summary = ?3, memory_type = ?4, status = ?5, created_at = ?6,"
        " last_accessed = ?7, access_count = ?8, valence = ?9, arousal = ?10, quadrant = ?11, salience = ?12,"
        " importance = ?13, tags = ?14, metadata = ?15, source = ?16, trust = ?17, superseded_by = ?18,"
        " lineage = ?19, archived_at = ?20, archive_reason = ?21, supersedes = ?22 WHERE id = ?1";
    int rc = exec_record(s, sql, r, "updating the memory");
    if (rc) return rc;
    return vec ? put_vector(s, seq, vec, true) : 0;
}

/* First n characters of text, cut on a character boundary. */
char *mem__prefix_chars(const char *text, int n)
{
    size_t len = strlen(text);
    size_t i = n < 0 ? len : utf8_truncate_chars(text, len, (size_t)n);
    char *out = malloc(i + 1);
    if (!out) return NULL;
    memcpy(out, text, i);
    out[i] = '\0';
    return out;
}

int mem_store_add(mem_store *s, const mem_new *m, mem_record *out)
{
    if (out) memset(out, 0, sizeof *out);
    int rc = check_text(s, "content", m->content, s->p.max_content_bytes, true);
    if (!rc) rc = check_text(s, "summary", m->summary, s->p.max_content_bytes, false);
    const char *type = m->memory_type ? m->memory_type : "episodic";
    const char *source = m->source ? m->source : "user";
    if (!rc) rc = check_type(s, type);
    if (!rc) rc = check_source(s, source);
    if (!rc) rc = check_json(s, "metadata", m->metadata, cJSON_Object);
    mem_record r;
    memset(&r, 0, sizeof r);
    if (!rc) rc = mem__check_emotion(s, m->emotion, &r.emotion);
    if (rc) return rc;
    r.tags = tags_json(s, m->tags, m->n_tags, &rc);
    if (rc) return rc;
    double now = mem_store_now(s);
    uuid4(r.id);
    r.content = strdup(m->content);
    r.summary = m->summary && *m->summary ? strdup(m->summary) : mem__prefix_chars(m->content, s->p.summary_chars);
    r.metadata = strdup(m->metadata ? m->metadata : "{}");
    r.lineage = strdup("[]");
    snprintf(r.memory_type, sizeof r.memory_type, "%s", type);
    snprintf(r.source, sizeof r.source, "%s", source);
    snprintf(r.trust, sizeof r.trust, "%s", mem__is_low_trust(s, source) ? "low" : "high");
    r.status = MEM_SHORT_TERM;
    r.created_at = r.last_accessed = now;
    r.salience = mem_salience(r.emotion.present, r.emotion.valence, r.emotion.arousal);
    r.importance = mem_importance(r.salience, 0, 0);
    float *vec = malloc(sizeof *vec * (size_t)mem_embedder_dim(s->emb));
    if (!r.content || !r.summary || !r.metadata || !r.lineage || !vec) {
        rc = mem__set_err(s, -ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = mem__vectors_ready(s))) goto done;
    if ((rc = mem_embed(s->emb, r.content, strlen(r.content), vec))) {
        mem__set_err(s, rc, "computing the embedding failed");
        goto done;
    }
    char older[MEM_ID_LEN];
    if (mem__find_restated(s, r.content, vec, older)) { /* a missed link must never cost the memory */
        log_warn("store: the knowledge-update check failed, storing without a link: %s", s->err);
        s->err[0] = older[0] = '\0';
    }
    int64_t seq = 0;
    bool linked = false;
    if ((rc = mem__begin_write(s))) goto done;
    if (older[0] && (rc = mem__link_update(s, older, r.id, &linked))) {
        mem__rollback(s);
        goto done;
    }
    if (linked) snprintf(r.supersedes, sizeof r.supersedes, "%s", older);
    if ((rc = mem__insert_row(s, &r, vec, &seq))) {
        mem__rollback(s);
        goto done;
    }
    if ((rc = mem__commit(s))) goto done;
    mem__vx_note(s, seq, r.status, vec);
    if (out) {
        *out = r;
        memset(&r, 0, sizeof r);
    }
done:
    free(vec);
    mem_record_clear(&r);
    return rc;
}

/* ------------------------------------------------------------- lookups */

static int check_id(mem_store *s, const char *id)
{
    if (!id || !*id) return mem__set_err(s, -EINVAL, "memory_id is empty");
    size_t n = strlen(id);
    if (n >= MEM_ID_LEN || !utf8_valid(id, n))
        return mem__set_err(s, -EINVAL, "memory_id '%.*s' is not a memory id (ids are UUIDs)", utf8_prec(id, 48), id);
    return 0;
}

int mem_store_get(mem_store *s, const char *id, mem_record *out)
{
    memset(out, 0, sizeof *out);
    int rc = check_id(s, id);
    if (rc) return rc;
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT %s FROM memories WHERE id = ?1", mem__record_cols);
    sqlite3_stmt *st;
    if ((rc = mem__prepare(s, sql, &st))) return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int x = sqlite3_step(st);
    if (x == SQLITE_ROW) rc = mem__row_to_record(st, 0, out);
    else if (x == SQLITE_DONE) rc = mem__set_err(s, -ENOENT, "no memory with id %s", id);
    else rc = mem__sql_err(s, x, "reading a memory");
    sqlite3_finalize(st);
    return rc;
}

static int seq_of(mem_store *s, const char *id, int64_t *seq, mem_status *status)
{
    sqlite3_stmt *st;
    int rc = mem__prepare(s, "SELECT seq, status FROM memories WHERE id = ?1", &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int x = sqlite3_step(st);
    if (x == SQLITE_ROW) {
        *seq = sqlite3_column_int64(st, 0);
        if (mem_status_parse((const char *)sqlite3_column_text(st, 1), status)) *status = MEM_SHORT_TERM;
        rc = 0;
    } else {
        rc = x == SQLITE_DONE ? mem__set_err(s, -ENOENT, "no memory with id %s", id) : mem__sql_err(s, x, "lookup");
    }
    sqlite3_finalize(st);
    return rc;
}

/* Opens a write transaction on the memory id names and finds its row: 0 with
 * the transaction open and *seq, *status set; on an error (an invalid id,
 * -ENOENT, a busy database) nothing is left open and the store's error says
 * what was wrong. */
static int begin_on(mem_store *s, const char *id, int64_t *seq, mem_status *status)
{
    int rc = check_id(s, id);
    if (rc) return rc;
    if ((rc = mem__begin_write(s))) return rc;
    *seq = 0;
    *status = MEM_SHORT_TERM;
    if ((rc = seq_of(s, id, seq, status))) mem__rollback(s);
    return rc;
}

int mem_store_delete(mem_store *s, const char *id, bool *deleted)
{
    *deleted = false;
    int64_t seq;
    mem_status st;
    int rc = begin_on(s, id, &seq, &st);
    if (rc) return rc == -ENOENT ? 0 : rc;
    sqlite3_stmt *q;
    rc = mem__prepare(s, "DELETE FROM memories WHERE seq = ?1", &q);
    if (!rc) {
        sqlite3_bind_int64(q, 1, seq);
        int x = sqlite3_step(q);
        sqlite3_finalize(q);
        if (x != SQLITE_DONE) rc = mem__sql_err(s, x, "deleting the memory");
    }
    if (!rc) rc = mem__unlink_deleted(s, id);
    if (!rc) rc = mem__commit(s);
    mem__rollback(s);
    if (rc) return rc;
    *deleted = true;
    mem__vx_note(s, seq, MEM_VX_REMOVED, NULL);
    return 0;
}

/* Runs sql (an UPDATE of one row) with ?1 = seq and ?2 = now; what names it
 * in the error. 0 or a negative errno with the store's error set. */
static int exec_at(mem_store *s, const char *sql, int64_t seq, const char *what)
{
    sqlite3_stmt *q;
    int rc = mem__prepare(s, sql, &q);
    if (rc) return rc;
    sqlite3_bind_int64(q, 1, seq);
    sqlite3_bind_double(q, 2, mem_store_now(s));
    int x = sqlite3_step(q);
    sqlite3_finalize(q);
    return x == SQLITE_DONE ? 0 : mem__sql_err(s, x, what);
}

int mem_store_restore(mem_store *s, const char *id)
{
    int64_t seq;
    mem_status st;
    int rc = begin_on(s, id, &seq, &st);
    if (rc) return rc;
    if (st != MEM_ARCHIVED)
        rc = mem__set_err(s, -EINVAL, "memory %s is %s, not archived; only archived memories can be restored", id,
                          mem_status_name(st));
    sqlite3_stmt *q;
    /* the memory that superseded it no longer stands for it */
    if (!rc)
        rc = mem__prepare(s,
                          "UPDATE memories SET lineage = (SELECT coalesce(json_group_array(value), '[]')"
                          " FROM json_each(memories.lineage) WHERE value != ?2)"
                          " WHERE id = (SELECT superseded_by FROM memories WHERE seq = ?1) AND json_valid(lineage)",
                          &q);
    if (!rc) {
        sqlite3_bind_int64(q, 1, seq);
        sqlite3_bind_text(q, 2, id, -1, SQLITE_STATIC);
        int x = sqlite3_step(q);
        sqlite3_finalize(q);
        if (x != SQLITE_DONE) rc = mem__sql_err(s, x, "updating the lineage");
    }
    if (!rc)
        rc = exec_at(s,
                     "UPDATE memories SET status = 'short_term', archived_at = NULL, archive_reason = NULL,"
                     " superseded_by = CASE WHEN archive_reason = 'deleted' THEN superseded_by END,"
                     " last_accessed = ?2 WHERE seq = ?1",
                     seq, "restoring the memory");
    if (!rc) rc = mem__commit(s);
    mem__rollback(s);
    if (!rc) mem__vx_note(s, seq, MEM_SHORT_TERM, NULL);
    return rc;
}

static int collect(mem_store *s, sqlite3_stmt *st, mem_record **out, size_t *n, size_t cap)
{
    mem_record *v = calloc(cap ? cap : 1, sizeof *v);
    if (!v) return mem__set_err(s, -ENOMEM, "out of memory");
    size_t k = 0;
    int x, rc = 0;
    while (k < cap && (x = sqlite3_step(st)) == SQLITE_ROW) {
        if ((rc = mem__row_to_record(st, 0, &v[k]))) break;
        k++;
    }
    if (!rc && k < cap && x != SQLITE_DONE) rc = mem__sql_err(s, x, "reading memories");
    if (rc) {
        mem_records_free(v, k);
        return rc;
    }
    *out = v;
    *n = k;
    return 0;
}

int mem_store_recent(mem_store *s, double hours, int limit, mem_record **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!(hours > 0) || hours > 24.0 * 365 * 100)
        return mem__set_err(s, -EINVAL, "hours must be a positive number of hours (got %g)", hours);
    if (limit < 1 || limit > 1000) return mem__set_err(s, -EINVAL, "limit must be in 1..1000 (got %d)", limit);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT %s FROM memories WHERE status != 'archived' AND created_at >= ?1"
             " ORDER BY created_at DESC, seq DESC LIMIT ?2",
             mem__record_cols);
    sqlite3_stmt *st;
    int rc = mem__prepare(s, sql, &st);
    if (rc) return rc;
    sqlite3_bind_double(st, 1, mem_store_now(s) - hours * 3600.0);
    sqlite3_bind_int(st, 2, limit);
    rc = collect(s, st, out, n, (size_t)limit);
    sqlite3_finalize(st);
    return rc;
}


int mem_store_foreach(mem_store *s, int (*cb)(const mem_record *r, void *ud), void *ud)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT %s FROM memories ORDER BY seq", mem__record_cols);
    sqlite3_stmt *st;
    int rc = mem__prepare(s, sql, &st);
    if (rc) return rc;
    int x;
    while ((x = sqlite3_step(st)) == SQLITE_ROW) {
        mem_record r;
        if ((rc = mem__row_to_record(st, 0, &r))) break;
        rc = cb(&r, ud);
        mem_record_clear(&r);
        if (rc) break;
    }
    if (!rc && x != SQLITE_DONE) rc = mem__sql_err(s, x, "reading memories");
    sqlite3_finalize(st);
    return rc;
}

/* ------------------------------------------------------------ whole records */

int mem__check_record(mem_store *s, const mem_record *r)
{
    int rc = check_id(s, r->id);
    if (!rc) rc = check_text(s, "content", r->content, s->p.max_content_bytes, true);
    if (!rc) rc = check_text(s, "summary", r->summary, s->p.max_content_bytes, false);
    if (!rc) rc = check_type(s, r->memory_type);
    if (!rc) rc = check_source(s, r->source);
    if (!rc && (unsigned)r->status > MEM_ARCHIVED) rc = mem__set_err(s, -EINVAL, "unknown status");
    if (!rc && (!isfinite(r->created_at) || !isfinite(r->last_accessed) || r->access_count < 0))
        rc = mem__set_err(s, -EINVAL, "times must be finite and access_count >= 0");
    if (!rc) rc = check_json(s, "tags", r->tags, cJSON_Array);
    if (!rc) rc = check_json(s, "lineage", r->lineage, cJSON_Array);
    if (!rc) rc = check_json(s, "metadata", r->metadata, cJSON_Object);
    mem_emotion e;
    if (!rc) rc = mem__check_emotion(s, &r->emotion, &e);
    return rc;
}

/* The summary of a memory whose content changes: the given one ("" = the
 * default of the new content); else, when
 * the old summary was the default (the first summary_chars characters of
 * the old content), the default of the new content; else the old one (a
 * hand-written summary is the person's, not ours to drop). */
/* A summary is the default when it is the start of the content, perhaps cut
 * shorter than summary_chars by a client and ended with "..." or an ellipsis
 * (psyche sends such previews); a summary that says something else is a
 * person's and is kept. */
static bool summary_is_prefix(const char *content, const char *summary)
{
    size_t n = strlen(summary);
    while (n && (summary[n - 1] == ' ' || summary[n - 1] == '.')) n--;
    if (n >= 3 && !memcmp(summary + n - 3, "\xe2\x80\xa6", 3)) n -= 3; /* U+2026 */
    while (n && summary[n - 1] == ' ') n--;
    return n > 0 && !strncmp(content, summary, n);
}

char *mem__changed_summary(mem_store *s, const char *old_content, const char *old_summary, const char *new_content,
                           const char *given)
{
    if (given) return *given ? strdup(given) : mem__prefix_chars(new_content, s->p.summary_chars);
    if (!old_summary || !*old_summary || !strcmp(old_content, new_content))
        return old_summary && *old_summary ? strdup(old_summary) : mem__prefix_chars(new_content, s->p.summary_chars);
    return summary_is_prefix(old_content, old_summary) ? mem__prefix_chars(new_content, s->p.summary_chars)
                                                       : strdup(old_summary);
}

/* Reads the row of id inside the current transaction. */
int mem__get_locked(mem_store *s, const char *id, mem_record *r, int64_t *seq)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT seq, %s FROM memories WHERE id = ?1", mem__record_cols);
    sqlite3_stmt *st;
    int rc = mem__prepare(s, sql, &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int x = sqlite3_step(st);
    if (x == SQLITE_ROW) {
        *seq = sqlite3_column_int64(st, 0);
        rc = mem__row_to_record(st, 1, r);
    } else {
        rc = x == SQLITE_DONE ? mem__set_err(s, -ENOENT, "no memory with id %s", id) : mem__sql_err(s, x, "lookup");
    }
    sqlite3_finalize(st);
    return rc;
}

int mem_store_edit(mem_store *s, const char *id, const mem_edit *e, mem_record *out)
{
    if (out) memset(out, 0, sizeof *out);
    int rc = check_id(s, id);
    if (rc) return rc;
    if (!e->content && !e->summary && !e->set_tags && !e->memory_type)
        return mem__set_err(s, -EINVAL, "nothing to change: give a new content, summary, tags or memory_type");
    if (e->content) rc = check_text(s, "content", e->content, s->p.max_content_bytes, true);
    if (!rc && e->summary) rc = check_text(s, "summary", e->summary, s->p.max_content_bytes, false);
    if (!rc && e->memory_type) rc = check_type(s, e->memory_type);
    char *tags = NULL;
    if (!rc && e->set_tags) tags = tags_json(s, e->tags, e->n_tags, &rc);
    if (rc) return rc;
    float *vec = NULL;
    mem_record r;
    memset(&r, 0, sizeof r);
    int64_t seq = 0;
    if ((rc = mem__vectors_ready(s))) goto done;
    if (e->content) { /* embedded before the write lock is taken */
        if (!(vec = malloc(sizeof *vec * (size_t)mem_embedder_dim(s->emb)))) {
            rc = mem__set_err(s, -ENOMEM, "out of memory");
            goto done;
        }
        if ((rc = mem_embed(s->emb, e->content, strlen(e->content), vec))) {
            mem__set_err(s, rc, "computing the embedding failed");
            goto done;
        }
    }
    if ((rc = mem__begin_write(s))) goto done;
    if ((rc = mem__get_locked(s, id, &r, &seq))) goto rollback;
    if (e->content || e->summary) {
        const char *content = e->content ? e->content : r.content;
        char *sum = mem__changed_summary(s, r.content, r.summary, content, e->summary);
        char *c = strdup(content);
        if (!sum || !c) {
            free(sum);
            free(c);
            rc = mem__set_err(s, -ENOMEM, "out of memory");
            goto rollback;
        }
        free(r.content);
        free(r.summary);
        r.content = c;
        r.summary = sum;
    }
    if (tags) {
        free(r.tags);
        r.tags = tags;
        tags = NULL;
    }
    if (e->memory_type) snprintf(r.memory_type, sizeof r.memory_type, "%s", e->memory_type);
    if ((rc = mem__update_row(s, &r, seq, vec))) goto rollback;
    if (vec && (rc = mem__bump_vector_epoch(s))) goto rollback;
    if ((rc = mem__commit(s))) goto done;
    if (vec) mem__vx_note(s, seq, r.status, vec);
    if (out) {
        *out = r;
        memset(&r, 0, sizeof r);
    }
    goto done;
rollback:
    mem__rollback(s);
done:
    free(tags);
    free(vec);
    mem_record_clear(&r);
    return rc;
}

int mem_store_archive(mem_store *s, const char *id)
{
    int64_t seq;
    mem_status st;
    int rc = begin_on(s, id, &seq, &st);
    if (rc) return rc;
    if (st == MEM_ARCHIVED)
        rc = mem__set_err(s, -EALREADY,
                          "memory %s is already archived; purging removes it for good (mnemosyne delete --purge, or "
                          "delete_memory with purge: true)",
                          id);
    if (!rc)
        rc = exec_at(s,
                     "UPDATE memories SET status = 'archived', archived_at = ?2, archive_reason = 'deleted'"
                     " WHERE seq = ?1",
                     seq, "archiving the memory");
    if (!rc) rc = mem__commit(s);
    mem__rollback(s);
    if (!rc) mem__vx_note(s, seq, MEM_ARCHIVED, NULL);
    return rc;
}

int mem_store_forget_all(mem_store *s, int64_t *forgotten)
{
    *forgotten = 0;
    int rc = mem__begin_write(s);
    if (rc) return rc;
    rc = mem__exec(s, "DELETE FROM memories"); /* the triggers empty the index and the vectors */
    if (!rc) *forgotten = sqlite3_changes64(s->db);
    if (!rc) rc = mem__bump_vector_epoch(s);
    if (!rc) rc = mem__commit(s);
    mem__rollback(s);
    if (rc) {
        *forgotten = 0;
        return rc;
    }
    mem__vx_drop(s);
    return 0;
}
