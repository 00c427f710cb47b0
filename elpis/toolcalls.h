/* toolcalls.h - OpenAI-format tool calls read out of a model's free text
 * (elpis's function_call tool).
 *
 * The model is asked to answer with one JSON object per call,
 * {"name": "<tool>", "arguments": {...}}; the objects may stand alone, one per
 * line, inside an array, or in prose or <tool_call> tags. Only objects whose
 * name is one of the offered tools count. */
#ifndef ELPIS_TOOLCALLS_H
#define ELPIS_TOOLCALLS_H

#include <cjson/cJSON.h>

/* The calls in text, in order, as an OpenAI tool_calls array
 * ([{id, type:"function", function:{name, arguments (a JSON string)}}]);
 * at most max_calls of them (0: no limit). NULL when there is none (or out
 * of memory). Caller frees with cJSON_Delete. */
cJSON *tool_calls_parse(const char *text, const cJSON *tools, int max_calls);

#endif
