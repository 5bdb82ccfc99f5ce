/* A minimal ttrpc client for havend: one Unix-socket connection, framing
 * exactly as Docs/protocol.md describes (10-byte header, ttrpc.Request and
 * ttrpc.Response from Proto/ttrpc/request.proto, packed with protobuf-c). */
#ifndef HAVEN_TTRPC_CLIENT_H
#define HAVEN_TTRPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "ttrpc/request.pb-c.h"

enum {
    TTRPC_HEADER_SIZE = 10,
    TTRPC_MAX_DATA = 4 * 1024 * 1024,
    TTRPC_TYPE_REQUEST = 1,
    TTRPC_TYPE_RESPONSE = 2,
    TTRPC_TYPE_DATA = 3,
    TTRPC_FLAG_REMOTE_CLOSED = 0x01,
    TTRPC_FLAG_REMOTE_OPEN = 0x02,
    TTRPC_FLAG_NO_DATA = 0x04,
};

typedef struct {
    uint32_t length;
    uint32_t stream_id;
    uint8_t type;
    uint8_t flags;
} ttrpc_header;

typedef struct {
    ttrpc_header header;
    uint8_t *data; /* header.length bytes, malloc'd; free with ttrpc_frame_free */
} ttrpc_frame;

/* The socket to use: the explicit path, else $HAVEN_SOCKET, else the desktop
 * socket if it exists, else the server socket (the haven CLI's order). */
const char *haven_socket_path(const char *explicit_path, char *buffer, size_t size);

/* Connects; returns a file descriptor, or -1 with a message on stderr. */
int haven_connect(const char *path);

/* Sends one Request frame. token may be NULL (the daemon then knows the
 * caller by its uid). Returns 0, or -1 with a message on stderr. */
int ttrpc_send_request(int fd, uint32_t stream_id, uint8_t flags, const char *service, const char *method,
                       const uint8_t *payload, size_t payload_length, int64_t timeout_nano, const char *token);

/* Reads one frame and validates its header (length within 4 MiB, a known
 * type). Returns 0, or -1 with a message on stderr (connection closed,
 * truncated frame, bad header). */
int ttrpc_read_frame(int fd, ttrpc_frame *frame);
void ttrpc_frame_free(ttrpc_frame *frame);

/* The gRPC name of a status code ("OK", "NOT_FOUND", ...). */
const char *grpc_status_name(int32_t code);

#endif
