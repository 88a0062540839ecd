"""The HTML report of a default run: every figure and table present, rendered by Chromium."""

import base64
import os
import re
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from portflow.cli import app
from portflow.report.sections import SECTIONS
from portflow.report.tables import SPECS
from storage import ArtifactStore

FIGURES = [
    "hedge-performance",
    "hedge-beta",
    "vol-performance",
    "vol-exposures",
    "optimization-performance",
    "optimization-frontier",
    "optimization-sectors",
    "optimization-risk",
    "optimization-diversification",
    "allocation-performance",
    "allocation-weights",
]


@pytest.fixture(scope="module")
def default_report(default_run):
    root, record = default_run
    store = ArtifactStore(str(root))
    html = store.fs.cat_file(store.report_url(record.run_id)).decode()
    return store, record, html


def test_every_figure_and_table_is_present(default_report):
    _, record, html = default_report
    ids = re.findall(
        r'<figure id="([^"]+)"><img alt="[^"]+" src="data:image/png;base64,([^"]+)"', html
    )
    assert [key for key, _ in ids] == FIGURES
    for _, encoded in ids:
        png = base64.b64decode(encoded)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    for spec in SPECS:
        assert f'<div class="table" id="{spec.key}">' in html
    assert set(SECTIONS) <= {s["scope"] for s in record.stages}
    assert record.run_id in html and "<script" not in html


def chromium() -> str | None:
    return next(
        filter(None, map(shutil.which, ["chromium", "chromium-browser", "google-chrome"])), None
    )


def test_report_renders_in_headless_chromium(default_report, tmp_path):
    browser = chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is required in CI (.ci/run installs it)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    _, _, html = default_report
    # The test, not the report, carries the probe: it records script errors and, once the
    # page has loaded, how many images decoded to a real size.
    probe = """<script>
      window.errors = [];
      window.addEventListener('error', e => window.errors.push(String(e.message)));
      window.addEventListener('load', () => {
        const images = [...document.images];
        const decoded = images.filter(i => i.complete && i.naturalWidth > 100).length;
        document.body.setAttribute('data-probe',
          `images=${images.length};decoded=${decoded};tables=${document.querySelectorAll(
            'div.table table').length};errors=${window.errors.length}`);
      });
    </script></body>"""
    page = tmp_path / "report.html"
    page.write_text(html.replace("</body>", probe))
    result = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    probe_values = re.search(r'data-probe="([^"]+)"', result.stdout)
    assert probe_values, result.stderr[-2000:]
    values = dict(item.split("=") for item in probe_values.group(1).split(";"))
    assert values == {
        "images": str(len(FIGURES)),
        "decoded": str(len(FIGURES)),
        "tables": str(len(SPECS)),
        "errors": "0",
    }


def test_report_command_writes_the_latest_run(default_report, tmp_path):
    store, record, _ = default_report
    out = tmp_path / "copy.html"
    result = CliRunner().invoke(app, ["report", "--store", store.url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert record.run_id in result.output
    assert 'id="hedge-performance"' in out.read_text()
    absent = CliRunner().invoke(app, ["report", "--store", str(tmp_path / "absent")])
    assert absent.exit_code == 1 and "no store at" in absent.output
    assert not (tmp_path / "absent").exists()
    (tmp_path / "empty").mkdir()
    missing = CliRunner().invoke(app, ["report", "--store", str(tmp_path / "empty")])
    assert missing.exit_code == 1 and "no runs" in missing.output
