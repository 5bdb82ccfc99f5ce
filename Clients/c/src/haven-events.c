/* haven-events: follows haven.v1.Events/Subscribe, a server-streaming call,
 * and prints one line per event (ids and codes only; events never carry
 * narrative). A worked example of ttrpc streaming in C (Docs/protocol.md).
 *
 *   haven-events [-s SOCKET] [-t TOKEN] [--from SEQUENCE] [--type TYPE]... [--count N]
 *
 * Exit status: 0 the stream ended or --count events arrived, 2 could not
 * talk to havend, 3 the daemon ended the stream with a non-OK status. */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "haven/v1/records.pb-c.h"
#include "haven/v1/timeline.pb-c.h"
#include "ttrpc_client.h"

enum { MAX_TYPES = 32 };

static void usage(FILE *to) {
    fprintf(to,
            "usage: haven-events [-s SOCKET] [-t TOKEN] [--from SEQUENCE] [--type TYPE]... [--count N]\n"
            "  Follows the daemon's event stream (default: new events only) and prints each event.\n");
}

static void print_event(const Haven__V1__Event *event) {
    printf("%lld %s subject=%s student=%s school=%s", (long long)event->sequence, event->type, event->subject_id,
           event->student_id, event->school_id);
    for (size_t i = 0; i < event->n_attributes; i++) {
        printf(" %s=%s", event->attributes[i]->key, event->attributes[i]->value);
    }
    printf("\n");
    fflush(stdout);
}

int main(int argc, char **argv) {
    const char *socket_option = NULL;
    const char *token = getenv("HAVEN_TOKEN");
    char *types[MAX_TYPES];
    size_t n_types = 0;
    long long from = 0, count = 0;
    static const struct option options[] = {
        {"socket", required_argument, NULL, 's'}, {"token", required_argument, NULL, 't'},
        {"from", required_argument, NULL, 'f'}, {"type", required_argument, NULL, 'y'},
        {"count", required_argument, NULL, 'n'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    int option;
    while ((option = getopt_long(argc, argv, "s:t:n:h", options, NULL)) != -1) {
        switch (option) {
        case 's': socket_option = optarg; break;
        case 't': token = optarg; break;
        case 'f': from = strtoll(optarg, NULL, 10); break;
        case 'n': count = strtoll(optarg, NULL, 10); break;
        case 'y':
            if (n_types == MAX_TYPES) {
                fprintf(stderr, "at most %d --type options\n", MAX_TYPES);
                return 2;
            }
            types[n_types++] = optarg;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || from < 0 || count < 0) {
        usage(stderr);
        return 2;
    }

    char buffer[256];
    int fd = haven_connect(haven_socket_path(socket_option, buffer, sizeof buffer));
    if (fd < 0) return 2;

    Haven__V1__SubscribeRequest request = HAVEN__V1__SUBSCRIBE_REQUEST__INIT;
    request.from_sequence = from;
    request.n_types = n_types;
    request.types = types;
    size_t length = haven__v1__subscribe_request__get_packed_size(&request);
    uint8_t *payload = malloc(length ? length : 1);
    if (!payload) return 2;
    haven__v1__subscribe_request__pack(&request, payload);
    /* remote-closed: the client sends nothing more on this stream. */
    const uint32_t stream_id = 1;
    int sent = ttrpc_send_request(fd, stream_id, TTRPC_FLAG_REMOTE_CLOSED, "haven.v1.Events", "Subscribe", payload,
                                  length, 0, token);
    free(payload);
    if (sent != 0) {
        close(fd);
        return 2;
    }

    long long seen = 0;
    int exit_status = 0;
    for (;;) {
        ttrpc_frame frame;
        if (ttrpc_read_frame(fd, &frame) != 0) {
            exit_status = 2;
            break;
        }
        if (frame.header.stream_id != stream_id) {
            fprintf(stderr, "bad frame header: stream %u, expected %u\n", frame.header.stream_id, stream_id);
            ttrpc_frame_free(&frame);
            exit_status = 2;
            break;
        }
        if (frame.header.type == TTRPC_TYPE_RESPONSE) {
            /* The stream failed: the Response carries the status. */
            Ttrpc__Response *response = ttrpc__response__unpack(NULL, frame.header.length, frame.data);
            ttrpc_frame_free(&frame);
            if (!response) {
                fprintf(stderr, "the daemon's answer is not a ttrpc.Response\n");
                exit_status = 2;
            } else if (response->status && response->status->code != 0) {
                printf("status: %d %s: %s\n", response->status->code, grpc_status_name(response->status->code),
                       response->status->message);
                exit_status = 3;
            } else {
                printf("status: OK\n");
            }
            if (response) ttrpc__response__free_unpacked(response, NULL);
            break;
        }
        /* A Data frame: one Event, or the end of the stream. */
        int ended = frame.header.flags & TTRPC_FLAG_REMOTE_CLOSED;
        if (!(frame.header.flags & TTRPC_FLAG_NO_DATA)) {
            Haven__V1__Event *event = haven__v1__event__unpack(NULL, frame.header.length, frame.data);
            if (!event) {
                fprintf(stderr, "a Data frame of %u bytes is not a haven.v1.Event\n", frame.header.length);
                ttrpc_frame_free(&frame);
                exit_status = 2;
                break;
            }
            print_event(event);
            haven__v1__event__free_unpacked(event, NULL);
            seen++;
        }
        ttrpc_frame_free(&frame);
        if (ended) {
            printf("status: OK (stream ended)\n");
            break;
        }
        if (count && seen >= count) break;
    }
    close(fd);
    return exit_status;
}
