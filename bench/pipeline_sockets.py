#!/usr/bin/env python3
"""bench/pipeline_sockets.py - one `fdwatch pipeline --once` snapshot over sockets
against the same over pipes.

    bench/pipeline_sockets.py [FDWATCH] [RUNS]

Three sets of 50 idle processes (each sleeping in pause(2)) in a ring, each process
joined to the next by 2 links: 100 links, 200 fds per set, made of pipes, UNIX
socketpairs or loopback TCP connections. The runs interleave (pipe, unix, tcp, pipe,
...), RUNS each (default 31); each is the wall time of the whole fdwatch process
(`pipeline --once --format json` on the 50 pids), checked to have found 100 links.
Prints the median and p90 of each and the ratios of the medians to the pipes'.
FDWATCH defaults to the release build (cargo build --release first).
"""
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

PROCS, PER_PAIR = 50, 2


def links(kind):
    """One connected pair of fds: (end for process i, end for process i+1)."""
    if kind == "pipe":
        return os.pipe()
    if kind == "unix":
        a, b = socket.socketpair()
    else:
        lst = socket.socket()
        lst.bind(("127.0.0.1", 0))
        lst.listen()
        a = socket.create_connection(lst.getsockname())
        b, _ = lst.accept()
        lst.close()
    return a.detach(), b.detach()


def ring(kind):
    """PROCS sleeping children, each holding its ends of the links to its neighbours."""
    held = [[] for _ in range(PROCS)]
    for i in range(PROCS):
        for _ in range(PER_PAIR):
            a, b = links(kind)
            held[i].append(a)
            held[(i + 1) % PROCS].append(b)
    every = [fd for h in held for fd in h]
    pids = []
    for i in range(PROCS):
        pid = os.fork()
        if pid == 0:
            for fd in every:
                if fd not in held[i]:
                    os.close(fd)
            signal.pause()
            os._exit(0)
        pids.append(pid)
    for fd in every:
        os.close(fd)
    return pids


def snapshot(fdwatch, pids):
    t = time.perf_counter()
    out = subprocess.run(
        [fdwatch, "pipeline", "--once", "--format", "json", *map(str, pids)],
        stdout=subprocess.PIPE,
        check=True,
    ).stdout
    took = time.perf_counter() - t
    n = len(json.loads(out)["links"])
    if n != PROCS * PER_PAIR:
        sys.exit(f"expected {PROCS * PER_PAIR} links, fdwatch found {n}")
    return took


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    fdwatch = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else os.path.join(
        root, "target/x86_64-unknown-linux-gnu/release/fdwatch")
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 31
    kinds = ["pipe", "unix", "tcp"]
    sets = {k: ring(k) for k in kinds}
    times = {k: [] for k in kinds}
    try:
        for k in kinds:  # one warm-up each
            snapshot(fdwatch, sets[k])
        for _ in range(runs):
            for k in kinds:
                times[k].append(snapshot(fdwatch, sets[k]))
    finally:
        for pids in sets.values():
            for p in pids:
                os.kill(p, signal.SIGKILL)
                os.waitpid(p, 0)
    base = statistics.median(times["pipe"])
    print(f"{PROCS} processes, {PROCS * PER_PAIR} links each, {runs} interleaved runs")
    for k in kinds:
        t = sorted(times[k])
        med, p90 = statistics.median(t), t[int(0.9 * (len(t) - 1))]
        print(f"{k:5} median {med * 1e3:6.2f} ms  p90 {p90 * 1e3:6.2f} ms  "
              f"x{med / base:.2f} of pipes")


if __name__ == "__main__":
    main()
