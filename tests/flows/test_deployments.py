"""A real Prefect server on 127.0.0.1, a served deployment, a run triggered through the REST
API the UI uses, and the artifacts it produced. The server is shut down at the end."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from flows.deployments import config_parameters, deployment_specs, runner_deployments
from portflow.config import KNOBS, PipelineConfig, load_config, with_overrides

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent


def test_prefect_yaml_declares_the_scheduled_and_research_deployments():
    specs = {spec["name"]: spec for spec in deployment_specs()}
    assert specs["live-refresh"]["parameters"] == {"config": "mag7"}
    (schedule,) = specs["live-refresh"]["schedules"]
    assert schedule == {"cron": "30 17 * * 1-5", "timezone": "America/New_York", "active": True}
    assert specs["research-default"]["parameters"] == {"config": "default"}
    for spec in specs.values():
        assert spec["entrypoint"] == "flows/pipeline.py:pipeline"
    deployments = {d.name: d for d in runner_deployments()}
    assert deployments["live-refresh"].schedules[0].schedule.timezone == "America/New_York"
    schema = deployments["research-default"]._parameter_openapi_schema.model_dump()
    assert "Config name" in schema["properties"]["config"]["description"]


def test_deployment_forms_are_prefilled_with_the_config_values():
    """The UI's run form shows each deployment's config values, not None, and submitting
    the form unchanged runs exactly that config (so every artifact version is the same)."""
    deployments = {d.name: d for d in runner_deployments()}
    for name, config in (("research-default", "default"), ("live-refresh", "mag7")):
        parameters = deployments[name].parameters
        settings = load_config(config)
        assert parameters["config"] == config
        assert parameters["strategies"] == settings.strategies()
        assert parameters["hedge_beta_window"] == settings.hedge.beta_window
        assert parameters["hedge_rebalance_every"] == settings.hedge.rebalance_every
        assert parameters["allocation_rebalance"] == settings.allocation.rebalance
        assert parameters["risk_aversions"] == list(settings.optimization.sweep.gammas)
        assert parameters["tev_budgets"] == list(settings.optimization.sweep.tev_budgets)
        assert "start" not in parameters and "store_root" not in parameters
        assert set(parameters) == {"config", "strategies", *KNOBS}
        overrides = {KNOBS[k]: v for k, v in parameters.items() if k in KNOBS}
        same = with_overrides(settings, strategies=parameters["strategies"], settings=overrides)
        assert same == settings
    # A knob whose section the config lacks is left empty.
    minimal = PipelineConfig(name="x", hedge={})
    assert config_parameters(minimal) == {
        "strategies": ["hedge"],
        "hedge_beta_window": minimal.hedge.beta_window,
        "hedge_rebalance_every": minimal.hedge.rebalance_every,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def request(api: httpx.Client, method: str, path: str, log: Path, **kwargs) -> dict | list:
    """Call the API and return its JSON; retry a server error (SQLite on a busy 2-core CI
    machine can report a locked database), and fail with the body and the server log."""
    for attempt in range(8):
        response = api.request(method, path, **kwargs)
        if response.status_code < 500:
            break
        time.sleep(min(1 + attempt, 5))
    assert response.is_success, (
        f"{method} {path} -> {response.status_code}: {response.text}\n"
        f"server log:\n{log.read_text()[-4000:]}"
    )
    return response.json()


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect-server-home")
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": url}
    log = open(home / "server.log", "w")  # noqa: SIM115 - closed at teardown
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def healthy():
        try:
            return httpx.get(f"{url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            assert server.poll() is None, (home / "server.log").read_text()
            return False

    try:
        wait_for(healthy, 120, "the Prefect server")
        yield url, env, home / "server.log"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        log.close()


def test_deployment_triggered_through_the_api_matches_the_cli(prefect_server, copy_store):
    """Both runs start from copies of the session's default-run store: if the deployment's
    parameters resolve to the same config as the CLI's, every stage has the same version
    and nothing is recomputed."""
    url, env, log = prefect_server
    served = subprocess.Popen(
        [str(BIN / "portflow"), "serve", "research-default", "--no-server"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        with httpx.Client(base_url=url, timeout=30) as api:

            def deployment():
                response = api.get("/deployments/name/pipeline/research-default")
                return response.json() if response.status_code == 200 else None

            deployment_id = wait_for(deployment, 90, "the served deployment")["id"]
            store = copy_store("from-deployment")
            run = request(
                api,
                "POST",
                f"/deployments/{deployment_id}/create_flow_run",
                log,
                json={"parameters": {"config": "default", "store_root": str(store)}},
            )

            def finished():
                state = request(api, "GET", f"/flow_runs/{run['id']}", log)["state"]
                return state if state["type"] in ("COMPLETED", "FAILED", "CRASHED") else None

            state = wait_for(finished, 240, "the flow run")
            assert state["type"] == "COMPLETED", state
            artifacts = request(
                api,
                "POST",
                "/artifacts/filter",
                log,
                json={"artifacts": {"flow_run_id": {"any_": [run["id"]]}}},
            )
            summary = [a for a in artifacts if a["key"] == "pipeline-summary"]
            assert summary and "| monthly_returns |" in summary[0]["data"]
    finally:
        served.send_signal(signal.SIGTERM)
        served.wait(timeout=60)

    cli_store = copy_store("from-cli")
    cli = subprocess.run(
        [str(BIN / "portflow"), "run", "default", "--store", str(cli_store)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 0, cli.stderr[-3000:]

    def latest_stages(root):
        records = [json.loads(p.read_text()) for p in (root / "_runs").glob("*.json")]
        return max(records, key=lambda r: r["started_at"])["stages"]

    from_deployment, from_cli = latest_stages(store), latest_stages(cli_store)
    assert [(s["scope"], s["stage"], s["version"]) for s in from_deployment] == [
        (s["scope"], s["stage"], s["version"]) for s in from_cli
    ]
    assert {s["status"] for s in from_deployment + from_cli} == {"reused"}
