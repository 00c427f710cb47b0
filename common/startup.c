/* startup.c - config discovery, the trust check for config files, and the
 * flag/config/log start-up every main() shares (see startup.h).
 *
 * Owns no state after startup_end. Prints only to stdout (--help, --version,
 * --print-config) and stderr (usage errors): the log is not set up yet when
 * most of this runs. */
#include "startup.h"
#include "version.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "defaults.h"
#include "paths.h"

#define ERR_LEN 1024

/* ------------------------------------------------------ config discovery */

const char *startup_config_origin_name(startup_config_origin origin)
{
    switch (origin) {
    case STARTUP_CONFIG_FLAG: return "--config";
    case STARTUP_CONFIG_ENV: return "the environment";
    case STARTUP_CONFIG_USER: return "the user's config folder";
    case STARTUP_CONFIG_SYSTEM: return STARTUP_SYSTEM_CONFIG_DIR;
    case STARTUP_CONFIG_NONE: break;
    }
    return "built-in defaults";
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The first of --config and $<PREFIX>_CONFIG that is given: 0 with *path set
 * (or left NULL when neither is). */
static int explicit_config(const char *env_prefix, int argc, char **argv, char **path, startup_config_origin *origin,
                           char *err, size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config")) continue;
        if (i + 1 >= argc || !*argv[i + 1]) {
            snprintf(err, errlen, "--config needs a file name");
            return -EINVAL;
        }
        *origin = STARTUP_CONFIG_FLAG;
        return (*path = strdup(argv[i + 1])) ? 0 : -ENOMEM;
    }
    char var[64];
    snprintf(var, sizeof var, "%s_CONFIG", env_prefix);
    const char *env = getenv(var);
    if (!env || !*env) return 0;
    *origin = STARTUP_CONFIG_ENV;
    return (*path = strdup(env)) ? 0 : -ENOMEM;
}

int startup_config_find(const char *program, const char *env_prefix, int argc, char **argv, char **path,
                        startup_config_origin *origin, char *err, size_t errlen)
{
    char *found = NULL;
    startup_config_origin from = STARTUP_CONFIG_NONE;
    int rc = explicit_config(env_prefix, argc, argv, &found, &from, err, errlen);
    if (rc || found) goto done;
    buf name = BUF_INIT;
    if ((rc = buf_printf(&name, "%s.toml", program))) goto done;
    char ignored[256];
    /* First run of an installed program: the shipped defaults become the user's file to edit. */
    if (defaults_seed(program, NULL, NULL, ignored, sizeof ignored))
        fprintf(stderr, "%s: warning: %s\n", program, ignored);
    if (paths_file(PATHS_CONFIG, name.data, &found, ignored, sizeof ignored) == 0) {
        if (is_file(found)) {
            from = STARTUP_CONFIG_USER;
        } else {
            free(found);
            found = NULL;
        }
    }
    if (!found) {
        buf sys = BUF_INIT;
        if (!(rc = buf_printf(&sys, STARTUP_SYSTEM_CONFIG_DIR "/%s", name.data)) && is_file(sys.data)) {
            found = buf_detach(&sys);
            from = STARTUP_CONFIG_SYSTEM;
        }
        buf_free(&sys);
    }
    buf_free(&name);
done:
    if (rc == -ENOMEM) snprintf(err, errlen, "out of memory");
    if (rc) {
        free(found);
        return rc;
    }
    *path = found;
    *origin = from;
    return 0;
}

/* ---------------------------------------------------------------- trust */

/* True when the resolved path lies inside the resolved folder dir. */
static bool inside(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    if (n == 1 && dir[0] == '/') return true;
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* A folder above the file that every user may write without the sticky bit
 * (anyone could swap the file): 0 or -EPERM with the message. */
static int check_folders(const char *config_path, char *real, char *err, size_t errlen)
{
    for (char *slash = strrchr(real, '/'); slash; slash = strrchr(real, '/')) {
        *slash = '\0';
        const char *dir = slash == real ? "/" : real;
        struct stat st;
        if (stat(dir, &st) == 0 && (st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)) {
            snprintf(err, errlen,
                     "refusing config file %s: its folder %s may be written by every user; move the file to a "
                     "private folder such as ~/.config/psyche/",
                     config_path, dir);
            return -EPERM;
        }
        if (slash == real) break;
    }
    return 0;
}

static int check_file(const char *config_path, const char *real, const char *workspace, char *err, size_t errlen)
{
    char *ws = workspace ? realpath(workspace, NULL) : NULL;
    bool in_ws = ws ? inside(real, ws) : workspace && inside(real, workspace);
    free(ws);
    if (in_ws) {
        snprintf(err, errlen,
                 "refusing config file %s: it is inside the workspace %s, where the agent can write; keep config "
                 "files outside it (~/.config/psyche/ or --config FILE)",
                 config_path, workspace);
        return -EPERM;
    }
    struct stat st;
    if (stat(real, &st) < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot examine config file %s: %s", config_path, strerror(e));
        return -e;
    }
    if (st.st_mode & S_IWOTH) {
        snprintf(err, errlen, "refusing config file %s: every user may write it; run: chmod o-w %s", config_path,
                 config_path);
        return -EPERM;
    }
    if (st.st_uid != geteuid() && st.st_uid != 0) {
        snprintf(err, errlen, "refusing config file %s: it belongs to another user (uid %u); use a file of your own",
                 config_path, (unsigned)st.st_uid);
        return -EPERM;
    }
    return 0;
}

int startup_config_trusted(const char *config_path, const char *workspace, char *err, size_t errlen)
{
    char *real = realpath(config_path, NULL);
    if (!real) {
        int e = errno;
        snprintf(err, errlen, "cannot examine config file %s: %s", config_path, strerror(e));
        return -e;
    }
    int rc = check_file(config_path, real, workspace, err, errlen);
    if (!rc) rc = check_folders(config_path, real, err, errlen);
    free(real);
    return rc;
}

/* ---------------------------------------------------------------- flags */

/* Ends start-up early: main returns code. */
static int stop(startup_state *st, int code)
{
    st->exit_code = code;
    return -ECANCELED;
}

static int usage_error(const startup_params *p, startup_state *st, const char *msg)
{
    fprintf(stderr, "%s: %s\n", p->program, msg);
    return stop(st, STARTUP_EXIT_USAGE);
}

/* The key a value flag sets, or NULL when arg is not one. */
static const char *flag_key(const startup_params *p, const char *arg)
{
    if (!strcmp(arg, "--log-level")) return "logging.level";
    if (!strcmp(arg, "--log-file")) return "logging.file";
    for (size_t f = 0; f < p->n_flags; f++)
        if (!strcmp(arg, p->flags[f].flag)) return p->flags[f].key;
    return NULL;
}

/* One argument at argv[*i]; sets *print_config for --print-config. */
static int read_arg(const startup_params *p, int argc, char **argv, int *i, startup_state *st, bool *print_config)
{
    const char *a = argv[*i];
    char err[ERR_LEN];
    if (!strcmp(a, "--print-config")) {
        *print_config = true;
        return 0;
    }
    if (!strcmp(a, "--config")) {
        ++*i; /* the file was read by startup_config_find */
        return 0;
    }
    const char *key = flag_key(p, a);
    if (key) {
        if (*i + 1 >= argc) {
            snprintf(err, sizeof err, "missing value for %s", a);
            return usage_error(p, st, err);
        }
        if (cfg_set(p->keys, p->n_keys, key, argv[++*i], a, err, sizeof err)) return usage_error(p, st, err);
        st->log_level_given |= !strcmp(a, "--log-level");
        return 0;
    }
    int rc = p->own_arg ? p->own_arg(p->ud, argc, argv, i) : -ENOENT;
    if (rc == 0) return 0;
    if (rc != -ENOENT) return stop(st, STARTUP_EXIT_USAGE);
    snprintf(err, sizeof err, "%s '%s' (see %s --help)", a[0] == '-' ? "unknown option" : "unexpected argument", a,
             p->program);
    return usage_error(p, st, err);
}

/* --help and --version answer before the config is read, so a broken
 * config file never hides them. */
static int early_flags(const startup_params *p, int argc, char **argv, startup_state *st)
{
    for (int i = 1; i < argc; i++) {
        if (flag_key(p, argv[i]) || !strcmp(argv[i], "--config")) {
            i++; /* skip the value */
            continue;
        }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            if (p->usage) p->usage(stdout);
            return stop(st, 0);
        }
        if (!strcmp(argv[i], "--version")) {
            int rc = p->version ? (printf("%s\n", p->version) < 0 ? -EIO : 0) : psy_version_print(stdout, p->program);
            return stop(st, rc ? 1 : 0);
        }
    }
    return 0;
}

static int setup_log(const startup_params *p, startup_state *st)
{
    const char *lv = p->log_level && *p->log_level ? *p->log_level : "info";
    const char *file = p->log_file && *p->log_file && **p->log_file ? *p->log_file : NULL;
    if (log_level_parse(lv, &st->level)) {
        char err[ERR_LEN];
        snprintf(err, sizeof err, "[logging] level: expected debug, info, warn or error, got \"%s\"", lv);
        return usage_error(p, st, err);
    }
    if (log_init(p->program, st->level, file) < 0)
        fprintf(stderr, "%s: cannot open log file %s: %s; logging to stderr\n", p->program, file, strerror(errno));
    return 0;
}

int startup_begin(const startup_params *p, int argc, char **argv, startup_state *st)
{
    memset(st, 0, sizeof *st);
    st->level = LOG_INFO;
    log_init(p->program, LOG_INFO, NULL);
    int rc = early_flags(p, argc, argv, st);
    if (rc) return rc;
    char err[ERR_LEN];
    rc = startup_config_find(p->program, p->env_prefix, argc, argv, &st->config_path, &st->origin, err, sizeof err);
    if (!rc) {
        bool required = st->origin == STARTUP_CONFIG_FLAG || st->origin == STARTUP_CONFIG_ENV;
        rc = cfg_load(p->keys, p->n_keys, st->config_path, required, p->env_prefix, err, sizeof err);
    }
    if (rc) return usage_error(p, st, err);
    bool print_config = false;
    for (int i = 1; i < argc && !rc; i++) rc = read_arg(p, argc, argv, &i, st, &print_config);
    if (rc) return rc;
    if (print_config) {
        rc = cfg_write_toml(p->keys, p->n_keys, stdout);
        if (rc) fprintf(stderr, "%s: cannot write the configuration: %s\n", p->program, strerror(-rc));
        return stop(st, rc ? 1 : 0);
    }
    return setup_log(p, st);
}

void startup_end(const startup_params *p, startup_state *st)
{
    cfg_free(p->keys, p->n_keys);
    free(st->config_path);
    st->config_path = NULL;
    log_close();
}
