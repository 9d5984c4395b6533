/*
 * A small in-process server for the transport tests: listens on one address, runs one thread
 * per connection, and answers a handful of test frame types (echo, sink/count, fd and region
 * checks, a delayed reply). It records how each session ended so tests can assert on it.
 */
#ifndef TFUSE_TEST_ECHO_SERVER_H
#define TFUSE_TEST_ECHO_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "transport.h"

enum test_frame_type {
    T_ECHO = 1,          /* reply T_ECHO_REPLY with the same id, flags and payload */
    T_ECHO_REPLY = 2,
    T_SINK = 3,          /* no reply; counted */
    T_COUNT = 4,         /* reply with the number of T_SINK frames (u64) and their bytes (u64) */
    T_TAKE_FD = 5,       /* take fd tagged `id`, write "fd-ok" into it; reply status (i32) */
    T_REGION = 6,        /* payload {id, offset, len} u64: sum the bytes, then invert them;
                            reply {status i32, pad, sum u64} */
    T_DELAY = 7,         /* payload: u32 milliseconds; sleep, then reply empty */
    T_STATUS = 8,        /* a reply carrying a status */
    T_CLOSE = 9,         /* payload: u32 ms; sleep, then close the connection without reply */
};

#define ECHO_MAX_SESSIONS 16

struct echo_server {
    struct tf_listener *listener;
    char address[300];
    const char *token;                 /* required token (NULL: accept any) */
    uint64_t max_frame;                /* server-side frame bound (0: default) */
    int handshake_timeout_ms;          /* 0: 5000; may be set between start and first client */
    atomic_int stop;
    pthread_t accept_thread;
    pthread_t sessions[ECHO_MAX_SESSIONS];
    atomic_int nsessions;
    pthread_mutex_t lock;
    int ended;                         /* sessions that ended */
    int last_code;                     /* how the last one ended (tf_err) */
    char last_error[300];
    struct tf_hello last_hello;
    struct timespec last_closed_at;    /* CLOCK_MONOTONIC, when the last session was closed */
};

/* Starts a server on address ("tcp:127.0.0.1:0" picks a port; read srv->address). */
int echo_server_start(struct echo_server *srv, const char *address, const char *token,
                      uint64_t max_frame);
void echo_server_stop(struct echo_server *srv);
/* Waits up to timeout_ms (times TFUSE_TEST_TIMEOUT_SCALE) until `count` sessions have ended;
 * returns 1 if they did. */
int echo_server_wait_ended(struct echo_server *srv, int count, int timeout_ms);

/* How the last session ended: returns its tf_err and copies its error text (under the lock). */
int echo_server_last(struct echo_server *srv, char *error, size_t len);

#endif
