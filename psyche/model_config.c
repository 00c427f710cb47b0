/* model_config.c - the one-key edit of psyche.toml that `psyche model pull`
 * makes. The TOML parser (common/toml.h) finds where [model] and its path
 * are; the edit itself is done on the text, line by line, so comments and
 * layout survive. Owns nothing between calls. */
#include "model_config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fs.h"
#include "toml.h"
#include "util.h"

#define CONFIG_MAX_BYTES (1 << 20)

typedef struct where {
    int section_line; /* line of the [model] header, 0 if none */
    int key_line;     /* line of path = ... inside [model], 0 if none */
    bool is_string;   /* the key's value is a string */
    char *value;      /* its value (owned) */
} where;

static int find_cb(void *ud, const toml_item *it, char *err, size_t errlen)
{
    where *w = ud;
    if (strcmp(it->section, "model")) return 0;
    if (!it->key) {
        w->section_line = it->line;
    } else if (!strcmp(it->key, "path")) {
        w->key_line = it->line;
        w->is_string = it->kind == TOML_STRING;
        if (w->is_string && !(w->value = strdup(it->str))) return -ENOMEM;
    }
    (void)err, (void)errlen;
    return 0;
}

static int locate(const char *text, size_t len, const char *name, where *w, char *err, size_t errlen)
{
    memset(w, 0, sizeof *w);
    char perr[512];
    int rc = toml_parse(text, len, name, find_cb, w, perr, sizeof perr);
    if (rc) {
        snprintf(err, errlen, "%s; fix the file (or move it away) and run the command again", perr);
        free(w->value);
        w->value = NULL;
    }
    return rc;
}

/* Byte offset of the start of line (1-based) in text[0..len); len when the
 * text has fewer lines. */
static size_t line_start(const char *text, size_t len, int line)
{
    size_t off = 0;
    for (int l = 1; l < line && off < len; off++)
        if (text[off] == '\n') l++;
    return off;
}

/* Offset just past the end of the line that starts at off (its '\n'
 * included, when there is one). */
static size_t line_end(const char *text, size_t len, size_t off)
{
    const char *nl = memchr(text + off, '\n', len - off);
    return nl ? (size_t)(nl - text) + 1 : len;
}

/* Builds the edited text in b: [0..cut) + the new line + [resume..len). */
static int splice(buf *b, const char *text, size_t len, size_t cut, size_t resume, const char *value, bool new_section)
{
    int rc = buf_append(b, text, cut);
    if (!rc && cut > 0 && text[cut - 1] != '\n') rc = buf_putc(b, '\n');
    if (!rc && new_section) rc = buf_puts(b, cut > 0 ? "\n[model]\n" : "[model]\n");
    if (!rc) rc = buf_puts(b, "path = ");
    if (!rc) rc = toml_quote(b, value);
    if (!rc) rc = buf_putc(b, '\n');
    if (!rc) rc = buf_append(b, text + resume, len - resume);
    return rc;
}

int psy_model_config_set_path(const char *text, size_t len, const char *name, const char *value, char **out, char *err,
                              size_t errlen)
{
    where w;
    int rc = locate(text, len, name, &w, err, errlen);
    if (rc) return rc;
    if (w.key_line && !w.is_string) {
        snprintf(err, errlen,
                 "%s:%d: [model] path is not a string; make it one (path = \"...\") and run the "
                 "command again",
                 name, w.key_line);
        return -EINVAL;
    }
    free(w.value);
    size_t cut, resume;
    if (w.key_line) { /* replace the line */
        cut = line_start(text, len, w.key_line);
        resume = line_end(text, len, cut);
    } else if (w.section_line) { /* right after the header */
        cut = resume = line_end(text, len, line_start(text, len, w.section_line));
    } else { /* a new section at the end */
        cut = resume = len;
    }
    buf b = BUF_INIT;
    rc = splice(&b, text, len, cut, resume, value, !w.key_line && !w.section_line);
    if (rc) {
        buf_free(&b);
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    /* Never hand out a config that does not say what we meant. */
    where check;
    rc = locate(b.data, b.len, name, &check, err, errlen);
    if (!rc && (!check.value || strcmp(check.value, value))) {
        snprintf(err, errlen,
                 "%s: the edited config does not read back [model] path as written; it was "
                 "left unchanged (please report this)",
                 name);
        rc = -EINVAL;
    }
    free(check.value);
    if (rc) {
        buf_free(&b);
        return rc;
    }
    *out = buf_detach(&b);
    return 0;
}

int psy_model_config_get_path(const char *text, size_t len, const char *name, char **out, char *err, size_t errlen)
{
    where w;
    int rc = locate(text, len, name, &w, err, errlen);
    if (!rc) *out = w.value;
    return rc;
}

int psy_model_config_write(const char *path, const char *value, char *err, size_t errlen)
{
    char *text = NULL, *edited = NULL;
    size_t len = 0;
    int rc = read_file_all(path, CONFIG_MAX_BYTES, &text, &len);
    if (rc == -ENOENT) {
        rc = 0; /* a new config */
    } else if (rc) {
        snprintf(err, errlen, "cannot read the config %s: %s", path, strerror(-rc));
        return rc;
    }
    rc = psy_model_config_set_path(text ? text : "", len, path, value, &edited, err, errlen);
    free(text);
    if (rc) return rc;
    rc = fs_mkdir_parent(path, FS_DIR_MODE_PRIVATE);
    if (!rc) rc = fs_write_file_atomic(path, edited, strlen(edited), FS_FILE_MODE_PRIVATE);
    if (rc) snprintf(err, errlen, "cannot write the config %s: %s", path, strerror(-rc));
    free(edited);
    return rc;
}
