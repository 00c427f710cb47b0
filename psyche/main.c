/* main.c - the psyche program: CLI, configuration, and the simple
 * front-ends (-p one turn, --repl line mode, --events JSON lines); the
 * full-screen TUI lives in tui.c.
 *
 *   psyche [--config FILE] [--model PATH] [--workspace DIR] [--no-memory] [--no-idle]
 *   psyche -p "message"      one turn, the answer on stdout, exit status 0 / 1
 *   psyche --repl            one message per input line; answers on stdout
 *   psyche --events          like --repl (or with -p), one JSON object per event on stdout
 *
 * Owns the process: signals (SIGTERM/SIGINT/SIGHUP take the shutdown path;
 * a second one skips what is left of it) and logging (to the state
 * directory, never to the terminal the TUI draws on). It never touches the
 * agent's insides: only agent.h. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "buf.h"
#include "crash.h"
#include "linereader.h"
#include "log.h"
#include "serve.h"
#include "http_remote.h"
#include "settings.h"

/* The TUI is written alongside; until tui.c exists, the line mode stands in.
 * (Once it has landed this can become a plain #include "tui.h".) */
#if defined(__has_include) && !defined(PSY_NO_TUI)
#if __has_include("tui.h") && __has_include("tui.c")
#include "tui.h"
#define HAVE_TUI 1
#endif
#endif

#define VERSION "0.1.0"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: psyche [--config FILE] [--model PATH] [--workspace DIR] [--no-memory] [--no-idle]\n"
            "              [-p MESSAGE | --repl | --events] [--log-level LEVEL]\n"
            "       psyche --print-config [--config FILE]\n"
            "       psyche serve [--host ADDR] [--port N] [--api-key-file FILE]   (see psyche serve --help)\n"
            "       psyche --connect URL [--api-key-file FILE] (-p MESSAGE | --repl)   (see psyche --connect --help)\n"
            "       psyche --version | --help\n"
            "\n"
            "Psyche, an AI companion with emotions and long-term memory. It starts two child\n"
            "programs, elpis (inference) and mnemosyne (memory), and talks to them over MCP.\n"
            "\n"
            "  (no mode)        the full-screen terminal UI\n"
            "  -p MESSAGE       one turn: the answer on stdout, then the shutdown path; exit 1 on failure\n"
            "  --repl           line mode for pipes and scripts: one message per line (/quit ends)\n"
            "  --events         one JSON object per event on stdout ({\"event\",\"text\",\"data\"});\n"
            "                   input as in --repl, or the -p message\n"
            "  --no-memory      run without mnemosyne (memories go to the fallback file)\n"
            "  --no-idle        no idle thinking or dreams\n"
            "\n"
            "Settings: configs/psyche.toml (or --config / PSYCHE_CONFIG), environment\n"
            "PSYCHE_<SECTION>_<KEY> (e.g. PSYCHE_MODEL_PATH), then these flags. Logs and the\n"
            "children's stderr go to ~/.local/state/psyche/ ([paths] state_dir).\n");
}

static const char *config_path(int argc, char **argv, bool *required)
{
    for (int i = 1; i < argc - 1; i++)
        if (!strcmp(argv[i], "--config")) {
            *required = true;
            return argv[i + 1];
        }
    const char *env = getenv("PSYCHE_CONFIG");
    if (env && *env) {
        *required = true;
        return env;
    }
    *required = false;
    return "configs/psyche.toml";
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

/* --------------------------------------------------- simple front-ends */

typedef struct frontend {
    psy_agent *a;
    bool events;      /* JSON lines */
    bool one_shot;    /* -p */
    bool interactive; /* stdin is a terminal */
    int outstanding;  /* submitted messages without their ANSWER */
    bool eof;
    bool quitting;
    bool answered;
    bool failed;
    bool mid_line;    /* streamed text without its newline yet */
    bool streamed;    /* the running turn has streamed text */
} frontend;

static void print_event_json(const psy_event *ev)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event", psy_event_kind_name(ev->kind));
    if (ev->text) cJSON_AddStringToObject(o, "text", ev->text);
    if (ev->data) cJSON_AddItemToObject(o, "data", cJSON_Duplicate(ev->data, 1));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    fflush(stdout);
}

static void end_line(frontend *fe)
{
    if (fe->mid_line) fputc('\n', stdout);
    fe->mid_line = false;
}

static void print_event_text(frontend *fe, const psy_event *ev)
{
    const char *t = ev->text ? ev->text : "";
    switch (ev->kind) {
    case PSY_EV_TOKEN:
        fputs(t, stdout);
        if (*t) fe->mid_line = t[strlen(t) - 1] != '\n', fe->streamed = true;
        break;
    case PSY_EV_ANSWER: {
        end_line(fe);
        /* what the answer has that the stream did not: "[Generation timed out]", "[Max tool iterations reached]" */
        const cJSON *note = cJSON_GetObjectItemCaseSensitive(ev->data, "note");
        if (cJSON_IsString(note) && *note->valuestring)
            printf("%s%s\n", fe->streamed ? "\n" : "", note->valuestring);
        fe->streamed = false;
        break;
    }
    case PSY_EV_TOOL_END:
        end_line(fe);
        fprintf(stderr, "[tool] %s\n", t);
        break;
    case PSY_EV_ERROR:
        end_line(fe);
        fprintf(stderr, "%s\n", t);
        break;
    case PSY_EV_CHILD: {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(ev->data, "event");
        if (cJSON_IsString(e) && !strcmp(e->valuestring, "started")) break; /* the normal case is not news */
        end_line(fe);
        fprintf(stderr, "psyche: %s\n", t);
        break;
    }
    case PSY_EV_INFO:
        end_line(fe);
        if (fe->one_shot) fprintf(stderr, "%s\n", t);
        else printf("%s\n", t);
        break;
    case PSY_EV_MEMORY:
        if (!fe->one_shot && fe->interactive) {
            end_line(fe);
            printf("(memory: %s)\n", t);
        }
        break;
    case PSY_EV_THOUGHT:
        if (fe->interactive) {
            end_line(fe);
            printf("(thought) %s\n", t);
        }
        break;
    default:
        break;
    }
    fflush(stdout);
}

static void handle_line(frontend *fe, char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ')) line[--n] = 0;
    if (!n) return;
    if (!strcmp(line, "/quit") || !strcmp(line, "/q") || !strcmp(line, "/exit")) {
        fe->quitting = true;
        psy_agent_quit(fe->a);
        return;
    }
    if (!strcmp(line, "/help") || !strcmp(line, "/h") || !strcmp(line, "/?")) {
        printf("Type a message, or: /status /emotion /memory <query> /clear /thinking [on|off] /quit\n");
        fflush(stdout);
        return;
    }
    if (line[0] == '/' && psy_agent_command(fe->a, line)) return;
    if (line[0] == '/') {
        printf("unknown command %s (try /help)\n", line);
        fflush(stdout);
        return;
    }
    fe->outstanding++;
    psy_agent_submit(fe->a, line);
}

static void on_stdin_line(void *ud, char *line, size_t len)
{
    (void)len;
    handle_line(ud, line);
}

static int run_lines(frontend *fe, const char *message)
{
    line_reader lr;
    lr_init(&lr, 1 << 20);
    if (message) {
        fe->outstanding++;
        psy_agent_submit(fe->a, message);
        fe->eof = true;
    }
    bool quit_seen = false;
    while (!quit_seen) {
        struct pollfd pf[2] = {{.fd = psy_agent_fd(fe->a), .events = POLLIN}, {.fd = 0, .events = POLLIN}};
        int n = poll(pf, fe->eof ? 1 : 2, -1);
        if (n < 0 && errno != EINTR) break;
        if (!fe->eof && (pf[1].revents & (POLLIN | POLLHUP))) {
            char chunk[4096];
            ssize_t r = read(0, chunk, sizeof chunk);
            if (r > 0) lr_feed(&lr, chunk, (size_t)r, on_stdin_line, NULL, fe);
            else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
                lr_finish(&lr, on_stdin_line, NULL, fe);
                fe->eof = true;
            }
        }
        psy_event *ev;
        while ((ev = psy_agent_next_event(fe->a))) {
            if (fe->events) print_event_json(ev);
            else print_event_text(fe, ev);
            if (ev->kind == PSY_EV_ANSWER) {
                fe->outstanding--;
                bool interrupted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev->data, "interrupted"));
                if (!interrupted) fe->answered = true;
                else if (fe->one_shot) fe->failed = true;
            }
            if (ev->kind == PSY_EV_ERROR && fe->outstanding > 0) fe->failed = true;
            if (ev->kind == PSY_EV_QUIT) quit_seen = true;
            psy_event_free(ev);
        }
        if (fe->eof && fe->outstanding <= 0 && !fe->quitting) {
            fe->quitting = true;
            psy_agent_quit(fe->a);
        }
    }
    end_line(fe);
    lr_free(&lr);
    if (fe->one_shot) return fe->answered && !fe->failed ? 0 : 1;
    return 0;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "serve")) return psy_serve_main(argc - 1, argv + 1); /* serve.c */
    if (psy_remote_wanted(argc, argv)) return psy_remote_main(argc, argv); /* Hermes: http_remote.c */
    static psy_settings cfg;
    const cfg_key *keys;
    size_t nkeys = psy_settings_table(&cfg, &keys);
    char err[2048];
    bool required, print_config = false, repl = false, events = false;
    const char *message = NULL;
    const char *file = config_path(argc, argv, &required);
    log_init("psyche", LOG_WARN, NULL);

    int rc = cfg_load(keys, nkeys, file, required, "PSYCHE", err, sizeof err);
    if (rc) {
        fprintf(stderr, "psyche: %s\n", err);
        cfg_free(keys, nkeys);
        return 2;
    }
    static const struct { const char *flag, *key, *value; } flags[] = {
        {"--model", "model.path", NULL},         {"--workspace", "workspace.dir", NULL},
        {"--log-level", "logging.level", NULL},  {"--log-file", "logging.file", NULL},
        {"--no-memory", "memory.enabled", "false"}, {"--no-idle", "idle.enabled", "false"},
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            cfg_free(keys, nkeys);
            return 0;
        }
        if (!strcmp(a, "--version")) {
            printf("psyche %s\n", VERSION);
            cfg_free(keys, nkeys);
            return 0;
        }
        if (!strcmp(a, "--print-config")) print_config = true;
        else if (!strcmp(a, "--repl")) repl = true;
        else if (!strcmp(a, "--events")) events = true;
        else if (!strcmp(a, "--config")) i++;
        else if (!strcmp(a, "-p") || !strcmp(a, "--print")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "psyche: -p needs a message\n");
                cfg_free(keys, nkeys);
                return 2;
            }
            message = argv[++i];
        } else {
            size_t f;
            for (f = 0; f < sizeof flags / sizeof flags[0]; f++)
                if (!strcmp(a, flags[f].flag)) break;
            if (f == sizeof flags / sizeof flags[0] || (!flags[f].value && i + 1 >= argc)) {
                fprintf(stderr, "psyche: %s '%s'\n", f == sizeof flags / sizeof flags[0] ? "unknown option" : "missing value for", a);
                usage(stderr);
                cfg_free(keys, nkeys);
                return 2;
            }
            const char *v = flags[f].value ? flags[f].value : argv[++i];
            if (cfg_set(keys, nkeys, flags[f].key, v, a, err, sizeof err)) {
                fprintf(stderr, "psyche: %s\n", err);
                cfg_free(keys, nkeys);
                return 2;
            }
        }
    }
    if (print_config) {
        cfg_write_toml(keys, nkeys, stdout);
        cfg_free(keys, nkeys);
        return 0;
    }
    if (!psy_settings_compaction_valid(&cfg)) {
        fprintf(stderr, "psyche: [context] compaction: expected sliding or summarize (summarise), got \"%s\"\n",
                cfg.compaction);
        cfg_free(keys, nkeys);
        return 2;
    }
    log_level lv = LOG_INFO;
    if (log_level_parse(cfg.log_level, &lv)) {
        fprintf(stderr, "psyche: [logging] level: expected debug, info, warn or error, got \"%s\"\n", cfg.log_level);
        cfg_free(keys, nkeys);
        return 2;
    }
    char *state = psy_settings_state_dir(&cfg, err, sizeof err);
    if (!state) {
        fprintf(stderr, "psyche: %s\n", err);
        cfg_free(keys, nkeys);
        return 1;
    }
    buf logpath = BUF_INIT;
    if (cfg.log_file && *cfg.log_file) buf_puts(&logpath, cfg.log_file);
    else buf_printf(&logpath, "%s/psyche.log", state);
    free(state);
    if (log_init("psyche", lv, logpath.data) < 0)
        fprintf(stderr, "psyche: cannot open the log file %s; logging to stderr\n", logpath.data);
    log_info("psyche %s starting (pid %d), config: %s", VERSION, (int)getpid(), cfg_sources());
    crash_install("psyche", NULL, NULL); /* backtraces on fatal signals */
    install_signals();

    psy_agent *a = NULL;
    rc = psy_agent_new(&a, &cfg, err, sizeof err);
    if (rc) {
        fprintf(stderr, "psyche: %s\n", err);
        log_error("cannot start: %s", err);
        buf_free(&logpath);
        cfg_free(keys, nkeys);
        return 1;
    }
    g_agent = a;
    rc = psy_agent_start(a);
    if (rc) {
        fprintf(stderr, "psyche: cannot start the agent thread: %s\n", strerror(-rc));
        g_agent = NULL;
        psy_agent_free(a);
        buf_free(&logpath);
        cfg_free(keys, nkeys);
        return 1;
    }
    int status;
    if (message || repl || events) {
        frontend fe = {.a = a, .events = events, .one_shot = message != NULL, .interactive = isatty(0) && !events};
        status = run_lines(&fe, message);
    } else {
#ifdef HAVE_TUI
        status = psy_tui_run(a);
#else
        fprintf(stderr, "psyche: this build has no terminal UI yet; running in line mode (--repl)\n");
        frontend fe = {.a = a, .interactive = isatty(0)};
        status = run_lines(&fe, NULL);
#endif
    }
    g_agent = NULL;
    psy_agent_free(a);
    log_info("stopped");
    log_close();
    buf_free(&logpath);
    cfg_free(keys, nkeys);
    return status;
}
