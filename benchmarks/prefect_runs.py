"""Prefect start-up and concurrent runs, against ``python -c "import prefect"`` in the same run.

1. **Start-up** (rounds interleave the commands, so load affects them alike; median and
   worst of ``--repeat``), each a fresh process:

   * ``import prefect``: the baseline;
   * ``prefect_api`` ready, warm: a temporary server from the cached template database;
   * ``prefect_api`` ready, cold: an empty cache, so the server migrates a new database;
   * a trivial flow through ``prefect_api`` (warm), from the process start to its end;
   * the same flow on Prefect's own ephemeral server (fresh ``PREFECT_HOME``, start-up
     timeout 90 s, as the Makefile set it): how ``portflow run`` started before;
   * ``portflow run CONFIG`` with every stage reused, on its temporary server and on a
     running server (``PREFECT_API_URL``).

2. **Under load** (``--burners`` CPU-bound processes): ``--runs`` trivial flows at once on
   Prefect's ephemeral server sharing one ``PREFECT_HOME`` (how runs started before), the
   same through ``prefect_api``, then ``--runs`` concurrent ``portflow run CONFIG`` into one
   new store, each with its own temporary server. Reports exit codes and times, whether
   every run recorded the same version of every stage, and how many of their processes
   (servers included) were left afterwards, found in the process table by a marker in
   their environment.

Run: ``.venv/bin/python benchmarks/prefect_runs.py`` (a few minutes; ``--help``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from portflow.prefect_server import prefect_api

PYTHON = sys.executable
PORTFLOW = str(Path(sys.executable).with_name("portflow"))
MARKER = "PORTFLOW_BENCH_MARKER"

TRIVIAL_FLOW = """
from prefect import flow

@flow
def trivial():
    return 1
"""

READY = """
from portflow.prefect_server import prefect_api
with prefect_api(discover=False):
    pass
"""

FLOW_ON_PREFECT_API = """
from portflow.prefect_server import prefect_api
with prefect_api(discover=False, wait=False) as api:
    from prefect import flow

    @flow
    def trivial():
        return 1

    api.ready()
    trivial()
"""


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return env | {
        "PORTFLOW_PREFECT_DISCOVER": "0",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        **extra,
    }


def timed(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900)
    return time.perf_counter() - started, done.returncode


def startup(repeat: int, config: list[str], scratch: Path) -> None:
    home = scratch / "home"
    store = str(scratch / "warm-store")
    warm = base_env(PREFECT_HOME=str(home))
    subprocess.run([PYTHON, "-c", READY], env=warm, check=True)  # the template exists
    subprocess.run(
        [PORTFLOW, "run", *config, "--store", store], env=warm, check=True, capture_output=True
    )

    def fresh_cache() -> dict[str, str]:
        return base_env(PREFECT_HOME=str(home), PORTFLOW_CACHE_DIR=tempfile.mkdtemp(dir=scratch))

    def fresh_home() -> dict[str, str]:
        return base_env(
            PREFECT_HOME=tempfile.mkdtemp(dir=scratch),
            PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="90",
        )

    with prefect_api(discover=False) as running:  # a server for the configured case
        configured = base_env(PREFECT_HOME=str(home), PREFECT_API_URL=running.url)
        commands = {
            "import prefect": lambda: ([PYTHON, "-c", "import prefect"], warm),
            "prefect_api ready, warm": lambda: ([PYTHON, "-c", READY], warm),
            "prefect_api ready, cold": lambda: ([PYTHON, "-c", READY], fresh_cache()),
            "trivial flow, prefect_api": lambda: ([PYTHON, "-c", FLOW_ON_PREFECT_API], warm),
            "trivial flow, Prefect's ephemeral": lambda: (
                [PYTHON, "-c", TRIVIAL_FLOW + "trivial()"],
                fresh_home(),
            ),
            "portflow run (reused), temporary": lambda: (
                [PORTFLOW, "run", *config, "--store", store],
                warm,
            ),
            "portflow run (reused), running server": lambda: (
                [PORTFLOW, "run", *config, "--store", store],
                configured,
            ),
        }
        results: dict[str, list[tuple[float, int]]] = {name: [] for name in commands}
        for _ in range(repeat):
            for name, command in commands.items():
                results[name].append(timed(*command()))
    baseline = statistics.median(t for t, _ in results["import prefect"])
    print(f"\n1. Start-up, {repeat} rounds (seconds; ratio of medians to `import prefect`)")
    print(f"{'':40} {'median':>8} {'worst':>8} {'ratio':>7} {'failed':>7}")
    for name, runs in results.items():
        times = [t for t, _ in runs]
        failed = sum(code != 0 for _, code in runs)
        median = statistics.median(times)
        print(
            f"{name:40} {median:8.2f} {max(times):8.2f} {median / baseline:7.1f} "
            f"{failed:>4}/{len(runs)}"
        )


def marked(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if f"{MARKER}={marker}".encode() in environ and state != "Z":
            found.append(int(entry))
    return found


def together(commands: list[list[str]], env: dict[str, str], scratch: Path) -> list[tuple]:
    """Start the commands at once; (exit code, seconds to its end, last line of stderr)."""
    started = time.perf_counter()
    logs = [scratch / f"{uuid.uuid4().hex}.log" for _ in commands]
    outputs = [log.open("w") for log in logs]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=output)
        for command, output in zip(commands, outputs, strict=True)
    ]
    ended: dict[int, float] = {}
    while len(ended) < len(processes):
        for index, process in enumerate(processes):
            if index not in ended and process.poll() is not None:
                ended[index] = time.perf_counter() - started
        time.sleep(0.2)
    for output in outputs:
        output.close()
    results = []
    for index, (process, log) in enumerate(zip(processes, logs, strict=True)):
        lines = log.read_text().strip().splitlines()
        last = lines[-1][:150] if process.returncode and lines else ""
        results.append((process.returncode, ended[index], last))
    return results


def concurrent(runs: int, burners: int, config: list[str], scratch: Path) -> None:
    """Under load: ``runs`` trivial flows at once on Prefect's ephemeral server (one shared
    PREFECT_HOME, as before) and through prefect_api, then ``runs`` portflow runs."""
    load = [subprocess.Popen([PYTHON, "-c", "while True: pass"]) for _ in range(burners)]
    try:
        time.sleep(2)
        baseline, _ = timed([PYTHON, "-c", "import prefect"], base_env())
        print(
            f"\n2. Under load: {burners} CPU burners on {os.cpu_count()} cores "
            f"(`import prefect` under this load: {baseline:.2f} s)"
        )
        home = str(scratch / "shared-home")
        cases = {
            f"{runs} trivial flows at once, Prefect's ephemeral, one PREFECT_HOME": (
                [PYTHON, "-c", TRIVIAL_FLOW + "trivial()"],
                base_env(PREFECT_HOME=home, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="90"),
            ),
            f"{runs} trivial flows at once, prefect_api": (
                [PYTHON, "-c", FLOW_ON_PREFECT_API],
                base_env(PREFECT_HOME=str(scratch / "home")),
            ),
        }
        for name, (command, env) in cases.items():
            marker = uuid.uuid4().hex
            ended = together([command] * runs, env | {MARKER: marker}, scratch)
            report(name, ended, left(marker))
        store = scratch / "shared-store"
        marker = uuid.uuid4().hex
        env = base_env(PREFECT_HOME=str(scratch / "home"), **{MARKER: marker})
        command = [PORTFLOW, "run", *config, "--store", str(store)]
        ended = together([command] * runs, env, scratch)
    finally:
        for burner in load:
            burner.send_signal(signal.SIGKILL)
            burner.wait()
    records = [json.loads(p.read_text()) for p in sorted((store / "_runs").glob("*.json"))]
    stages = {
        tuple((s["scope"], s["stage"], s["version"]) for s in record["stages"])
        for record in records
    }
    report(f"{runs} `portflow run {' '.join(config)}` at once into one store", ended, left(marker))
    same = len(stages) == 1 and len(records) == runs
    print(f"  {len(records)} run records; every stage has the same version in all: {same}")


def left(marker: str) -> list[int]:
    """The marked processes still alive 30 s after their commands ended."""
    deadline = time.monotonic() + 30
    while (alive := marked(marker)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return alive


def report(name: str, ended: list[tuple], alive: list[int]) -> None:
    ok = sum(code == 0 for code, _, _ in ended)
    times = ", ".join(f"{seconds:.0f}" for _, seconds, _ in ended)
    print(
        f"  {name}: {ok}/{len(ended)} succeeded, ended after {times} s; processes left: "
        f"{len(alive)}"
    )
    for code, _, last in ended:
        if code:
            print(f"    exit {code}: {last}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds of start-up timings")
    parser.add_argument("--runs", type=int, default=4, help="concurrent portflow runs")
    parser.add_argument("--burners", type=int, default=4, help="CPU-bound load processes")
    parser.add_argument(
        "--config",
        nargs="+",
        default=["default", "--strategy", "hedge"],
        help="config and options of the portflow runs",
    )
    parser.add_argument("--skip-startup", action="store_true")
    parser.add_argument("--skip-concurrent", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="portflow-bench-") as scratch:
        if not args.skip_startup:
            startup(args.repeat, args.config, Path(scratch))
        if not args.skip_concurrent:
            concurrent(args.runs, args.burners, args.config, Path(scratch))


if __name__ == "__main__":
    main()
