/* The floor for a unary round trip: a Unix-socket server in plain C with
 * blocking sockets and a thread per connection. It reads each 10-byte ttrpc
 * header and its data, and writes the same bytes straight back. No decoding,
 * no framework: whatever Haven adds on top is measured against this.
 *
 *   echo-server SOCKET_PATH      (runs until killed) */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "socket_io.h"

enum { HEADER = 10, MAX_DATA = 4 << 20 };

static void *serve(void *arg) {
    int fd = (int)(intptr_t)arg;
    uint8_t *frame = malloc(HEADER + MAX_DATA);
    while (frame && read_all(fd, frame, HEADER) == 0) {
        uint32_t length = be32_get(frame);
        if (length > MAX_DATA || read_all(fd, frame + HEADER, length) != 0) break;
        if (write_all(fd, frame, HEADER + length) != 0) break;
    }
    free(frame);
    close(fd);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: echo-server SOCKET_PATH\n");
        return 2;
    }
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (strlen(argv[1]) >= sizeof address.sun_path) {
        fprintf(stderr, "socket path too long\n");
        return 2;
    }
    strcpy(address.sun_path, argv[1]);
    unlink(argv[1]);
    int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    if (listener < 0 || bind(listener, (struct sockaddr *)&address, sizeof address) != 0 || listen(listener, 1024) != 0) {
        perror("echo-server");
        return 1;
    }
    for (;;) {
        int fd = accept(listener, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR) continue;
            perror("accept");
            return 1;
        }
        pthread_t thread;
        if (pthread_create(&thread, NULL, serve, (void *)(intptr_t)fd) != 0) {
            close(fd);
            continue;
        }
        pthread_detach(thread);
    }
}
