/* tools.h - the agent's tools: registry, argument checking, dispatch, and the
 * built-in workspace tools (read_file, create_file, edit_file, list_directory,
 * search_codebase, execute_bash).
 *
 * A tool is a psy_tool_def: name, description, JSON Schema of its arguments
 * (used for the system prompt's tool reference and to check arguments before
 * the handler runs), a read_only flag (idle thinking may only use read-only
 * tools) and a handler. recall_memory / store_memory are registered by the
 * agent with psy_tools_register() (their handlers call Mnemosyne).
 *
 * Every call returns the wrapper {tool_call_id, success, result, duration_ms}
 * where result is the handler's object, which always holds "success" and, on
 * failure, "error" (a message meant for the model).
 *
 * Threads: a psy_tools is used by one thread at a time (the agent thread);
 * the cancel flag may be set from any thread. */
#ifndef PSY_TOOLS_H
#define PSY_TOOLS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "sandbox.h"
#include "secrets.h"
#include "workspace.h"

typedef struct psy_tools psy_tools;

typedef struct psy_tools_config {
    const char *workspace;          /* directory the tools are confined to; created if missing */
    double bash_timeout_s;          /* 30; the whole process group is killed after it */
    size_t max_output_bytes;        /* 16384: per stream of execute_bash (head and tail kept) */
    size_t max_file_size;           /* 1000000: read_file / edit_file limit */
    bool dangerous_commands;        /* false: the blocklist applies */
    bool sandbox;                   /* true: Landlock etc. for execute_bash */
    bool allow_network;             /* false: no network for execute_bash */
    bool sandbox_tmp;               /* true: execute_bash may write to /tmp too */
    const char *const *extra_write; /* more writable dirs for execute_bash, or NULL */
    int sandbox_scan_budget;        /* entries per home / workspace checked for secrets; 0 = default (20000) */
    bool allow_sensitive;           /* false: read_file refuses sensitive paths, search skips them */
} psy_tools_config;

void psy_tools_default_config(psy_tools_config *c);

/* Handler: args is an object already checked against the schema (types,
 * required keys, ranges; null values removed). It fills result (an empty
 * object it does not own) and returns true on success, false on failure with
 * "error" set in result. "success" is added by the dispatcher. */
typedef bool (*psy_tool_fn)(psy_tools *t, void *ud, const cJSON *args, cJSON *result);

typedef struct psy_tool_def {
    const char *name;
    const char *description; /* one or two sentences for the system prompt */
    const char *schema_json; /* {"type":"object","properties":{...},"required":[...]} */
    bool read_only;          /* does not change files and runs nothing */
    psy_tool_fn fn;
    void *ud;
} psy_tool_def;

/* Creates the tool set with the built-in tools registered. Resolves (and
 * creates) the workspace and prepares the sandbox. Returns 0, or -errno
 * with a message in err; *out is NULL then. */
int psy_tools_new(const psy_tools_config *cfg, psy_tools **out, char *err, size_t errlen);
void psy_tools_free(psy_tools *t);

/* Adds a tool (its strings are copied; the schema must be valid JSON).
 * Returns 0, -EEXIST for a name already taken, -EINVAL for a bad schema, -ENOMEM. */
int psy_tools_register(psy_tools *t, const psy_tool_def *def);
size_t psy_tools_count(const psy_tools *t);
const psy_tool_def *psy_tools_at(const psy_tools *t, size_t i);
const psy_tool_def *psy_tools_find(const psy_tools *t, const char *name);

/* Dispatch flags. */
enum {
    PSY_TOOL_READ_ONLY = 1,    /* refuse tools that are not read_only (idle thinking) */
    PSY_TOOL_STRICT_PATHS = 2, /* refuse ".." and sensitive paths in any path argument */
};

/* Runs one call: checks that the tool exists (and is allowed under flags),
 * checks args (NULL = {}), runs the handler, measures it. tool_call_id may
 * be NULL (then "call_<12 hex>" is made up). Returns the wrapper (caller
 * frees), or NULL only when out of memory. Never crashes on bad input. */
cJSON *psy_tools_call(psy_tools *t, const char *name, const cJSON *args, const char *tool_call_id, unsigned flags);

/* Text for the system prompt: one entry per tool (read-only ones only when
 * read_only_only), "- name: description\n  arguments: file_path (string,
 * required): ...; max_lines (integer, default 2000): ...". Caller frees. */
char *psy_tools_reference(const psy_tools *t, bool read_only_only);

/* [{name, description, inputSchema, read_only}] (the MCP tools/list shape),
 * read-only tools only when read_only_only. Caller frees; NULL when out of memory. */
cJSON *psy_tools_schemas(const psy_tools *t, bool read_only_only);

/* Cancels a running execute_bash (kills its process group) from any thread.
 * The flag stays set until psy_tools_reset_cancel(): a cancel that arrives
 * just before a call starts is not lost (that call is refused). */
void psy_tools_cancel(psy_tools *t);
/* Clears the cancel flag (the owner does this when a new activity starts). */
void psy_tools_reset_cancel(psy_tools *t);

/* How the last psy_tools_call ended. */
typedef enum {
    PSY_TOOL_OK = 0,      /* it ran and succeeded */
    PSY_TOOL_FAILED,      /* it ran and failed (file not found, exit code != 0, ...) */
    PSY_TOOL_REFUSED,     /* it could not run as asked: unknown tool, not allowed here, bad arguments */
    PSY_TOOL_INTERRUPTED, /* it timed out or was cancelled (also before it started) */
} psy_tool_outcome;
psy_tool_outcome psy_tools_last_outcome(const psy_tools *t);
/* Intensities of the emotion events the agent and Hermes send (update_emotion). */
#define PSY_EMOTION_MILD 0.3
#define PSY_EMOTION_MEDIUM 0.5
#define PSY_EMOTION_FULL 1.0
/* The emotional event a tool call is worth, as the agent and Hermes report
 * it to elpis: "success" (PSY_EMOTION_MILD) when ok; "failure"
 * (PSY_EMOTION_MEDIUM) when it ran and failed; else "frustration"
 * (PSY_EMOTION_MEDIUM: it could not run as asked). Static string. */
const char *psy_tool_emotion(bool ok, psy_tool_outcome oc, double *intensity);

/* Accessors (named _get_ so they do not clash with the agent's toolglue names). */
const psy_workspace *psy_tools_get_workspace(const psy_tools *t);
const psy_sandbox *psy_tools_get_sandbox(const psy_tools *t);
const psy_tools_config *psy_tools_get_config(const psy_tools *t);

/* The blocklist of execute_bash: the pattern a command matches, or NULL when
 * it is allowed. Case-insensitive, whitespace runs count as one space;
 * sudo/shutdown/reboot/poweroff/halt/mkfs/init 0|6 only as a command word
 * (so `grep shutdown src` passes), the rest as substrings. */
const char *psy_bash_blocked(const char *command);

/* ---- internal to tools*.c ------------------------------------------------ */
struct psy_tools {
    psy_tools_config cfg;
    psy_workspace ws;
    psy_sandbox sb;
    psy_secrets secrets; /* protected identities of the workspace; rescanned before each command */
    psy_tool_def *defs;
    cJSON **schemas; /* parsed schema_json, parallel to defs */
    size_t n, cap;
    atomic_bool cancel;
    psy_tool_outcome outcome; /* of the last call; a handler sets PSY_TOOL_INTERRUPTED itself */
};

/* Resolves the string argument key of args inside the workspace; on failure
 * sets result.error and returns NULL. Caller frees the path. */
char *psy__tool_path(psy_tools *t, const cJSON *args, const char *key, const char *def, cJSON *result);
bool psy__tool_fail(cJSON *result, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds s[0..n) to obj under key as valid UTF-8 (invalid bytes and NULs become U+FFFD).
 * Returns the item, or NULL when out of memory (as cJSON_AddStringToObject). */
cJSON *psy__add_text(cJSON *obj, const char *key, const char *s, size_t n);
void psy__register_fs_tools(psy_tools *t);
/* The PSY_TOOL_* flags of the call running on this thread. */
unsigned psy__tool_flags(void);
void psy__register_exec_tool(psy_tools *t);
/* Opens rel beneath the workspace for a file tool (see psy_ws_openat); on
 * failure sets result.error (naming rel) and returns -errno. */
int psy__tool_open(psy_tools *t, const char *rel, int flags, int *fd, cJSON *result);
/* When the opened entry (rel, st from fstat) is protected (a secret by name or
 * by identity, or the secrets scan did not complete), sets result.error and
 * returns true. verb: "read", "edit". */
bool psy__tool_protected(psy_tools *t, const char *rel, const struct stat *st, const char *verb, cJSON *result);

#endif
