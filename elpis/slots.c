/* slots.c - continuous batching on the one inference thread.
 *
 * The engine has N foreground slots (config [model] slots) and one
 * background slot, each its own KV sequence. A step puts into ONE
 * llama_decode batch the last sampled token of every generating slot, then
 * fills what is left of the batch with prompt tokens of the slots still
 * evaluating their prompt, shortest remaining prompt first, so a short
 * request is not stuck behind a long prompt and a long prompt never stops
 * the others from generating. After the decode every slot whose logits are
 * in the batch samples with its own sampler chain (its own temperature and
 * top_p: the emotion's modulation is per request). The tokens go into the
 * batch in sequence order, so that llama.cpp (one KV stream per sequence)
 * evaluates consecutive slots in one pass (see slots_fill_batch).
 *
 * Slot choice keeps a conversation where its cache is: a free slot whose
 * last job had the same session hint, else the one holding the longest
 * prefix if that is more than half the prompt, else the one where the prompt
 * reuses the most cached tokens and discards the fewest (an empty slot
 * before evicting a conversation), else (a tie) the least recently used.
 *
 * Only the engine thread runs this file (OWNER_ONLY). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "log.h"
#include "util.h"

int slots_init(engine *e, int n_ctx)
{
    OWNER_ONLY(e);
    e->slots = calloc((size_t)e->n_seq, sizeof *e->slots);
    if (!e->slots) return -ENOMEM;
    for (int s = 0; s < e->n_seq; s++) {
        slot *sl = &e->slots[s];
        sl->seq = s;
        sl->background = s == e->n_seq - 1;
        sl->i_batch = -1;
        sl->cache.tok = malloc(sizeof(llama_token) * (size_t)n_ctx);
        if (!sl->cache.tok) return -ENOMEM;
    }
    return 0;
}

void slots_free(engine *e)
{
    if (!e->slots) return;
    for (int s = 0; s < e->n_seq; s++) {
        free(e->slots[s].cache.tok);
        free(e->slots[s].prompt);
        if (e->slots[s].smp) llama_sampler_free(e->slots[s].smp);
        buf_free(&e->slots[s].raw);
    }
    free(e->slots);
    e->slots = NULL;
}

int slots_active(const engine *e)
{
    int n = 0;
    for (int s = 0; s < e->n_seq; s++) n += e->slots[s].state != SLOT_IDLE;
    return n;
}

bool slots_can_take(const engine *e, const gen_job *job)
{
    if (job->kind != JOB_GENERATE) return true;
    /* A control vector applies to the whole context, so steered requests run one at a time. */
    if (e->info.steering && slots_active(e)) return false;
    for (int s = 0; s < e->n_seq; s++)
        if (e->slots[s].state == SLOT_IDLE && e->slots[s].background == job->background) return true;
    return false;
}

static int common_prefix(const seq_cache *c, const llama_token *t, int n)
{
    int k = 0;
    while (k < c->n && k < n && c->tok[k] == t[k]) k++;
    return k;
}

/* The free slot for a job (see the file comment); NULL if none. A slot that
 * holds more than half of the prompt wins (the longest such prefix); else the
 * score is what the prompt reuses minus what it would discard (lcp - (n - lcp)),
 * so a new conversation takes an empty slot instead of evicting a cached one. */
static slot *pick(engine *e, const gen_job *job, const llama_token *t, int n)
{
    slot *best = NULL;
    int best_score = 0;
    for (int s = 0; s < e->n_seq; s++) {
        slot *sl = &e->slots[s];
        if (sl->state != SLOT_IDLE || sl->background != job->background) continue;
        if (job->session[0] && !strcmp(sl->session, job->session)) return sl;
        int lcp = common_prefix(&sl->cache, t, n);
        int score = 2 * lcp > n ? e->info.n_ctx + lcp : 2 * lcp - sl->cache.n;
        if (!best || score > best_score || (score == best_score && sl->last_used < best->last_used))
            best = sl, best_score = score;
    }
    return best;
}

static struct llama_sampler *sampler_new(engine *e, const gen_job *job)
{
    struct llama_sampler_chain_params sp = llama_sampler_chain_default_params();
    sp.no_perf = true;
    struct llama_sampler *smp = llama_sampler_chain_init(sp);
    if (!smp) return NULL;
    if (job->temperature <= 0.0f) {
        llama_sampler_chain_add(smp, llama_sampler_init_greedy());
    } else {
        llama_sampler_chain_add(smp, llama_sampler_init_top_p(job->top_p, 1));
        llama_sampler_chain_add(smp, llama_sampler_init_temp(job->temperature));
        /* The seed advances per generation: repeated prompts vary, and a process
         * that gets the same requests in the same order reproduces its output. */
        llama_sampler_chain_add(smp, llama_sampler_init_dist(e->p.seed + e->n_sampled++));
    }
    return smp;
}

/* Ends the slot's job: the slot keeps its cache for the next one. */
static void release(engine *e, slot *sl, gen_finish f)
{
    gen_job *job = sl->job;
    job->finish = f;
    if (sl->state == SLOT_GEN) job->gen_ms = (now_mono() - sl->t_gen) * 1000.0;
    else job->eval_ms = (now_mono() - sl->t_start) * 1000.0;
    /* An incomplete character at the end becomes U+FFFD. */
    if (sl->raw.len && engine_job_append(job, &sl->raw, true)) job->finish = GEN_ERROR;
    buf_reset(&sl->raw);
    free(sl->prompt);
    sl->prompt = NULL;
    if (sl->smp) llama_sampler_free(sl->smp);
    sl->smp = NULL;
    sl->job = NULL;
    sl->state = SLOT_IDLE;
    sl->i_batch = -1;
    engine_finish(e, job);
}

/* Prompt tokens for a generate job; 0, or -1 with the job finished. */
static int prepare(engine *e, gen_job *job, llama_token **toks, int *n)
{
    buf prompt = BUF_INIT;
    *toks = NULL;
    if (engine_render(e, job, &prompt, true)) goto fail;
    *n = engine_tokenize(e, prompt.data, prompt.len, true, toks);
    buf_free(&prompt);
    if (*n < 0) {
        snprintf(job->error, sizeof job->error, "could not tokenize the prompt (%s)", strerror(-*n));
        goto fail;
    }
    job->prompt_tokens = *n;
    if (*n >= e->info.n_ctx) {
        if (e->info.n_ctx < e->info.n_ctx_train) /* advice the user can follow: ctx can still grow */
            snprintf(job->error, sizeof job->error,
                     "context overflow: the prompt is %d tokens and the context holds %d (leave room for the answer: "
                     "shorten the conversation, or raise [model] ctx, up to %d for this model)",
                     *n, e->info.n_ctx, e->info.n_ctx_train);
        else
            snprintf(job->error, sizeof job->error,
                     "context overflow: the prompt is %d tokens and the context holds %d, this model's maximum "
                     "(send less text at once or start a fresh conversation with /clear; for more room use a "
                     "model with a larger context)",
                     *n, e->info.n_ctx);
        goto fail;
    }
    return 0;
fail:
    buf_free(&prompt);
    free(*toks);
    *toks = NULL;
    job->finish = GEN_ERROR;
    engine_finish(e, job);
    return -1;
}

void slots_start(engine *e, gen_job *job)
{
    OWNER_ONLY(e);
    double t0 = now_mono();
    llama_token *toks;
    int n;
    if (prepare(e, job, &toks, &n)) return;
    slot *sl = pick(e, job, toks, n);
    assert(sl); /* slots_can_take said yes */
    int lcp = common_prefix(&sl->cache, toks, n);
    if (lcp == n) lcp--; /* the last prompt token must be evaluated for its logits */
    llama_memory_seq_rm(llama_get_memory(e->ctx), sl->seq, lcp, -1);
    sl->cache.n = lcp;
    job->cached_tokens = lcp;
    sl->smp = sampler_new(e, job);
    sl->job = job;
    job->slot = sl->seq;
    sl->prompt = toks;
    sl->n_prompt = n;
    sl->next_prompt = lcp;
    sl->state = SLOT_PROMPT;
    sl->t_start = t0;
    sl->last_used = ++e->n_jobs;
    snprintf(sl->session, sizeof sl->session, "%s", job->session);
    if (!sl->smp) {
        snprintf(job->error, sizeof job->error, "out of memory creating the sampler");
        release(e, sl, GEN_ERROR);
        return;
    }
    engine_apply_steering(e, job);
}

static void batch_add(struct llama_batch *b, llama_token t, int pos, int seq, bool logits)
{
    int k = b->n_tokens++;
    b->token[k] = t;
    b->pos[k] = pos;
    b->n_seq_id[k] = 1;
    b->seq_id[k][0] = seq;
    b->logits[k] = logits;
}

/* The prompting slot with the fewest tokens left that has none in the batch yet. */
static slot *next_prompt_slot(engine *e)
{
    slot *best = NULL;
    for (int s = 0; s < e->n_seq; s++) {
        slot *sl = &e->slots[s];
        if (sl->state != SLOT_PROMPT || sl->batch_n) continue;
        if (!best || sl->n_prompt - sl->next_prompt < best->n_prompt - best->next_prompt) best = sl;
    }
    return best;
}

/* Puts the slot's share of this step (sl->batch_n tokens) into the batch. */
static void add_slot_tokens(struct llama_batch *b, slot *sl)
{
    if (sl->state == SLOT_GEN) {
        sl->i_batch = b->n_tokens;
        batch_add(b, sl->last, sl->cache.n, sl->seq, true);
        return;
    }
    for (int k = 0; k < sl->batch_n; k++) {
        bool last = sl->next_prompt + k == sl->n_prompt - 1;
        if (last) sl->i_batch = b->n_tokens;
        batch_add(b, sl->prompt[sl->next_prompt + k], sl->cache.n + k, sl->seq, last);
    }
}

/* Gives every idle slot (or prompting slot left out of this step) between
 * the first and the last slot in the batch one throwaway token, while there
 * is room: see slots_fill_batch. A pad goes at the slot's next position
 * (where its cache ends, so the cached prefix is untouched), has no logits,
 * and is removed from the KV cache after the decode (unpad). Not for models
 * whose memory cannot drop a position again (recurrent, hybrid, sliding
 * window): there a hole costs a pass. */
static void pad_holes(engine *e, int room)
{
    int lo = -1, hi = -1;
    for (int s = 0; s < e->n_seq; s++)
        if (e->slots[s].batch_n) {
            if (lo < 0) lo = s;
            hi = s;
        }
    for (int s = lo + 1; e->pad_holes && s < hi && room > 0; s++) {
        slot *sl = &e->slots[s];
        if (sl->batch_n || sl->cache.n >= e->info.n_ctx) continue;
        sl->pad = true;
        sl->batch_n = 1;
        room--;
    }
}

/* Fills e->batch; returns the number of tokens in it. First decides each
 * slot's share (one token of every generating slot, then prompt chunks,
 * shortest remaining prompt first, while there is room), then writes the
 * tokens in sequence order.
 *
 * The order and the pads matter: with one KV stream per sequence, llama.cpp
 * splits a batch into micro-batches of CONSECUTIVE sequence ids in batch
 * order (llama_batch_allocr::split_equal, sequential), and every micro-batch
 * is a full pass over the model's weights. Generating slots 0, 2, 4 and 6
 * would be four passes a step; with a pad token on each of slots 1, 3 and 5
 * they are one (four tokens of work more, not three passes). Prompt chunks
 * leave room for the pads when the batch is large enough to spare it. */
int slots_fill_batch(engine *e)
{
    struct llama_batch *b = &e->batch;
    int room = e->p.n_batch;
    for (int s = 0; s < e->n_seq; s++) {
        slot *sl = &e->slots[s];
        sl->i_batch = -1;
        sl->batch_n = 0;
        sl->pad = false;
        if (sl->state != SLOT_GEN) continue;
        sl->batch_n = 1;
        room--;
    }
    int spare = e->pad_holes && e->p.n_batch >= 4 * e->n_seq ? e->n_seq : 0;
    slot *sl;
    while (room > spare && (sl = next_prompt_slot(e))) {
        int m = sl->n_prompt - sl->next_prompt;
        sl->batch_n = m < room - spare ? m : room - spare;
        room -= sl->batch_n;
    }
    pad_holes(e, room);
    b->n_tokens = 0;
    for (int s = 0; s < e->n_seq; s++) {
        sl = &e->slots[s];
        if (!sl->batch_n) continue;
        sl->batch_pos0 = sl->cache.n;
        if (sl->pad) batch_add(b, 0, sl->cache.n, sl->seq, false);
        else add_slot_tokens(b, sl);
    }
    return b->n_tokens;
}

/* After a decode, ok or not: takes a pad's token out of the slot's KV cache. */
static void unpad(engine *e, slot *sl)
{
    llama_memory_seq_rm(llama_get_memory(e->ctx), sl->seq, sl->batch_pos0, -1);
    sl->pad = false;
    sl->batch_n = 0;
}

bool slots_batch_cancelled(engine *e)
{
    bool any = false;
    for (int s = 0; s < e->n_seq; s++) {
        slot *sl = &e->slots[s];
        if (!sl->batch_n || sl->pad || !sl->job) continue;
        if (!engine_job_cancelled(sl->job)) return false;
        any = true;
    }
    return any;
}

/* After a failed decode: whatever part of the batch landed is not tracked, so
 * drop it, and end every job that had tokens in it. */
static void decode_failed(engine *e, int32_t r)
{
    for (int s = 0; s < e->n_seq; s++) {
        slot *sl = &e->slots[s];
        if (!sl->batch_n) continue;
        if (sl->pad) {
            unpad(e, sl);
            continue;
        }
        llama_memory_seq_rm(llama_get_memory(e->ctx), sl->seq, sl->batch_pos0, -1);
        sl->cache.n = sl->batch_pos0;
        sl->batch_n = 0;
        if (r == 2 || engine_job_cancelled(sl->job)) {
            release(e, sl, GEN_CANCELLED);
            continue;
        }
        snprintf(sl->job->error, sizeof sl->job->error, "llama_decode failed (%d) at position %d%s", r, sl->batch_pos0,
                 r == 1 ? ": no room in the KV cache" : "");
        release(e, sl, GEN_ERROR);
    }
}

/* Samples the slot's next token from its logits in the batch just decoded. */
static void sample(engine *e, slot *sl)
{
    gen_job *job = sl->job;
    if (job->completion_tokens >= job->max_tokens) {
        release(e, sl, GEN_LENGTH);
        return;
    }
    llama_token t = llama_sampler_sample(sl->smp, e->ctx, sl->i_batch);
    if (llama_vocab_is_eog(e->vocab, t)) {
        release(e, sl, GEN_STOP);
        return;
    }
    char piece[256];
    int32_t pl = llama_token_to_piece(e->vocab, t, piece, sizeof piece, 0, false);
    job->completion_tokens++;
    if (pl > 0 && buf_append(&sl->raw, piece, (size_t)pl)) {
        snprintf(job->error, sizeof job->error, "out of memory storing the reply");
        release(e, sl, GEN_ERROR);
        return;
    }
    if (engine_job_append(job, &sl->raw, false)) {
        release(e, sl, GEN_ERROR);
        return;
    }
    if (job->completion_tokens >= job->max_tokens) /* no need to evaluate the last token */
        release(e, sl, GEN_LENGTH);
    else if (sl->cache.n >= e->info.n_ctx) release(e, sl, GEN_CONTEXT_FULL);
    else sl->last = t;
}

/* A decode succeeded: record what each slot added, move finished prompts to
 * generation, sample. */
static void decoded(engine *e)
{
    for (int s = 0; s < e->n_seq; s++) {
        slot *sl = &e->slots[s];
        if (!sl->batch_n) continue;
        if (sl->pad) {
            unpad(e, sl);
            continue;
        }
        const llama_token *src = sl->state == SLOT_GEN ? &sl->last : sl->prompt + sl->next_prompt;
        memcpy(sl->cache.tok + sl->batch_pos0, src, sizeof(llama_token) * (size_t)sl->batch_n);
        sl->cache.n = sl->batch_pos0 + sl->batch_n;
        if (sl->state == SLOT_PROMPT) {
            sl->next_prompt += sl->batch_n;
            if (sl->next_prompt < sl->n_prompt) continue;
            sl->state = SLOT_GEN;
            sl->t_gen = now_mono();
            sl->job->eval_ms = (sl->t_gen - sl->t_start) * 1000.0;
        }
        sample(e, sl);
    }
}

void slots_step(engine *e)
{
    OWNER_ONLY(e);
    for (int s = 0; s < e->n_seq; s++) {
        slot *sl = &e->slots[s];
        if (sl->state != SLOT_IDLE && engine_job_cancelled(sl->job)) release(e, sl, GEN_CANCELLED);
    }
    if (!slots_fill_batch(e)) return;
    int32_t r = llama_decode(e->ctx, e->batch);
    if (r != 0) decode_failed(e, r);
    else decoded(e);
    for (int s = 0; s < e->n_seq; s++) e->slots[s].batch_n = 0;
}

void slots_cancel_all(engine *e)
{
    for (int s = 0; s < e->n_seq; s++)
        if (e->slots[s].job) engine_cancel(e->slots[s].job);
}
