/* proc.c - spawning and stopping children with pipes. */
#include "proc.h"

#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

int proc_spawn(proc *p, char *const argv[], const char *stderr_path)
{
    memset(p, 0, sizeof *p);
    p->to_child = p->from_child = -1;
    int in[2], out[2], ex[2];
    if (pipe2(in, O_CLOEXEC)) return -errno;
    if (pipe2(out, O_CLOEXEC)) {
        int e = errno;
        close(in[0]), close(in[1]);
        return -e;
    }
    if (pipe2(ex, O_CLOEXEC)) { /* carries the exec errno back */
        int e = errno;
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        return -e;
    }
    int errfd = -1;
    if (stderr_path) errfd = open(stderr_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(in[0]), close(in[1]), close(out[0]), close(out[1]), close(ex[0]), close(ex[1]);
        if (errfd >= 0) close(errfd);
        return -e;
    }
    if (pid == 0) {
        setpgid(0, 0);
        dup2(in[0], 0);
        dup2(out[1], 1);
        if (errfd >= 0) dup2(errfd, 2);
        signal(SIGPIPE, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execvp(argv[0], argv);
        int e = errno;
        ssize_t w = write(ex[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    close(in[0]), close(out[1]), close(ex[1]);
    if (errfd >= 0) close(errfd);
    int e = 0;
    ssize_t r;
    do r = read(ex[0], &e, sizeof e);
    while (r < 0 && errno == EINTR);
    close(ex[0]);
    if (r == (ssize_t)sizeof e) {
        waitpid(pid, NULL, 0);
        close(in[1]), close(out[0]);
        return -e;
    }
    p->pid = pid;
    p->to_child = in[1];
    p->from_child = out[0];
    return 0;
}

bool proc_alive(proc *p)
{
    if (!p->pid || p->reaped) return false;
    int st;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid) {
        p->status = st;
        p->reaped = true;
        return false;
    }
    return r == 0;
}

static bool wait_for(proc *p, int ms)
{
    int64_t end = now_mono_ms() + ms;
    while (proc_alive(p)) {
        if (now_mono_ms() >= end) return false;
        struct timespec ts = {0, 10L * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return true;
}

int proc_stop(proc *p, int grace_ms)
{
    if (p->to_child >= 0) close(p->to_child);
    p->to_child = -1;
    if (p->pid && !p->reaped) {
        if (!wait_for(p, grace_ms)) {
            kill(-p->pid, SIGTERM);
            kill(p->pid, SIGTERM);
            if (!wait_for(p, grace_ms)) {
                kill(-p->pid, SIGKILL);
                kill(p->pid, SIGKILL);
                int st;
                if (waitpid(p->pid, &st, 0) == p->pid) p->status = st, p->reaped = true;
            }
        }
    }
    if (p->from_child >= 0) close(p->from_child);
    p->from_child = -1;
    return p->status;
}

void proc_describe_status(int status, char *out, size_t outlen)
{
    if (WIFEXITED(status)) snprintf(out, outlen, "exit code %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, outlen, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else snprintf(out, outlen, "status %d", status);
}

char *file_tail(const char *path, int n_lines)
{
    char *out = NULL;
    return fs_file_tail(path, 0, n_lines > 0 ? (size_t)n_lines : 0, &out, NULL) ? NULL : out;
}
