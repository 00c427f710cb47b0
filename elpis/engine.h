/* engine.h - the inference engine: the one thread that owns llama.cpp.
 *
 * llama.cpp's context is not thread-safe (the original crashed with SIGSEGV
 * when a second thread streamed from it). Here exactly one thread, started by
 * engine_open(), ever calls llama_*: it loads the model, and runs queued jobs
 * one at a time. Other threads only submit jobs and set cancel flags; text
 * comes back through the job's callbacks, which run on the engine thread and
 * must not call into the engine.
 *
 * Continuous batching (slots.c): N foreground slots (params.slots) and one
 * background slot (idle thoughts, dreams, summaries), each its own KV
 * sequence with the full configured context. Every step decodes one token of
 * each generating slot and a chunk of the waiting prompts in one batch, so
 * N requests run at once. A job goes to the free slot whose cache shares the
 * longest prefix with its prompt (or whose last job had its session hint),
 * and re-evaluates only the suffix after that prefix (cached_tokens).
 *
 * Ownership: the caller allocates each gen_job (usually inside a larger
 * struct), and must keep it alive until on_done has returned; the engine
 * never frees a job. */
#ifndef ELPIS_ENGINE_H
#define ELPIS_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "buf.h"

typedef struct engine engine;

#define ENGINE_MAX_SLOTS 32
/* n_gpu_layers values with a meaning of their own: AUTO fits free device
 * memory; ALL is more layers than any model has ("-1" in the config). */
#define ENGINE_GPU_LAYERS_AUTO (-1)
#define ENGINE_GPU_LAYERS_ALL 1000000

typedef struct engine_params {
    const char *model_path;
    int n_ctx;                 /* tokens per sequence; 0 = the model's trained context */
    int n_threads;             /* 0 = number of cores */
    int n_gpu_layers;          /* ENGINE_GPU_LAYERS_AUTO, ENGINE_GPU_LAYERS_ALL or a count */
    int n_batch;               /* tokens per decode step (prompt chunks + one per generating slot) */
    int slots;                 /* foreground sequences decoded together (1..ENGINE_MAX_SLOTS) */
    const char *chat_template; /* NULL/"" = from the model's metadata */
    uint32_t seed;
    const char *cvec_dir;     /* NULL/"" = no steering vectors */
    int cvec_layer_start;     /* first layer to steer (1-based); 0 = 1 */
    int cvec_layer_end;       /* last layer; 0 = the model's last */
    double cvec_max_norm;     /* cap of each layer's blended vector norm */
    char *const *rpc_servers; /* "host:port" of llama.cpp rpc-server processes (rpc.c); borrowed */
    size_t n_rpc_servers;
    /* backend "openai" (upstream.c): an OpenAI-compatible server instead of llama.cpp */
    const char *backend;        /* NULL/"" or "llama.cpp"; "openai" */
    const char *base_url;       /* e.g. http://127.0.0.1:8080 */
    const char *api_key_file;   /* NULL/"" = no Authorization header */
    const char *upstream_model; /* the model name sent; NULL/"" = the server's */
    int timeout_s;              /* no byte for this long ends an attempt */
    int retries;                /* attempts after the first, with backoff */
} engine_params;

void engine_default_params(engine_params *p);

/* Sends llama.cpp's and ggml's log lines (GGUF parsing included) through our
 * logger, never raw to stderr. Call before any other llama_* or gguf_* call. */
void engine_route_llama_log(void);

/* Immutable after engine_open() returns: safe to read from any thread. */
typedef struct engine_info {
    char backend[16];      /* "llama.cpp" or "openai" */
    char model_path[1024]; /* or the upstream's base URL */
    char arch[64];
    char desc[128];
    char chat_template[64]; /* the name or "model" (from GGUF metadata) */
    uint64_t n_params;
    uint64_t size_bytes;
    int n_layer, n_embd, n_ctx_train;
    int n_ctx; /* per sequence, as created */
    int n_threads;
    int n_slots;    /* foreground slots (plus one background sequence) */
    int gpu_layers; /* what was asked of llama.cpp */
    bool gpu_offload_supported;
    bool steering;      /* control vectors loaded */
    int upstream_slots; /* openai: the upstream's parallel slots if it says (llama-server /props) */
    bool ctx_estimated; /* openai: the upstream does not say its context; n_ctx is assumed */
    double load_seconds;
} engine_info;

typedef enum { GEN_STOP, GEN_LENGTH, GEN_CONTEXT_FULL, GEN_CANCELLED, GEN_ERROR } gen_finish;
const char *gen_finish_name(gen_finish f);

typedef enum { JOB_GENERATE, JOB_COUNT_TOKENS } job_kind;

typedef struct gen_job gen_job;
struct gen_job {
    /* --- input, set before engine_submit --- */
    job_kind kind;
    const cJSON *messages; /* borrowed; array of {role, content}; or NULL with text */
    const char *text;      /* JOB_COUNT_TOKENS on plain text */
    int max_tokens;
    float temperature; /* 0 = greedy */
    float top_p;
    bool background;   /* run on the background sequence */
    char session[64];  /* optional: prefer the slot whose last job had this hint */
    bool steer;        /* apply the blended control vector */
    float steering[4]; /* excited, frustrated, calm, depleted */
    /* Called on the engine thread for each complete UTF-8 piece of output. */
    void (*on_piece)(gen_job *job, const char *text, size_t len);
    /* Called exactly once, on the engine thread, when the job is over
     * (also when it was cancelled before it started). */
    void (*on_done)(gen_job *job);
    void *userdata;
    long tag; /* shown in the log line of the job (the MCP request number) */
    /* Optional: asked between tokens; true stops the job as engine_cancel would.
     * Runs on the engine thread (e.g. checks an MCP request's cancelled flag). */
    bool (*is_cancelled)(gen_job *job);
    /* --- any thread --- */
    int cancel; /* atomic; see engine_cancel */
    /* --- output, valid in on_done (content also during on_piece) --- */
    buf content; /* owned by the job: free with buf_free */
    int prompt_tokens;
    int cached_tokens;
    int completion_tokens;
    bool estimated; /* JOB_COUNT_TOKENS: prompt_tokens is an estimate (no /tokenize upstream) */
    gen_finish finish;
    int slot; /* the slot (KV sequence) it ran on; -1: none */
    char error[512];
    double queue_ms, eval_ms, gen_ms;
    gen_job *next; /* queue link, engine-private */
};

/* Starts the engine thread and loads the model on it. Returns 0, or a
 * negative errno with a message in err (the thread is then gone). */
int engine_open(engine **out, const engine_params *p, char *err, size_t errlen);
const engine_info *engine_get_info(const engine *e);

/* Queues a job. Returns 0, or -ESHUTDOWN when the engine is closing (then
 * on_done is not called). */
int engine_submit(engine *e, gen_job *job);
/* Makes the job stop within one step (or before it starts). Any thread. */
void engine_cancel(gen_job *job);
/* Jobs queued or running. */
int engine_pending(engine *e);

/* Cancels queued work, stops the thread, frees the model. */
void engine_close(engine *e);

#endif
