/* main.c - the psyche program: flags, configuration, logging, signals, and
 * the choice of front-end: the full-screen TUI (tui.c) or a line mode for
 * scripts (-p, --repl, --events: front_print.c).
 *
 *   psyche [--config FILE] [--model PATH] [--workspace DIR] [--no-memory] [--no-idle]
 *   psyche -p "message"      one turn, the answer on stdout
 *   psyche --repl            one message per input line; answers on stdout
 *   psyche --events          like --repl (or with -p), one JSON object per event on stdout
 *
 * Exit statuses: PSY_EXIT_* in front_print.h. Owns the process: signals
 * (SIGTERM/SIGINT/SIGHUP take the shutdown path; a second one skips what is
 * left of it) and logging (to the state directory, never to the terminal the
 * TUI draws on). It never touches the agent's insides: only agent.h. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "buf.h"
#include "crash.h"
#include "front_print.h"
#include "log.h"
#include "settings.h"
#include "tui.h"

#define VERSION "0.1.0"

typedef struct main_opts {
    psy_front_opts front;
    bool repl, summary;
    bool help, version, print_config; /* answered without starting anything */
    const char *config;               /* --config or $PSYCHE_CONFIG; NULL: configs/psyche.toml if present */
} main_opts;

static void usage(FILE *f, const char *where)
{
    fprintf(f,
            "usage: psyche [--config FILE] [--model PATH] [--workspace DIR] [--no-memory] [--no-idle]\n"
            "              [-p MESSAGE [--summary] | --repl | --events] [--raw] [--log-level LEVEL]\n"
            "       psyche --print-config [--config FILE]\n"
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
            "Settings: --config FILE, PSYCHE_CONFIG or configs/psyche.toml, then environment\n"
            "PSYCHE_<SECTION>_<KEY> (e.g. PSYCHE_MODEL_PATH), then these flags.\n"
            "%s",
            where);
}

/* Where memories, logs and config live, one per line (for --help and
 * /status). Computed without creating anything. Caller frees. */
static char *where_things_live(const psy_settings *cfg)
{
    const char *home = getenv("HOME"), *xs = getenv("XDG_STATE_HOME"), *xd = getenv("XDG_DATA_HOME");
    buf state = BUF_INIT, b = BUF_INIT;
    if (cfg->state_dir && *cfg->state_dir) buf_puts(&state, cfg->state_dir);
    else if (xs && *xs) buf_printf(&state, "%s/psyche", xs);
    else buf_printf(&state, "%s/.local/state/psyche", home ? home : "~");
    buf_puts(&b, "Memories: ");
    if (!cfg->memory) buf_puts(&b, "off (--no-memory); ");
    if (cfg->db_path && *cfg->db_path) buf_puts(&b, cfg->db_path);
    else if (xd && *xd) buf_printf(&b, "%s/psyche/memories.db", xd);
    else buf_printf(&b, "%s/.local/share/psyche/memories.db", home ? home : "~");
    buf_printf(&b, "\nLogs: %s/ (psyche.log, elpis.log, mnemosyne.log)\n", buf_str(&state));
    if (cfg->log_file && *cfg->log_file) buf_printf(&b, "Psyche's log: %s\n", cfg->log_file);
    buf_printf(&b, "Config: %s\n", cfg_sources());
    buf_free(&state);
    return buf_detach(&b);
}

static const char *config_path(const main_opts *o, bool *required)
{
    *required = o->config != NULL;
    return o->config ? o->config : "configs/psyche.toml";
}

/* Flags that only need looking at before the config is loaded. */
static void prescan(int argc, char **argv, main_opts *o)
{
    const char *env = getenv("PSYCHE_CONFIG");
    if (env && *env) o->config = env;
    for (int i = 1; i < argc - 1; i++)
        if (!strcmp(argv[i], "--config")) o->config = argv[i + 1];
}

/* The flags that map onto a config key. */
static const struct { const char *flag, *key, *value; } key_flags[] = {
    {"--model", "model.path", NULL},            {"--workspace", "workspace.dir", NULL},
    {"--log-level", "logging.level", NULL},     {"--log-file", "logging.file", NULL},
    {"--no-memory", "memory.enabled", "false"}, {"--no-idle", "idle.enabled", "false"},
};
#define N_KEY_FLAGS (sizeof key_flags / sizeof key_flags[0])

/* One flag that is not a config key; false if a is none of them. */
static bool mode_flag(const char *a, main_opts *o)
{
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) o->help = true;
    else if (!strcmp(a, "--version")) o->version = true;
    else if (!strcmp(a, "--print-config")) o->print_config = true;
    else if (!strcmp(a, "--repl")) o->repl = true;
    else if (!strcmp(a, "--events")) o->front.events = true;
    else if (!strcmp(a, "--raw")) o->front.raw = true;
    else if (!strcmp(a, "--summary")) o->summary = true;
    else return false;
    return true;
}

/* Parses the flags over the loaded config. 0, or PSY_EXIT_USAGE with err. */
static int parse_flags(int argc, char **argv, const cfg_key *keys, size_t nkeys, main_opts *o, char *err,
                       size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (mode_flag(a, o)) continue;
        if (!strcmp(a, "--config") && i + 1 < argc) {
            i++;
            continue;
        }
        if (!strcmp(a, "-p") || !strcmp(a, "--print")) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "%s needs a message: psyche -p \"Hello\"", a);
                return PSY_EXIT_USAGE;
            }
            o->front.message = argv[++i];
            continue;
        }
        size_t f = 0;
        while (f < N_KEY_FLAGS && strcmp(a, key_flags[f].flag)) f++;
        if (f == N_KEY_FLAGS) {
            snprintf(err, errlen, "unknown option '%s' (psyche --help lists them)", a);
            return PSY_EXIT_USAGE;
        }
        if (!key_flags[f].value && i + 1 >= argc) {
            snprintf(err, errlen, "%s needs a value (psyche --help)", a);
            return PSY_EXIT_USAGE;
        }
        const char *v = key_flags[f].value ? key_flags[f].value : argv[++i];
        if (cfg_set(keys, nkeys, key_flags[f].key, v, a, err, errlen)) return PSY_EXIT_USAGE;
    }
    if (o->summary && !o->front.message) {
        snprintf(err, errlen, "--summary goes with -p (the other modes store a summary unless [shutdown] summary = false)");
        return PSY_EXIT_USAGE;
    }
    /* -p is one question: no conversation summary at exit unless asked for */
    if (o->front.message && !o->summary && cfg_set(keys, nkeys, "shutdown.summary", "false", "-p", err, errlen))
        return PSY_EXIT_USAGE;
    return 0;
}

/* Checks what the flags cannot: settings and, for the line modes, the model
 * file. 0 or a PSY_EXIT_* status with err. */
static int check_settings(const psy_settings *cfg, const main_opts *o, char *err, size_t errlen)
{
    log_level lv;
    if (!psy_settings_compaction_valid(cfg)) {
        snprintf(err, errlen, "[context] compaction: expected sliding or summarize (summarise), got \"%s\"",
                 cfg->compaction);
        return PSY_EXIT_USAGE;
    }
    if (log_level_parse(cfg->log_level, &lv)) {
        snprintf(err, errlen, "[logging] level: expected debug, info, warn or error, got \"%s\"", cfg->log_level);
        return PSY_EXIT_USAGE;
    }
    bool lines = o->front.message || o->repl || o->front.events;
    if (lines && cfg->model_path && *cfg->model_path && access(cfg->model_path, R_OK)) {
        snprintf(err, errlen, "no model: cannot read %s (%s); pass --model FILE.gguf or set [model] path in the "
                 "config (make test-models builds a tiny test model)", cfg->model_path, strerror(errno));
        return PSY_EXIT_NO_MODEL;
    }
    return 0;
}

/* Logging to the state directory. 0 or PSY_EXIT_FAILED with err. */
static int open_log(const psy_settings *cfg, char *err, size_t errlen)
{
    log_level lv = LOG_INFO;
    log_level_parse(cfg->log_level, &lv);
    char *state = psy_settings_state_dir(cfg, err, errlen);
    if (!state) return PSY_EXIT_FAILED;
    buf path = BUF_INIT;
    if (cfg->log_file && *cfg->log_file) buf_puts(&path, cfg->log_file);
    else buf_printf(&path, "%s/psyche.log", state);
    free(state);
    if (log_init("psyche", lv, buf_str(&path)) < 0)
        fprintf(stderr, "psyche: cannot open the log file %s; logging to stderr\n", buf_str(&path));
    buf_free(&path);
    log_info("psyche %s starting (pid %d), config: %s", VERSION, (int)getpid(), cfg_sources());
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
    else status = psy_tui_run(a, where);
    g_agent = NULL;
    psy_agent_free(a);
    log_info("stopped (exit status %d)", status);
    return status;
}

int main(int argc, char **argv)
{
    static psy_settings cfg;
    const cfg_key *keys;
    size_t nkeys = psy_settings_table(&cfg, &keys);
    main_opts o = {0};
    char err[2048] = "";
    bool required;
    log_init("psyche", LOG_WARN, NULL);
    prescan(argc, argv, &o);
    const char *file = config_path(&o, &required);
    int status = cfg_load(keys, nkeys, file, required, "PSYCHE", err, sizeof err) ? PSY_EXIT_USAGE : 0;
    if (!status) status = parse_flags(argc, argv, keys, nkeys, &o, err, sizeof err);
    char *where = status ? NULL : where_things_live(&cfg);
    o.front.where = where;
    bool answered = o.help || o.version || o.print_config;
    if (!status && o.help) usage(stdout, where ? where : "");
    else if (!status && o.version) printf("psyche %s\n", VERSION);
    else if (!status && o.print_config) cfg_write_toml(keys, nkeys, stdout);
    if (!status && !answered) status = check_settings(&cfg, &o, err, sizeof err);
    if (!status && !answered) status = open_log(&cfg, err, sizeof err);
    if (!status && !answered) status = run_agent(&cfg, &o, where ? where : "", err, sizeof err);
    if (*err) {
        fputs("psyche: ", stderr);
        psy_front_put(stderr, err, "\n", o.front.raw); /* it may quote a config value */
    }
    if (*err && status == PSY_EXIT_USAGE) fprintf(stderr, "(psyche --help lists the options)\n");
    free(where);
    log_close();
    cfg_free(keys, nkeys);
    return status;
}
