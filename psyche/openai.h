/* openai.h - the OpenAI wire format of `psyche serve`: parsing chat
 * completion requests, building responses, stream chunks, model lists and
 * error objects, and finding stop sequences in streamed text.
 *
 * Pure functions: no I/O, no threads, no children. Everything they return is
 * owned by the caller (cJSON_Delete, free, psy_chat_req_free). */
#ifndef PSY_OPENAI_H
#define PSY_OPENAI_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#define PSY_OAI_MAX_STOP 4

/* A parsed POST /v1/chat/completions body. Messages for elpis are plain
 * {role, content}: an assistant's tool_calls are appended to its content as
 * {"name", "arguments"} objects, and a tool result becomes a user message
 * "[Tool result for call <id>]\n<content>". */
typedef struct psy_chat_req {
    cJSON *messages; /* owned: [{role, content}] for elpis, client system messages removed */
    char *system;    /* owned: the client's system/developer messages joined, or NULL */
    char *model;     /* owned */
    char *user;      /* owned, or NULL */
    bool stream;
    bool include_usage;   /* stream_options.include_usage */
    bool has_temperature; /* given: overrides the emotional modulation */
    double temperature;
    bool has_top_p;
    double top_p;
    int max_tokens;               /* max_completion_tokens or max_tokens; -1 = not given */
    char *stop[PSY_OAI_MAX_STOP]; /* owned */
    int n_stop;
    cJSON *tools;     /* owned: the client's tools (validated), or NULL (none, or tool_choice "none") */
    bool single_call; /* parallel_tool_calls false: at most one call an answer */
    bool question;    /* the last message is the user's and asks something ('?') */
} psy_chat_req;

typedef struct psy_oai_usage {
    long prompt_tokens;
    long completion_tokens;
    long cached_tokens;
} psy_oai_usage;

/* Parses and validates a request body. Returns 0, or -EINVAL with a message
 * for the client in err and the offending field's name in *param (static
 * storage, NULL when the body as a whole is wrong). On error *out is empty. */
int psy_oai_parse_chat(const char *body, size_t len, psy_chat_req *out, char *err, size_t errlen, const char **param);
void psy_chat_req_free(psy_chat_req *r);

/* The messages elpis gets: one system message (Psyche's, then the client's
 * under a heading; either may be NULL) followed by the client's messages.
 * Returns a new array the caller owns, or NULL when out of memory. */
cJSON *psy_oai_elpis_messages(const char *psyche_system, const psy_chat_req *r);

/* {"error":{"message","type","param","code"}}; type from the HTTP status
 * (invalid_request_error, authentication_error, not_found_error,
 * rate_limit_error, server_error). Returns a malloc'd string or NULL. */
/* Appends one tool round to elpis messages as psy_oai_elpis_messages shows
 * a client's: the call as the assistant wrote it, then the result as a user
 * message "[Tool result for call <id>]". 0, or -ENOMEM / -EINVAL. */
int psy_oai_append_tool_round(cJSON *elpis_msgs, const cJSON *call, const char *result);

/* Checks a POST /v1/embeddings body: model (non-empty string), input (a
 * string or 1..256 strings; token arrays are refused), encoding_format
 * ("float", default, or "base64"). Returns {input: [strings], model, base64}
 * (caller frees), or NULL with a message in err and the field in *param. */
cJSON *psy_oai_parse_embeddings(const char *body, size_t len, char *err, size_t errlen, const char **param);
/* The OpenAI embeddings list from mnemosyne's embed result ({embeddings,
 * chars}); vectors as numbers, or base64 of little-endian float32 when b64.
 * usage counts about 4 characters a token. NULL when res is malformed. */
cJSON *psy_oai_embeddings(const cJSON *res, const char *model, bool b64);

char *psy_oai_error_json(int status, const char *message, const char *param, const char *code);

/* A whole non-streaming answer (object "chat.completion"). With tool_calls
 * (an array, may be NULL) the message has them and content null. */
cJSON *psy_oai_completion(const char *id, long created, const char *model, const char *content, const cJSON *tool_calls,
                          const char *finish_reason, const psy_oai_usage *u);

/* One "chat.completion.chunk". role: "assistant" on the first chunk, else
 * NULL; content: a delta or NULL; finish_reason: NULL until the last choice
 * chunk. With usage != NULL the chunk is the usage chunk (choices: []). */
cJSON *psy_oai_chunk(const char *id, long created, const char *model, const char *role, const char *content,
                     const char *finish_reason, const psy_oai_usage *u);

/* One streamed piece of tool call number index (call: {id, type, function:
 * {name, arguments}}): head = the chunk with id, type, name and empty
 * arguments; else the chunk with the arguments text. */
cJSON *psy_oai_tool_chunk(const char *id, long created, const char *model, int index, const cJSON *call, bool head);

/* "data: <json>\n\n" as a malloc'd string (consumes nothing), or NULL. */
char *psy_oai_sse(const cJSON *chunk);

/* GET /v1/models: {"object":"list","data":[{id, object:"model", created, owned_by:"psyche"}]}. */
cJSON *psy_oai_models(const char *model_id, long created);

/* The finish_reason for the client from elpis's: stop/length; context_full
 * becomes length. */
const char *psy_oai_finish_reason(const char *elpis_reason);

/* Stop sequences in text[0..len): *cut is the position of the earliest stop
 * sequence (text is cut there; returns true), else false and *safe is how
 * many bytes may be sent now: everything except a tail that could still
 * grow into a stop sequence, never splitting a UTF-8 character. */
bool psy_oai_find_stop(const char *text, size_t len, char *const *stop, int n_stop, size_t *cut, size_t *safe);

/* Tool calls in streamed text, found as elpis's function_call finds them
 * (a JSON object with a string "name", anywhere in the text): how far text
 * may be shown now. Text is held from the first place where a call is or may
 * still be: an unfinished JSON object, a finished one with a "name" (at any
 * depth), or an opener ("<tool_call>", "```json", or a part of one) before
 * such an object. from: where the last answer said to hold (0 at first).
 * Returns a position in [from, len]; a hold always starts at an ASCII byte. */
size_t psy_oai_tool_safe(const char *text, size_t len, size_t from);

#endif
