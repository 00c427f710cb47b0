/* engine_int.h - what engine.c (model, prompts, thread, public API) and
 * slots.c (the continuous-batching scheduler) share. Private to those two.
 *
 * Everything under "engine thread only" is touched by the inference thread
 * alone (OWNER_ONLY); the queue fields are guarded by mu. */
#ifndef ELPIS_ENGINE_INT_H
#define ELPIS_ENGINE_INT_H

#include <assert.h>
#include <pthread.h>

#include <llama.h>

#include "cvec.h"
#include "engine.h"

typedef struct seq_cache {
    llama_token *tok; /* tokens whose K/V are in the cache, in position order */
    int n;
} seq_cache;

typedef enum { SLOT_IDLE, SLOT_PROMPT, SLOT_GEN } slot_state;

/* One KV sequence and the job (if any) that is using it. A slot keeps its
 * cache after its job ends, so the next job with the same prefix reuses it. */
typedef struct slot {
    int seq;         /* its llama.cpp sequence id */
    bool background; /* the background slot (the last one) */
    seq_cache cache;
    slot_state state;
    gen_job *job;              /* borrowed from the submitter until on_done */
    llama_token *prompt;       /* owned: the job's prompt tokens */
    int n_prompt, next_prompt; /* prompt length; index of the next token to evaluate */
    struct llama_sampler *smp; /* owned: this job's sampler chain */
    buf raw;                   /* token bytes not yet valid UTF-8 */
    llama_token last;          /* sampled, to be evaluated in the next step */
    int i_batch;               /* index of its logits in the current batch; -1: none */
    int batch_pos0, batch_n;   /* the positions it added to the current batch */
    bool pad;                  /* its one token in the batch is a throwaway (slots_fill_batch) */
    double t_start, t_gen;     /* monotonic: job started, first token sampled */
    char session[64];          /* the last job's session hint */
    uint64_t last_used;        /* step counter at its last job's start (LRU) */
} slot;

struct engine {
    engine_params p;
    engine_info info;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    gen_job *head, *tail; /* queue, guarded by mu */
    int pending;          /* guarded by mu */
    bool stopping;        /* guarded by mu */
    int stop_flag;        /* atomic copy of stopping, read by the abort callback */
    bool loaded;          /* guarded by mu: load finished (ok or not) */
    int load_rc;
    char load_err[512];
    /* engine thread only: */
    struct llama_model *model;
    struct llama_context *ctx;
    const struct llama_vocab *vocab;
    const char *tmpl; /* template text or builtin name */
    int n_seq;        /* slots + 1 background */
    slot *slots;      /* n_seq; slots[n_seq - 1] is the background slot */
    bool pad_holes;   /* the KV cache can drop a position again: slots.c may pad (pad_holes) */
    cvec_set cvecs;
    float *cvec_buf;
    bool cvec_active;
    uint32_t n_sampled;       /* sampled generations so far (seed offset); atomic in upstream workers */
    uint64_t n_jobs;          /* jobs started (slot LRU clock) */
    struct llama_batch batch; /* n_batch tokens, one sequence each; reused by every decode */
    bool have_batch;
    bool remote;         /* backend "openai": no engine thread */
    struct upstream *up; /* backend "openai": owned, see upstream.c; NULL for llama.cpp */
};

#define OWNER_ONLY(e) assert(pthread_equal(pthread_self(), (e)->thread))

/* engine.c */
bool engine_job_cancelled(gen_job *job);
/* Moves the complete characters of raw (all of it when final: an incomplete
 * one becomes U+FFFD) into job->content as valid UTF-8 and hands the new text
 * to on_piece. 0, or -ENOMEM with job->error set (the text so far stays). */
int engine_job_append(gen_job *job, buf *raw, bool final);
int engine_render(engine *e, gen_job *job, buf *out, bool add_assistant);
int engine_tokenize(engine *e, const char *text, size_t len, bool special, llama_token **toks);
void engine_apply_steering(engine *e, gen_job *job);
void engine_run_count(engine *e, gen_job *job);
/* Logs the job's line, drops it from the pending count and calls on_done
 * (the engine's last touch of the job). On the engine thread or an upstream worker. */
void engine_finish(engine *e, gen_job *job);

/* upstream.c: the "openai" backend. Start probes the upstream (fills e->info)
 * and starts the workers; stop joins them (after stopping was set) and frees. */
int upstream_start(engine *e, char *err, size_t errlen);
void upstream_stop(engine *e);

/* slots.c: the scheduler. All on the engine thread. */
int slots_init(engine *e, int n_ctx);
void slots_free(engine *e);
int slots_active(const engine *e);
/* True when a job of this kind could start now. */
bool slots_can_take(const engine *e, const gen_job *job);
/* Renders, tokenizes and places a generate job on a slot, or finishes it
 * at once (cancelled, error). */
void slots_start(engine *e, gen_job *job);
/* One step: one token of every generating slot and a chunk of prompts, in
 * one llama_decode; then samples. */
void slots_step(engine *e);
/* The step's batch (e->batch) and every slot's share of it; the number of
 * tokens. Part of slots_step, separate for the unit tests. */
int slots_fill_batch(engine *e);
/* Cancels every running job (engine closing). */
void slots_cancel_all(engine *e);
/* The abort callback's question: is everything in the current batch cancelled? */
bool slots_batch_cancelled(engine *e);

#endif
