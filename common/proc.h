/* proc.h - child processes with pipes: spawn, check, stop.
 *
 * The child gets its own process group (so a stop reaches its children too),
 * stdin/stdout as pipes to us, and stderr appended to a file (so its last
 * lines can be shown when it dies, and nothing can block on a full pipe). */
#ifndef PSY_PROC_H
#define PSY_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct proc {
    pid_t pid;      /* 0 when not running */
    int to_child;   /* write end of the child's stdin, -1 when closed */
    int from_child; /* read end of the child's stdout */
    int status;     /* waitpid status once reaped */
    bool reaped;
} proc;

/* stderr_path: file the child's stderr is appended to (NULL = inherit ours).
 * Returns 0 or -errno (the exec error of the child is reported as -ENOENT etc.). */
int proc_spawn(proc *p, char *const argv[], const char *stderr_path);
/* Non-blocking: true while the child runs; reaps it otherwise. */
bool proc_alive(proc *p);
/* Closes stdin, waits up to grace_ms, then SIGTERM, then SIGKILL after
 * another grace_ms. Returns the wait status. */
int proc_stop(proc *p, int grace_ms);
/* "exit code 3", "killed by signal 11 (Segmentation fault)" */
void proc_describe_status(int status, char *out, size_t outlen);
/* DEPRECATED: use fs_file_tail (fs.h). Last n_lines lines of a text file
 * (for a dead child's log); caller frees; NULL on any error. */
char *file_tail(const char *path, int n_lines);

#endif
