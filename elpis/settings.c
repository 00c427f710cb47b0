/* settings.c - the elpis configuration table: defaults, ranges and help. */
#include "settings.h"

#define K(sec, key, type, dest, def, lo, hi, help)                                                                     \
    {                                                                                                                  \
        sec, key, type, dest, def, lo, hi, help                                                                        \
    }

size_t elpis_settings_table(elpis_settings *s, const cfg_key **out)
{
    static cfg_key t[40];
    const cfg_key keys[] = {
        K("model", "backend", CFG_STRING, &s->backend, "llama.cpp", 0, 0,
          "llama.cpp (a local GGUF model) or openai (an OpenAI-compatible server: llama-server, vLLM, Ollama)"),
        K("model", "base_url", CFG_STRING, &s->base_url, "", 0, 0,
          "backend openai: the server's URL, e.g. http://127.0.0.1:8080 (with or without /v1)"),
        K("model", "api_key_file", CFG_STRING, &s->api_key_file, "", 0, 0,
          "backend openai: a file holding the API key (sent as a Bearer token); empty = none"),
        K("model", "model", CFG_STRING, &s->upstream_model, "", 0, 0,
          "backend openai: the model name to ask for; empty = the server's (its first in /v1/models)"),
        K("model", "timeout_seconds", CFG_INT, &s->timeout_seconds, "120", 1, 86400,
          "backend openai: an attempt ends when the server sends nothing for this long"),
        K("model", "retries", CFG_INT, &s->retries, "3", 0, 20,
          "backend openai: retries (backoff 0.5 s, 1 s, 2 s, ...) on refused connections, timeouts, 429 and 5xx"),
        K("model", "path", CFG_STRING, &s->model_path, "", 0, 0,
          "GGUF model file (make run falls back to build/models/tiny-chat.gguf, a random-weight test model)"),
        K("model", "ctx", CFG_INT, &s->ctx, "4096", 64, 1048576, "context length in tokens, per sequence"),
        K("model", "threads", CFG_INT, &s->threads, "0", 0, 1024, "CPU threads for inference; 0 = all cores"),
        K("model", "gpu_layers", CFG_STRING, &s->gpu_layers, "0", 0, 0,
          "layers to offload to the GPU: a number, -1 for all, or auto (what fits free VRAM); needs a CUDA build"),
        K("model", "rpc_servers", CFG_STRLIST, &s->rpc_servers, "", 0, 0,
          "host:port of llama.cpp rpc-server processes to offload layers to (needs make LLAMA_RPC=1; all layers "
          "unless gpu_layers says otherwise; unencrypted: trusted networks only)"),
        K("model", "batch", CFG_INT, &s->batch, "512", 1, 65536,
          "tokens per decode step: prompt chunks plus one per generating slot"),
        K("model", "slots", CFG_INT, &s->slots, "2", 1, 32,
          "requests generated together (continuous batching), each with its own KV sequence of ctx tokens; "
          "psyche serve asks for 4"),
        K("model", "chat_template", CFG_STRING, &s->chat_template, "", 0, 0,
          "chat template name (chatml, llama3, phi3, ...); empty = from the model's metadata"),
        K("model", "seed", CFG_INT, &s->seed, "42", 0, 2147483647,
          "sampling seed; it advances by one for each sampled generation"),
        K("sampling", "temperature", CFG_DOUBLE, &s->temperature, "0.7", 0, 2,
          "base temperature before emotional modulation"),
        K("sampling", "top_p", CFG_DOUBLE, &s->top_p, "0.9", 0.01, 1, "base top_p before emotional modulation"),
        K("sampling", "max_tokens", CFG_INT, &s->max_tokens, "2048", 1, 1048576,
          "default and upper bound of max_tokens per request"),
        K("emotion", "baseline_valence", CFG_DOUBLE, &s->baseline_valence, "0.0", -1, 1,
          "resting valence (and the initial state)"),
        K("emotion", "baseline_arousal", CFG_DOUBLE, &s->baseline_arousal, "0.0", -1, 1,
          "resting arousal (and the initial state)"),
        K("emotion", "decay_rate", CFG_DOUBLE, &s->decay_rate, "0.1", 0, 100,
          "homeostatic decay per second: x = b + (x - b) * exp(-rate * dt)"),
        K("emotion", "max_delta", CFG_DOUBLE, &s->max_delta, "0.5", 0, 2, "largest change of one event on each axis"),
        K("emotion", "trend_threshold", CFG_DOUBLE, &s->trend_threshold, "0.02", 0, 10,
          "valence velocity per minute beyond which the trend is improving/declining"),
        K("emotion", "momentum_threshold", CFG_DOUBLE, &s->momentum_threshold, "0.01", 0, 10,
          "valence velocity per minute beyond which momentum is positive/negative"),
        K("emotion", "history_size", CFG_INT, &s->history_size, "20", 2, 100,
          "emotional shifts kept for the trajectory"),
        K("emotion", "velocity_window", CFG_INT, &s->velocity_window, "10", 2, 100,
          "points used for the velocity (least squares)"),
        K("emotion", "spiral_window", CFG_INT, &s->spiral_window, "5", 3, 100, "points inspected for a spiral"),
        K("emotion", "spiral_min_increases", CFG_INT, &s->spiral_min_increases, "3", 1, 99,
          "rising distances from baseline within the window (not necessarily in a row) that make a spiral"),
        K("steering", "emotion_vectors_dir", CFG_STRING, &s->emotion_vectors_dir, "", 0, 0,
          "folder with excited/frustrated/calm/depleted.gguf control vectors; empty = sampling modulation only"),
        K("steering", "steering_strength", CFG_DOUBLE, &s->steering_strength, "1.0", 0, 3,
          "scale of the steering coefficients"),
        K("steering", "layer_start", CFG_INT, &s->layer_start, "0", 0, 1000,
          "first layer steered (1-based); 0 = the first"),
        K("steering", "layer_end", CFG_INT, &s->layer_end, "0", 0, 1000, "last layer steered; 0 = the last"),
        K("steering", "max_norm", CFG_DOUBLE, &s->max_norm, "4.0", 0, 1000,
          "cap on each layer's blended vector norm (0 = none)"),
        K("server", "max_streams", CFG_INT, &s->max_streams, "100", 1, 10000, "concurrent generate_stream_* streams"),
        K("server", "stream_idle_seconds", CFG_INT, &s->stream_idle_seconds, "600", 1, 86400,
          "streams not read for this long are evicted"),
        K("server", "max_message_mb", CFG_INT, &s->max_message_mb, "16", 1, 1024,
          "largest JSON-RPC message accepted, in MiB"),
        K("logging", "level", CFG_STRING, &s->log_level, "info", 0, 0, "debug, info, warn or error"),
        K("logging", "file", CFG_STRING, &s->log_file, "", 0, 0, "append logs to this file instead of stderr"),
    };
    size_t n = sizeof keys / sizeof keys[0];
    for (size_t i = 0; i < n; i++) t[i] = keys[i];
    *out = t;
    return n;
}
