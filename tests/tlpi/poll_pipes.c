/* poll_pipes.c: TLPI Listing 63-2, as the book's program prints (tests/tlpi.rs).
 *
 *   poll_pipes fd...
 *
 * The book's program makes num-pipes pipes and writes to randomly chosen ones; here
 * the test makes the pipes, writes to some (or closes their write ends) and passes
 * the read ends, so fdwatch can be given the very same fds. Then, as in the book: one
 * poll() with POLLIN on each, timeout 0, `poll() returned: N` and `Readable: %3d` for
 * each fd with POLLIN in revents, in the order the fds were given. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main(int argc, char *argv[])
{
    int numPipes, j, ready;
    struct pollfd *pollFd;

    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        fprintf(stderr, "Usage: %s fd...\n", argv[0]);
        exit(EXIT_FAILURE);
    }

    numPipes = argc - 1;
    pollFd = calloc(numPipes, sizeof(struct pollfd));
    if (pollFd == NULL) {
        perror("calloc");
        exit(EXIT_FAILURE);
    }

    /* Build the file descriptor list to be supplied to poll(). This list
       is set to contain the file descriptors for the read ends of all of
       the pipes. */

    for (j = 0; j < numPipes; j++) {
        char *end;
        pollFd[j].fd = (int) strtol(argv[j + 1], &end, 10);
        if (*end != '\0' || end == argv[j + 1]) {
            fprintf(stderr, "not an fd: %s\n", argv[j + 1]);
            exit(EXIT_FAILURE);
        }
        pollFd[j].events = POLLIN;
    }

    ready = poll(pollFd, numPipes, 0);
    if (ready == -1) {
        perror("poll");
        exit(EXIT_FAILURE);
    }

    printf("poll() returned: %d\n", ready);

    /* Check which pipes have data available for reading */

    for (j = 0; j < numPipes; j++)
        if (pollFd[j].revents & POLLIN)
            printf("Readable: %3d\n", pollFd[j].fd);

    exit(EXIT_SUCCESS);
}
