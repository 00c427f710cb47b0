/* main.c - the mnemosyne program: the subcommands' table and argument
 * reading, and the lifecycle of the MCP server.
 *
 *   mnemosyne [--config FILE] [--db PATH] [--embedding-model PATH]     MCP server on stdio
 *   mnemosyne stats | export | import FILE [--keep-trust] [--replace] | search "query" [-n N] [--status S] [--json]
 *   mnemosyne edit ID [--content TEXT] [--summary TEXT] [--tags a,b] [--type T]
 *   mnemosyne restore ID | delete ID [--purge] | unlink ID | consolidate | forget [--yes]
 *
 * Start-up (trusted config discovery, common flags, logging) is
 * common/startup.h's; then the store (integrity check, migrations, embedder;
 * read-only for the reading commands), then one subcommand or the protocol
 * loop until EOF or SIGTERM/SIGINT. stdout carries only MCP messages when
 * serving (a subcommand's output otherwise); logs go to stderr or the log
 * file. */
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
#include "startup.h"
#include "tools.h"
#include "version.h"


static void usage(FILE *f)
{
    fprintf(f,
            "usage: mnemosyne [--config FILE] [--db PATH] [--embedding-model PATH]   (MCP server on stdio)\n"
            "       mnemosyne [options] stats\n"
            "       mnemosyne [options] export > memories.jsonl\n"
            "       mnemosyne [options] import FILE.jsonl [--keep-trust] [--replace]\n"
            "       mnemosyne [options] edit MEMORY_ID [--content TEXT] [--summary TEXT] [--tags a,b] [--type TYPE]\n"
            "       mnemosyne [options] search \"query\" [-n N] [--status active|all|short_term|long_term|archived] "
            "[--json]\n"
            "       mnemosyne [options] restore MEMORY_ID | delete MEMORY_ID [--purge] | unlink MEMORY_ID\n"
            "       mnemosyne [options] consolidate | forget [--yes]\n"
            "       mnemosyne --print-config | --version | --help\n"
            "\n"
            "Options: --log-level LEVEL, --log-file FILE. import --replace: lines whose id is present replace\n"
            "that memory (give only the keys that change); ids that are not UUIDs get a name-based UUID.\n"
            "search -n: default [retrieval] default_n_results. stats, export and search open the database\n"
            "read-only; only import creates a missing database (for any other command it is an error).\n"
            "delete archives (restore brings it back); delete --purge removes it for good. unlink removes a\n"
            "knowledge-update link (supersedes/superseded_by). forget deletes every memory for good after\n"
            "asking (--yes: without asking, for scripts).\n"
            "Database: --db, else [storage] db_path, else $XDG_DATA_HOME/psyche/memories.db\n"
            "(~/.local/share/psyche/memories.db). Exit status: 0 ok, 1 failed (not found, busy, ...), 2 usage.\n"
            "The memory server of Psyche: one SQLite file, hybrid (BM25 + vector) search, reversible\n"
            "consolidation. Settings: --config FILE, else $MNEMOSYNE_CONFIG, else\n"
            "$XDG_CONFIG_HOME/psyche/mnemosyne.toml, else /etc/psyche/mnemosyne.toml (never the current\n"
            "folder); then the environment MNEMOSYNE_<SECTION>_<KEY> (e.g. MNEMOSYNE_STORAGE_DB_PATH),\n"
            "then these flags. See docs/mnemosyne.md.\n");
}

static void stop_server(void *ud)
{
    mem_server *app = ud;
    if (app->srv) mcp_server_stop(app->srv);
}

typedef struct cli_args {
    const char *cmd;     /* NULL = serve */
    const char *operand; /* FILE, query or id */
    bool keep_trust, replace, json;
    bool purge, yes; /* delete --purge, forget --yes */
    int n;           /* MEM_N_RESULTS_DEFAULT unless -n */
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
    if (!mask)
        return snprintf(err, errlen, "--status: expected active, all, short_term, long_term or archived"), -EINVAL;
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
    bool may_create;  /* may create a missing database (import: restoring a backup into a new file); the
                         others work on existing memories, so a missing file is a mistyped path: exit 1 */
    const char *what; /* the operand it needs, NULL for none */
} command;

static const command commands[] = {
    {"stats", cmd_stats, true, false, NULL},           {"export", cmd_export, true, false, NULL},
    {"search", cmd_search, true, false, "the query"},  {"import", cmd_import, false, true, "FILE.jsonl"},
    {"edit", cmd_edit, false, false, "MEMORY_ID"},     {"restore", cmd_restore, false, false, "MEMORY_ID"},
    {"delete", cmd_delete, false, false, "MEMORY_ID"}, {"unlink", cmd_unlink, false, false, "MEMORY_ID"},
    {"forget", cmd_forget, false, false, NULL},        {"consolidate", cmd_consolidate, false, false, NULL},
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

/* Flags with a value that belong to one subcommand, and where they go. */
static const struct {
    const char *flag;
    size_t off;
} value_flags[] = {
    {"--content", offsetof(cli_args, content)}, {"--summary", offsetof(cli_args, summary)},
    {"--tags", offsetof(cli_args, tags)},       {"--type", offsetof(cli_args, type)},
    {"--status", offsetof(cli_args, status)},
};

/* startup_params.own_arg: the command, its operand and the subcommands'
 * flags. 0 taken, -ENOENT not ours, -EINVAL after printing why. */
static int own_arg(void *ud, int argc, char **argv, int *i)
{
    cli_args *a = ud;
    const char *x = argv[*i];
    bool *sw = !strcmp(x, "--keep-trust")                ? &a->keep_trust
               : !strcmp(x, "--replace")                 ? &a->replace
               : !strcmp(x, "--purge")                   ? &a->purge
               : !strcmp(x, "--yes") || !strcmp(x, "-y") ? &a->yes
               : !strcmp(x, "--json")                    ? &a->json
                                                         : NULL;
    if (sw) return *sw = true, 0;
    for (size_t f = 0; f < sizeof value_flags / sizeof value_flags[0]; f++) {
        if (strcmp(x, value_flags[f].flag)) continue;
        if (*i + 1 >= argc) return fprintf(stderr, "mnemosyne: missing value for '%s'\n", x), -EINVAL;
        *(const char **)((char *)a + value_flags[f].off) = argv[++*i];
        return 0;
    }
    if (!strcmp(x, "-n")) {
        char *end;
        long v = *i + 1 < argc ? strtol(argv[++*i], &end, 10) : 0;
        if (v < 1 || v > MEM_MAX_RESULTS || *end)
            return fprintf(stderr, "mnemosyne: -n: expected a number in 1..%d\n", MEM_MAX_RESULTS), -EINVAL;
        a->n = (int)v;
        return 0;
    }
    if (x[0] == '-' && x[1]) return -ENOENT;
    if (!a->cmd) {
        const command *c = find_command(x);
        if (!c) return fprintf(stderr, "mnemosyne: unknown command '%s' (see mnemosyne --help)\n", x), -EINVAL;
        a->cmd = c->name;
        return 0;
    }
    if (a->operand) return -ENOENT; /* "unexpected argument" */
    a->operand = x;
    return 0;
}

/* Flags that belong to one command, and the operand a command needs. 0 or 2 (usage). */
static int check_args(const cli_args *a)
{
    const command *c = find_command(a->cmd);
    const char *cmd = c ? c->name : "";
    bool editing = a->content || a->summary || a->tags || a->type;
    const char *misplaced = editing && strcmp(cmd, "edit")
                                ? "--content, --summary, --tags and --type belong to the edit command"
                            : a->replace && strcmp(cmd, "import")    ? "--replace belongs to the import command"
                            : a->keep_trust && strcmp(cmd, "import") ? "--keep-trust belongs to the import command"
                            : a->purge && strcmp(cmd, "delete")      ? "--purge belongs to the delete command"
                            : a->yes && strcmp(cmd, "forget")        ? "--yes belongs to the forget command"
                            : (a->json || a->status || a->n != MEM_N_RESULTS_DEFAULT) && strcmp(cmd, "search")
                                ? "-n, --status and --json belong to the search command"
                                : NULL;
    if (misplaced) return fprintf(stderr, "mnemosyne: %s\n", misplaced), 2;
    if (c && c->what && !a->operand) return fprintf(stderr, "mnemosyne %s: missing %s\n", cmd, c->what), 2;
    if (c && !c->what && a->operand)
        return fprintf(stderr, "mnemosyne %s: unexpected argument '%s'\n", cmd, a->operand), 2;
    if (!strcmp(cmd, "edit") && !editing)
        return fprintf(stderr, "mnemosyne edit: nothing to change; give --content, --summary, --tags or --type\n"), 2;
    return 0;
}

/* The MCP server on stdio until EOF or a stop signal. */
static int serve(mem_store *st, mem_settings *cfg)
{
    static mem_server app;
    crash_install("mnemosyne", stop_server, &app);
    if (mem_server_init(&app, st, cfg)) {
        log_error("cannot set up the MCP server");
        return 1;
    }
    int rc = mem_server_run(&app, 0, 1);
    int sig = crash_stop_signal();
    log_info("shutting down: %s", sig ? strsignal(sig) : rc ? strerror(-rc) : "end of input");
    mem_server_free(&app);
    log_info("stopped");
    return 0;
}

/* Opens the store and runs the subcommand or the server; the exit status. */
static int run(mem_settings *cfg, const cli_args *a)
{
    mem_store_params sp;
    char path[4096], err[1024];
    if (mem_settings_to_params(cfg, &sp, path, sizeof path, err, sizeof err))
        return fprintf(stderr, "mnemosyne: %s\n", err), 2;
    sp.read_only = a->cmd && find_command(a->cmd)->read_only;
    sp.must_exist = a->cmd && !find_command(a->cmd)->may_create;
    mem_store *st = NULL;
    if (mem_store_open(&sp, &st, err, sizeof err)) {
        if (cfg->log_file && *cfg->log_file) log_error("cannot open the memory database: %s", err);
        fprintf(stderr, "mnemosyne: %s\n", err);
        return 1;
    }
    int rc = a->cmd ? run_command(st, a) : serve(st, cfg);
    mem_store_close(st);
    return rc;
}

int main(int argc, char **argv)
{
    static mem_settings cfg;
    static cli_args a = {.n = MEM_N_RESULTS_DEFAULT};
    static const startup_flag flags[] = {{"--db", "storage.db_path"}, {"--embedding-model", "storage.embedding_model"}};
    startup_params p = {.program = "mnemosyne",
                        .env_prefix = "MNEMOSYNE",
                        .flags = flags,
                        .n_flags = sizeof flags / sizeof flags[0],
                        .log_level = &cfg.log_level,
                        .log_file = &cfg.log_file,
                        .usage = usage,
                        .own_arg = own_arg,
                        .ud = &a};
    const cfg_key *keys;
    p.n_keys = mem_settings_table(&cfg, &keys);
    p.keys = keys;
    startup_state st;
    int rc = startup_begin(&p, argc, argv, &st);
    if (rc == -ECANCELED) {
        rc = st.exit_code;
    } else if (!(rc = check_args(&a))) {
        if (a.cmd && !st.log_level_given && st.level < LOG_WARN) /* subcommands: keep the terminal quiet */
            log_init("mnemosyne", LOG_WARN, cfg.log_file && *cfg.log_file ? cfg.log_file : NULL);
        log_info("mnemosyne %s starting (pid %d), config: %s", psy_version(), (int)getpid(), cfg_sources());
        rc = run(&cfg, &a);
    }
    startup_end(&p, &st);
    return rc;
}
