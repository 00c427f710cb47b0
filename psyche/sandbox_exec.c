/* sandbox_exec.c - psyche-sandbox-exec, the inner layer of the bubblewrap
 * sandbox: runs inside bwrap's namespaces (after bwrap made its mounts),
 * applies the Landlock ruleset computed there (sandbox.c in its `inner`
 * mode: writes only in the workspace, the private temporary folders and the
 * configured extra folders; protected names unreadable; TCP denied where the
 * ABI has it) and the seccomp filter when none is in force yet, then execs
 * the command. See sandbox.h (psy_sandbox_exec_main) for the usage. */
#include "sandbox.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define MAX_WRITE 64

typedef struct exec_opts {
    bool check;
    psy_sandbox_config cfg;
    const char *write[MAX_WRITE + 1];
    int n_write;
    char **program; /* argv of what to exec, NULL-terminated (points into argv) */
} exec_opts;

static int usage(const char *why)
{
    fprintf(stderr,
            "psyche-sandbox-exec: %s\n"
            "usage: psyche-sandbox-exec [--check] --workspace DIR [--allow-network] [--no-tmp] [--write DIR]... "
            "-- PROGRAM ARGS...\n"
            "(psyche runs it inside its bubblewrap sandbox; it is not meant to be run by hand)\n",
            why);
    return 2;
}

/* 0, or the exit status of a usage error. */
static int parse(int argc, char **argv, exec_opts *o)
{
    memset(o, 0, sizeof *o);
    psy_sandbox_default_config(&o->cfg);
    o->cfg.inner = true;
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (!strcmp(a, "--check")) o->check = true;
        else if (!strcmp(a, "--allow-network")) o->cfg.allow_network = true;
        else if (!strcmp(a, "--no-tmp")) o->cfg.allow_tmp = false;
        else if (!strcmp(a, "--workspace") && has_value) o->cfg.workspace = argv[++i];
        else if (!strcmp(a, "--write") && has_value) {
            if (o->n_write == MAX_WRITE) return usage("too many --write folders (at most 64)");
            o->write[o->n_write++] = argv[++i];
        } else {
            fprintf(stderr, "psyche-sandbox-exec: unknown or incomplete option '%s'\n", a);
            return usage("see the usage below");
        }
    }
    if (!o->cfg.workspace) return usage("--workspace DIR is required");
    if (i + 1 >= argc) return usage("no program after --");
    o->cfg.extra_write = o->n_write ? o->write : NULL;
    o->program = argv + i + 1;
    return 0;
}

/* True when a seccomp filter is in force on this process already (bwrap's
 * parent installed psyche's before it exec'd bwrap; filters are inherited). */
static bool seccomp_filtering(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return false;
    char line[256];
    bool on = false;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "Seccomp:", 8)) on = strtol(line + 8, NULL, 10) == 2;
    (void)fclose(f); /* read only */
    return on;
}

int psy_sandbox_exec_main(int argc, char **argv)
{
    exec_opts o;
    int rc = parse(argc, argv, &o);
    if (rc) return rc;
    log_init("psyche-sandbox-exec", LOG_ERROR, NULL);
    psy_sandbox sb;
    if (psy_sandbox_init(&sb, &o.cfg)) return usage("cannot set up the sandbox (no workspace?)");
    if (!seccomp_filtering()) psy__seccomp_probe(&sb); /* sets sb.seccomp: installed on enter */
    const char *tmp = psy_sandbox_tmpdir(&sb);
    if (tmp && setenv("TMPDIR", tmp, 1))
        fprintf(stderr, "psyche-sandbox-exec: cannot set TMPDIR: %s\n", strerror(errno));
    int bits = psy_sandbox_enter(&sb);
    if (!(bits & PSY_SB_FS)) {
        if (o.check) return PSY_SANDBOX_EXEC_NO_LANDLOCK;
        fprintf(stderr, "psyche-sandbox-exec: Landlock inner layer NOT applied (%s); running under bubblewrap alone\n",
                psy_sandbox_detail(&sb));
    }
    execv(o.program[0], o.program);
    fprintf(stderr, "psyche-sandbox-exec: cannot run %s: %s\n", o.program[0], strerror(errno));
    return 127;
}
