/* buf.h - the one growable byte buffer used everywhere (strings, lines, output).
 *
 * A buf owns its memory: buf_free() releases it, buf_detach() hands it to the
 * caller (who then frees it with free()). The data is always NUL-terminated
 * after any successful call, so b->data can be used as a C string when the
 * content has no embedded NULs. Functions return 0 or -ENOMEM; on failure the
 * buffer is unchanged. */
#ifndef PSY_BUF_H
#define PSY_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct buf {
    char *data; /* NULL until the first append; NUL-terminated afterwards */
    size_t len; /* bytes in use, not counting the terminating NUL */
    size_t cap; /* bytes allocated */
} buf;

#define BUF_INIT                                                                                                       \
    {                                                                                                                  \
        NULL, 0, 0                                                                                                     \
    }

void buf_init(buf *b);
void buf_free(buf *b);
void buf_reset(buf *b);                /* len = 0, keeps the memory */
int buf_reserve(buf *b, size_t extra); /* room for extra more bytes */
int buf_append(buf *b, const void *p, size_t n);
int buf_puts(buf *b, const char *s);
int buf_putc(buf *b, char c);
int buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(buf *b, const char *fmt, va_list ap);
void buf_consume(buf *b, size_t n); /* drop the first n bytes */
char *buf_detach(buf *b);           /* caller frees; b is reset to empty */
const char *buf_str(const buf *b);  /* "" when empty, never NULL */

#endif
