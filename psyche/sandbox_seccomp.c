/* sandbox_seccomp.c - the seccomp filter of execute_bash's command: refuses
 * the ioctls that push input into a terminal (TIOCSTI: type characters into
 * its input queue; TIOCLINUX: the console's selection paste), whatever
 * terminal the command reaches (/dev/tty, /dev/pts/N, an inherited fd).
 *
 * Written as classic BPF by hand. The ioctl number is compared on its low 32
 * bits, as the kernel itself takes `unsigned int cmd`, so setting high bits
 * does not get past it. On x86-64 the i386 entry (int 0x80, ioctl = 54) is
 * checked the same way and x32 system calls are refused; on other
 * architectures a system call of a foreign architecture is refused. */
#include "sandbox.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define PSY_ARCH AUDIT_ARCH_X86_64
#define PSY_COMPAT_ARCH AUDIT_ARCH_I386
#define PSY_COMPAT_IOCTL 54
#define PSY_X32_BIT 0x40000000u
#elif defined(__aarch64__)
#define PSY_ARCH AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define PSY_ARCH AUDIT_ARCH_I386
#elif defined(__riscv) && __riscv_xlen == 64
#define PSY_ARCH AUDIT_ARCH_RISCV64
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define PSY_ARCH AUDIT_ARCH_PPC64LE
#elif defined(__s390x__)
#define PSY_ARCH AUDIT_ARCH_S390X
#endif

#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif

#define LD_W(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define JEQ(k, t, f) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARG1_LO (offsetof(struct seccomp_data, args[1]))
#else
#define ARG1_LO (offsetof(struct seccomp_data, args[1]) + 4)
#endif

int psy_seccomp_deny_tty_push(void)
{
#ifndef PSY_ARCH
    return -ENOSYS;
#else
    /* jt/jf are "how many instructions to skip": target - (index + 1). */
    struct sock_filter f[] = {
#ifdef PSY_COMPAT_ARCH
        /* 0 */ LD_W(offsetof(struct seccomp_data, arch)),
        /* 1 */ JEQ(PSY_COMPAT_ARCH, 4, 0), /* -> 6 */
        /* 2 */ JEQ(PSY_ARCH, 0, 9),        /* foreign -> 12 */
        /* 3 */ LD_W(offsetof(struct seccomp_data, nr)),
        /* 4 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, PSY_X32_BIT, 7, 0), /* x32 -> 12 */
        /* 5 */ JEQ(__NR_ioctl, 2, 5),                                  /* -> 8, else 11 */
        /* 6 */ LD_W(offsetof(struct seccomp_data, nr)),
        /* 7 */ JEQ(PSY_COMPAT_IOCTL, 0, 3), /* -> 8, else 11 */
        /* 8 */ LD_W(ARG1_LO),
        /* 9 */ JEQ(TIOCSTI, 2, 0),    /* -> 12 */
        /* 10 */ JEQ(TIOCLINUX, 1, 0), /* -> 12 */
        /* 11 */ RET(SECCOMP_RET_ALLOW),
        /* 12 */ RET(SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
#else
        /* 0 */ LD_W(offsetof(struct seccomp_data, arch)),
        /* 1 */ JEQ(PSY_ARCH, 0, 6), /* foreign -> 8 */
        /* 2 */ LD_W(offsetof(struct seccomp_data, nr)),
        /* 3 */ JEQ(__NR_ioctl, 0, 3), /* -> 7 */
        /* 4 */ LD_W(ARG1_LO),
        /* 5 */ JEQ(TIOCSTI, 2, 0),   /* -> 8 */
        /* 6 */ JEQ(TIOCLINUX, 1, 0), /* -> 8 */
        /* 7 */ RET(SECCOMP_RET_ALLOW),
        /* 8 */ RET(SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
#endif
    };
    struct sock_fprog prog = {.len = (unsigned short)(sizeof f / sizeof f[0]), .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return -errno;
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) return -errno;
    return 0;
#endif
}
