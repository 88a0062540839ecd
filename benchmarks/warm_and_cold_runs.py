"""A warm re-run and a cold default run of ``portflow run default``, against the time of
``python -c "import prefect"`` measured in the same run.

Issue 12's targets: a warm re-run (every stage reused) within 3x the import floor when a
Prefect server is running (``PREFECT_API_URL`` set), within 5x with the temporary server
the CLI starts otherwise, and a cold default run (empty store) within 60 s.

Every run is the command a user types (``portflow run default --store STORE``) in a new
process, so the figures hold whatever the CLI does to reach Prefect:

1. the import floor: ``python -c "import prefect"`` (best of ``--repeat``), and, for the
   record, ``import flows.pipeline``;
2. the cold run: an empty store, no ``PREFECT_API_URL`` (what ``make run`` does), once;
   the slowest stages of its run record are printed;
3. warm re-runs on that store without ``PREFECT_API_URL`` (best of ``--repeat``);
4. warm re-runs with a ``prefect server start`` on a free port and ``PREFECT_API_URL``
   pointing to it (best of ``--repeat``), then one more under ``cProfile``, broken down
   into the phases that remain (imports, the Prefect engine, waiting for the stage tasks,
   the sweep subflow, the Prefect artifacts, the report, printing).

Each mode has its own temporary ``PREFECT_HOME``. On a machine shared with other work,
read the ratios of one run, not seconds across runs.

Run: ``.venv/bin/python benchmarks/warm_and_cold_runs.py`` (about 3-4 minutes on 2 cores);
``--no-cold`` skips the cold run, ``--cold-with-server`` adds a cold run against the
running server.
"""

from __future__ import annotations

import argparse
import os
import pstats
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WARM_TARGET = {"running server": 3.0, "temporary server": 5.0}
COLD_TARGET_S = 60.0
PHASES = [
    ("everything (main thread)", "portflow_run.py", "<module>"),
    ("  import portflow.cli", "portflow/cli.py", "<module>"),
    ("  the run command", "portflow/cli.py", "run"),
    ("    import flows.pipeline", "flows/pipeline.py", "<module>"),
    ("    the pipeline flow, Prefect engine included", "prefect/flows.py", "__call__"),
    ("      the flow's body", "flows/pipeline.py", "pipeline"),
    ("        ingests and shared stages", "flows/pipeline.py", "ingest_universes"),
    ("        optimization branch (sweep subflow)", "flows/pipeline.py", "optimization_stages"),
    ("        waiting for the stage tasks", "tasks/run.py", "rows"),
    ("        Prefect artifacts", "flows/pipeline.py", "publish_artifacts"),
    ("        report and index", "tasks/report.py", "report_task"),
    ("    printing the result tables", "portflow/cli.py", "print_run"),
]
"""(label, file suffix, function) of the phases a profile is broken into (cumulative
seconds in the main thread; stage tasks run in worker threads and show as waiting)."""


def environment(home: Path, api_url: str | None = None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PREFECT_API_URL", "PORTFLOW_STORE")
    }
    env |= {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    }
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def seconds(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return time.perf_counter() - started


def best_of(repeat: int, command: list[str], env: dict[str, str]) -> float:
    return min(seconds(command, env) for _ in range(repeat))


def run_command(store: Path) -> list[str]:
    return [str(BIN / "portflow"), "run", "default", "--store", str(store)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """A ``prefect server start`` on a free port for the block; yields its API URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    log = open(home / "server.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=environment(home),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped with everything it starts
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prefect server did not start; see {home / 'server.log'}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


def slowest_stages(store: Path, count: int = 6) -> list[tuple[str, float]]:
    """The slowest stages of the newest run record of ``store``."""
    from storage import ArtifactStore

    record = ArtifactStore(str(store)).runs()[-1]
    stages = [(f"{s['scope']} {s['stage']}", s["seconds"]) for s in record.stages]
    return sorted(stages, key=lambda item: -item[1])[:count]


DRIVER = """import sys

from portflow.cli import app

try:
    app(sys.argv[1:])
except SystemExit:
    pass
"""
"""The ``portflow`` command as a script, for ``python -m cProfile``."""


def profile(store: Path, env: dict[str, str], work: Path) -> list[tuple[str, float | None]]:
    """One warm run in a process under cProfile: seconds of each of :data:`PHASES`."""
    driver, output = work / "portflow_run.py", work / "warm.prof"
    driver.write_text(DRIVER)
    command = [sys.executable, "-m", "cProfile", "-o", str(output), str(driver)]
    seconds([*command, *run_command(store)[1:]], env)
    stats = pstats.Stats(str(output)).stats
    found = []
    for label, suffix, function in PHASES:
        times = [
            cumulative
            for (path, _, name), (_, _, _, cumulative, _) in stats.items()
            if name == function and path.endswith(suffix)
        ]
        found.append((label, max(times) if times else None))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-cold", action="store_true", help="skip the cold run")
    parser.add_argument(
        "--cold-with-server", action="store_true", help="also a cold run on a running server"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="portflow-bench-"))
    homes = {name: work / name for name in ("floor", "temporary", "server", "client")}
    for home in homes.values():
        home.mkdir()
    store = work / "store"
    print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; scratch {work}\n")

    python = [sys.executable, "-c"]
    floor = best_of(args.repeat, [*python, "import prefect"], environment(homes["floor"]))
    pipeline_import = best_of(
        args.repeat, [*python, "import flows.pipeline"], environment(homes["floor"])
    )
    rows = [("python -c 'import prefect' (the floor)", floor, None)]
    rows.append(("python -c 'import flows.pipeline'", pipeline_import, None))

    temporary = environment(homes["temporary"])
    if args.no_cold:
        seconds(run_command(store), temporary)  # fills the store
    else:
        cold = seconds(run_command(store), temporary)
        rows.append(("cold default run, temporary server", cold, COLD_TARGET_S / floor))
        slow = slowest_stages(store)
    warm = best_of(args.repeat, run_command(store), temporary)
    rows.append(("warm re-run, temporary server", warm, WARM_TARGET["temporary server"]))

    with prefect_server(homes["server"]) as url:
        client = environment(homes["client"], url)
        warm_server = best_of(args.repeat, run_command(store), client)
        rows.append(("warm re-run, running server", warm_server, WARM_TARGET["running server"]))
        phases = profile(store, client, work)
        if args.cold_with_server:
            cold_store = work / "cold-store"
            cold_server = seconds(run_command(cold_store), client)
            rows.append(("cold default run, running server", cold_server, COLD_TARGET_S / floor))

    print(f"{'measurement':42} {'seconds':>8} {'x floor':>8} {'target':>8}")
    for label, value, target in rows:
        ratio = value / floor
        goal = f"{target:.1f}x" if target else ""
        verdict = "" if target is None else ("ok" if ratio <= target else "MISSED")
        print(f"{label:42} {value:8.2f} {ratio:7.2f}x {goal:>8} {verdict}")
    if not args.no_cold:
        print("\nslowest stages of the cold run (seconds in their task):")
        for name, spent in slow:
            print(f"  {name:50} {spent:6.2f}")
    print("\nwhere a warm re-run with a running server spends its time (main thread, cProfile):")
    for label, spent in phases:
        print(f"  {label:50} {'-' if spent is None else f'{spent:6.2f}'}")


if __name__ == "__main__":
    main()
