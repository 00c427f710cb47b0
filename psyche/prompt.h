/* prompt.h - the texts psyche shows the model: the system prompt with its
 * generated tool reference, the volatile note next to each user turn, the
 * idle-reflection and dream prompts, the summary prompt.
 *
 * Layout rule (keeps elpis's KV cache warm): the system prompt is a stable
 * prefix - it depends only on the tool registry and the reasoning switch,
 * never on time, mood or memories. Whatever changes per turn goes into
 * psy_prompt_volatile(), which the context places next to the newest user
 * message. */
#ifndef PSY_PROMPT_H
#define PSY_PROMPT_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "buf.h"

/* tools: [{name, description, inputSchema (JSON schema object)}] or NULL.
 * level 0: the full prompt with the tool reference; 1: compact (one line per
 * tool) for small contexts; 2: minimal (a few sentences) for tiny ones.
 * Returns malloc'd text. */
char *psy_prompt_system(const cJSON *tools, bool reasoning, int level);

/* "### name\n<description>\nParameters:\n  - p (type, required): desc\n" for each tool; malloc'd. */
char *psy_prompt_tool_reference(const cJSON *tools);

/* The note placed before a user message: recalled memories and mood.
 * memories: search_memories results (may be NULL); emotion: emotional_state
 * (may be NULL). Returns malloc'd text, or NULL when there is nothing to say. */
char *psy_prompt_volatile(const cJSON *memories, const cJSON *emotion);

/* Recalled memories for the model: the trusted ones as numbered lines
 * (psy_prompt_memory_line), then the low-trust ones (trust not "high":
 * tool output, dreams, imports) in an <untrusted-data> block, one JSON
 * object per line (psy_prompt_memory_data), so no content can forge a line,
 * a number or a role. Appends to out. */
void psy_prompt_memories(const cJSON *memories, buf *out);
/* Whether a search result is low-trust (its trust is not "high"). */
bool psy_prompt_memory_low_trust(const cJSON *memory);
/* One trusted memory as "<i>. [<type>] <text>" on one line (text: summary
 * when the content is over 200 chars, cut at 300 characters with "...";
 * line breaks become spaces). Appends to out. */
void psy_prompt_memory_line(int i, const cJSON *memory, buf *out);
/* One low-trust memory as {"type":..,"source":..,"content":..[,"cut":true]}
 * and a newline; strings JSON-escaped with < and > as \u escapes. */
void psy_prompt_memory_data(const cJSON *memory, buf *out);

/* The private reflection request for idle thinking; directive picks one of
 * the four directives (any int; taken modulo 4). tools_allowed says whether
 * the read-only tools may be used in this thought. */
char *psy_prompt_reflection(int directive, bool tools_allowed);

/* The dream: system prompt and the user prompt for a theme, guidance and
 * surfacing memories (search results, may be empty). */
const char *psy_prompt_dream_system(void);
char *psy_prompt_dream(const char *theme, const char *guidance, const cJSON *memories);

/* Summary of a conversation: system prompt, and a transcript of role: content
 * lines (each message cut at 500 chars) to go with it. */
const char *psy_prompt_summary_system(void);

/* "[Tool result for <name>]:\n<compact JSON>" cut to at most max_chars
 * characters (UTF-8 code points, never a split character), and to fit_chars
 * when that is smaller (fit_chars < 0: no such limit), with a note saying how
 * many characters were omitted. Caller frees. */
char *psy_tool_result_text(const char *name, const cJSON *wrapper, long max_chars, long fit_chars);

#endif
