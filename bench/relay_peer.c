/* relay_peer.c - the two ends for bench/relay.sh.
 *   relay_peer server PORT            accept forever: read to EOF, then send back as many
 *                                     bytes as were read, close
 *   relay_peer client PORT BYTES      connect, send BYTES, SHUT_WR, read to EOF; prints
 *                                     "up_s down_s" (seconds for each way: up ends when
 *                                     the first byte comes back, i.e. when the server has
 *                                     read all of them, not when the last write returned,
 *                                     which leaves the bytes still in flight (socket
 *                                     buffers, a relay's buffers) to the down figure)
 *   relay_peer conns PORT N           N sequential connect / 1 byte / read / close; prints s
 * Build: gcc -O2 -o relay_peer relay_peer.c */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char buf[1 << 20];

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int connect_to(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("connect");
        exit(1);
    }
    return s;
}

static long long drain(int s)
{
    long long n = 0;
    ssize_t r;
    while ((r = read(s, buf, sizeof buf)) > 0)
        n += r;
    return n;
}

static void send_n(int s, long long n)
{
    while (n > 0) {
        ssize_t w = write(s, buf, n < (long long)sizeof buf ? n : (long long)sizeof buf);
        if (w <= 0) {
            perror("write");
            exit(1);
        }
        n -= w;
    }
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 3 && !strcmp(argv[1], "server")) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
        inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1024) < 0) {
            perror("listen");
            return 1;
        }
        for (;;) {
            int s = accept(l, NULL, NULL);
            if (s < 0)
                continue;
            long long n = drain(s);
            send_n(s, n);
            close(s);
        }
    }
    if (argc >= 4 && !strcmp(argv[1], "client")) {
        int s = connect_to(atoi(argv[2]));
        long long n = atoll(argv[3]);
        double t0 = now();
        send_n(s, n);
        shutdown(s, SHUT_WR);
        /* The server answers only after its end of file: the first byte back marks the
         * end of the upload. Down is timed from there, over the rest. */
        ssize_t first = read(s, buf, 1);
        double t1 = now();
        long long back = (first > 0 ? first : 0) + drain(s);
        double t2 = now();
        if (back != n) {
            fprintf(stderr, "got back %lld of %lld\n", back, n);
            return 1;
        }
        printf("%.4f %.4f\n", t1 - t0, t2 - t1);
        return 0;
    }
    if (argc >= 4 && !strcmp(argv[1], "conns")) {
        int port = atoi(argv[2]), n = atoi(argv[3]);
        double t0 = now();
        for (int i = 0; i < n; i++) {
            int s = connect_to(port);
            send_n(s, 1);
            shutdown(s, SHUT_WR);
            if (drain(s) != 1) {
                fprintf(stderr, "connection %d: no echo\n", i);
                return 1;
            }
            close(s);
        }
        printf("%.4f\n", now() - t0);
        return 0;
    }
    fprintf(stderr, "usage: relay_peer server PORT | client PORT BYTES | conns PORT N\n");
    return 2;
}
