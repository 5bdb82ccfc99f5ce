/* The one load generator for every unary-call figure, so havend, containerd's
 * ttrpc and the echo floor are all driven by exactly the same code.
 *
 *   bench-client --socket PATH (--request FILE | --requests FILE) [--connections C]
 *                [--inflight D] (--calls N | --seconds S) [--warmup N] [--echo]
 *                [--samples FILE] [--single-thread]
 *
 * --request FILE holds the data of one ttrpc Request frame (an encoded
 * ttrpc.Request), sent on every call. --requests FILE holds several, each
 * after its length (4 bytes, big-endian); each connection sends them in turn,
 * starting again from the first after the last (warm-up calls included).
 * Each connection runs in its own thread with blocking sockets and keeps D
 * calls in flight (D=1: one call at a time). With --single-thread one thread
 * serves every connection, waiting on them all with epoll, so the client's
 * threads take less of the host's CPU from the server; its writes still
 * block, and a latency then includes the time an answer waited while the
 * thread served other connections. Every answer's header is
 * validated; unless --echo, it must be a Response (type 2) whose status is
 * absent or OK. Prints one JSON object: calls, errors, seconds, calls_per_second,
 * and latency percentiles in microseconds. --samples FILE also writes every
 * measured latency (microseconds, one per line, connection by connection in
 * the order answered), so a caller can pool several runs or pair each
 * sequential call with its request. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "socket_io.h"

enum { HEADER = 10, MAX_DATA = 4 << 20, SLOTS = 1 << 16 };

static const char *socket_path;
static uint8_t *request_data;
static size_t request_length;
/* The requests, in the order they are sent: offsets into request_data. */
static size_t *request_offsets, *request_lengths, request_count;
static size_t longest_request;
static int connections = 1, inflight = 1, echo_mode = 0, single_thread = 0;
static long calls_per_connection = 0, warmup = 0;
static double seconds = 0;

/* One connection: its calls in flight and what it measured. Aligned to a
 * cache line: in the threaded mode each thread updates its own worker on
 * every answer, and neighbours must not share a line. */
typedef struct {
    _Alignas(64) pthread_t thread;
    int fd;
    uint8_t *out, *in;
    size_t buffered; /* bytes of `in` not yet handled (--single-thread) */
    double *sent_at; /* by stream: when its call was sent */
    uint32_t next_stream;
    long sent, received, total; /* total: calls to send, warm-up included; -1 in a timed run */
    double deadline;
    int stop_sending;
    double *latencies; /* microseconds */
    size_t count, capacity;
    long errors;
    int failed;
} worker;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t varint(const uint8_t *p, size_t n, size_t *i) {
    uint64_t v = 0;
    for (int shift = 0; *i < n && shift < 64; shift += 7) {
        uint8_t b = p[(*i)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) break;
    }
    return v;
}

/* A ttrpc.Response is OK when field 1 (status) is absent or has code 0. */
static int response_ok(const uint8_t *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint64_t key = varint(p, n, &i);
        uint32_t wire = key & 7;
        if (wire == 2) {
            uint64_t len = varint(p, n, &i);
            if (len > n - i) return 0;
            if ((key >> 3) == 1) {
                size_t j = 0;
                while (j < len) {
                    uint64_t k = varint(p + i, len, &j);
                    if ((k >> 3) == 1 && (k & 7) == 0) return varint(p + i, len, &j) == 0;
                    if ((k & 7) == 0) varint(p + i, len, &j);
                    else if ((k & 7) == 2) j += varint(p + i, len, &j);
                    else return 0;
                }
            }
            i += len;
        } else if (wire == 0) {
            varint(p, n, &i);
        } else {
            return 0;
        }
    }
    return 1;
}

static int connect_socket(void) {
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    strncpy(address.sun_path, socket_path, sizeof address.sun_path - 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        fprintf(stderr, "bench-client: cannot connect to %s: %s\n", socket_path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

/* Sends call number `sent` (from 0) of a connection as request sent mod count. */
static int send_call(int fd, uint32_t stream, uint8_t *frame, long sent) {
    size_t which = (size_t)sent % request_count, length = request_lengths[which];
    memcpy(frame + HEADER, request_data + request_offsets[which], length);
    be32_put(frame, (uint32_t)length);
    be32_put(frame + 4, stream);
    frame[8] = 1; /* Request */
    frame[9] = 0;
    return write_all(fd, frame, HEADER + length);
}

static void record(worker *w, double microseconds) {
    if (w->count == w->capacity) {
        w->capacity = w->capacity ? w->capacity * 2 : 4096;
        w->latencies = realloc(w->latencies, w->capacity * sizeof(double));
    }
    w->latencies[w->count++] = microseconds;
}

/* Sends the connection's next call unless it is done sending. */
static int send_next(worker *w) {
    if (w->stop_sending || (w->total >= 0 && w->sent >= w->total)) return 0;
    w->sent_at[(w->next_stream >> 1) % SLOTS] = now_seconds();
    if (send_call(w->fd, w->next_stream, w->out, w->sent) != 0) return -1;
    w->next_stream += 2;
    w->sent++;
    return 0;
}

/* Connects and fills the window of calls in flight. */
static int open_connection(worker *w) {
    w->fd = connect_socket();
    if (w->fd < 0) return -1;
    w->out = malloc(HEADER + longest_request);
    w->in = malloc(HEADER + MAX_DATA);
    w->sent_at = calloc(SLOTS, sizeof(double));
    w->next_stream = 1;
    w->deadline = seconds > 0 ? now_seconds() + seconds : 0;
    w->total = calls_per_connection > 0 ? calls_per_connection + warmup : -1;
    for (int i = 0; i < inflight; i++)
        if (send_next(w) != 0) return -1;
    return 0;
}

/* One whole answer frame (header and data) arrived at `done`: checks and
 * times it, and sends the next call in its place. */
static int answered(worker *w, const uint8_t *frame, uint32_t length, double done) {
    uint32_t stream = be32_get(frame + 4);
    int valid = echo_mode ? frame[8] == 1 : (frame[8] == 2 && response_ok(frame + HEADER, length));
    if (!valid) w->errors++;
    if (w->received >= warmup) record(w, (done - w->sent_at[(stream >> 1) % SLOTS]) * 1e6);
    w->received++;
    if (w->deadline > 0 && done >= w->deadline) w->stop_sending = 1;
    return send_next(w);
}

/* Ends a connection (a failed connect has already said why). Safe to call
 * twice. */
static void close_connection(worker *w, int broken) {
    if (broken) {
        if (w->fd >= 0) fprintf(stderr, "bench-client: the connection broke after %ld answers\n", w->received);
        w->failed = 1;
    }
    if (w->fd >= 0) close(w->fd);
    w->fd = -1;
    free(w->out);
    free(w->in);
    free(w->sent_at);
    w->out = w->in = NULL;
    w->sent_at = NULL;
}

/* A connection in its own thread, with blocking reads. */
static void *run_worker(void *arg) {
    worker *w = arg;
    if (open_connection(w) != 0) {
        close_connection(w, 1);
        return NULL;
    }
    while (w->received < w->sent) {
        if (read_all(w->fd, w->in, HEADER) != 0) goto broken;
        uint32_t length = be32_get(w->in);
        if (length > MAX_DATA || read_all(w->fd, w->in + HEADER, length) != 0) goto broken;
        if (answered(w, w->in, length, now_seconds()) != 0) goto broken;
    }
    close_connection(w, 0);
    return NULL;
broken:
    close_connection(w, 1);
    return NULL;
}

/* Reads what a connection has, once, without blocking, and handles every
 * whole answer in it. One read per readiness, not until the socket is
 * empty: each answer sends the next call, so a connection read until empty
 * could keep the thread while the others wait (epoll reports it again).
 * Returns 1 when the connection is finished, -1 when broken, else 0. */
static int drain(worker *w) {
    ssize_t got;
    do got = recv(w->fd, w->in + w->buffered, HEADER + MAX_DATA - w->buffered, MSG_DONTWAIT);
    while (got < 0 && errno == EINTR);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    if (got <= 0) return -1;
    w->buffered += (size_t)got;
    double done = now_seconds();
    size_t at = 0;
    while (w->buffered - at >= HEADER) {
        uint32_t length = be32_get(w->in + at);
        if (length > MAX_DATA) return -1;
        if (w->buffered - at < HEADER + (size_t)length) break;
        if (answered(w, w->in + at, length, done) != 0) return -1;
        at += HEADER + length;
    }
    memmove(w->in, w->in + at, w->buffered - at);
    w->buffered -= at;
    /* More answers than calls (a misbehaving server) also ends it. */
    return w->received >= w->sent;
}

/* Every connection in this one thread, waiting on all of them with epoll,
 * so that the client's own wake-ups and threads cost the host as little as
 * they can while the server is measured. */
static void run_single_thread(worker *workers) {
    int ep = epoll_create1(0), active = 0;
    if (ep < 0) {
        perror("bench-client: epoll_create1");
        for (int i = 0; i < connections; i++) workers[i].failed = 1;
        return;
    }
    for (int i = 0; i < connections; i++) {
        worker *w = &workers[i];
        struct epoll_event event = {.events = EPOLLIN, .data.ptr = w};
        if (open_connection(w) != 0 || epoll_ctl(ep, EPOLL_CTL_ADD, w->fd, &event) != 0) close_connection(w, 1);
        else active++;
    }
    struct epoll_event ready[64];
    while (active > 0) {
        int n = epoll_wait(ep, ready, (int)(sizeof ready / sizeof *ready), -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            perror("bench-client: epoll_wait");
            for (int i = 0; i < connections; i++)
                if (workers[i].fd >= 0) close_connection(&workers[i], 1);
            break;
        }
        for (int i = 0; i < n; i++) {
            worker *w = ready[i].data.ptr;
            int state = drain(w);
            if (state == 0) continue;
            epoll_ctl(ep, EPOLL_CTL_DEL, w->fd, NULL);
            close_connection(w, state < 0);
            active--;
        }
    }
    close(ep);
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(const double *sorted, size_t n, double p) {
    if (n == 0) return 0;
    size_t index = (size_t)(p * (double)(n - 1) + 0.5);
    return sorted[index < n ? index : n - 1];
}

int main(int argc, char **argv) {
    const char *request_file = NULL, *samples_file = NULL;
    int framed = 0;
    static const struct option options[] = {
        {"socket", required_argument, NULL, 's'}, {"request", required_argument, NULL, 'r'},
        {"requests", required_argument, NULL, 'R'},
        {"connections", required_argument, NULL, 'c'}, {"inflight", required_argument, NULL, 'd'},
        {"calls", required_argument, NULL, 'n'}, {"seconds", required_argument, NULL, 't'},
        {"warmup", required_argument, NULL, 'w'}, {"echo", no_argument, NULL, 'e'},
        {"samples", required_argument, NULL, 'S'}, {"single-thread", no_argument, NULL, '1'},
        {NULL, 0, NULL, 0},
    };
    int option;
    while ((option = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (option) {
        case 's': socket_path = optarg; break;
        case 'r':
        case 'R':
            if (request_file) {
                fprintf(stderr, "bench-client: give one of --request and --requests, once\n");
                return 2;
            }
            request_file = optarg;
            framed = option == 'R';
            break;
        case 'c': connections = atoi(optarg); break;
        case 'd': inflight = atoi(optarg); break;
        case 'n': calls_per_connection = atol(optarg); break;
        case 't': seconds = atof(optarg); break;
        case 'w': warmup = atol(optarg); break;
        case 'e': echo_mode = 1; break;
        case 'S': samples_file = optarg; break;
        case '1': single_thread = 1; break;
        default: return 2;
        }
    }
    if (!socket_path || !request_file || connections < 1 || inflight < 1 || inflight > SLOTS / 4 ||
        (calls_per_connection <= 0) == (seconds <= 0)) {
        fprintf(stderr, "usage: bench-client --socket PATH (--request FILE | --requests FILE) [--connections C] [--inflight D] (--calls N | --seconds S) [--warmup N] [--echo] [--samples FILE] [--single-thread]\n");
        return 2;
    }
    FILE *f = fopen(request_file, "rb");
    if (!f) {
        perror(request_file);
        return 2;
    }
    request_data = malloc(MAX_DATA);
    if (!request_data) return 2;
    request_length = fread(request_data, 1, MAX_DATA, f);
    int too_long = request_length == MAX_DATA && fgetc(f) != EOF;
    fclose(f);
    if (too_long) {
        fprintf(stderr, "bench-client: %s is over %d bytes\n", request_file, MAX_DATA);
        return 2;
    }
    /* Each framed request takes at least its 4-byte length. */
    request_offsets = malloc(sizeof(size_t) * (request_length / 4 + 1));
    request_lengths = malloc(sizeof(size_t) * (request_length / 4 + 1));
    if (!request_offsets || !request_lengths) return 2;
    if (!framed) {
        request_offsets[0] = 0;
        request_lengths[0] = longest_request = request_length;
        request_count = 1;
    } else {
        for (size_t at = 0; at < request_length;) {
            if (request_length - at < 4) {
                fprintf(stderr, "bench-client: %s: a length cut short at byte %zu\n", request_file, at);
                return 2;
            }
            const uint8_t *p = request_data + at;
            size_t length = be32_get(p);
            if (length > request_length - at - 4) {
                fprintf(stderr, "bench-client: %s: request %zu at byte %zu claims %zu bytes, past the end\n",
                        request_file, request_count + 1, at, length);
                return 2;
            }
            request_offsets[request_count] = at + 4;
            request_lengths[request_count++] = length;
            if (length > longest_request) longest_request = length;
            at += 4 + length;
        }
        if (request_count == 0) {
            fprintf(stderr, "bench-client: %s holds no requests\n", request_file);
            return 2;
        }
    }

    /* Opened before the load, so that a bad path costs nothing. */
    FILE *samples = NULL;
    if (samples_file && !(samples = fopen(samples_file, "w"))) {
        perror(samples_file);
        return 2;
    }

    worker *workers = aligned_alloc(_Alignof(worker), (size_t)connections * sizeof(worker));
    if (!workers) return 2;
    memset(workers, 0, (size_t)connections * sizeof(worker));
    for (int i = 0; i < connections; i++) workers[i].fd = -1;
    double started = now_seconds();
    if (single_thread) {
        run_single_thread(workers);
    } else {
        for (int i = 0; i < connections; i++) pthread_create(&workers[i].thread, NULL, run_worker, &workers[i]);
        for (int i = 0; i < connections; i++) pthread_join(workers[i].thread, NULL);
    }
    double elapsed = now_seconds() - started;

    size_t n = 0;
    long errors = 0;
    int failed = 0;
    for (int i = 0; i < connections; i++) {
        n += workers[i].count;
        errors += workers[i].errors;
        failed |= workers[i].failed;
    }
    double *all = malloc((n ? n : 1) * sizeof(double));
    size_t k = 0;
    for (int i = 0; i < connections; i++) {
        memcpy(all + k, workers[i].latencies, workers[i].count * sizeof(double));
        k += workers[i].count;
    }
    if (samples) {
        for (size_t i = 0; i < n; i++) fprintf(samples, "%.2f\n", all[i]);
        int failed_write = ferror(samples);
        if (fclose(samples) != 0 || failed_write) {
            fprintf(stderr, "bench-client: could not write %s\n", samples_file);
            unlink(samples_file);
            return 1;
        }
    }
    qsort(all, n, sizeof(double), compare);
    printf("{\"calls\": %zu, \"errors\": %ld, \"seconds\": %.6f, \"calls_per_second\": %.1f, "
           "\"p50_us\": %.2f, \"p90_us\": %.2f, \"p99_us\": %.2f, \"max_us\": %.2f}\n",
           n, errors, elapsed, elapsed > 0 ? (double)(n + (size_t)(warmup * connections)) / elapsed : 0,
           percentile(all, n, 0.50), percentile(all, n, 0.90), percentile(all, n, 0.99), n ? all[n - 1] : 0);
    return failed || errors ? 1 : 0;
}
