/* main.c - the mnemosyne program: CLI, configuration, lifecycle.
 *
 *   mnemosyne [--config FILE] [--db PATH] [--embedding-model PATH]     MCP server on stdio
 *   mnemosyne stats | export | import FILE [--keep-trust] | search "query" [-n N] [--status S] [--json]
 *   mnemosyne restore ID | delete ID | consolidate
 *
 * stdout carries only MCP messages when serving (and a subcommand's output
 * otherwise); logs go to stderr or the log file. Startup: config, logging,
 * signals, store (integrity check, migrations, embedder), then the protocol
 * loop until EOF or SIGTERM/SIGINT. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "crash.h"
#include "log.h"
#include "settings.h"
#include "tools.h"

#define VERSION "0.1.0"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mnemosyne [--config FILE] [--db PATH] [--embedding-model PATH]   (MCP server on stdio)\n"
            "       mnemosyne [options] stats\n"
            "       mnemosyne [options] export > memories.jsonl\n"
            "       mnemosyne [options] import FILE.jsonl [--keep-trust]\n"
            "       mnemosyne [options] search \"query\" [-n N] [--status active|all|short_term|long_term|archived] [--json]\n"
            "       mnemosyne [options] restore MEMORY_ID | delete MEMORY_ID | consolidate\n"
            "       mnemosyne --print-config | --version | --help\n"
            "\n"
            "Options: --log-level LEVEL, --log-file FILE.\n"
            "The memory server of Psyche: one SQLite file, hybrid (BM25 + vector) search, reversible\n"
            "consolidation. Settings: configs/mnemosyne.toml, environment MNEMOSYNE_<SECTION>_<KEY>\n"
            "(e.g. MNEMOSYNE_STORAGE_DB_PATH), then these flags. See docs/mnemosyne.md.\n");
}

static void stop_server(void *ud)
{
    mem_server *app = ud;
    if (app->srv) mcp_server_stop(app->srv);
}

/* The config file: --config, else MNEMOSYNE_CONFIG, else configs/mnemosyne.toml if present. */
static const char *config_path(int argc, char **argv, bool *required)
{
    for (int i = 1; i < argc - 1; i++)
        if (!strcmp(argv[i], "--config")) {
            *required = true;
            return argv[i + 1];
        }
    const char *env = getenv("MNEMOSYNE_CONFIG");
    if (env && *env) {
        *required = true;
        return env;
    }
    *required = false;
    return "configs/mnemosyne.toml";
}

typedef struct cli_args {
    const char *cmd;      /* NULL = serve */
    const char *operand;  /* FILE, query or id */
    bool keep_trust, json, print_config, log_level_given;
    int n;
    const char *status;
} cli_args;

static unsigned parse_mask(const char *s)
{
    if (!s || !strcmp(s, "active")) return MEM_STATUS_ACTIVE;
    if (!strcmp(s, "all")) return MEM_STATUS_ALL;
    mem_status st;
    return mem_status_parse(s, &st) ? 0 : MEM_STATUS_BIT(st);
}

static int run_command(mem_store *st, const cli_args *a)
{
    char err[1024] = "";
    int rc;
    if (!strcmp(a->cmd, "stats")) {
        rc = mem_cli_stats(st, stdout, err, sizeof err);
    } else if (!strcmp(a->cmd, "export")) {
        rc = mem_cli_export(st, stdout, err, sizeof err);
    } else if (!strcmp(a->cmd, "import")) {
        rc = mem_cli_import(st, a->operand, a->keep_trust, stdout, err, sizeof err);
    } else if (!strcmp(a->cmd, "search")) {
        unsigned mask = parse_mask(a->status);
        if (!mask) {
            fprintf(stderr, "mnemosyne: --status: expected active, all, short_term, long_term or archived\n");
            return 2;
        }
        rc = mem_cli_search(st, a->operand, a->n, mask, a->json, stdout, err, sizeof err);
    } else if (!strcmp(a->cmd, "restore")) {
        rc = mem_store_restore(st, a->operand);
        if (rc) snprintf(err, sizeof err, "%s", mem_store_errmsg(st));
        else printf("restored %s to short-term\n", a->operand);
    } else if (!strcmp(a->cmd, "delete")) {
        bool deleted = false;
        rc = mem_store_delete(st, a->operand, &deleted);
        if (rc) snprintf(err, sizeof err, "%s", mem_store_errmsg(st));
        else printf("%s %s\n", deleted ? "deleted" : "no memory with id", a->operand);
    } else { /* consolidate */
        mem_consolidation_report r;
        rc = mem_store_consolidate(st, -1, -1, &r);
        if (rc) {
            snprintf(err, sizeof err, "%s", mem_store_errmsg(st));
        } else {
            cJSON *o = mem_report_to_json(&r);
            char *t = o ? cJSON_Print(o) : NULL;
            printf("%s\n", t ? t : "");
            free(t);
            cJSON_Delete(o);
            mem_consolidation_report_free(&r);
        }
    }
    if (rc) fprintf(stderr, "mnemosyne %s: %s\n", a->cmd, err);
    return rc ? 1 : 0;
}

static int parse_args(int argc, char **argv, const cfg_key *keys, size_t nkeys, cli_args *a)
{
    static const struct { const char *flag, *key; } flags[] = {
        {"--db", "storage.db_path"}, {"--embedding-model", "storage.embedding_model"},
        {"--log-level", "logging.level"}, {"--log-file", "logging.file"},
    };
    static const char *const cmds[] = {"stats", "export", "import", "search", "restore", "delete", "consolidate"};
    char err[1024];
    a->n = 10;
    for (int i = 1; i < argc; i++) {
        const char *x = argv[i];
        if (!strcmp(x, "--help") || !strcmp(x, "-h")) return usage(stdout), 1;
        if (!strcmp(x, "--version")) return printf("mnemosyne %s\n", VERSION), 1;
        if (!strcmp(x, "--print-config")) { a->print_config = true; continue; }
        if (!strcmp(x, "--keep-trust")) { a->keep_trust = true; continue; }
        if (!strcmp(x, "--json")) { a->json = true; continue; }
        if (!strcmp(x, "--config") && i + 1 < argc) { i++; continue; }
        if ((!strcmp(x, "-n") || !strcmp(x, "--status")) && i + 1 < argc) {
            if (x[1] == 'n') {
                char *end;
                long v = strtol(argv[++i], &end, 10);
                if (*end || v < 1 || v > MEM_MAX_RESULTS) {
                    fprintf(stderr, "mnemosyne: -n: expected a number in 1..%d\n", MEM_MAX_RESULTS);
                    return 2;
                }
                a->n = (int)v;
            } else {
                a->status = argv[++i];
            }
            continue;
        }
        if (x[0] == '-' && x[1]) {
            size_t f;
            for (f = 0; f < sizeof flags / sizeof flags[0]; f++)
                if (!strcmp(x, flags[f].flag)) break;
            if (f == sizeof flags / sizeof flags[0] || i + 1 >= argc) {
                fprintf(stderr, "mnemosyne: %s '%s'\n", f == sizeof flags / sizeof flags[0] ? "unknown option" : "missing value for", x);
                usage(stderr);
                return 2;
            }
            if (!strcmp(x, "--log-level")) a->log_level_given = true;
            if (cfg_set(keys, nkeys, flags[f].key, argv[++i], x, err, sizeof err)) {
                fprintf(stderr, "mnemosyne: %s\n", err);
                return 2;
            }
            continue;
        }
        if (!a->cmd) {
            size_t c;
            for (c = 0; c < sizeof cmds / sizeof cmds[0]; c++)
                if (!strcmp(x, cmds[c])) break;
            if (c == sizeof cmds / sizeof cmds[0]) {
                fprintf(stderr, "mnemosyne: unknown command '%s'\n", x);
                usage(stderr);
                return 2;
            }
            a->cmd = cmds[c];
        } else if (!a->operand) {
            a->operand = x;
        } else {
            fprintf(stderr, "mnemosyne %s: unexpected argument '%s'\n", a->cmd, x);
            return 2;
        }
    }
    bool needs = a->cmd && (!strcmp(a->cmd, "import") || !strcmp(a->cmd, "search") || !strcmp(a->cmd, "restore") ||
                            !strcmp(a->cmd, "delete"));
    if (needs && !a->operand) {
        fprintf(stderr, "mnemosyne %s: missing %s\n", a->cmd,
                !strcmp(a->cmd, "import") ? "FILE.jsonl" : !strcmp(a->cmd, "search") ? "the query" : "MEMORY_ID");
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static mem_server app;
    static mem_settings cfg;
    const cfg_key *keys;
    size_t nkeys = mem_settings_table(&cfg, &keys);
    char err[1024];
    bool required;
    const char *file = config_path(argc, argv, &required);
    log_init("mnemosyne", LOG_INFO, NULL);
    int rc = cfg_load(keys, nkeys, file, required, "MNEMOSYNE", err, sizeof err);
    if (rc) {
        fprintf(stderr, "mnemosyne: %s\n", err);
        cfg_free(keys, nkeys);
        return 2;
    }
    cli_args a;
    memset(&a, 0, sizeof a);
    rc = parse_args(argc, argv, keys, nkeys, &a);
    if (rc) {
        cfg_free(keys, nkeys);
        return rc == 1 ? 0 : rc;
    }
    if (a.print_config) {
        cfg_write_toml(keys, nkeys, stdout);
        cfg_free(keys, nkeys);
        return 0;
    }
    log_level lv = LOG_INFO;
    if (log_level_parse(cfg.log_level, &lv)) {
        fprintf(stderr, "mnemosyne: [logging] level: expected debug, info, warn or error, got \"%s\"\n", cfg.log_level);
        cfg_free(keys, nkeys);
        return 2;
    }
    if (a.cmd && !a.log_level_given && lv < LOG_WARN) lv = LOG_WARN; /* subcommands: keep the terminal quiet */
    if (log_init("mnemosyne", lv, cfg.log_file) < 0)
        fprintf(stderr, "mnemosyne: cannot open log file %s: %s; logging to stderr\n", cfg.log_file, strerror(errno));

    mem_store_params sp;
    char path[4096];
    if (mem_settings_to_params(&cfg, &sp, path, sizeof path, err, sizeof err)) {
        fprintf(stderr, "mnemosyne: %s\n", err);
        cfg_free(keys, nkeys);
        return 2;
    }
    log_info("mnemosyne %s starting (pid %d), config: %s", VERSION, (int)getpid(), cfg_sources());
    mem_store *st = NULL;
    rc = mem_store_open(&sp, &st, err, sizeof err);
    if (rc) {
        if (cfg.log_file && *cfg.log_file) log_error("cannot open the memory database: %s", err);
        fprintf(stderr, "mnemosyne: %s\n", err);
        cfg_free(keys, nkeys);
        return 1;
    }
    if (a.cmd) {
        rc = run_command(st, &a);
        mem_store_close(st);
        cfg_free(keys, nkeys);
        log_close();
        return rc;
    }
    crash_install("mnemosyne", stop_server, &app);
    if (mem_server_init(&app, st, &cfg)) {
        log_error("cannot set up the MCP server");
        mem_store_close(st);
        cfg_free(keys, nkeys);
        return 1;
    }
    rc = mem_server_run(&app, 0, 1);
    int sig = crash_stop_signal();
    log_info("shutting down: %s", sig ? strsignal(sig) : rc ? strerror(-rc) : "end of input");
    mem_server_free(&app);
    mem_store_close(st);
    cfg_free(keys, nkeys);
    log_info("stopped");
    log_close();
    return 0;
}
