/* test_mnemosyne_open.c - unit tests of opening a memory database from
 * several processes at once: two processes creating the same new file both
 * succeed (the WAL switch waits out busy_timeout like every other lock), and
 * a file whose write lock another process holds while it is still in
 * rollback-journal mode is opened once the lock goes (issue 8, row 13). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../../mnemosyne/store.h"
#include "log.h"

#include "mnemosyne_fixture.h"

#define RACERS 3
#define ROUNDS 25

/* A child: waits at the barrier, then creates/opens the file and stores one memory. */
static void racer(const char *path, int barrier)
{
    char c;
    if (read(barrier, &c, 1) != 1) _exit(3);
    mem_store_params p;
    mem_store_default_params(&p);
    p.path = path;
    p.synchronous_full = false;
    mem_store *s;
    char err[1024];
    if (mem_store_open(&p, &s, err, sizeof err)) {
        fprintf(stderr, "racer %d: %s\n", (int)getpid(), err);
        _exit(1);
    }
    mem_new m = {.content = "a memory stored while another process creates the same file"};
    int rc = mem_store_add(s, &m, NULL);
    if (rc) fprintf(stderr, "racer %d: %s\n", (int)getpid(), mem_store_errmsg(s));
    mem_store_close(s);
    _exit(rc ? 2 : 0);
}

static void test_processes_create_the_same_file(void **state)
{
    tctx *t = *state;
    for (int round = 0; round < ROUNDS; round++) {
        char path[160];
        snprintf(path, sizeof path, "%s/race-%d.db", t->dir, round);
        int fd[2];
        assert_int_equal(pipe(fd), 0);
        pid_t pid[RACERS];
        for (int i = 0; i < RACERS; i++) {
            pid[i] = fork();
            assert_true(pid[i] >= 0);
            if (pid[i] == 0) {
                close(fd[1]);
                racer(path, fd[0]);
            }
        }
        close(fd[0]);
        char go[RACERS] = {0};
        assert_int_equal(write(fd[1], go, RACERS), RACERS); /* all start at once */
        close(fd[1]);
        for (int i = 0; i < RACERS; i++) {
            int st;
            assert_int_equal(waitpid(pid[i], &st, 0), pid[i]);
            if (!WIFEXITED(st) || WEXITSTATUS(st)) fail_msg("round %d: racer %d failed (status %d)", round, i, st);
        }
        /* every store arrived */
        mem_store_params p = t->p;
        p.path = path;
        mem_store *s;
        char err[1024];
        assert_int_equal(mem_store_open(&p, &s, err, sizeof err), 0);
        assert_int_equal(t_count(s, 3), RACERS);
        mem_store_close(s);
    }
}

/* A child holds a write lock on a new rollback-journal file for 300 ms. */
static void hold_lock(const char *path, int ready)
{
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK) _exit(1);
    if (sqlite3_exec(db, "CREATE TABLE held(a); BEGIN IMMEDIATE; INSERT INTO held VALUES (1);", NULL, NULL, NULL))
        _exit(2);
    if (write(ready, "x", 1) != 1) _exit(3);
    usleep(300 * 1000);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    _exit(0);
}

static void test_wal_switch_waits_for_the_lock(void **state)
{
    tctx *t = *state;
    char path[160];
    snprintf(path, sizeof path, "%s/held.db", t->dir);
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        hold_lock(path, fd[1]);
    }
    close(fd[1]);
    char c;
    assert_int_equal(read(fd[0], &c, 1), 1);
    close(fd[0]);
    mem_store_params p = t->p;
    p.path = path;
    p.busy_timeout_ms = 5000;
    mem_store *s;
    char err[1024];
    int rc = mem_store_open(&p, &s, err, sizeof err);
    if (rc) fail_msg("open while another process held the lock: %s", err);
    mem_store_close(s);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Read-only: a missing file is an error and nothing is created; an existing
 * file is read while another connection holds the write lock, and a write
 * through it fails without calling the file damaged. */
static void test_read_only(void **state)
{
    tctx *t = *state;
    mem_store_params p = t->p;
    char path[160], err[1024];
    snprintf(path, sizeof path, "%s/sub/none.db", t->dir);
    p.path = path;
    p.read_only = true;
    mem_store *s;
    assert_int_equal(mem_store_open(&p, &s, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "nothing was created"));
    snprintf(path, sizeof path, "%s/sub", t->dir);
    assert_int_equal(access(path, F_OK), -1);
    /* must_exist (the writing commands other than import): the same refusal, read-write */
    snprintf(path, sizeof path, "%s/sub/none.db", t->dir);
    p.read_only = false;
    p.must_exist = true;
    assert_int_equal(mem_store_open(&p, &s, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "nothing was created"));
    snprintf(path, sizeof path, "%s/sub", t->dir);
    assert_int_equal(access(path, F_OK), -1);
    p.must_exist = false;
    p.read_only = true;

    t_add(t->s, "a memory read through a read-only store", NULL, NAN, 0, NULL);
    p.path = t->path;
    assert_int_equal(mem_store_open(&p, &s, err, sizeof err), 0);
    assert_int_equal(mem_store_schema_version(s), mem_store_schema_version(t->s));
    assert_int_equal(t_count(s, 3), 1);
    mem_query q;
    mem_query_default(&q);
    q.text = "read-only store";
    q.touch = false;
    mem_record *r;
    size_t n;
    assert_int_equal(mem_store_search(s, &q, &r, &n), 0);
    assert_int_equal(n, 1);
    mem_records_free(r, n);
    mem_new m = {.content = "cannot be written"};
    assert_true(mem_store_add(s, &m, NULL) < 0);
    assert_null(strstr(mem_store_errmsg(s), "integrity"));
    mem_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_processes_create_the_same_file, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_wal_switch_waits_for_the_lock, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_read_only, t_setup, t_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
