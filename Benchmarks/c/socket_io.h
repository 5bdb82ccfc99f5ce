/* Whole-buffer reads and writes on a blocking socket, shared by the echo
 * server and the load generator so both pay exactly the same syscalls. */
#ifndef HAVEN_BENCH_SOCKET_IO_H
#define HAVEN_BENCH_SOCKET_IO_H
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

static int read_all(int fd, uint8_t *p, size_t n) {
    while (n) {
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return -1;
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n) {
    while (n) {
        ssize_t put = send(fd, p, n, MSG_NOSIGNAL);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) return -1;
        p += put;
        n -= (size_t)put;
    }
    return 0;
}
#endif
