/* serve_int.h - what serve.c (CLI, lifecycle, routing on connection threads)
 * and serve_worker.c (the worker and the chat runners) share.
 *
 * The rules: only the worker thread supervises `elpis` (the psy_child: a
 * restart replaces its client) and runs control jobs, dreams and summaries;
 * up to `parallel` chat runner threads each run one chat job at once on the
 * shared elpis client (mcp_client allows concurrent calls), holding
 * elpis_lock for reading while they do, and the worker restarts elpis only
 * under elpis_lock for writing. The users' mnemosyne children are behind
 * mem_mu (serve_memory.c). Connection threads queue jobs with
 * psy_serve_submit() and read the answer from the job's channel; they read
 * the published snapshot fields under `mu`. */
#ifndef PSY_SERVE_INT_H
#define PSY_SERVE_INT_H

#include <pthread.h>
#include <stdbool.h>

#include <cjson/cJSON.h>

#include "http.h"
#include "openai.h"
#include "serve_conv.h"
#include "serve_metrics.h"
#include "serve_thoughts.h"
#include "settings.h"
#include "supervisor.h"

/* [server] settings. Strings are owned by the config layer. */
typedef struct psy_serve_cfg {
    char *host;
    int port;
    char *api_key_file;
    int max_body_bytes;
    int body_timeout_s;
    int idle_timeout_s;
    int max_connections;
    int queue_max;
    char *cors_origin;
    char *model_name;
    int drain_timeout_s;
    int conversation_idle_s;
    int max_conversations;
    bool memory_tools;
    int slots;              /* elpis --slots; 0: elpis's own [model] slots */
    int stream_interval_ms; /* elpis progress_interval_ms for streamed answers */
} psy_serve_cfg;

/* The values the [server] keys were loaded into (serve_settings.c). */
psy_serve_cfg *psy_serve_settings_values(void);

typedef enum { JOB_CHAT, JOB_EMOTION_GET, JOB_EMOTION_POST, JOB_EMBED } psy_job_kind;

/* One unit of work for the worker. Owned by the queue, then by the worker,
 * which frees it after closing its channel. */
typedef struct psy_job {
    psy_job_kind kind;
    psy_chat_req req;        /* JOB_CHAT */
    cJSON *args;             /* JOB_EMOTION_POST: update_emotion arguments; JOB_EMBED: {input, model, base64} (owned) */
    char conv[PSY_CONV_KEY]; /* conversation key (serve_conv.h) */
    char id[64];             /* "chatcmpl-<uuid>" */
    int user;                /* the API key's index, -1 without keys (whose memories) */
    long created;
    psy_chan *ch; /* the job's reference; the connection holds another */
    struct psy_job *next;
} psy_job;

/* The most chat runners ([server] slots' maximum). */
#define PSY_SERVE_RUNNERS_MAX 32

struct psy_serve;
/* One chat runner thread: runs chat jobs one after the other. */
typedef struct psy_runner {
    struct psy_serve *s;
    int index;
    pthread_t th;
} psy_runner;

typedef struct psy_serve {
    const psy_settings *cfg;
    const psy_serve_cfg *scfg;
    psy_metrics metrics;
    char *state_dir;     /* owned */
    char *system_prompt; /* owned: Psyche's part of every system prompt */
    long started;        /* epoch seconds */

    /* the worker supervises it; runners call its client under elpis_lock (read) */
    psy_child elpis;
    pthread_rwlock_t elpis_lock; /* write: the worker may replace elpis.c; read: a runner uses it */
    pthread_mutex_t mem_mu;      /* serve_memory.c: the users' children and their calls */
    psy_runner runners[PSY_SERVE_RUNNERS_MAX];
    int n_runners;                /* started */
    struct psy_serve_user *users; /* serve_memory.c: one mnemosyne per user (NULL: memory off) */
    size_t n_users;
    psy_sup_policy pol;
    pthread_t worker;
    bool worker_started;
    int stop_flag;    /* set: child starts and waits end early */
    int dream_user;   /* the user dreamt for last (round robin) */
    int dream_cancel; /* set by psy_serve_submit: a request ends a dream at once */

    /* guarded by mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    psy_job *head;
    int queued;                              /* chat jobs waiting (control jobs are not counted) */
    psy_job *control;                        /* the control job the worker runs, or NULL */
    psy_job *running[PSY_SERVE_RUNNERS_MAX]; /* runner i's chat job, or NULL (interrupted under mu) */
    int n_running;                           /* chat jobs running (or just answered, not yet freed) */
    int parallel;                            /* chat jobs at once: elpis's slots, 1..n_runners */
    bool stopping;                           /* the worker should finish */
    bool draining;                           /* SIGTERM: new requests are refused */
    char last_conv[PSY_CONV_KEY];            /* conversation started last (fairness) */
    psy_conv_table convs;                    /* conversations seen, idle ones evicted */
    bool elpis_up;
    bool elpis_ever_up;
    int elpis_restarts;
    int elpis_pid;
    int mem_running;               /* users' mnemosyne children up */
    double last_activity;          /* now_mono() of the last request queued */
    double last_dream;             /* now_mono() when the last dream ended; -1: none yet */
    double last_consolidate_check; /* now_mono() of the last idle should_consolidate; -1: none yet */
    bool dreaming;
    char model_path[512];
    long context_length;
    long slots; /* elpis's generation slots (get_capabilities) */
    /* what the server thought while nobody was there, one ring per user (the
     * API key's index; index 0 without keys), for GET /v1/psyche/thoughts */
    psy_thought_ring *thoughts; /* owned: n_thought_users rings; the entries under mu */
    size_t n_thought_users;
} psy_serve;

/* Starts the worker thread (which starts elpis) and the chat runners.
 * Returns 0 or -errno. */
int psy_serve_worker_start(psy_serve *s);
/* Cancels what is running and queued, stops the worker and the children. */
void psy_serve_worker_stop(psy_serve *s);
/* Queues a job (takes it). Chat jobs beyond queue_max: -EAGAIN (the job is
 * freed); while draining: -ESHUTDOWN. Control jobs go first. */
int psy_serve_submit(psy_serve *s, psy_job *j);
/* True while nothing is queued or running. */
bool psy_serve_idle(psy_serve *s);
void psy_job_free(psy_job *j);

/* serve_dream.c (worker thread). Due: memory and [idle] dreams on, nobody
 * has asked anything for dream_after_s, the last dream dream_interval_s ago
 * (called with mu held). */
bool psy_serve_dream_due(psy_serve *s, double now);
/* One dream for the next user whose memories are open; cancelled at once by
 * a request. */
void psy_serve_dream(psy_serve *s);
/* Keeps a thought of user's (the API key's index, -1 without keys) for
 * GET /v1/psyche/thoughts; takes mu. kind: "dream" or "memory"; theme may
 * be NULL. Any thread. */
void psy_serve_thought(psy_serve *s, int user, const char *kind, const char *theme, const char *text);

/* serve_memtools.c: the model's recall_memory / store_memory inside the
 * server ([server] memory_tools). */
#define PSY_SERVE_MEMTOOL_STEPS 5
/* Adds both tools to the elpis arguments' tools (created if need be) when
 * memory_tools is on and the user has memory. 0 or -ENOMEM. */
int psy_serve_memtools_offer(psy_serve *s, const psy_job *j, cJSON *args);
/* Removes them again (the last round must answer); no tools left: plain generate. */
void psy_serve_memtools_withdraw(psy_serve *s, cJSON *args);
bool psy_serve_memtool_is(const char *name);
/* Runs call (a memory tool, checked with psy_serve_memtool_is) on the job's
 * user and appends the call and its result to args' messages. 0 or -ENOMEM. */
int psy_serve_memtool_run(psy_serve *s, const psy_job *j, cJSON *args, const cJSON *call);
/* Runs every memory tool call among res's tool_calls (in order; each one's
 * round is appended to args' messages) and removes it from res. *again is
 * true when there were memory calls and nothing else: the model is asked
 * again. With client calls beside them, the memory calls still take effect
 * and the client gets its own calls. 0 or -ENOMEM. */
int psy_serve_memtools_take(psy_serve *s, const psy_job *j, cJSON *args, cJSON *res, bool *again);

#endif
