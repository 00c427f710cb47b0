/* supervisor.h - psyche's children (elpis, mnemosyne): start, watch, restart,
 * stop. (The fallback file for memories is in fallback.h.)
 *
 * Only the agent thread uses a psy_child. Starting makes `attempts` tries
 * with 1 s, 2 s, 4 s ... between them, each a spawn plus the MCP handshake.
 * psy_child_tick() is the whole supervision policy: it notices a death
 * (reporting which child, how it ended and its last log lines), restarts
 * it after a backoff (1 s, 2 s, 4 s ... up to backoff_max_s, starting over
 * once the child has stayed up stable_s), with the rate limit, and retries a
 * child that is down later.
 *
 * An async child (mnemosyne) is started on a helper thread, so a child that
 * hangs in its handshake never stalls the agent: the child is simply down
 * until the start ends (notify_fd is written then), and psy_child_stop ends
 * a start in progress at once (its process is killed). */
#ifndef PSY_SUPERVISOR_H
#define PSY_SUPERVISOR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "mcp_client.h"

#define PSY_CHILD_RECENT 64

struct psy_child_job;

typedef struct psy_child {
    char name[16];                   /* "elpis", "mnemosyne" */
    char **argv;                     /* owned, NULL-terminated */
    char *log_path;                  /* owned: the child's stderr goes here */
    mcp_client *c;                   /* NULL while down */
    bool enabled;                    /* false: never started (--no-memory) */
    int restarts;                    /* successful restarts since psyche started */
    double recent[PSY_CHILD_RECENT]; /* times of recent restart attempts */
    int n_recent;
    double retry_at;           /* when a down child is tried again; 0 = now */
    bool gave_up;              /* over the rate limit, waiting for retry_at */
    bool ever_up;              /* came up at least once */
    int pidfd;                 /* readable when the child exits; -1 if unsupported */
    char last_error[1024];     /* why it is down (cleared when it is up again) */
    char last_exit[160];       /* how it ended last time: "killed by signal 11 (Segmentation fault)" */
    double up_since;           /* when it last came up */
    double backoff_s;          /* delay before the next restart after a death (0 = 1 s) */
    int backoff_max_s;         /* the delay doubles up to this (60) */
    int stable_s;              /* up this long: the next death starts the delays over (60) */
    bool async;                /* start on a helper thread (set before the first tick) */
    int notify_fd;             /* eventfd written when an async start ends; -1 = none */
    struct psy_child_job *job; /* the async start in progress, or NULL */
    bool config_check;         /* refuse a config file the agent could have written (psy_child_trust_config) */
    char env_prefix[16];       /* "ELPIS": its $ELPIS_CONFIG */
    char *config_workspace;    /* owned, or NULL: the workspace no config of the child may lie in */
} psy_child;

typedef struct psy_sup_policy {
    int attempts;         /* per start */
    int start_timeout_ms; /* handshake */
    int restart_max;      /* restarts within restart_window_s before giving up for a while */
    int restart_window_s;
    int retry_s; /* wait before trying a child that is down again */
    int stop_grace_ms;
} psy_sup_policy;

/* event: "started", "start_failed", "died", "restarted", "gave_up".
 * text: one readable line; detail: exit description or error; log_tail may be NULL. */
typedef void (*psy_child_report_fn)(void *ud, psy_child *ch, const char *event, const char *text, const char *detail,
                                    const char *log_tail);

/* argv is copied. Returns 0 or -ENOMEM. */
int psy_child_init(psy_child *ch, const char *name, char *const argv[], const char *log_path, bool enabled);
void psy_child_free(psy_child *ch);

/* Before each start, find the config file the child will read (--config in
 * its command, $<env_prefix>_CONFIG, the user's or the system's
 * <name>.toml: startup_config_find) and refuse to start it when
 * startup_config_trusted() refuses that file: inside workspace (may be
 * NULL), writable by others, ... The start then fails with the message
 * naming the file (reported as any start failure, in last_error) and
 * nothing is run. Returns 0 or -ENOMEM. */
int psy_child_trust_config(psy_child *ch, const char *env_prefix, const char *workspace);

/* Starts the child (attempts, backoff, handshake). cancel (may be NULL) ends
 * the waits between attempts early. Returns 0, or -errno with err naming the
 * child, the cause and the tail of its log. */
int psy_child_start(psy_child *ch, const psy_sup_policy *pol, const int *cancel, char *err, size_t errlen);

bool psy_child_up(const psy_child *ch);
/* True while an async start is in progress. */
bool psy_child_starting(const psy_child *ch);
pid_t psy_child_pid(const psy_child *ch);

/* Waits up to wait_ms (less when *cancel is set) for an async start in
 * progress to end; the next psy_child_tick takes its result. */
void psy_child_wait_start(psy_child *ch, int wait_ms, const int *cancel);

/* Supervision step at time now (now_mono()). Returns true when the child came
 * up during this call (the caller then re-syncs: capabilities, fallback import). */
bool psy_child_tick(psy_child *ch, const psy_sup_policy *pol, double now, const int *cancel, psy_child_report_fn report,
                    void *ud);

/* Only notices (and reports, once) that the child died; the restart is left
 * to the next psy_child_tick. Safe to call in the middle of other work.
 * Returns true when it just died. */
bool psy_child_check(psy_child *ch, double now, psy_child_report_fn report, void *ud);

/* Seconds until psy_child_tick has work to do (a retry), or -1 for none
 * (an async start in progress wakes the caller through notify_fd). */
double psy_child_next_due(const psy_child *ch, double now);

/* Stops the child: EOF, SIGTERM, SIGKILL (grace_ms each). An async start in
 * progress is ended first (its process killed, its thread joined). */
void psy_child_stop(psy_child *ch, int grace_ms);

#endif
