/* sandbox.h - confinement of execute_bash's command.
 *
 * Two modes, chosen at init and reported (psy_sandbox_report):
 *   "bubblewrap" (where bwrap works: user namespaces available, and not
 *     forced off with PSYCHE_SANDBOX=landlock): the command runs under bwrap
 *     in new mount, PID, IPC, UTS (and, unless allow_network, network)
 *     namespaces, with --die-with-parent and --new-session. Its file system:
 *     /usr, /etc, /opt and the /bin, /lib links read-only, a private /dev,
 *     /proc of its own PID namespace, a private /tmp (also its $HOME), and the
 *     workspace read-write - the only writable place shared with the user.
 *     $HOME, /home, /run, /var, $XDG_RUNTIME_DIR and every socket folder are
 *     simply absent; the workspace's protected files (secrets.h) are covered
 *     by /dev/null or an empty read-only folder. Inside, our helper
 *     psyche-sandbox-exec (sandbox_exec.c; bound read-only at
 *     PSY_SANDBOX_EXEC_INSIDE) adds Landlock as the inner layer, computed for
 *     the paths as they are inside the namespace (the workspace is bound at
 *     its own path): writes only in the workspace and the private temporary
 *     folders (not /dev, which bwrap leaves writable), TCP denied and
 *     abstract sockets and signals scoped where the ABI has them; then it
 *     execs /bin/sh -c CMD. Reads are granted whole there: homes are not
 *     mounted and the protected files are covered by the mounts, exactly and
 *     afresh for each command, while a Landlock read rule per entry would
 *     also hide the files a command makes beside a secret (`cc -o a a.c &&
 *     ./a` in a folder holding .env). Without the helper, or without Landlock,
 *     the command runs under bubblewrap alone and the report says which.
 *   "landlock" (the fallback): what follows.
 * Both modes add: a cleared environment (PATH, LANG, TERM, HOME, TMPDIR
 * only), a new session with no controlling terminal, a seccomp filter
 * refusing TIOCSTI/TIOCLINUX (sandbox_seccomp.c), and a keeper process (a
 * child subreaper, tools_exec.c) that kills every process the command left,
 * setsid/setpgid/double-forked ones included, when it ends. Psyche itself is
 * made non-dumpable, so /proc/<psyche>/environ, fd/ and mem are not open to
 * the command even without a PID namespace.
 *
 * The Landlock mode:
 * What the sandbox covers, when the kernel has Landlock (ABI >= 1):
 *   - writes (create, delete, rename, truncate, write) only beneath the
 *     workspace, plus /tmp, /var/tmp and /dev/shm when allow_tmp (the
 *     default, [workspace] sandbox_tmp: an exception compilers and test
 *     runners need), plus the extra_write paths, plus /dev/null, /dev/zero,
 *     /dev/full and /dev/tty;
 *   - reads and execution everywhere, except inside home directories
 *     ($HOME, /root, /home/<user>) and the workspace: there, at any depth,
 *     every entry is readable except the sensitive ones of
 *     psy_name_sensitive() (.ssh, .gnupg, .aws, .netrc, .env, *.key, *.pem,
 *     id_rsa, credentials, ...) and .config/gh. Landlock only grants, and a
 *     grant covers a whole tree, so a breadth-first scan (scan_budget entries
 *     per area; the detail says "partial" when that runs out, and the rest is
 *     granted whole) finds the directories with a secret somewhere below;
 *     those are granted entry by entry, all others whole. Files made later
 *     in a directory granted entry by entry are not readable until the
 *     rules are rebuilt, which psy_sandbox_refresh() does before each
 *     command. When /tmp itself is such a directory (the workspace or a home
 *     lies in it), commands get TMPDIR set to a scratch directory of ours;
 *   - unless allow_network: a fresh network namespace (only a downed
 *     loopback; via unshare(CLONE_NEWNET), or with a user namespace mapping
 *     our own uid when that needs privileges we lack), and Landlock's TCP
 *     bind/connect denial (ABI >= 4) and abstract-unix-socket scope (ABI >= 6);
 *   - signals: with ABI >= 6 the command cannot signal processes outside its
 *     sandbox (psyche, elpis, mnemosyne).
 * Not covered: secrets outside homes and the workspace (e.g. elsewhere in
 * /tmp), secrets past the scan budget, a file made and read back by the same
 * command in a directory that holds a secret, UDP when no network namespace
 * can be made, processes that escape the process group.
 * When the kernel lacks Landlock the command runs unsandboxed and the detail
 * line says so; nothing fails because of it.
 *
 * Usage: psy_sandbox_init() once in the parent (builds the Landlock ruleset,
 * probes namespaces); before each fork psy_sandbox_refresh(); after it, the
 * child calls psy_sandbox_enter() before exec. Only async-signal-safe calls happen there, so forking from a
 * threaded program is fine. */
#ifndef PSY_SANDBOX_H
#define PSY_SANDBOX_H

#include <stdbool.h>
#include <limits.h>
#include <stddef.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "secrets.h"

typedef struct psy_sandbox_config {
    const char *workspace;          /* directory writes are confined to (required) */
    bool enabled;                   /* false: no sandbox at all (reported as such) */
    bool allow_network;             /* false: no network for the command */
    bool allow_tmp;                 /* writes to /tmp, /var/tmp, /dev/shm too */
    const char *const *extra_write; /* NULL-terminated list of more writable dirs, or NULL (copied) */
    int scan_budget;                /* entries looked at per home for secrets; 0 = 20000 (the workspace: no limit) */
    const psy_secrets *secrets; /* the workspace's protected files, hidden from the command (not owned; may be NULL) */
    bool no_bwrap;              /* use the Landlock fallback (also: PSYCHE_SANDBOX=landlock in the environment) */
    bool inner; /* psyche-sandbox-exec inside bubblewrap: Landlock only, no probes of bwrap or namespaces, no $HOME */
} psy_sandbox_config;

/* Where the helper is bound inside the bubblewrap sandbox. */
#define PSY_SANDBOX_EXEC_INSIDE "/.psyche-sandbox-exec"
/* The helper's exit status when --check finds Landlock could not be applied. */
#define PSY_SANDBOX_EXEC_NO_LANDLOCK 3

typedef struct psy_sandbox_watch {
    char *path;
    struct timespec mtime;
} psy_sandbox_watch;

typedef struct psy_sandbox {
    int ruleset_fd; /* Landlock ruleset, -1 when none (owned, O_CLOEXEC) */
    int abi;        /* Landlock ABI of the kernel, 0 when unavailable */
    bool enabled;
    bool fs;           /* file-system rules ready */
    bool net_tcp;      /* Landlock denies TCP bind/connect (ABI >= 4) */
    bool netns;        /* a new network namespace will be entered */
    bool netns_userns; /* ... inside a new user namespace */
    bool scoped;       /* signal and abstract-socket scoping (ABI >= 6) */
    int rules;         /* number of path rules */
    unsigned uid, gid;
    char detail[1400]; /* one line for /status and the tool results */
    /* the configuration, kept to rebuild the rules before each command */
    char workspace[PATH_MAX];
    char home[PATH_MAX]; /* realpath of $HOME at init, or "" */
    bool allow_network, allow_tmp;
    char **extra_write; /* owned, NULL-terminated, or NULL */
    int scan_budget;
    int tmp_rules; /* bits: /tmp, /var/tmp, /dev/shm got a write rule */
    bool partial;  /* an area had more entries than scan_budget */
    char partial_area[PATH_MAX];
    char scratch[PATH_MAX];   /* our own TMPDIR (removed at free), or "" */
    psy_sandbox_watch *watch; /* directories granted entry by entry, with their mtime at the build */
    size_t n_watch, cap_watch;
    const psy_secrets *secrets; /* not owned */
    bool bwrap;                 /* commands run under bubblewrap */
    char bwrap_path[PATH_MAX];
    char bwrap_why[256]; /* why bubblewrap is not used, when !bwrap */
    bool seccomp;        /* the TIOCSTI/TIOCLINUX filter can be installed */
    char seccomp_why[128];
    bool in_bwrap;             /* this is the helper inside bubblewrap (config inner): reads granted whole */
    bool inner;                /* bubblewrap mode: psyche-sandbox-exec applies Landlock inside (probed) */
    char inner_path[PATH_MAX]; /* the helper on the host, "" when not found */
    char inner_why[384];       /* what the inner layer does, or why it is not applied */
    bool nondumpable;          /* psyche's /proc entries are closed to the command */
} psy_sandbox;

/* What psy_sandbox_enter() managed, as bits. */
enum {
    PSY_SB_FS = 1,      /* Landlock file rules enforced */
    PSY_SB_NETNS = 2,   /* in a new network namespace */
    PSY_SB_NETLL = 4,   /* Landlock TCP rules enforced */
    PSY_SB_SECCOMP = 8, /* the TIOCSTI/TIOCLINUX filter installed */
};

void psy_sandbox_default_config(psy_sandbox_config *c); /* enabled, no network, allow_tmp */

/* Builds the ruleset and probes what the kernel allows. Missing kernel
 * support is not an error (sb->detail says what is and is not covered).
 * Returns 0, or -EINVAL without a workspace. Always pair with psy_sandbox_free. */
int psy_sandbox_init(psy_sandbox *sb, const psy_sandbox_config *cfg);
void psy_sandbox_free(psy_sandbox *sb);

/* True when at least the file-system confinement is in force (bubblewrap's
 * mount namespace, or Landlock). */
static inline bool psy_sandbox_active(const psy_sandbox *sb) { return sb && sb->enabled && (sb->bwrap || sb->fs); }
/* "landlock ABI 7: writes only in <ws>, /tmp ...; network blocked (...)"
 * or "not sandboxed: <why>". Never NULL. */
static inline const char *psy_sandbox_detail(const psy_sandbox *sb)
{
    return sb && sb->detail[0] ? sb->detail : "not sandboxed: not set up";
}

/* Rebuilds the file rules from the disk as it is now (files made since the
 * last build in directories granted entry by entry become readable) when
 * one of those directories changed since the last build (cheap otherwise: a
 * stat each). Call before each fork; returns 0 or -errno (the detail says so). */
int psy_sandbox_refresh(psy_sandbox *sb);
/* The TMPDIR commands should get (a scratch directory of ours when /tmp
 * itself cannot be readable), or NULL to leave it alone. */
static inline const char *psy_sandbox_tmpdir(const psy_sandbox *sb)
{
    return sb && sb->fs && sb->scratch[0] ? sb->scratch : NULL;
}

/* In the forked child, before exec: applies the sandbox. Returns the PSY_SB_*
 * bits that were applied (0 when disabled or unavailable); a failing step is
 * skipped, never fatal. Async-signal-safe. */
int psy_sandbox_enter(const psy_sandbox *sb);

/* The planned bits (what psy_sandbox_enter should return). */
int psy_sandbox_expected(const psy_sandbox *sb);

/* The argv that runs `/bin/sh -c cmd` in the sandbox (bwrap's, in the
 * bubblewrap mode), NULL-terminated. Made in the parent before the fork.
 * Returns 0 or -ENOMEM; free with psy_sandbox_strv_free. */
int psy_sandbox_argv(const psy_sandbox *sb, const char *cmd, char ***argv);
/* The command's whole environment: PATH, LANG (from ours when set), TERM
 * (ours or "dumb"), HOME (the private /tmp under bubblewrap, else the
 * workspace), TMPDIR when psy_sandbox_tmpdir says so. Nothing else of
 * psyche's environment (no tokens, no SSH_AUTH_SOCK, no DBUS address).
 * Used even when the sandbox is disabled. Returns 0 or -ENOMEM. */
int psy_sandbox_envp(const psy_sandbox *sb, char ***envp);
void psy_sandbox_strv_free(char **v);

/* Which protections are in force, never "on" for a missing part:
 * {"active": bool, "mode": "bubblewrap"|"landlock"|"none",
 *  "protections": {"<name>": {"on": bool, "why": "..."}, ...}}
 * with the names mount_namespace, landlock_files, secrets_hidden, home_secrets_hidden, sockets_absent,
 * network, pid_namespace, process_cleanup, new_session, tty_injection, no_capabilities,
 * clean_environment, psyche_proc_hidden, signals_scoped. Caller frees; NULL
 * when out of memory. */
cJSON *psy_sandbox_report(const psy_sandbox *sb);

/* In the command's process, before exec (async-signal-safe): installs the
 * seccomp filter. Returns 0 or -errno. (sandbox_seccomp.c) */
int psy_seccomp_deny_tty_push(void);

/* The helper's whole program (tools/psyche-sandbox-exec.c calls it):
 *   psyche-sandbox-exec [--check] --workspace DIR [--allow-network] [--no-tmp]
 *                       [--write DIR]... -- PROGRAM ARGS...
 * Applies the Landlock inner layer (and the seccomp filter when no filter is
 * in force yet), then execs PROGRAM. When Landlock cannot be applied it says
 * so on stderr and runs PROGRAM anyway (bubblewrap still confines it);
 * --check exits PSY_SANDBOX_EXEC_NO_LANDLOCK then instead. Returns only on
 * a usage error or a failed exec (the exit status). (sandbox_exec.c) */
int psy_sandbox_exec_main(int argc, char **argv);

/* ---- internal to sandbox*.c ---- */
void psy__bwrap_probe(psy_sandbox *sb);   /* sets bwrap, bwrap_path, bwrap_why */
void psy__bwrap_detail(psy_sandbox *sb);  /* the detail line of the bubblewrap mode */
void psy__seccomp_probe(psy_sandbox *sb); /* sets seccomp, seccomp_why */

#endif
