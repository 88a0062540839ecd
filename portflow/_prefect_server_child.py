"""Child process of :mod:`portflow.prefect_server`: a Prefect API on an inherited socket.

It exits when its parent dies, even by SIGKILL: at EOF on the watchdog pipe (the parent
holds its only write end) and, on Linux, by PR_SET_PDEATHSIG. Run as a script, so it
imports nothing of portflow.
"""

import argparse
import gc
import os
import signal
import socket
import sys
import threading
import time


def exit_with_parent(watch_fd: int, parent_pid: int, pdeathsig: bool) -> None:
    """Stop this server (gracefully, then for good) as soon as the parent is gone."""
    if pdeathsig and sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl: nobody to serve
        os._exit(0)

    def watchdog() -> None:
        try:
            while os.read(watch_fd, 4096):
                pass
        except OSError:
            pass
        os.kill(os.getpid(), signal.SIGTERM)  # EOF: the parent is gone; uvicorn stops
        time.sleep(10)
        os._exit(70)

    threading.Thread(target=watchdog, name="parent-watchdog", daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fd", type=int, required=True, help="the bound listening socket")
    parser.add_argument("--watch-fd", type=int, required=True, help="read end of the pipe")
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--pdeathsig", type=int, default=1, help="1: also PR_SET_PDEATHSIG")
    parser.add_argument("--log-level", default="error", help="uvicorn's log level")
    args = parser.parse_args()
    exit_with_parent(args.watch_fd, args.parent_pid, bool(args.pdeathsig))

    # The server's modules load with the cyclic garbage collector off (about 18% of the
    # start on a 2-core machine: imports make many objects and few cycles), then those
    # objects are frozen out of its reach.
    gc.disable()
    import prefect.server.api.server  # noqa: F401 (what the app factory below imports)
    import uvicorn

    gc.freeze()
    gc.enable()

    config = uvicorn.Config(
        "prefect.server.api.server:create_app",
        factory=True,
        lifespan="on",
        log_level=args.log_level,
        timeout_graceful_shutdown=5,
    )
    sock = socket.socket(fileno=args.fd)  # family and type read from the descriptor
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
