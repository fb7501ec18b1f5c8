/*
 * LD_PRELOAD shim for `benchmark e2e --fsync-shim`: every fsync and fdatasync waits SLOW_FSYNC_US
 * microseconds (default 1000) before doing the real call, as on cloud volumes where a flush costs
 * a millisecond or more. It shows what group commit is worth where the disk is slow.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

static void wait_a_while(void) {
    const char *text = getenv("SLOW_FSYNC_US");
    long micros = text ? atol(text) : 1000;
    struct timespec pause = {micros / 1000000, (micros % 1000000) * 1000};
    while (nanosleep(&pause, &pause) != 0) {}
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    wait_a_while();
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    wait_a_while();
    return real(fd);
}
