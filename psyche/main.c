/* main.c - the psyche program: flags, configuration, logging, signals, and
 * the choice of front-end: the full-screen TUI (tui.c) or a line mode for
 * scripts (-p, --repl, --events: front_print.c).
 *
 *   psyche [--config FILE] [--model PATH] [--workspace DIR] [--no-memory] [--no-idle]
 *   psyche -p "message"      one turn, the answer on stdout
 *   psyche --repl            one message per input line; answers on stdout
 *   psyche --events          like --repl (or with -p), one JSON object per event on stdout
 *   psyche model pull|list   getting a model (model.c; runs without the agent)
 *
 * Exit statuses: PSY_EXIT_* in front_print.h. Owns the process: signals
 * (SIGTERM/SIGINT/SIGHUP take the shutdown path; a second one skips what is
 * left of it) and logging (to the state directory, never to the terminal the
 * TUI draws on). It never touches the agent's insides: only agent.h. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "buf.h"
#include "crash.h"
#include "doctor.h"
#include "front_print.h"
#include "front_remote.h"
#include "http_remote.h"
#include "log.h"
#include "model.h"
#include "paths.h"
#include "serve.h"
#include "settings.h"
#include "startup.h"
#include "tui.h"
#include "version.h"


typedef struct main_opts {
    psy_front_opts front;
    bool repl, summary, doctor;
    const cfg_key *keys; /* the settings table, for --no-memory and --no-idle */
    size_t nkeys;
} main_opts;

/* The settings and the command line, for usage(): --help is answered before
 * start-up loads the configuration. */
static psy_settings g_cfg;
static int g_argc;
static char **g_argv;

static void usage_text(FILE *f)
{
    fputs("usage: psyche [--config FILE] [--model PATH] [--workspace DIR] [--no-memory] [--no-idle]\n"
          "              [-p MESSAGE [--summary] | --repl | --events] [--raw] [--log-level LEVEL]\n"
          "       psyche --print-config [--config FILE]\n"
          "       psyche --doctor [--config FILE] [--workspace DIR]   which sandbox protections are on\n"
          "       psyche model pull URL | --hf USER/REPO[:QUANT]    download a model (psyche model --help)\n"
          "       psyche model list\n"
          "       psyche serve [--host ADDR] [--port N] [--api-key-file FILE]   (see psyche serve --help)\n"
          "       psyche --connect URL [--api-key-file FILE] [-p MESSAGE | --repl]   (see psyche --connect --help)\n"
          "       psyche --version | --help\n"
          "\n"
          "Psyche, an AI companion with emotions and long-term memory. It starts two child\n"
          "programs, elpis (inference) and mnemosyne (memory), and talks to them over MCP.\n"
          "\n"
          "  (no mode)        the full-screen terminal UI\n"
          "  -p MESSAGE       one turn: the answer on stdout, then stop (no conversation summary\n"
          "                   is stored unless --summary)\n"
          "  --repl           line mode for pipes and scripts: one message per line, answered in\n"
          "                   order; the end of the input or /quit ends it\n"
          "  --events         one JSON object per event on stdout ({\"event\",\"text\",\"data\"}, see\n"
          "                   docs/psyche.md); input as in --repl, or the -p message\n"
          "  --raw            print model and tool text as it is (by default terminal control\n"
          "                   and escape sequences are removed)\n"
          "  --no-memory      run without mnemosyne (memories go to the fallback file)\n"
          "  --no-idle        no idle thinking or dreams\n"
          "\n"
          "Exit status: 0 success; 1 a failed turn (-p) or runtime error; 2 a bad flag or setting;\n"
          "3 no model (none configured, or the file is missing); 4 elpis could not be started.\n"
          "\n"
          "Settings: --config FILE, else $PSYCHE_CONFIG, else $XDG_CONFIG_HOME/psyche/psyche.toml\n"
          "(~/.config/psyche/psyche.toml), else /etc/psyche/psyche.toml (never the current folder);\n"
          "then environment PSYCHE_<SECTION>_<KEY> (e.g. PSYCHE_MODEL_PATH); then these flags.\n",
          f);
}

/* Where memories, logs and config live, one per line (for --help and
 * /status). config: the file loaded, or NULL. Computed without creating
 * anything. Caller frees. */
static char *where_things_live(const psy_settings *cfg, const char *config)
{
    char err[256], *db = NULL, *state = NULL, *user = NULL;
    if (cfg->db_path && *cfg->db_path) db = strdup(cfg->db_path);
    else paths_default_db(&db, err, sizeof err);
    if (cfg->state_dir && *cfg->state_dir) state = strdup(cfg->state_dir);
    else paths_dir(PATHS_STATE, &state, err, sizeof err);
    buf b = BUF_INIT;
    buf_printf(&b, "Memories: %s%s\n", cfg->memory ? "" : "off (--no-memory); ",
               db ? db : "(unknown: $HOME is not set)");
    buf_printf(&b, "Logs: %s/ (psyche.log, elpis.log, mnemosyne.log)\n", state ? state : "(unknown: $HOME is not set)");
    if (cfg->log_file && *cfg->log_file) buf_printf(&b, "Psyche's log: %s\n", cfg->log_file);
    if (config) {
        buf_printf(&b, "Config: %s\n", config);
    } else {
        paths_file(PATHS_CONFIG, "psyche.toml", &user, err, sizeof err);
        buf_printf(&b, "Config: none, built-in defaults (create %s, or psyche --print-config)\n",
                   user ? user : "$XDG_CONFIG_HOME/psyche/psyche.toml");
    }
    free(db);
    free(state);
    free(user);
    return buf_detach(&b);
}

/* --help: the text, then where things live under the configuration that
 * would be loaded (start-up answers --help before loading it). */
static void usage(FILE *f)
{
    usage_text(f);
    const cfg_key *keys;
    size_t nkeys = psy_settings_table(&g_cfg, &keys);
    char err[512], *config = NULL;
    startup_config_origin origin;
    bool loaded = startup_config_find("psyche", "PSYCHE", g_argc, g_argv, &config, &origin, err, sizeof err) == 0 &&
                  cfg_load(keys, nkeys, config, false, "PSYCHE", err, sizeof err) == 0;
    char *where = loaded ? where_things_live(&g_cfg, config) : NULL;
    fprintf(f, "\n%s", where ? where : "");
    if (!loaded) fprintf(f, "\n(the configuration cannot be read: %s)\n", err);
    free(where);
    free(config);
    cfg_free(keys, nkeys); /* start-up loads it again, after --help is answered */
}

/* The value flags that map onto a config key (--log-level and --log-file
 * are start-up's; --config, --help, --version and --print-config too). */
static const startup_flag key_flags[] = {{"--model", "model.path"}, {"--workspace", "workspace.dir"}};

/* psyche's own arguments (startup_params.own_arg): 0 when taken, -ENOENT when
 * unknown, -EINVAL after a message. */
static int own_arg(void *ud, int argc, char **argv, int *i)
{
    main_opts *o = ud;
    const char *a = argv[*i];
    const char *off = !strcmp(a, "--no-memory") ? "memory.enabled" : !strcmp(a, "--no-idle") ? "idle.enabled" : NULL;
    if (off) {
        char err[256];
        if (!cfg_set(o->keys, o->nkeys, off, "false", a, err, sizeof err)) return 0;
        fprintf(stderr, "psyche: %s\n", err);
        return -EINVAL;
    }
    if (!strcmp(a, "-p") || !strcmp(a, "--print")) {
        if (*i + 1 >= argc) {
            fprintf(stderr, "psyche: %s needs a message: psyche -p \"Hello\"\n", a);
            return -EINVAL;
        }
        o->front.message = argv[++*i];
        return 0;
    }
    if (!strcmp(a, "--repl")) o->repl = true;
    else if (!strcmp(a, "--events")) o->front.events = true;
    else if (!strcmp(a, "--raw")) o->front.raw = true;
    else if (!strcmp(a, "--summary")) o->summary = true;
    else if (!strcmp(a, "--doctor")) o->doctor = true;
    else return -ENOENT;
    return 0;
}

/* The agent may read and write everything in its workspace, so a workspace
 * that defaulted to the current folder must not silently be the user's home
 * or the root. An explicit --workspace (or [workspace] dir) is the user's
 * choice. 0, or PSY_EXIT_USAGE with err. */
static int check_workspace(const psy_settings *cfg, char *err, size_t errlen)
{
    if (cfg->workspace && *cfg->workspace) return 0;
    char cwd[PATH_MAX], home[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return 0; /* the tools report it with the cause */
    const char *h = getenv("HOME");
    bool is_home = h && *h && realpath(h, home) && !strcmp(cwd, home);
    if (strcmp(cwd, "/") && !is_home) return 0;
    const char *shown = is_home ? h : "/";
    snprintf(err, errlen,
             "the workspace would be %s (%s), where the agent could read and change everything; "
             "start psyche in a project folder, or pass --workspace DIR (--workspace %s allows it explicitly)",
             shown, is_home ? "your home folder" : "the root folder", shown);
    return PSY_EXIT_USAGE;
}

/* Checks what the flags cannot: flag combinations, settings, a config file
 * the agent could have written, and for the line modes the model file.
 * 0 or a PSY_EXIT_* status with err. */
static int check_settings(psy_settings *cfg, const main_opts *o, const char *config, char *err, size_t errlen)
{
    if (o->summary && !o->front.message) {
        snprintf(err, errlen,
                 "--summary goes with -p (the other modes store a summary unless [shutdown] summary "
                 "= false)");
        return PSY_EXIT_USAGE;
    }
    cfg->quit_summary = !o->front.message || o->summary; /* -p is one question, not a conversation */
    if (!psy_settings_compaction_valid(cfg)) {
        snprintf(err, errlen, "[context] compaction: expected sliding or summarize (summarise), got \"%s\"",
                 cfg->compaction);
        return PSY_EXIT_USAGE;
    }
    if (config && startup_config_trusted(config, cfg->workspace, err, errlen)) return PSY_EXIT_USAGE;
    if (check_workspace(cfg, err, errlen)) return PSY_EXIT_USAGE;
    bool lines = o->front.message || o->repl || o->front.events;
    if (lines && cfg->model_path && *cfg->model_path && access(cfg->model_path, R_OK)) {
        snprintf(err, errlen,
                 "no model: cannot read %s (%s); get one with " PSY_MODEL_PULL_HINT " (or pass --model FILE.gguf)",
                 cfg->model_path, strerror(errno));
        return PSY_EXIT_NO_MODEL;
    }
    return 0;
}

/* Logging to the state directory, never the terminal. 0 or PSY_EXIT_FAILED
 * with err. */
static int open_log(const psy_settings *cfg, log_level lv, char *err, size_t errlen)
{
    char *state = psy_settings_state_dir(cfg, err, errlen);
    if (!state) return PSY_EXIT_FAILED;
    buf path = BUF_INIT;
    if (cfg->log_file && *cfg->log_file) buf_puts(&path, cfg->log_file);
    else buf_printf(&path, "%s/psyche.log", state);
    free(state);
    if (log_init("psyche", lv, buf_str(&path)) < 0)
        fprintf(stderr, "psyche: cannot open the log file %s; logging to stderr\n", buf_str(&path));
    buf_free(&path);
    log_info("psyche %s starting (pid %d), config: %s", psy_version(), (int)getpid(), cfg_sources());
    return 0;
}

/* ------------------------------------------------------------- signals */

static psy_agent *g_agent;
static volatile sig_atomic_t g_signals;

static void on_signal(int sig)
{
    g_signals++;
    if (g_signals >= 3) { /* the third time: the user really means it */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    if (g_agent) psy_agent_quit(g_agent); /* async-signal-safe: an atomic and an eventfd write */
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
}

/* ---------------------------------------------------------------- run */

/* Starts the agent, runs the chosen front-end, frees the agent. Returns a
 * PSY_EXIT_* status (err set when the agent could not start). */
static int run_agent(const psy_settings *cfg, const main_opts *o, const char *where, char *err, size_t errlen)
{
    crash_install("psyche", NULL, NULL); /* backtraces on fatal signals */
    install_signals();
    psy_agent *a = NULL;
    int rc = psy_agent_new(&a, cfg, err, errlen);
    if (rc) {
        log_error("cannot start: %s", err);
        return PSY_EXIT_FAILED;
    }
    g_agent = a;
    rc = psy_agent_start(a);
    int status = PSY_EXIT_FAILED;
    if (rc) snprintf(err, errlen, "cannot start the agent thread: %s", strerror(-rc));
    else if (o->front.message || o->repl || o->front.events) status = psy_front_lines(a, &o->front);
    else {
        psy_front front = psy_front_local(a);
        status = psy_tui_run(&front, where);
    }
    g_agent = NULL;
    psy_agent_free(a);
    log_info("stopped (exit status %d)", status);
    return status;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "model")) return psy_model_main(argc - 1, argv + 1); /* no agent */
    if (argc > 1 && !strcmp(argv[1], "serve")) return psy_serve_main(argc - 1, argv + 1); /* serve.c */
    if (psy_remote_wanted(argc, argv)) return psy_front_remote_main(argc, argv);          /* Hermes: front_remote.c */
    main_opts o = {0};
    o.nkeys = psy_settings_table(&g_cfg, &o.keys);
    g_argc = argc, g_argv = argv;
    const startup_params p = {.program = "psyche",
                              .env_prefix = "PSYCHE",
                              .version = NULL, /* psy_version_print: version, llama.cpp, options */
                              .keys = o.keys,
                              .n_keys = o.nkeys,
                              .flags = key_flags,
                              .n_flags = sizeof key_flags / sizeof key_flags[0],
                              .log_level = &g_cfg.log_level,
                              .log_file = &g_cfg.log_file,
                              .usage = usage,
                              .own_arg = own_arg,
                              .ud = &o};
    startup_state st;
    char err[2048] = "", *where = NULL;
    bool done = startup_begin(&p, argc, argv, &st) != 0; /* --help, --version, --print-config, or an error */
    int status = done ? st.exit_code : 0;
    if (!done && o.doctor) { /* the sandbox report needs no model and starts no child */
        status = psy_doctor_run(&g_cfg, stdout);
        done = true;
    }
    if (!done) status = check_settings(&g_cfg, &o, st.config_path, err, sizeof err);
    if (!done && !status) status = open_log(&g_cfg, st.level, err, sizeof err);
    if (!done && !status) {
        o.front.where = where = where_things_live(&g_cfg, st.config_path);
        status = run_agent(&g_cfg, &o, where ? where : "", err, sizeof err);
    }
    if (*err) {
        fputs("psyche: ", stderr);
        psy_front_put(stderr, err, "\n", o.front.raw); /* it may quote a config value */
    }
    if (*err && status == PSY_EXIT_USAGE) fprintf(stderr, "(psyche --help lists the options)\n");
    free(where);
    startup_end(&p, &st);
    return status;
}
