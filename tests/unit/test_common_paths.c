/* test_common_paths.c - common/paths.c: every XDG folder with its variable
 * set, unset, empty and relative (ignored, as the specification says), the
 * default database, creation, and ~ expansion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"

static const char *const vars[] = {"XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"};

static int setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < 4; i++) unsetenv(vars[i]);
    return setenv("HOME", "/home/ana", 1);
}

static void expect_dir(paths_kind k, const char *want)
{
    char *got = NULL, err[256] = "";
    assert_int_equal(paths_dir(k, &got, err, sizeof err), 0);
    assert_string_equal(got, want);
    free(got);
}

static void test_defaults(void **state)
{
    (void)state;
    expect_dir(PATHS_DATA, "/home/ana/.local/share/psyche");
    expect_dir(PATHS_CONFIG, "/home/ana/.config/psyche");
    expect_dir(PATHS_STATE, "/home/ana/.local/state/psyche");
    expect_dir(PATHS_CACHE, "/home/ana/.cache/psyche");
    char *db = NULL, err[256];
    assert_int_equal(paths_default_db(&db, err, sizeof err), 0);
    assert_string_equal(db, "/home/ana/.local/share/psyche/memories.db");
    free(db);
}

static void test_variables(void **state)
{
    (void)state;
    setenv("XDG_DATA_HOME", "/x/data", 1);
    setenv("XDG_CONFIG_HOME", "/x/config", 1);
    setenv("XDG_STATE_HOME", "/x/state", 1);
    setenv("XDG_CACHE_HOME", "/x/cache", 1);
    expect_dir(PATHS_DATA, "/x/data/psyche");
    expect_dir(PATHS_CONFIG, "/x/config/psyche");
    expect_dir(PATHS_STATE, "/x/state/psyche");
    expect_dir(PATHS_CACHE, "/x/cache/psyche");
    char *db = NULL, *f = NULL, err[256];
    assert_int_equal(paths_default_db(&db, err, sizeof err), 0);
    assert_string_equal(db, "/x/data/psyche/memories.db"); /* the same file psyche uses (issue 9) */
    assert_int_equal(paths_file(PATHS_CONFIG, "elpis.toml", &f, err, sizeof err), 0);
    assert_string_equal(f, "/x/config/psyche/elpis.toml");
    free(db);
    free(f);
    /* empty and relative values are ignored */
    setenv("XDG_DATA_HOME", "", 1);
    setenv("XDG_STATE_HOME", "relative/state", 1);
    expect_dir(PATHS_DATA, "/home/ana/.local/share/psyche");
    expect_dir(PATHS_STATE, "/home/ana/.local/state/psyche");
}

static void test_no_home(void **state)
{
    (void)state;
    unsetenv("HOME");
    char *d = (char *)"untouched", err[256] = "";
    assert_int_equal(paths_dir(PATHS_STATE, &d, err, sizeof err), -ENOENT);
    assert_string_equal(d, "untouched");
    assert_non_null(strstr(err, "$XDG_STATE_HOME"));
    setenv("XDG_STATE_HOME", "/s", 1);
    expect_dir(PATHS_STATE, "/s/psyche"); /* the variable alone is enough */
    assert_int_equal(paths_expand_home("~/m.db", &d, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "~/m.db"));
}

static void test_expand_and_create(void **state)
{
    (void)state;
    char *p = NULL, err[256];
    assert_int_equal(paths_expand_home("~/m.db", &p, err, sizeof err), 0);
    assert_string_equal(p, "/home/ana/m.db");
    free(p);
    assert_int_equal(paths_expand_home("~", &p, err, sizeof err), 0);
    assert_string_equal(p, "/home/ana");
    free(p);
    assert_int_equal(paths_expand_home("~bob/x", &p, err, sizeof err), 0); /* not ours to expand */
    assert_string_equal(p, "~bob/x");
    free(p);
    char tmp[] = "/tmp/psyche-paths-XXXXXX";
    assert_non_null(mkdtemp(tmp));
    setenv("XDG_CACHE_HOME", tmp, 1);
    assert_int_equal(paths_dir_create(PATHS_CACHE, &p, err, sizeof err), 0);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    rmdir(p);
    rmdir(tmp);
    free(p);
    assert_string_equal(paths_kind_name(PATHS_CONFIG), "config");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, setup),
        cmocka_unit_test_setup(test_variables, setup),
        cmocka_unit_test_setup(test_no_home, setup),
        cmocka_unit_test_setup(test_expand_and_create, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
