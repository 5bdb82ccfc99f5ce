/* haven-health: calls haven.v1.Daemon/Health over havend's socket and prints
 * the status. A worked example of the Haven protocol in C (Docs/protocol.md).
 *
 *   haven-health [-s SOCKET] [-t TOKEN] [--service S --method M] [--garbage]
 *
 * Exit status: 0 serving, 1 not serving, 2 could not talk to havend,
 * 3 the daemon answered with a non-OK status (printed). --service/--method
 * and --garbage (an undecodable payload) exist to show what a bad call gets
 * back: a clean status, never a hang or a dropped connection. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "haven/v1/daemon.pb-c.h"
#include "ttrpc_client.h"

static void usage(FILE *to) {
    fprintf(to,
            "usage: haven-health [-s SOCKET] [-t TOKEN] [--service NAME] [--method NAME] [--garbage] [--timeout SECONDS]\n"
            "  Calls haven.v1.Daemon/Health and prints the daemon's status.\n");
}

static const char *serving_name(Haven__V1__HealthResponse__ServingStatus status) {
    switch (status) {
    case HAVEN__V1__HEALTH_RESPONSE__SERVING_STATUS__SERVING: return "SERVING";
    case HAVEN__V1__HEALTH_RESPONSE__SERVING_STATUS__NOT_SERVING: return "NOT_SERVING";
    default: return "UNSPECIFIED";
    }
}

int main(int argc, char **argv) {
    const char *socket_option = NULL;
    const char *token = getenv("HAVEN_TOKEN");
    const char *service = "haven.v1.Daemon";
    const char *method = "Health";
    int garbage = 0;
    long timeout_seconds = 10;
    static const struct option options[] = {
        {"socket", required_argument, NULL, 's'}, {"token", required_argument, NULL, 't'},
        {"service", required_argument, NULL, 'S'}, {"method", required_argument, NULL, 'M'},
        {"garbage", no_argument, NULL, 'g'}, {"timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    int option;
    while ((option = getopt_long(argc, argv, "s:t:h", options, NULL)) != -1) {
        switch (option) {
        case 's': socket_option = optarg; break;
        case 't': token = optarg; break;
        case 'S': service = optarg; break;
        case 'M': method = optarg; break;
        case 'g': garbage = 1; break;
        case 'T': timeout_seconds = strtol(optarg, NULL, 10); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || timeout_seconds <= 0) {
        usage(stderr);
        return 2;
    }

    char buffer[256];
    const char *path = haven_socket_path(socket_option, buffer, sizeof buffer);
    int fd = haven_connect(path);
    if (fd < 0) return 2;

    /* HealthRequest has no fields: its encoding is empty. Garbage is a
     * length-delimited field that claims more bytes than follow. */
    static const uint8_t undecodable[] = {0x0a, 0x7f, 0x01};
    const uint32_t stream_id = 1;
    if (ttrpc_send_request(fd, stream_id, 0, service, method, garbage ? undecodable : NULL,
                           garbage ? sizeof undecodable : 0, timeout_seconds * 1000000000LL, token) != 0) {
        close(fd);
        return 2;
    }

    ttrpc_frame frame;
    if (ttrpc_read_frame(fd, &frame) != 0) {
        close(fd);
        return 2;
    }
    close(fd);
    if (frame.header.stream_id != stream_id || frame.header.type != TTRPC_TYPE_RESPONSE) {
        fprintf(stderr, "bad frame header: expected a Response (type 2) on stream %u, got type %u on stream %u\n",
                stream_id, frame.header.type, frame.header.stream_id);
        ttrpc_frame_free(&frame);
        return 2;
    }
    Ttrpc__Response *response = ttrpc__response__unpack(NULL, frame.header.length, frame.data);
    ttrpc_frame_free(&frame);
    if (!response) {
        fprintf(stderr, "the daemon's answer is not a ttrpc.Response\n");
        return 2;
    }
    if (response->status && response->status->code != 0) {
        printf("status: %d %s: %s\n", response->status->code, grpc_status_name(response->status->code),
               response->status->message);
        ttrpc__response__free_unpacked(response, NULL);
        return 3;
    }
    printf("status: OK\n");
    int exit_status = 0;
    if (strcmp(service, "haven.v1.Daemon") == 0 && strcmp(method, "Health") == 0) {
        Haven__V1__HealthResponse *health =
            haven__v1__health_response__unpack(NULL, response->payload.len, response->payload.data);
        if (!health) {
            fprintf(stderr, "the payload is not a haven.v1.HealthResponse\n");
            ttrpc__response__free_unpacked(response, NULL);
            return 2;
        }
        printf("serving: %s\n", serving_name(health->status));
        printf("uptime: %lld s\n", (long long)health->uptime_seconds);
        for (size_t i = 0; i < health->n_components; i++) {
            const Haven__V1__ComponentHealth *component = health->components[i];
            printf("component %s: %s%s%s\n", component->name, component->healthy ? "healthy" : "UNHEALTHY",
                   *component->detail ? " - " : "", component->detail);
        }
        exit_status = health->status == HAVEN__V1__HEALTH_RESPONSE__SERVING_STATUS__SERVING ? 0 : 1;
        haven__v1__health_response__free_unpacked(health, NULL);
    } else {
        printf("payload: %zu bytes\n", response->payload.len);
    }
    ttrpc__response__free_unpacked(response, NULL);
    return exit_status;
}
