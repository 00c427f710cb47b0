/* store.c - opening and closing the memory database: integrity check before
 * any write, WAL and synchronous, busy timeout, migrations, the embedder
 * (and re-embedding when it changed), statistics, and the transaction and
 * error helpers the other store files use.
 *
 * Records live in records.c, search in search.c, consolidation in
 * consolidate.c, the vector copy in vindex.c, the schema in schema.c. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "log.h"
#include "store_int.h"
#include "utf8.h"
#include "util.h"

static const char *const default_low_trust[] = {"dream", "tool", "import"};

void mem_store_default_params(mem_store_params *p)
{
    memset(p, 0, sizeof *p);
    p->path = "memories.db";
    p->synchronous_full = true;
    p->busy_timeout_ms = 5000;
    p->full_check_max_bytes = 64LL * 1024 * 1024;
    p->max_content_bytes = 65536;
    p->summary_chars = 500;
    mem_embed_default_params(&p->embed);
    p->low_trust_sources = NULL;
    p->n_low_trust_sources = 0;
    mem_retrieval_default_params(&p->retrieval);
    p->consolidation.importance_threshold = 0.6;
    p->consolidation.similarity_threshold = 0.85;
    p->consolidation.min_age_hours = 1.0;
    p->consolidation.max_batch_size = 50;
    p->consolidation.buffer_threshold = 100;
    p->consolidation.stale_days = 30.0;
}

/* ------------------------------------------------------------------ errors */

int mem__set_err(mem_store *s, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
    utf8_trim_partial(s->err); /* a message cut by the buffer ends between characters */
    return rc;
}

int mem__sql_err(mem_store *s, int sqlrc, const char *what)
{
    int rc;
    const char *hint = "";
    switch (sqlrc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        /* the one message a caller can act on by waiting: say it first */
        return mem__set_err(s, -EBUSY,
                            "database is busy, try again: another process held the write lock longer than the busy "
                            "timeout of %d ms ([storage] busy_timeout_ms) (at: %s)",
                            s->p.busy_timeout_ms, what);
    case SQLITE_NOMEM: rc = -ENOMEM; break;
    case SQLITE_READONLY:
        rc = -EROFS;
        hint = " (the database file or its directory is read-only)";
        break;
    case SQLITE_FULL:
        rc = -ENOSPC;
        hint = " (the disk is full)";
        break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        rc = -EIO;
        hint = " (the database is damaged; see docs/mnemosyne.md, 'Recovering a damaged database')";
        break;
    default: rc = -EIO; break;
    }
    return mem__set_err(s, rc, "%s: %s%s", what, sqlite3_errmsg(s->db), hint);
}

const char *mem_store_errmsg(const mem_store *s) { return s->err; }
const char *mem_store_path(const mem_store *s) { return s->path; }
int mem_store_schema_version(mem_store *s) { return s->schema_version; }
mem_embedder *mem_store_embedder(mem_store *s) { return s->emb; }
const mem_store_params *mem_store_params_of(const mem_store *s) { return &s->p; }
void mem_store_set_time(mem_store *s, double now) { s->fixed_now = now; }
double mem_store_now(const mem_store *s) { return s->fixed_now > 0 ? s->fixed_now : now_wall(); }

int mem__exec(mem_store *s, const char *sql)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : mem__sql_err(s, rc, sql);
}

int mem__begin_write(mem_store *s) { return mem__exec(s, "BEGIN IMMEDIATE"); }
int mem__begin_read(mem_store *s) { return mem__exec(s, "BEGIN"); }

int mem__commit(mem_store *s)
{
    int rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc == SQLITE_OK) return 0;
    int ret = mem__sql_err(s, rc, "commit");
    mem__rollback(s);
    return ret;
}

void mem__rollback(mem_store *s)
{
    if (!sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

int mem__prepare(mem_store *s, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
    return rc == SQLITE_OK ? 0 : mem__sql_err(s, rc, "preparing a query");
}

bool mem__is_low_trust(const mem_store *s, const char *source)
{
    for (size_t i = 0; i < s->n_low_trust; i++)
        if (!strcmp(s->low_trust[i], source)) return true;
    return false;
}

/* --------------------------------------------------------------- opening */

/* The database's folder and its parents (fs_mkdir_parent), with a message. */
static int mkdirs_for(const char *path, char *err, size_t errlen)
{
    int rc = fs_mkdir_parent(path, 0700);
    if (rc) snprintf(err, errlen, "cannot create the folder of the database %s: %s", path, strerror(-rc));
    return rc;
}

/* integrity_check or quick_check; collects up to 10 findings. Writes nothing. */
static int check_integrity(sqlite3 *db, const char *path, bool quick, char *err, size_t errlen)
{
    const char *what = quick ? "quick_check" : "integrity_check";
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA %s(10)", what);
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) goto sqlfail;
    char found[700] = "";
    size_t used = 0;
    bool ok = false;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        if (t && !strcmp(t, "ok")) {
            ok = true;
            continue;
        }
        if (used < sizeof found - 1)
            used += (size_t)snprintf(found + used, sizeof found - used, "%s%s", used ? "; " : "", t ? t : "?");
        if (used >= sizeof found) used = sizeof found - 1;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) goto sqlfail;
    if (ok && !used) return 0;
    snprintf(err, errlen,
             "database %s failed PRAGMA %s: %s. Nothing was written to it. Keep a copy of the file, then "
             "recover it with `sqlite3 %s .recover | sqlite3 recovered.db`, or restore a backup or an export",
             path, what, used ? found : "no result", path);
    return -EIO;
sqlfail:
    if ((rc & 0xff) == SQLITE_NOTADB)
        snprintf(err, errlen, "%s is not a SQLite database (or is damaged beyond reading); nothing was written to it",
                 path);
    else if ((rc & 0xff) == SQLITE_BUSY)
        snprintf(err, errlen, "%s is locked by another process beyond the busy timeout; try again", path);
    else
        snprintf(err, errlen,
                 "database %s could not be checked: %s. Nothing was written to it; recover it with "
                 "`sqlite3 %s .recover | sqlite3 recovered.db` or restore a backup",
                 path, sqlite3_errmsg(db), path);
    return (rc & 0xff) == SQLITE_BUSY ? -EBUSY : -EIO;
}

/* FTS5 keeps its index in shadow tables whose contents PRAGMA
 * integrity_check cannot judge (it sees only valid b-trees), so the index
 * gets its own 'integrity-check' command. That command is an INSERT: it
 * takes the write lock for its duration (about 0.2 s at 100k memories) but
 * changes no page. When another process holds the lock beyond the busy
 * timeout the check is skipped with a warning: a reader must not fail
 * because someone else writes. */
static int check_fts(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'memories_fts'", -1,
                                &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc == SQLITE_DONE) return 0; /* a file from before the index (migrated later) */
        if (rc == SQLITE_ROW) rc = SQLITE_OK;
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "INSERT INTO memories_fts(memories_fts) VALUES ('integrity-check')", NULL, NULL, NULL);
    if (rc == SQLITE_OK) return 0;
    if ((rc & 0xff) == SQLITE_BUSY) {
        /* Another process is writing: it opened the file (and checked it) itself. Reading must not
         * depend on the write lock, so the check waits for the next start. */
        log_warn("database %s: the full-text index was not checked (another process held the write lock beyond "
                 "the busy timeout); it is checked at the next start",
                 path);
        return 0;
    }
    snprintf(err, errlen,
             "database %s failed the FTS5 integrity-check of its full-text index (%s). Nothing was written to it. "
             "The memories themselves passed PRAGMA integrity_check; keep a copy of the file, rebuild the index "
             "with `sqlite3 %s \"INSERT INTO memories_fts(memories_fts) VALUES ('rebuild')\"` and start again",
             path, sqlite3_errmsg(db), path);
    return -EIO;
}

/* importance(salience, age_days, access_count) in SQL: the same C formula,
 * so consolidation can rank candidates inside the query. */
static void sql_importance(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    sqlite3_result_double(ctx, mem_importance(sqlite3_value_double(argv[0]), sqlite3_value_double(argv[1]),
                                              sqlite3_value_int64(argv[2])));
}

static int pragma_text(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        snprintf(out, outlen, "%s", t ? t : "");
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        out[0] = '\0';
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* WAL, synchronous and the session pragmas. SQLite does not call the busy
 * handler for a journal-mode change that meets another connection's lock
 * (two processes creating the same new file at once), so the switch is
 * retried here until busy_timeout_ms has passed, as every other lock wait. */
static int switch_to_wal(sqlite3 *db, const mem_store_params *p, char *err, size_t errlen)
{
    char mode[32] = "";
    int rc = SQLITE_OK;
    double deadline = now_mono() + p->busy_timeout_ms / 1000.0;
    useconds_t nap = 1000;
    for (;;) {
        rc = pragma_text(db, "PRAGMA journal_mode=WAL", mode, sizeof mode);
        if (rc == SQLITE_OK && !strcmp(mode, "wal")) break;
        bool busy = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED || rc == SQLITE_OK;
        if (!busy || now_mono() >= deadline) {
            snprintf(err, errlen, "database %s: cannot switch to WAL mode (%s)%s", p->path,
                     rc != SQLITE_OK ? sqlite3_errmsg(db) : mode,
                     busy ? "; another process held it beyond busy_timeout_ms, try again" : "");
            return busy ? -EBUSY : -EIO;
        }
        usleep(nap);
        if (nap < 50000) nap *= 2;
    }
    rc = sqlite3_exec(db, p->synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", NULL, NULL,
                      NULL);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, "PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "database %s: %s", p->path, sqlite3_errmsg(db));
        return -EIO;
    }
    return 0;
}

static int open_embedder(mem_store *s, char *err, size_t errlen)
{
    mem_embed_params ep = s->p.embed;
    char dbmodel[1024] = "";
    if (!ep.model_path || !*ep.model_path) {
        /* No model configured: the database remembers the one it was built with. */
        if (mem__meta_get(s->db, "embedding_model_path", dbmodel, sizeof dbmodel) == 0 && *dbmodel) {
            if (access(dbmodel, R_OK) == 0) {
                ep.model_path = dbmodel;
                log_info("using the database's embedding model %s", dbmodel);
            } else {
                log_warn("the database was embedded with %s, which is not readable here; using the hashed "
                         "embedding (vectors are recomputed when this process first searches or stores)",
                         dbmodel);
            }
        }
    }
    s->model_path = strdup(ep.model_path ? ep.model_path : "");
    if (!s->model_path) return -ENOMEM;
    return mem_embedder_open(&ep, &s->emb, err, errlen);
}

/* The store struct with its own copies of the path and the low-trust list. */
static mem_store *store_new(const mem_store_params *p)
{
    mem_store *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = *p;
    s->path = strdup(p->path);
    const char *const *lt = p->low_trust_sources ? p->low_trust_sources : default_low_trust;
    size_t nlt = p->low_trust_sources ? p->n_low_trust_sources : sizeof default_low_trust / sizeof *default_low_trust;
    s->low_trust = calloc(nlt + 1, sizeof *s->low_trust);
    bool ok = s->path && s->low_trust;
    for (size_t i = 0; ok && i < nlt; i++)
        if ((ok = (s->low_trust[i] = strdup(lt[i])) != NULL)) s->n_low_trust++;
    if (!ok) {
        mem_store_close(s);
        return NULL;
    }
    s->p.path = s->path;
    s->p.low_trust_sources = NULL;
    s->p.embed.model_path = NULL; /* not kept: open_embedder reads it from p */
    return s;
}

/* "file:<path>?immutable=1" with the URI's special characters escaped. */
static void immutable_uri(const char *path, char *out, size_t outlen)
{
    size_t o = (size_t)snprintf(out, outlen, "file:");
    for (const char *c = path; *c && o + 4 < outlen; c++) {
        if (*c == '%' || *c == '?' || *c == '#')
            o += (size_t)snprintf(out + o, outlen - o, "%%%02X", (unsigned char)*c);
        else out[o++] = *c;
    }
    out[o < outlen ? o : outlen - 1] = '\0';
    snprintf(out + strlen(out), outlen - strlen(out), "?immutable=1");
}

/* Opens the connection: read-write (creating the file) or read-only. A
 * read-only WAL file whose folder cannot hold the -shm file (read-only
 * media) cannot be read normally; it is opened immutable (nobody can write
 * there). */
static int open_connection(mem_store *s, char *err, size_t errlen)
{
    const char *path = s->path;
    int flags = s->p.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK && s->p.read_only &&
        sqlite3_exec(s->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) != SQLITE_OK) {
        char uri[8192];
        immutable_uri(path, uri, sizeof uri);
        sqlite3_close_v2(s->db);
        s->db = NULL;
        rc = sqlite3_open_v2(uri, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
    }
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        return rc == SQLITE_CANTOPEN ? -EACCES : -EIO;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, s->p.busy_timeout_ms);
    sqlite3_create_function(s->db, "mnemo_importance", 3, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
                            sql_importance, NULL, NULL);
    return 0;
}

/* Read-only: the file must exist, and be of this schema (migrating writes). */
static int check_read_only(mem_store *s, char *err, size_t errlen)
{
    int rc = mem__schema_version(s->db, &s->schema_version);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "database %s: reading the schema version: %s", s->path, sqlite3_errmsg(s->db));
        return -EIO;
    }
    if (s->schema_version == MEM_SCHEMA_VERSION) return 0;
    snprintf(err, errlen,
             "database %s has schema version %d and this mnemosyne reads version %d; %s (the file was left as it is)",
             s->path, s->schema_version, MEM_SCHEMA_VERSION,
             s->schema_version > MEM_SCHEMA_VERSION
                 ? "use a newer mnemosyne"
                 : "open it once with a writing command (e.g. mnemosyne consolidate) "
                   "to migrate it, or copy it somewhere writable first");
    return -EPROTO;
}

int mem_store_open(const mem_store_params *p, mem_store **out, char *err, size_t errlen)
{
    *out = NULL;
    err[0] = '\0';
    if (!p->path || !*p->path) {
        snprintf(err, errlen, "no database path given (set [storage] db_path or --db)");
        return -EINVAL;
    }
    struct stat stb;
    bool existed = stat(p->path, &stb) == 0 && stb.st_size > 0;
    if ((p->read_only || p->must_exist) && !existed) {
        snprintf(err, errlen, "no memory database at %s (nothing was created); check --db or [storage] db_path",
                 p->path);
        return -ENOENT;
    }
    mem_store *s = store_new(p);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int rc = p->read_only ? 0 : mkdirs_for(p->path, err, errlen);
    if (!rc) rc = open_connection(s, err, errlen);
    if (!rc && existed) {
        rc = check_integrity(s->db, p->path, stb.st_size > p->full_check_max_bytes, err, errlen);
        if (!rc && !p->read_only) rc = check_fts(s->db, p->path, err, errlen); /* it takes the write lock */
    }
    if (!rc && p->read_only) rc = check_read_only(s, err, errlen);
    if (!rc && !p->read_only) rc = switch_to_wal(s->db, p, err, errlen);
    if (!rc && !p->read_only) rc = mem__migrate(s->db, MEM_SCHEMA_VERSION, &s->schema_version, err, errlen);
    if (!rc) {
        s->p.embed = p->embed;
        rc = open_embedder(s, err, errlen);
        s->p.embed.model_path = s->model_path;
    }
    if (rc) {
        mem_store_close(s);
        return rc;
    }
    log_info("memory database %s (schema %d, %s%s, synchronous %s, embedding %s)", p->path, s->schema_version,
             existed ? "existing" : "new", p->read_only ? ", read-only" : "", p->synchronous_full ? "FULL" : "NORMAL",
             mem_embedder_name(s->emb));
    *out = s;
    return 0;
}

void mem_store_close(mem_store *s)
{
    if (!s) return;
    if (s->db) {
        mem__rollback(s);
        sqlite3_close_v2(s->db);
    }
    mem_embedder_free(s->emb);
    mem__vx_free(&s->vx);
    for (size_t i = 0; i < s->n_low_trust; i++) free(s->low_trust[i]);
    free(s->low_trust);
    free(s->model_path);
    free(s->path);
    free(s);
}

/* ----------------------------------------------------------------- stats */

static int count_status(mem_store *s, mem_stats *st)
{
    sqlite3_stmt *q;
    int rc = mem__prepare(s, "SELECT status, count(*) FROM memories GROUP BY status", &q);
    if (rc) return rc;
    int r;
    while ((r = sqlite3_step(q)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q, 0);
        int64_t c = sqlite3_column_int64(q, 1);
        mem_status ms;
        if (name && mem_status_parse(name, &ms) == 0) {
            if (ms == MEM_SHORT_TERM) st->short_term = c;
            if (ms == MEM_LONG_TERM) st->long_term = c;
            if (ms == MEM_ARCHIVED) st->archived = c;
        }
        st->total += c;
    }
    sqlite3_finalize(q);
    return r == SQLITE_DONE ? 0 : mem__sql_err(s, r, "counting memories");
}

int mem_store_stats(mem_store *s, mem_stats *st)
{
    memset(st, 0, sizeof *st);
    int rc = count_status(s, st);
    if (rc) return rc;
    struct stat sb;
    if (stat(s->path, &sb) == 0) st->db_bytes += sb.st_size;
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", s->path);
    if (stat(wal, &sb) == 0) st->db_bytes += sb.st_size;
    snprintf(st->embedding_model, sizeof st->embedding_model, "%s", mem_embedder_name(s->emb));
    st->embedding_dim = mem_embedder_dim(s->emb);
    st->schema_version = s->schema_version;
    return 0;
}

int mem_store_should_consolidate(mem_store *s, bool *yes, char *reason, size_t reasonlen, int64_t *short_term,
                                 int64_t *long_term)
{
    mem_stats st;
    memset(&st, 0, sizeof st);
    int rc = count_status(s, &st);
    if (rc) return rc;
    int th = s->p.consolidation.buffer_threshold;
    *yes = st.short_term >= th;
    if (short_term) *short_term = st.short_term;
    if (long_term) *long_term = st.long_term;
    if (reason)
        snprintf(reason, reasonlen, "Buffer size (%lld) %s threshold (%d)", (long long)st.short_term,
                 *yes ? "exceeds" : "below", th);
    return 0;
}
