/* model.h - `psyche model`: getting a model in one command.
 *
 *   psyche model pull URL [--sha256 HEX] [--config FILE] [--no-config]
 *   psyche model pull --hf USER/REPO[:QUANT] [...]   (QUANT default Q4_K_M)
 *   psyche model list [--config FILE]
 *
 * pull downloads into <cache>/psyche/models/ (XDG_CACHE_HOME), resuming a
 * partial download, checks size, sha256 (when known) and the GGUF magic,
 * renames the file into place, then sets [model] path in the user's config
 * ($XDG_CONFIG_HOME/psyche/psyche.toml unless --config). The Hugging Face
 * address comes from $PSYCHE_HF_ENDPOINT (default https://huggingface.co). */
#ifndef PSY_MODEL_H
#define PSY_MODEL_H

/* The one thing to do when no model is configured, for messages. */
#define PSY_MODEL_PULL_HINT "psyche model pull --hf Qwen/Qwen2.5-3B-Instruct-GGUF"

/* Runs the subcommand; argv[0] is "model". Returns a PSY_EXIT_* status:
 * 0 done, 1 a failed download or check, 2 bad arguments, 3 not found (HTTP
 * 404, no file for the quantisation). */
int psy_model_main(int argc, char **argv);

#endif
