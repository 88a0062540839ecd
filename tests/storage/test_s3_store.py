"""The store on a real S3-compatible server: moto's, on loopback, started by the tests.

The endpoint and credentials reach s3fs only through the store's options (``--store-option``,
``store.options``): the AWS environment points at a closed port and at no credentials, so a
store that ignored its options would fail. Nothing the pipeline writes holds the secret.
"""

import json
import logging
import os

import pytest
from typer.testing import CliRunner

from portflow.cli import app
from portflow.config import PipelineConfig
from storage import ArtifactStore, StoreLocation

KEY, SECRET = "portflow-test-key", "portflow-test-secret-8d1f"
SETTINGS = {
    "name": "s3-hedge",
    "data": {"source": "synthetic", "n_assets": 3, "n_days": 300, "seed": 3},
    "hedge": {"beta_window": 60, "rebalance_every": 20},
}


@pytest.fixture
def s3(monkeypatch, tmp_path):
    """A moto S3 server on a free loopback port with an empty bucket ``portflow``; yields
    the store options that reach it (endpoint, key, secret)."""
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # closed: options must win
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one INFO line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        options = {"endpoint_url": f"http://{host}:{port}", "key": KEY, "secret": SECRET}
        client = boto3.client(
            "s3",
            endpoint_url=options["endpoint_url"],
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
            region_name="us-east-1",
        )
        client.create_bucket(Bucket="portflow")
        yield options | {"client": client}
    finally:
        server.stop()


def bucket_objects(client, prefix: str) -> dict[str, bytes]:
    """Every object under ``prefix`` in the bucket, by key."""
    keys = [
        item["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket="portflow", Prefix=prefix
        )
        for item in page.get("Contents", [])
    ]
    return {k: client.get_object(Bucket="portflow", Key=k)["Body"].read() for k in keys}


def assert_no_credentials(client, prefix: str) -> None:
    objects = bucket_objects(client, prefix)
    assert any(k.endswith("manifest.json") for k in objects)
    assert any("/_runs/" in k for k in objects)
    for key, body in objects.items():
        assert SECRET.encode() not in body and KEY.encode() not in body, key


def cli_options(options: dict) -> list[str]:
    return [
        arg
        for k in ("endpoint_url", "key", "secret")
        for arg in ("--store-option", f"{k}={options[k]}")
    ]


def test_inline_runs_reuse_every_stage_on_s3(s3, inline_run):
    options = {k: s3[k] for k in ("endpoint_url", "key", "secret")}
    location = StoreLocation("s3://portflow/inline", options)
    settings = PipelineConfig.model_validate(
        SETTINGS | {"store": {"root": location.url, "options": options}}
    )
    first = inline_run(location, settings, "first")
    second = inline_run(location, settings, "second")
    assert {row["status"] for row in first.stages} == {"computed"}
    assert {row["status"] for row in second.stages} == {"reused"}
    assert [r["version"] for r in first.stages] == [r["version"] for r in second.stages]
    assert "options" not in first.config["store"]  # the record leaves the options out
    assert SECRET not in repr(location) and SECRET not in str(location)

    runner = CliRunner()
    verified = runner.invoke(app, ["store", "verify", "--store", location.url, *cli_options(s3)])
    assert verified.exit_code == 0, verified.output
    assert verified.output.endswith(
        f"{len(first.stages)} version(s) and 2 run record(s) checked, no problems\n"
    )
    listed = runner.invoke(app, ["runs", "list", "--store", location.url, *cli_options(s3)])
    assert listed.exit_code == 0, listed.output
    assert "first" in listed.output and "second" in listed.output
    shown = runner.invoke(
        app, ["artifacts", "show", "hedge_metrics", "--store", location.url, *cli_options(s3)]
    )
    assert shown.exit_code == 0 and "hedged_net" in shown.output
    # Without its options the store is not reached (the environment's endpoint is closed).
    unreachable = ArtifactStore(location.url, {"key": KEY, "secret": SECRET, "connect_timeout": 1})
    with pytest.raises(Exception):  # noqa: B017 - botocore's connection error, any kind
        unreachable.fs.ls("portflow/inline")
    assert_no_credentials(s3["client"], "inline/")


def test_cli_runs_on_s3_reuse_every_stage_and_keep_credentials_out(s3, tmp_path, prefect_harness):
    """Through `portflow run`: the endpoint from the config's store.options, the
    credentials from --store-option; the second run reuses every stage; neither the
    store nor Prefect's record of the flow run holds the secret."""
    import yaml
    from prefect import get_client

    config = tmp_path / "s3.yaml"
    store_section = {"root": "s3://portflow/cli", "options": {"endpoint_url": s3["endpoint_url"]}}
    config.write_text(yaml.safe_dump(SETTINGS | {"store": store_section}))
    runner = CliRunner()
    arguments = [
        "run",
        str(config),
        "--store-option",
        f"key={KEY}",
        "--store-option",
        f"secret={SECRET}",
    ]
    first = runner.invoke(app, arguments)
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, arguments)
    assert second.exit_code == 0, second.output
    assert "0 computed" in second.output and "Report: s3://portflow/cli/_reports/" in second.output

    store = ArtifactStore(
        "s3://portflow/cli", {k: s3[k] for k in ("endpoint_url", "key", "secret")}
    )
    records = store.runs()
    assert len(records) == 2
    assert {row["status"] for row in records[1].stages} == {"reused"}
    assert [r["version"] for r in records[0].stages] == [r["version"] for r in records[1].stages]
    assert_no_credentials(s3["client"], "cli/")
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(records[1].run_id)
    parameters = json.dumps(flow_run.parameters)
    assert SECRET not in parameters and KEY not in parameters
    assert flow_run.parameters["store_options"] == "**********"


def test_an_unreachable_object_store_is_one_line_before_anything_starts(monkeypatch, tmp_path):
    """A closed endpoint: `runs list` and `run` (before Prefect starts) end with one error
    line naming the store and its options, no traceback."""
    import socket

    from portflow import prefect_server

    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setattr(prefect_server, "prefect_api", lambda **_: pytest.fail("Prefect started"))
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    options = [
        *("--store-option", f"endpoint_url=http://127.0.0.1:{port}"),
        *("--store-option", f"key={KEY}", "--store-option", f"secret={SECRET}"),
        *("--store-option", "config_kwargs={retries: {max_attempts: 1}, connect_timeout: 2}"),
    ]
    runner = CliRunner()
    for args in (
        ["runs", "list", "--store", "s3://portflow/x", *options],
        ["run", "default", "--strategy", "hedge", "--store", "s3://portflow/x", *options],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert result.output.startswith("error [store] root: cannot reach s3://portflow/x: ")
        assert "Could not connect to the endpoint URL" in result.output
        assert len(result.output.splitlines()) == 1 and SECRET not in result.output


def test_report_sections_drawn_in_worker_processes_reach_the_store_with_its_options(
    s3, default_run
):
    """The report task draws each strategy's section in a worker process, which opens the
    store again: with its options (the URL alone reaches only the closed endpoint of the
    environment), so no section falls back to being drawn in the task's process."""
    from tasks.report import draw_sections

    root, record = default_run
    location = StoreLocation(
        "s3://portflow/report", {k: s3[k] for k in ("endpoint_url", "key", "secret")}
    )
    store = ArtifactStore(location)
    store.fs.put(f"{root}/", store.root, recursive=True)
    sections = draw_sections(store, record)
    assert sections is not None, "a worker process could not draw its section"
    strategies = ("hedge", "vol_managed", "optimization", "allocation")
    assert [link.split('"')[1] for link, _ in sections] == [f"#{s}" for s in strategies]
    assert all(
        f'<section id="{s}">' in body for s, (_, body) in zip(strategies, sections, strict=True)
    )
