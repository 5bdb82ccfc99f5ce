#define _POSIX_C_SOURCE 200809L
#include "ttrpc_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static const char *const status_names[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
    "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
};

const char *grpc_status_name(int32_t code) {
    if (code < 0 || (size_t)code >= sizeof status_names / sizeof status_names[0]) return "UNKNOWN_CODE";
    return status_names[code];
}

const char *haven_socket_path(const char *explicit_path, char *buffer, size_t size) {
    if (explicit_path && *explicit_path) return explicit_path;
    const char *env = getenv("HAVEN_SOCKET");
    if (env && *env) return env;
    const char *runtime = getenv("XDG_RUNTIME_DIR");
    if (runtime && *runtime) {
        snprintf(buffer, size, "%s/haven/haven.sock", runtime);
    } else {
        snprintf(buffer, size, "/tmp/haven-%u/haven/haven.sock", (unsigned)getuid());
    }
    struct stat st;
    if (stat(buffer, &st) == 0) return buffer;
    return "/run/haven/haven.sock";
}

int haven_connect(const char *path) {
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof address.sun_path) {
        fprintf(stderr, "socket path too long (%zu bytes, at most %zu): %s\n", strlen(path), sizeof address.sun_path - 1, path);
        return -1;
    }
    strcpy(address.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("socket");
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        fprintf(stderr, "cannot connect to havend at %s: %s (is havend running?)\n", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int write_all(int fd, const uint8_t *bytes, size_t length) {
    while (length > 0) {
        ssize_t n = send(fd, bytes, length, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "write to havend failed: %s\n", strerror(errno));
            return -1;
        }
        bytes += n;
        length -= (size_t)n;
    }
    return 0;
}

/* 1 on success, 0 on a clean end of stream before any byte, -1 on error. */
static int read_all(int fd, uint8_t *bytes, size_t length, const char *what) {
    size_t got = 0;
    while (got < length) {
        ssize_t n = read(fd, bytes + got, length - got);
        if (n < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "read from havend failed: %s\n", strerror(errno));
            return -1;
        }
        if (n == 0) {
            if (got == 0) return 0;
            fprintf(stderr, "havend closed the connection in the middle of a %s (%zu of %zu bytes)\n", what, got, length);
            return -1;
        }
        got += (size_t)n;
    }
    return 1;
}

static void put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int ttrpc_send_request(int fd, uint32_t stream_id, uint8_t flags, const char *service, const char *method,
                       const uint8_t *payload, size_t payload_length, int64_t timeout_nano, const char *token) {
    Ttrpc__Request request = TTRPC__REQUEST__INIT;
    request.service = (char *)service;
    request.method = (char *)method;
    request.payload.data = (uint8_t *)payload;
    request.payload.len = payload_length;
    request.timeout_nano = timeout_nano;

    char *authorization = NULL;
    Ttrpc__KeyValue key_value = TTRPC__KEY_VALUE__INIT;
    Ttrpc__KeyValue *metadata[1] = {&key_value};
    if (token && *token) {
        size_t size = strlen("Bearer ") + strlen(token) + 1;
        authorization = malloc(size);
        if (!authorization) return -1;
        snprintf(authorization, size, "Bearer %s", token);
        key_value.key = "authorization";
        key_value.value = authorization;
        request.n_metadata = 1;
        request.metadata = metadata;
    }

    size_t length = ttrpc__request__get_packed_size(&request);
    if (length > TTRPC_MAX_DATA) {
        fprintf(stderr, "request of %zu bytes is over the 4 MiB frame limit\n", length);
        free(authorization);
        return -1;
    }
    uint8_t *frame = malloc(TTRPC_HEADER_SIZE + length);
    if (!frame) {
        free(authorization);
        return -1;
    }
    put_u32(frame, (uint32_t)length);
    put_u32(frame + 4, stream_id);
    frame[8] = TTRPC_TYPE_REQUEST;
    frame[9] = flags;
    ttrpc__request__pack(&request, frame + TTRPC_HEADER_SIZE);
    int result = write_all(fd, frame, TTRPC_HEADER_SIZE + length);
    free(frame);
    free(authorization);
    return result;
}

int ttrpc_read_frame(int fd, ttrpc_frame *frame) {
    uint8_t header[TTRPC_HEADER_SIZE];
    memset(frame, 0, sizeof *frame);
    int got = read_all(fd, header, sizeof header, "frame header");
    if (got == 0) {
        fprintf(stderr, "havend closed the connection\n");
        return -1;
    }
    if (got < 0) return -1;
    frame->header.length = get_u32(header);
    frame->header.stream_id = get_u32(header + 4);
    frame->header.type = header[8];
    frame->header.flags = header[9];
    if (frame->header.length > TTRPC_MAX_DATA) {
        fprintf(stderr, "bad frame header: %u bytes of data is over the 4 MiB limit\n", frame->header.length);
        return -1;
    }
    if (frame->header.type != TTRPC_TYPE_RESPONSE && frame->header.type != TTRPC_TYPE_DATA) {
        fprintf(stderr, "bad frame header: type %u from the daemon (expected 2 Response or 3 Data)\n", frame->header.type);
        return -1;
    }
    frame->data = malloc(frame->header.length ? frame->header.length : 1);
    if (!frame->data) return -1;
    if (frame->header.length > 0 && read_all(fd, frame->data, frame->header.length, "frame") != 1) {
        ttrpc_frame_free(frame);
        return -1;
    }
    return 0;
}

void ttrpc_frame_free(ttrpc_frame *frame) {
    free(frame->data);
    frame->data = NULL;
}
