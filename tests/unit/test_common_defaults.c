/* test_common_defaults.c - common/defaults.c: the shipped default config is
 * copied into $XDG_CONFIG_HOME/psyche/ on first run, an existing user file is
 * never overwritten, and nothing happens when nothing is shipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "defaults.h"

static char root[64], share[128], cfg[128], user_file[192];

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *slurp(const char *path)
{
    static char text[256];
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static int setup(void **state)
{
    snprintf(root, sizeof root, "/tmp/psyche-defaults.XXXXXX");
    if (!mkdtemp(root)) return -1;
    snprintf(share, sizeof share, "%s/share", root);
    snprintf(cfg, sizeof cfg, "%s/config", root);
    snprintf(user_file, sizeof user_file, "%s/psyche/elpis.toml", cfg);
    mkdir(share, 0755);
    setenv("XDG_CONFIG_HOME", cfg, 1);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_first_run_copies_the_shipped_file(void **state)
{
    char sharefile[192], err[256] = "";
    snprintf(sharefile, sizeof sharefile, "%s/elpis.toml", share);
    put(sharefile, "[model]\nctx = 4096\n");
    bool seeded = false;
    assert_int_equal(defaults_seed("elpis", share, &seeded, err, sizeof err), 0);
    assert_true(seeded);
    assert_string_equal(slurp(user_file), "[model]\nctx = 4096\n");
    struct stat st;
    assert_int_equal(stat(user_file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
}

static void test_an_existing_file_is_never_overwritten(void **state)
{
    char sharefile[192], dir[160], err[256] = "";
    snprintf(sharefile, sizeof sharefile, "%s/elpis.toml", share);
    put(sharefile, "[model]\nctx = 4096\n");
    snprintf(dir, sizeof dir, "%s/psyche", cfg);
    mkdir(cfg, 0700);
    mkdir(dir, 0700);
    put(user_file, "# mine\n");
    bool seeded = true;
    assert_int_equal(defaults_seed("elpis", share, &seeded, err, sizeof err), 0);
    assert_false(seeded);
    assert_string_equal(slurp(user_file), "# mine\n");
}

static void test_nothing_shipped_does_nothing(void **state)
{
    char err[256] = "";
    bool seeded = true;
    assert_int_equal(defaults_seed("elpis", share, &seeded, err, sizeof err), 0);
    assert_false(seeded);
    assert_null(slurp(user_file));
}

static void test_the_share_dir_is_next_to_the_binary(void **state)
{
    char *dir = NULL, err[256] = "";
    assert_int_equal(defaults_share_dir(&dir, err, sizeof err), 0);
    const char *tail = "/../share/psyche";
    assert_true(strlen(dir) > strlen(tail));
    assert_string_equal(dir + strlen(dir) - strlen(tail), tail);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_first_run_copies_the_shipped_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_existing_file_is_never_overwritten, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nothing_shipped_does_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_share_dir_is_next_to_the_binary, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
