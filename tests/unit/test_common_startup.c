/* test_common_startup.c - common/startup.c: config discovery in its order
 * (--config, $PREFIX_CONFIG, the XDG folder; never the current folder), the
 * trust check (inside the workspace, through symlinks, writable by others),
 * and startup_begin's flags: help, version, value flags, the program's own
 * arguments, bad flags and bad configs. */
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

#include "buf.h"
#include "startup.h"

static char root[64];
static char cwd[4096];

static char *at(buf *b, const char *rel)
{
    buf_reset(b);
    buf_printf(b, "%s/%s", root, rel);
    return b->data;
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/psyche-startup-XXXXXX");
    if (!mkdtemp(root) || !getcwd(cwd, sizeof cwd)) return -1;
    unsetenv("PSYTEST_CONFIG");
    unsetenv("PSYTEST_MAIN_NAME");
    unsetenv("PSYTEST_MAIN_N");
    buf b = BUF_INIT;
    setenv("XDG_CONFIG_HOME", at(&b, "xdg"), 1);
    buf_free(&b);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "chmod -R u+w '%s'; rm -rf '%s'", root, root);
    if (chdir(cwd)) return -1;
    return system(cmd) == 0 ? 0 : -1;
}

/* Runs startup_config_find for the program "psytest". */
static int find(int argc, char **argv, char **path, startup_config_origin *origin)
{
    char err[256] = "";
    *path = NULL;
    int rc = startup_config_find("psytest", "PSYTEST", argc, argv, path, origin, err, sizeof err);
    if (rc) assert_true(err[0]);
    return rc;
}

static void test_find_order(void **state)
{
    (void)state;
    buf b = BUF_INIT;
    char *path;
    startup_config_origin o;
    char *none[] = {"psytest"};
    /* nothing anywhere: defaults, even with configs in the current folder */
    assert_int_equal(chdir(root), 0);
    mkdir(at(&b, "configs"), 0700);
    put(at(&b, "configs/psytest.toml"), "");
    put(at(&b, "psytest.toml"), "");
    assert_int_equal(find(1, none, &path, &o), 0);
    assert_null(path);
    assert_int_equal(o, STARTUP_CONFIG_NONE);
    /* the user's XDG config folder */
    mkdir(at(&b, "xdg"), 0700);
    mkdir(at(&b, "xdg/psyche"), 0700);
    put(at(&b, "xdg/psyche/psytest.toml"), "");
    assert_int_equal(find(1, none, &path, &o), 0);
    assert_string_equal(path, at(&b, "xdg/psyche/psytest.toml"));
    assert_int_equal(o, STARTUP_CONFIG_USER);
    free(path);
    /* the variable beats the folder (and need not exist: cfg_load says so) */
    setenv("PSYTEST_CONFIG", "/nonexistent/p.toml", 1);
    assert_int_equal(find(1, none, &path, &o), 0);
    assert_string_equal(path, "/nonexistent/p.toml");
    assert_int_equal(o, STARTUP_CONFIG_ENV);
    free(path);
    /* --config beats everything */
    char *flag[] = {"psytest", "--ctx", "5", "--config", "given.toml"};
    assert_int_equal(find(5, flag, &path, &o), 0);
    assert_string_equal(path, "given.toml");
    assert_int_equal(o, STARTUP_CONFIG_FLAG);
    free(path);
    char *bad[] = {"psytest", "--config"};
    assert_int_equal(find(2, bad, &path, &o), -EINVAL);
    assert_null(path);
    assert_string_equal(startup_config_origin_name(STARTUP_CONFIG_FLAG), "--config");
    buf_free(&b);
}

static int trusted(const char *file, const char *ws, char *err, size_t errlen)
{
    err[0] = '\0';
    return startup_config_trusted(file, ws, err, errlen);
}

static void test_trusted(void **state)
{
    (void)state;
    buf b = BUF_INIT, w = BUF_INIT;
    char err[512];
    mkdir(at(&w, "ws"), 0700);
    mkdir(at(&b, "ws/configs"), 0700);
    put(at(&b, "ws/configs/psyche.toml"), "");
    assert_int_equal(trusted(b.data, w.data, err, sizeof err), -EPERM);
    assert_non_null(strstr(err, "ws/configs/psyche.toml"));
    assert_non_null(strstr(err, "inside the workspace"));
    /* the same file through a symlink from outside */
    assert_int_equal(symlink(at(&b, "ws/configs/psyche.toml"), at(&w, "link.toml")), 0);
    assert_int_equal(trusted(at(&b, "link.toml"), at(&w, "ws"), err, sizeof err), -EPERM);
    /* the workspace named through a symlink */
    assert_int_equal(symlink(at(&b, "ws"), at(&w, "wslink")), 0);
    assert_int_equal(trusted(at(&b, "ws/configs/psyche.toml"), at(&w, "wslink"), err, sizeof err), -EPERM);
    /* outside the workspace: fine; a sibling folder with a common prefix is outside */
    mkdir(at(&b, "ws2"), 0700);
    put(at(&b, "ws2/psyche.toml"), "");
    assert_int_equal(trusted(b.data, at(&w, "ws"), err, sizeof err), 0);
    assert_int_equal(trusted(at(&b, "ws2/psyche.toml"), NULL, err, sizeof err), 0);
    /* writable by every user */
    chmod(at(&b, "ws2/psyche.toml"), 0666);
    assert_int_equal(trusted(b.data, NULL, err, sizeof err), -EPERM);
    assert_non_null(strstr(err, "chmod o-w"));
    chmod(b.data, 0600);
    /* in a folder every user may write (no sticky bit) */
    chmod(at(&b, "ws2"), 0777);
    assert_int_equal(trusted(at(&b, "ws2/psyche.toml"), NULL, err, sizeof err), -EPERM);
    assert_non_null(strstr(err, "may be written by every user"));
    chmod(at(&b, "ws2"), 0700);
    assert_int_equal(trusted(at(&b, "missing.toml"), NULL, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "missing.toml"));
    buf_free(&b);
    buf_free(&w);
}

/* ---- startup_begin -------------------------------------------------- */

typedef struct settings {
    char *name, *log_level, *log_file;
    int n;
} settings;

static settings cfg;
static cfg_key keys[] = {
    {"main", "name", CFG_STRING, &cfg.name, "x", 0, 0, "a name"},
    {"main", "n", CFG_INT, &cfg.n, "3", 1, 10, "a number"},
    {"logging", "level", CFG_STRING, &cfg.log_level, "info", 0, 0, "level"},
    {"logging", "file", CFG_STRING, &cfg.log_file, "", 0, 0, "file"},
};
static const startup_flag flags[] = {{"--n", "main.n"}};
static const char *operand;

static int own_arg(void *ud, int argc, char **argv, int *i)
{
    (void)ud;
    (void)argc;
    if (argv[*i][0] == '-') return -ENOENT;
    if (operand) {
        fprintf(stderr, "psytest: only one operand\n");
        return -EINVAL;
    }
    operand = argv[*i];
    return 0;
}

static int begin(int argc, char **argv, startup_state *st)
{
    startup_params p = {
        .program = "psytest",
        .env_prefix = "PSYTEST",
        .version = "psytest 1.0",
        .keys = keys,
        .n_keys = sizeof keys / sizeof keys[0],
        .flags = flags,
        .n_flags = 1,
        .log_level = &cfg.log_level,
        .log_file = &cfg.log_file,
        .own_arg = own_arg,
    };
    operand = NULL;
    int rc = startup_begin(&p, argc, argv, st);
    return rc;
}

static void end(startup_state *st)
{
    startup_params p = {.keys = keys, .n_keys = sizeof keys / sizeof keys[0]};
    startup_end(&p, st);
}

static void test_begin(void **state)
{
    (void)state;
    buf b = BUF_INIT;
    startup_state st;
    char *run[] = {"psytest", "--n", "7", "op", "--log-level", "warn"};
    assert_int_equal(begin(6, run, &st), 0);
    assert_int_equal(cfg.n, 7);
    assert_string_equal(operand, "op");
    assert_true(st.log_level_given);
    assert_int_equal(st.level, LOG_WARN);
    assert_int_equal(st.origin, STARTUP_CONFIG_NONE);
    end(&st);
    /* a config file given by flag, then the environment, then flags */
    put(at(&b, "c.toml"), "[main]\nname = \"from-file\"\nn = 4\n");
    setenv("PSYTEST_MAIN_N", "5", 1);
    char *withfile[] = {"psytest", "--config", b.data};
    assert_int_equal(begin(3, withfile, &st), 0);
    assert_string_equal(cfg.name, "from-file");
    assert_int_equal(cfg.n, 5);
    assert_string_equal(st.config_path, b.data);
    end(&st);
    unsetenv("PSYTEST_MAIN_N");
    buf_free(&b);
}

static void test_begin_stops(void **state)
{
    (void)state;
    buf b = BUF_INIT;
    startup_state st;
    static const struct {
        int argc;
        char *argv[4];
        int exit_code;
    } cases[] = {
        {2, {"psytest", "--version"}, 0},
        {2, {"psytest", "--print-config"}, 0},
        {2, {"psytest", "--bogus"}, STARTUP_EXIT_USAGE},
        {3, {"psytest", "a", "b"}, STARTUP_EXIT_USAGE},    /* own_arg refuses the second */
        {2, {"psytest", "--n"}, STARTUP_EXIT_USAGE},       /* missing value */
        {3, {"psytest", "--n", "99"}, STARTUP_EXIT_USAGE}, /* out of range */
        {3, {"psytest", "--log-level", "loud"}, STARTUP_EXIT_USAGE},
        {3, {"psytest", "--config", "/nonexistent/c.toml"}, STARTUP_EXIT_USAGE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        st.exit_code = -1;
        assert_int_equal(begin(cases[i].argc, (char **)cases[i].argv, &st), -ECANCELED);
        if (st.exit_code != cases[i].exit_code) fail_msg("case %zu: exit %d", i, st.exit_code);
        end(&st);
    }
    /* a broken config file never hides --help */
    put(at(&b, "bad.toml"), "[main\n");
    char *help[] = {"psytest", "--config", b.data, "--help"};
    assert_int_equal(begin(4, help, &st), -ECANCELED);
    assert_int_equal(st.exit_code, 0);
    end(&st);
    char *bad[] = {"psytest", "--config", b.data};
    assert_int_equal(begin(3, bad, &st), -ECANCELED);
    assert_int_equal(st.exit_code, STARTUP_EXIT_USAGE);
    end(&st);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_find_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trusted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_begin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_begin_stops, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
