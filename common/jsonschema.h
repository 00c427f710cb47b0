/* jsonschema.h - the one JSON-Schema validator of the project, for the subset
 * our tool schemas use. The MCP server checks every tools/call with it, and
 * psyche checks the model's tool calls with it (with coercion on, and enum as
 * a hint).
 *
 * Keywords understood: type (a name or a list of names: string, number,
 * integer, boolean, array, object, null), enum, minimum, maximum, minLength
 * and maxLength (in characters), items (checked for every element), and, for
 * objects at any depth, properties and required. Other keywords are ignored;
 * keys not named in properties are accepted. For an optional property, null
 * means "absent". Every error names the field: "argument 'n' must be in
 * 1..100, got 0", "argument 'messages[2].role' must be a string, got number",
 * "missing required argument 'content'".
 *
 * Contract: 0 or a negative errno (-EINVAL with a message in err, -ENOMEM). */
#ifndef PSY_JSONSCHEMA_H
#define PSY_JSONSCHEMA_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* Flags for jsonschema_check_args. */
#define JSONSCHEMA_COERCE (1u << 0)      /* "10" -> 10 for number/integer, "true"/"false" -> booleans */
#define JSONSCHEMA_DEFAULTS (1u << 1)    /* absent top-level properties get their "default" */
#define JSONSCHEMA_BLANK_EMPTY (1u << 2) /* a whitespace-only string has length 0 for minLength */
#define JSONSCHEMA_ENUM_HINT                                                                                           \
    (1u << 3) /* enum lists what the model should pick, it is not checked: for                                         \
               * tools that read such a field leniently (psyche's store_memory                                         \
               * takes any memory_type and files an unknown one as semantic) */

/* Checks args (must be an object) against schema, touching nothing. */
int jsonschema_validate(const cJSON *schema, const cJSON *args, char *err, size_t errlen);

/* Checks a copy of args and hands it over in *out (the caller frees it with
 * cJSON_Delete): top-level nulls removed, and, as flags ask, values coerced
 * and defaults filled in. args NULL is taken as {}. On error *out is
 * untouched. */
int jsonschema_check_args(const cJSON *schema, const cJSON *args, unsigned flags, cJSON **out, char *err,
                          size_t errlen);

/* "string", "number", "boolean", "array", "object", "null" (or "invalid"). */
const char *jsonschema_type_name(const cJSON *v);

#endif
