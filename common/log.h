/* log.h - leveled, thread-safe logging to stderr or a file.
 *
 * stdout belongs to the MCP protocol in all three programs, so nothing here
 * ever writes to it. Each line: "2026-11-27T17:50:59.123Z elpis INFO message". */
#ifndef PSY_LOG_H
#define PSY_LOG_H

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_NOTICE, LOG_WARN, LOG_ERROR, LOG_OFF } log_level;

/* name: program name in each line. file: path to append to, or NULL for stderr.
 * Returns 0 or -errno when the file cannot be opened (then stderr is used). */
int log_init(const char *name, log_level level, const char *file);
void log_set_level(log_level level);
log_level log_get_level(void);
int log_level_parse(const char *s, log_level *out); /* "debug".."error","off"; MCP names too */
const char *log_level_name(log_level level);
int log_fd(void); /* the descriptor lines go to (for crash handlers) */
void log_close(void);

void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
