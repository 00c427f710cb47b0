/* schema.c - the database schema as a list of migrations, the schema_version
 * table that records which ones ran, and the small meta key/value table.
 *
 * Each migration runs in its own BEGIN IMMEDIATE transaction that re-reads
 * the version first, so two processes opening an old file at once migrate it
 * once. Migrations only ever add: a newer Mnemosyne can read every older
 * file, and an older one refuses a newer file instead of guessing. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store_int.h"

/* v1: the record of the original (id, content, summary, type, status, times,
 * emotion, importance, tags, metadata) and vectors in their own table, so
 * scans of memories never page through embeddings. The status index covers
 * what consolidation ranks by (times, salience, access_count), so choosing a
 * batch never reads the memories' text. */
static const char mig1[] =
    "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL, applied_at REAL NOT NULL);"
    "CREATE TABLE memories("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT NOT NULL UNIQUE,"
    " content TEXT NOT NULL,"
    " summary TEXT NOT NULL,"
    " memory_type TEXT NOT NULL,"
    " status TEXT NOT NULL DEFAULT 'short_term' CHECK(status IN ('short_term','long_term','archived')),"
    " created_at REAL NOT NULL,"
    " last_accessed REAL NOT NULL,"
    " access_count INTEGER NOT NULL DEFAULT 0,"
    " valence REAL, arousal REAL, quadrant TEXT,"
    " salience REAL NOT NULL DEFAULT 0.5,"
    " importance REAL NOT NULL DEFAULT 0.5,"
    " tags TEXT NOT NULL DEFAULT '[]',"
    " metadata TEXT NOT NULL DEFAULT '{}');"
    "CREATE INDEX memories_status_created ON memories(status, created_at, last_accessed, salience, access_count);"
    "CREATE TABLE memory_vectors(seq INTEGER PRIMARY KEY, model TEXT NOT NULL, vec BLOB NOT NULL);"
    "CREATE TRIGGER memories_vec_ad AFTER DELETE ON memories BEGIN"
    " DELETE FROM memory_vectors WHERE seq = old.seq; END;";

/* v2: provenance (source, trust), reversible consolidation (superseded_by,
 * lineage, archive time and reason) and the meta table. */
static const char mig2[] =
    "ALTER TABLE memories ADD COLUMN source TEXT NOT NULL DEFAULT 'user';"
    "ALTER TABLE memories ADD COLUMN trust TEXT NOT NULL DEFAULT 'high';"
    "ALTER TABLE memories ADD COLUMN superseded_by TEXT;"
    "ALTER TABLE memories ADD COLUMN lineage TEXT NOT NULL DEFAULT '[]';"
    "ALTER TABLE memories ADD COLUMN archived_at REAL;"
    "ALTER TABLE memories ADD COLUMN archive_reason TEXT;"
    "CREATE INDEX memories_superseded ON memories(superseded_by) WHERE superseded_by IS NOT NULL;"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);";

/* v3: the lexical index. External content (no second copy of the text),
 * kept in sync by triggers inside the writing transaction; access updates
 * do not touch it. The porter stemmer folds "memories" into "memori". */
static const char mig3[] =
    "CREATE VIRTUAL TABLE memories_fts USING fts5(content, summary, tags, content='memories',"
    " content_rowid='seq', tokenize='porter unicode61 remove_diacritics 2');"
    "CREATE TRIGGER memories_fts_ai AFTER INSERT ON memories BEGIN"
    " INSERT INTO memories_fts(rowid, content, summary, tags) VALUES (new.seq, new.content, new.summary, new.tags);"
    " END;"
    "CREATE TRIGGER memories_fts_ad AFTER DELETE ON memories BEGIN"
    " INSERT INTO memories_fts(memories_fts, rowid, content, summary, tags)"
    " VALUES ('delete', old.seq, old.content, old.summary, old.tags); END;"
    "CREATE TRIGGER memories_fts_au AFTER UPDATE OF content, summary, tags ON memories BEGIN"
    " INSERT INTO memories_fts(memories_fts, rowid, content, summary, tags)"
    " VALUES ('delete', old.seq, old.content, old.summary, old.tags);"
    " INSERT INTO memories_fts(rowid, content, summary, tags) VALUES (new.seq, new.content, new.summary, new.tags);"
    " END;"
    "INSERT INTO memories_fts(memories_fts) VALUES ('rebuild');";

/* v4: knowledge updates. A memory that restates an attribute of the same
 * subject as an older one names it in `supersedes`; the older one names the
 * newer in superseded_by and keeps its status (see updates.c). */
static const char mig4[] = "ALTER TABLE memories ADD COLUMN supersedes TEXT;"
                           "CREATE INDEX memories_supersedes ON memories(supersedes) WHERE supersedes IS NOT NULL;";

static const char *const migrations[MEM_SCHEMA_VERSION] = {mig1, mig2, mig3, mig4};

int mem__schema_version(sqlite3 *db, int *version)
{
    *version = 0;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type='table' AND name='schema_version'", -1,
                                &st, NULL);
    if (rc != SQLITE_OK) return rc;
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE) return SQLITE_OK; /* a new file */
    if (rc != SQLITE_ROW) return rc;
    rc = sqlite3_prepare_v2(db, "SELECT coalesce(max(version), 0) FROM schema_version", -1, &st, NULL);
    if (rc != SQLITE_OK) return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

static int sql_errno(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return -EBUSY;
    case SQLITE_NOMEM: return -ENOMEM;
    case SQLITE_READONLY: return -EROFS;
    case SQLITE_FULL: return -ENOSPC;
    default: return -EIO;
    }
}

int mem__migrate(sqlite3 *db, int target, int *version, char *err, size_t errlen)
{
    if (target < 1 || target > MEM_SCHEMA_VERSION) target = MEM_SCHEMA_VERSION;
    for (;;) {
        int v;
        int rc = mem__schema_version(db, &v);
        if (rc != SQLITE_OK) {
            snprintf(err, errlen, "reading the schema version: %s", sqlite3_errmsg(db));
            return sql_errno(rc);
        }
        *version = v;
        if (v > MEM_SCHEMA_VERSION) {
            snprintf(err, errlen,
                     "the database has schema version %d but this mnemosyne knows only up to %d; "
                     "use a newer mnemosyne (the file was left as it is)",
                     v, MEM_SCHEMA_VERSION);
            return -EPROTO;
        }
        if (v >= target) return 0;
        rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            snprintf(err, errlen, "starting the schema migration: %s", sqlite3_errmsg(db));
            return sql_errno(rc);
        }
        /* another process may have migrated while we waited for the lock */
        rc = mem__schema_version(db, &v);
        if (rc == SQLITE_OK && v < target) {
            char *msg = NULL;
            rc = sqlite3_exec(db, migrations[v], NULL, NULL, &msg);
            if (rc == SQLITE_OK) {
                char ins[128];
                snprintf(ins, sizeof ins,
                         "INSERT INTO schema_version(version, applied_at) VALUES (%d, (julianday('now') - 2440587.5) * "
                         "86400.0)",
                         v + 1);
                rc = sqlite3_exec(db, ins, NULL, NULL, &msg);
            }
            if (rc != SQLITE_OK) {
                snprintf(err, errlen, "schema migration %d -> %d failed: %s%s", v, v + 1,
                         msg ? msg : sqlite3_errmsg(db),
                         msg && strstr(msg, "fts5") ? " (this SQLite lacks FTS5; install a build with it)" : "");
                sqlite3_free(msg);
                sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
                return sql_errno(rc);
            }
        }
        if (rc != SQLITE_OK) {
            snprintf(err, errlen, "reading the schema version: %s", sqlite3_errmsg(db));
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return sql_errno(rc);
        }
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            snprintf(err, errlen, "committing the schema migration: %s", sqlite3_errmsg(db));
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return sql_errno(rc);
        }
    }
}

int mem__meta_get(sqlite3 *db, const char *key, char *out, size_t outlen)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL);
    if (rc != SQLITE_OK) return sql_errno(rc);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    int ret = -ENOENT;
    if (rc == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        snprintf(out, outlen, "%s", v ? (const char *)v : "");
        ret = 0;
    } else if (rc != SQLITE_DONE) {
        ret = sql_errno(rc);
    }
    sqlite3_finalize(st);
    return ret;
}

int mem__meta_set(sqlite3 *db, const char *key, const char *value)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO meta(key, value) VALUES (?1, ?2)"
                                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) return sql_errno(rc);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : sql_errno(rc);
}
