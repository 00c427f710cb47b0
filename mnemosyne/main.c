/* main.c - the mnemosyne program: CLI, configuration, lifecycle.
 *
 *   mnemosyne [--config FILE] [--db PATH] [--embedding-model PATH]     MCP server on stdio
 *   mnemosyne stats | export | import FILE [--keep-trust] [--replace] | search "query" [-n N] [--status S] [--json]
 *   mnemosyne edit ID [--content TEXT] [--summary TEXT] [--tags a,b] [--type T]
 *   mnemosyne restore ID | delete ID [--purge] | unlink ID | consolidate | forget [--yes]
 *
 * stdout carries only MCP messages when serving (and a subcommand's output
 * otherwise); logs go to stderr or the log file. Startup: config, logging,
 * signals, store (integrity check, migrations, embedder), then the protocol
 * loop until EOF or SIGTERM/SIGINT. */
#include <errno.h>
#include <stddef.h>
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
            "       mnemosyne [options] import FILE.jsonl [--keep-trust] [--replace]\n"
            "       mnemosyne [options] edit MEMORY_ID [--content TEXT] [--summary TEXT] [--tags a,b] [--type TYPE]\n"
            "       mnemosyne [options] search \"query\" [-n N] [--status active|all|short_term|long_term|archived] [--json]\n"
            "       mnemosyne [options] restore MEMORY_ID | delete MEMORY_ID [--purge] | unlink MEMORY_ID\n"
            "       mnemosyne [options] consolidate | forget [--yes]\n"
            "       mnemosyne --print-config | --version | --help\n"
            "\n"
            "Options: --log-level LEVEL, --log-file FILE. import --replace: lines whose id is present replace\n"
            "that memory (give only the keys that change); ids that are not UUIDs get a name-based UUID.\n"
            "search -n: default [retrieval] default_n_results. stats, export and search open the database\n"
            "read-only and never create it. delete archives (restore brings it back); delete --purge removes\n"
            "it for good. unlink removes a knowledge-update link (supersedes/superseded_by). forget deletes\n"
            "every memory for good after asking (--yes: without asking, for scripts).\n"
            "Database: --db, else [storage] db_path, else $XDG_DATA_HOME/psyche/memories.db\n"
            "(~/.local/share/psyche/memories.db). Exit status: 0 ok, 1 failed (not found, busy, ...), 2 usage.\n"
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
    bool keep_trust, replace, json, print_config, log_level_given;
    bool purge, yes; /* delete --purge, forget --yes */
    int n;                /* MEM_N_RESULTS_DEFAULT unless -n */
    const char *status;
    const char *content, *summary, *tags, *type; /* edit */
} cli_args;

/* "a, b,,c" -> {"a", "b", "c"} in place; returns the count (at most max). */
static size_t split_tags(char *s, const char **out, size_t max)
{
    size_t n = 0;
    for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ",")) {
        while (*tok == ' ' || *tok == '\t') tok++;
        char *e = tok + strlen(tok);
        while (e > tok && (e[-1] == ' ' || e[-1] == '\t')) *--e = '\0';
        if (*tok) out[n++] = tok;
    }
    return n;
}

static unsigned parse_mask(const char *s)
{
    if (!s || !strcmp(s, "active")) return MEM_STATUS_ACTIVE;
    if (!strcmp(s, "all")) return MEM_STATUS_ALL;
    mem_status st;
    return mem_status_parse(s, &st) ? 0 : MEM_STATUS_BIT(st);
}

static int cmd_import(mem_store *st, const cli_args *a, char *err, size_t errlen)
{
    mem_import_opts o;
    mem_import_default_opts(&o);
    o.keep_trust = a->keep_trust;
    o.replace = a->replace;
    return mem_cli_import(st, a->operand, &o, stdout, err, errlen);
}

static int cmd_edit(mem_store *st, const cli_args *a, char *err, size_t errlen)
{
    mem_edit e = {.content = a->content, .summary = a->summary, .memory_type = a->type};
    const char *tv[MEM_MAX_TAGS + 1];
    char *tags = a->tags ? strdup(a->tags) : NULL;
    if (a->tags && !tags) return snprintf(err, errlen, "out of memory"), -ENOMEM;
    if (tags) {
        e.set_tags = true;
        e.tags = tv;
        e.n_tags = split_tags(tags, tv, MEM_MAX_TAGS + 1); /* one over the limit: the store says so */
    }
    int rc = mem_cli_edit(st, a->operand, &e, stdout, err, errlen);
    free(tags);
    return rc;
}

static int cmd_search(mem_store *st, const cli_args *a, char *err, size_t errlen)
{
    unsigned mask = parse_mask(a->status);
    if (!mask) return snprintf(err, errlen, "--status: expected active, all, short_term, long_term or archived"), -EINVAL;
    return mem_cli_search(st, a->operand, a->n, mask, a->json, stdout, err, errlen);
}

static int cmd_consolidate(mem_store *st, const cli_args *a, char *err, size_t errlen)
{
    (void)a;
    mem_consolidation_report r;
    int rc = mem_store_consolidate(st, -1, -1, &r);
    if (rc) return snprintf(err, errlen, "%s", mem_store_errmsg(st)), rc;
    cJSON *o = mem_report_to_json(&r);
    char *t = o ? cJSON_Print(o) : NULL;
    printf("%s\n", t ? t : "");
    free(t);
    cJSON_Delete(o);
    mem_consolidation_report_free(&r);
    return 0;
}

static int cmd_stats(mem_store *st, const cli_args *a, char *err, size_t errlen)
{
    (void)a;
    return mem_cli_stats(st, stdout, err, errlen);
}

static int cmd_export(mem_store *st, const cli_args *a, char *err, size_t errlen)
{
    (void)a;
    return mem_cli_export(st, stdout, err, errlen);
}

static int cmd_restore(mem_store *st, const cli_args *a, char *err, size_t errlen)
{
    return mem_cli_restore(st, a->operand, stdout, err, errlen);
}

static int cmd_delete(mem_store *st, const cli_args *a, char *err, size_t errlen)
{
    return mem_cli_delete(st, a->operand, a->purge, stdout, err, errlen);
}

static int cmd_unlink(mem_store *st, const cli_args *a, char *err, size_t errlen)
{
    return mem_cli_unlink(st, a->operand, stdout, err, errlen);
}

static int cmd_forget(mem_store *st, const cli_args *a, char *err, size_t errlen)
{
    return mem_cli_forget(st, a->yes, stdin, stdout, err, errlen);
}

typedef struct command {
    const char *name;
    int (*run)(mem_store *st, const cli_args *a, char *err, size_t errlen);
    bool read_only;   /* opens the file read-only and never creates it */
    const char *what; /* the operand it needs, NULL for none */
} command;

static const command commands[] = {
    {"stats", cmd_stats, true, NULL},
    {"export", cmd_export, true, NULL},
    {"search", cmd_search, true, "the query"},
    {"import", cmd_import, false, "FILE.jsonl"},
    {"edit", cmd_edit, false, "MEMORY_ID"},
    {"restore", cmd_restore, false, "MEMORY_ID"},
    {"delete", cmd_delete, false, "MEMORY_ID"},
    {"unlink", cmd_unlink, false, "MEMORY_ID"},
    {"forget", cmd_forget, false, NULL},
    {"consolidate", cmd_consolidate, false, NULL},
};

static const command *find_command(const char *name)
{
    for (size_t i = 0; name && i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(commands[i].name, name)) return &commands[i];
    return NULL;
}

/* Runs a subcommand: exit status 0, or 1 with "mnemosyne CMD: what went wrong" on stderr. */
static int run_command(mem_store *st, const cli_args *a)
{
    char err[1024] = "";
    int rc = find_command(a->cmd)->run(st, a, err, sizeof err);
    if (rc) fprintf(stderr, "mnemosyne %s: %s\n", a->cmd, err);
    return rc ? 1 : 0;
}

static int parse_args(int argc, char **argv, const cfg_key *keys, size_t nkeys, cli_args *a)
{
    static const struct { const char *flag, *key; } flags[] = {
        {"--db", "storage.db_path"}, {"--embedding-model", "storage.embedding_model"},
        {"--log-level", "logging.level"}, {"--log-file", "logging.file"},
    };
    static const struct { const char *flag; size_t off; } edit_flags[] = {
        {"--content", offsetof(cli_args, content)}, {"--summary", offsetof(cli_args, summary)},
        {"--tags", offsetof(cli_args, tags)},       {"--type", offsetof(cli_args, type)},
    };
    char err[1024];
    a->n = MEM_N_RESULTS_DEFAULT;
    for (int i = 1; i < argc; i++) {
        const char *x = argv[i];
        if (!strcmp(x, "--help") || !strcmp(x, "-h")) return usage(stdout), 1;
        if (!strcmp(x, "--version")) return printf("mnemosyne %s\n", VERSION), 1;
        if (!strcmp(x, "--print-config")) { a->print_config = true; continue; }
        if (!strcmp(x, "--keep-trust")) { a->keep_trust = true; continue; }
        if (!strcmp(x, "--replace")) { a->replace = true; continue; }
        if (!strcmp(x, "--purge")) { a->purge = true; continue; }
        if (!strcmp(x, "--yes") || !strcmp(x, "-y")) { a->yes = true; continue; }
        size_t ef;
        for (ef = 0; ef < sizeof edit_flags / sizeof edit_flags[0]; ef++)
            if (!strcmp(x, edit_flags[ef].flag)) break;
        if (ef < sizeof edit_flags / sizeof edit_flags[0]) {
            if (i + 1 >= argc) {
                fprintf(stderr, "mnemosyne: missing value for '%s'\n", x);
                return 2;
            }
            *(const char **)((char *)a + edit_flags[ef].off) = argv[++i];
            continue;
        }
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
            const command *c = find_command(x);
            if (!c) {
                fprintf(stderr, "mnemosyne: unknown command '%s'\n", x);
                usage(stderr);
                return 2;
            }
            a->cmd = c->name;
        } else if (!a->operand) {
            a->operand = x;
        } else {
            fprintf(stderr, "mnemosyne %s: unexpected argument '%s'\n", a->cmd, x);
            return 2;
        }
    }
    const command *c = find_command(a->cmd);
    bool needs = c && c->what;
    bool editing = a->content || a->summary || a->tags || a->type;
    if (editing && (!a->cmd || strcmp(a->cmd, "edit"))) {
        fprintf(stderr, "mnemosyne: --content, --summary, --tags and --type belong to the edit command\n");
        return 2;
    }
    if (a->cmd && !strcmp(a->cmd, "edit") && a->operand && !editing) {
        fprintf(stderr, "mnemosyne edit: nothing to change; give --content, --summary, --tags or --type\n");
        return 2;
    }
    if (a->replace && (!a->cmd || strcmp(a->cmd, "import"))) {
        fprintf(stderr, "mnemosyne: --replace belongs to the import command\n");
        return 2;
    }
    if (needs && !a->operand) {
        fprintf(stderr, "mnemosyne %s: missing %s\n", a->cmd, c->what);
        return 2;
    }
    if ((a->purge && (!c || strcmp(c->name, "delete"))) || (a->yes && (!c || strcmp(c->name, "forget")))) {
        fprintf(stderr, "mnemosyne: %s belongs to the %s command\n", a->purge ? "--purge" : "--yes",
                a->purge ? "delete" : "forget");
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
    sp.read_only = a.cmd && find_command(a.cmd)->read_only;
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
