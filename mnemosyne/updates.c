/* updates.c - knowledge updates: a new memory that restates an attribute of
 * the same subject as an older one ("Ana works as a beekeeper" -> "Ana now
 * works as a ferry pilot") supersedes it. The newer names the older in
 * `supersedes`, the older names the newer in `superseded_by` and keeps its
 * status: it stays findable, marked superseded, and the search ranks it
 * below the newer (search.c). mem_store_unlink undoes a link.
 *
 * The test, made before the store's write transaction, is lexical and
 * cheap, so it is deliberately strict:
 *   - both search legs, queried with the new content, rank the older memory
 *     first among the current (not superseded, not archived) memories;
 *   - their cosine is at least update_similarity;
 *   - the same subject: the first content word of each is the same word;
 *   - one more shared word that is not written with a capital (the
 *     attribute: "works", "called", "lives"), so two facts that share only
 *     a person's name ("Ana Quist lives in Lisbon", "Ana Quist's cat is
 *     called Miso") are not linked. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "words.h"

#define UPDATE_TOP 3
#define UPDATE_WORDS 64

/* The folded content words of text (at most UPDATE_WORDS), first one first. */
static size_t content_words(const char *text, mem_word *out)
{
    size_t n = 0, pos = 0, len = strlen(text);
    mem_word w;
    while (n < UPDATE_WORDS && mem_next_word(text, len, &pos, &w)) {
        if (w.stop) continue;
        w.len = mem_fold_plural(w.text, w.len);
        out[n++] = w;
    }
    return n;
}

/* Same subject and a shared attribute word (see the file comment). */
static bool same_subject_and_attribute(const char *newer, const char *older)
{
    mem_word a[UPDATE_WORDS], b[UPDATE_WORDS];
    size_t na = content_words(newer, a), nb = content_words(older, b);
    if (!na || !nb || !mem_words_match(a[0].text, a[0].len, b[0].text, b[0].len)) return false;
    for (size_t i = 1; i < na; i++) {
        if (a[i].capital) continue;
        for (size_t j = 1; j < nb; j++)
            if (!b[j].capital && mem_words_match(a[i].text, a[i].len, b[j].text, b[j].len)) return true;
    }
    return false;
}

/* The first of seq[0..n) that is current (not superseded); *cur = -1 if none.
 * Its id and content are copied out (content malloc'd, or NULL). */
static int first_current(mem_store *s, sqlite3_stmt *st, const int64_t *seq, size_t n, int64_t *cur, char *id,
                         char **content)
{
    *cur = -1;
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_int64(st, 1, seq[i]);
        int x = sqlite3_step(st);
        if (x == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_NULL) {
            *cur = seq[i];
            snprintf(id, MEM_ID_LEN, "%s", (const char *)sqlite3_column_text(st, 1));
            if (content) *content = strdup((const char *)sqlite3_column_text(st, 2));
            sqlite3_reset(st);
            return content && !*content ? mem__set_err(s, -ENOMEM, "out of memory") : 0;
        }
        sqlite3_reset(st);
        if (x != SQLITE_ROW && x != SQLITE_DONE) return mem__sql_err(s, x, "checking an earlier memory");
    }
    return 0;
}

/* Inside the read transaction: the candidate both legs rank first. */
static int restated_locked(mem_store *s, const char *content, const float *vec, char *old_id)
{
    int64_t vseq[2 * UPDATE_TOP > 20 ? 2 * UPDATE_TOP : 20], bseq[UPDATE_TOP], vcur, bcur;
    float vsc[2 * UPDATE_TOP > 20 ? 2 * UPDATE_TOP : 20];
    size_t nv = 0;
    int nb = 0;
    int rc = mem__vector_top(s, vec, MEM_STATUS_ACTIVE, UPDATE_TOP, vseq, vsc, &nv);
    if (!rc) rc = mem__bm25_top(s, content, MEM_STATUS_ACTIVE, UPDATE_TOP, bseq, &nb);
    if (rc || !nv || !nb) return rc;
    sqlite3_stmt *st = NULL;
    char vid[MEM_ID_LEN], bid[MEM_ID_LEN], *older = NULL;
    rc = mem__prepare(s, "SELECT superseded_by, id, content FROM memories WHERE seq = ?1", &st);
    if (!rc) rc = first_current(s, st, vseq, nv, &vcur, vid, &older);
    if (!rc && vcur >= 0) rc = first_current(s, st, bseq, (size_t)nb, &bcur, bid, NULL);
    sqlite3_finalize(st);
    if (!rc && vcur >= 0 && bcur == vcur) {
        double cosine = 0;
        for (size_t i = 0; i < nv; i++)
            if (vseq[i] == vcur) cosine = vsc[i];
        if (cosine >= s->p.retrieval.update_similarity && same_subject_and_attribute(content, older))
            snprintf(old_id, MEM_ID_LEN, "%s", vid);
    }
    free(older);
    return rc;
}

int mem__find_restated(mem_store *s, const char *content, const float *vec, char *old_id)
{
    old_id[0] = '\0';
    if (!(s->p.retrieval.update_similarity > 0)) return 0;
    int rc = mem__begin_read(s);
    if (rc) return rc;
    rc = restated_locked(s, content, vec, old_id);
    if (rc) mem__rollback(s);
    else mem__commit(s);
    return rc;
}

int mem__link_update(mem_store *s, const char *old_id, const char *new_id, bool *linked)
{
    *linked = false;
    sqlite3_stmt *st;
    int rc = mem__prepare(s,
                          "UPDATE memories SET superseded_by = ?2 WHERE id = ?1 AND superseded_by IS NULL"
                          " AND status != 'archived'",
                          &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, old_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, new_id, -1, SQLITE_STATIC);
    int x = sqlite3_step(st);
    sqlite3_finalize(st);
    if (x != SQLITE_DONE) return mem__sql_err(s, x, "linking the update");
    *linked = sqlite3_changes(s->db) == 1;
    return 0;
}

int mem_store_unlink(mem_store *s, const char *id, bool *unlinked)
{
    *unlinked = false;
    if (!id || !*id || strlen(id) >= MEM_ID_LEN) return mem__set_err(s, -EINVAL, "memory_id is empty or too long");
    int rc = mem__begin_write(s);
    if (rc) return rc;
    /* id may be either side: the newer (supersedes) or the older (superseded_by, not archived) */
    static const char sql[] = "UPDATE memories SET superseded_by = NULL WHERE status != 'archived' AND"
                              " (superseded_by = ?1 OR id = (SELECT supersedes FROM memories WHERE id = ?1) OR"
                              "  (id = ?1 AND superseded_by IN (SELECT id FROM memories WHERE supersedes = ?1)))";
    sqlite3_stmt *st = NULL, *st2 = NULL;
    rc = mem__prepare(s, sql, &st);
    if (!rc)
        rc = mem__prepare(s,
                          "UPDATE memories SET supersedes = NULL WHERE id = ?1 AND supersedes IS NOT NULL"
                          " OR supersedes = ?1",
                          &st2);
    int changes = 0;
    for (int i = 0; i < 2 && !rc; i++) {
        sqlite3_stmt *x = i ? st2 : st;
        sqlite3_bind_text(x, 1, id, -1, SQLITE_STATIC);
        int r = sqlite3_step(x);
        if (r != SQLITE_DONE) rc = mem__sql_err(s, r, "removing the update link");
        changes += sqlite3_changes(s->db);
    }
    sqlite3_finalize(st);
    sqlite3_finalize(st2);
    if (!rc && !changes)
        rc = mem__set_err(s, -ENOENT, "memory %s is not part of an update link (or does not exist)", id);
    if (rc) {
        mem__rollback(s);
        return rc;
    }
    if ((rc = mem__commit(s))) return rc;
    *unlinked = true;
    return 0;
}

int mem__unlink_deleted(mem_store *s, const char *id)
{
    static const char *const sql[] = {
        "UPDATE memories SET superseded_by = NULL WHERE superseded_by = ?1 AND status != 'archived'",
        "UPDATE memories SET supersedes = NULL WHERE supersedes = ?1",
    };
    int rc = 0;
    for (size_t i = 0; i < 2 && !rc; i++) {
        sqlite3_stmt *st;
        if ((rc = mem__prepare(s, sql[i], &st))) break;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        int x = sqlite3_step(st);
        sqlite3_finalize(st);
        if (x != SQLITE_DONE) rc = mem__sql_err(s, x, "removing the deleted memory's update links");
    }
    return rc;
}
