"""The HTML report of a default run: every figure and table present, numbers that agree
with the stages that computed them, and a page that Chromium renders within the viewport.

Screenshots of the rendered report and index are written to ``$PORTFLOW_SCREENSHOTS``
(default: the test's temporary directory) and their location printed (``pytest -s``).
"""

import base64
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from portflow.cli import app
from portflow.report.run_view import RunView
from portflow.report.tables import SPECS
from storage import ArtifactStore

VIEWS = {
    "hedge": ["hedge-performance", "hedge-beta"],
    "vol": ["vol-performance", "vol-exposures"],
    "optimization": [
        "optimization-performance",
        "optimization-frontier",
        "optimization-sectors",
        "optimization-risk",
        "optimization-diversification",
    ],
    "allocation": ["allocation-performance", "allocation-weights"],
}
TEAR_SHEET = ("returns", "rolling", "calendar", "distribution")
FIGURES = [
    key
    for prefix, views in VIEWS.items()
    for key in [*views, *(f"{prefix}-tearsheet-{part}" for part in TEAR_SHEET)]
]
TEAR_SHEET_TABLES = [f"{prefix}-{t}" for prefix in VIEWS for t in ("statistics", "drawdowns")]
RUN_TABLES = ["run-facts", "run-data", "run-versions"]


@pytest.fixture(scope="module")
def default_report(default_run):
    root, record = default_run
    store = ArtifactStore(str(root))
    html = store.fs.cat_file(store.report_url(record.run_id)).decode()
    return store, record, html


def table_rows(html: str, key: str) -> dict[str, list[str]]:
    """The rows of table ``key``: first cell -> the other cells."""
    block = re.search(rf'<div class="table" id="{key}">(.*?)</div>', html, re.S).group(1)
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", block, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        if cells:
            rows[cells[0]] = cells[1:]
    return rows


def test_every_figure_and_table_is_present(default_report):
    _, record, html = default_report
    ids = re.findall(
        r'<figure id="([^"]+)"><img alt="[^"]+" src="data:image/png;base64,([^"]+)"', html
    )
    assert [key for key, _ in ids] == FIGURES
    for _, encoded in ids:
        png = base64.b64decode(encoded)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    for key in [spec.key for spec in SPECS] + TEAR_SHEET_TABLES + RUN_TABLES:
        assert f'<div class="table" id="{key}">' in html, key
    assert re.findall(r'<section id="([^"]+)">', html) == [
        "hedge",
        "vol_managed",
        "optimization",
        "allocation",
        "run",
    ]
    assert record.run_id in html and "<script" not in html
    assert 'href="index.html"' in html


def test_the_run_section_holds_config_versions_and_provenance(default_report):
    _, record, html = default_report
    assert "name: default" in html and "universe: sp500_20" in html  # the config, as YAML
    versions = table_rows(html, "run-versions")
    assert versions["pandas"] == [pd.__version__] and versions["numpy"] == [np.__version__]
    data = table_rows(html, "run-data")
    assert set(data) == {
        "data",
        "hedge.data",
        "optimization.data",
        "allocation.data",
        "optimization factors",
        "vol_managed factors",
    }
    source, tickers, dates, benchmark, origin, version = data["data"]
    assert source == "sample" and benchmark == "SP500" and "AAPL" in tickers
    assert dates == "2000-01-03 to 2018-11-30"
    assert "sp500_20" in origin
    note = re.search(r'id="run-data">.*?<p class="note">(.*?)</p>', html, re.S).group(1)
    assert "skfolio==1.12.2" in note and "Kenneth R. French" in note
    market = next(s for s in record.stages if s["scope"] == "data" and s["stage"] == "market_data")
    assert version == market["version"]
    assert data["hedge.data"][3] == "NASDAQ"


def test_tear_sheet_statistics_agree_with_the_strategy_stages(default_report):
    """The tear sheets recompute Sharpe, drawdown and return with portflow.quant.performance
    from the raw returns; the strategies' metric stages computed them their own way."""
    store, record, html = default_report
    run = RunView(store, record)
    hedge = run.load("hedge", "hedge_metrics").loc["hedged_net"]
    sheet = table_rows(html, "hedge-statistics")
    assert sheet["Sharpe ratio"][0] == f"{hedge['sharpe']:.2f}"
    assert sheet["maximum drawdown"][0] == f"{hedge['max_drawdown']:.2%}"
    assert sheet["annualized return (CAGR)"][0] == f"{hedge['ann_return']:.2%}"
    allocation = run.load("allocation", "backtest_metrics").iloc[0]
    sheet = table_rows(html, "allocation-statistics")
    assert sheet["Sharpe ratio"][0] == f"{allocation['sharpe']:.2f}"
    assert sheet["annualized volatility"][0] == f"{allocation['ann_volatility']:.2%}"
    drawdowns = table_rows(html, "hedge-drawdowns")
    assert list(drawdowns) == ["1", "2", "3", "4", "5"]
    assert drawdowns["1"][4] == f"{hedge['max_drawdown']:.2%}"


def test_the_allocation_table_has_its_benchmark_row(default_report):
    store, record, html = default_report
    run = RunView(store, record)
    returns = run.load("allocation", "backtest_returns")
    dates = pd.DatetimeIndex(sorted(returns["date"].unique()))
    daily = run.load("allocation.data", "daily_returns")["SP500"].reindex(dates).to_numpy(copy=True)
    daily[0] = 0.0  # bought at the first close, as the allocators are
    expected = np.prod(1 + daily) ** (252 / len(daily)) - 1
    row = table_rows(html, "allocation-metrics")["benchmark (SP500)"]
    assert row[0] == f"{expected:.2%}"


def chromium() -> str | None:
    return next(
        filter(None, map(shutil.which, ["chromium", "chromium-browser", "google-chrome"])), None
    )


PROBE = """<script>
  window.errors = [];
  window.addEventListener('error', e => window.errors.push(String(e.message)));
  window.addEventListener('load', () => {
    const width = document.documentElement.clientWidth;
    const images = [...document.images];
    const boxes = [...document.querySelectorAll('div.table')];
    // Elements wider than the viewport: anything reaching past its right edge, except the
    // contents of a table box, which scrolls inside its section (the box itself counts).
    const wide = [...document.querySelectorAll('body *')]
      .filter(e => !(e.parentElement.closest('div.table')))
      .filter(e => e.getBoundingClientRect().right > width + 1)
      .map(e => `${e.tagName}#${e.id}`);
    document.body.setAttribute('data-probe', JSON.stringify({
      width: width,
      height: document.documentElement.scrollHeight,
      pageWidth: document.documentElement.scrollWidth,
      images: images.length,
      decoded: images.filter(i => i.complete && i.naturalWidth > 100).length,
      tables: document.querySelectorAll('div.table table').length,
      wide: wide,
      scrolling: boxes.filter(b => b.scrollWidth > b.clientWidth + 1).map(b => b.id),
      errors: window.errors.length,
    }));
  });
</script></body>"""


def browse(browser: str, page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
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
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            *args,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )


def probe(browser: str, html: str, width: int, work: Path) -> dict:
    """Load ``html`` (with the probe) in a ``width``-pixel-wide window; the probe's values."""
    page = work / f"probe-{width}.html"
    page.write_text(html.replace("</body>", PROBE))
    result = browse(browser, page, work / "profile", f"--window-size={width},1000", "--dump-dom")
    found = re.search(r'data-probe="([^"]+)"', result.stdout)
    assert found, result.stderr[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"'))


def screenshot(browser: str, html: str, name: str, width: int, height: int, out: Path) -> Path:
    """A full-page PNG of ``html``, and slices of it 2,400 pixels tall (readable ones)."""
    from PIL import Image

    page = out / f"{name}.html"
    page.write_text(html)
    target = out / f"{name}.png"
    result = browse(
        browser, page, out / "profile", f"--window-size={width},{height}", f"--screenshot={target}"
    )
    assert target.exists(), result.stderr[-2000:]
    Image.MAX_IMAGE_PIXELS = None
    with Image.open(target) as image:
        assert image.size == (width, height)
        for top in range(0, height, 2400):
            image.crop((0, top, width, min(top + 2400, height))).save(
                out / f"{name}-{top // 2400:02d}.png"
            )
    page.unlink()
    return target


@pytest.fixture
def browser():
    found = chromium()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is required in CI (.ci/run installs it)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return found


@pytest.fixture
def screenshots(tmp_path):
    """Where screenshots go: $PORTFLOW_SCREENSHOTS, else the test's temporary directory."""
    out = Path(os.environ.get("PORTFLOW_SCREENSHOTS") or tmp_path / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_report_renders_in_headless_chromium_within_the_viewport(
    default_report, browser, screenshots, tmp_path
):
    _, _, html = default_report
    tables = len(SPECS) + len(TEAR_SHEET_TABLES) + len(RUN_TABLES) + 1  # + the stages
    desktop = probe(browser, html, 1280, tmp_path)
    assert desktop["images"] == desktop["decoded"] == len(FIGURES)
    assert desktop["tables"] == tables and desktop["errors"] == 0
    # At 1280 px nothing is wider than the viewport and every table fits its section.
    assert desktop["wide"] == [] and desktop["scrolling"] == []
    assert desktop["pageWidth"] <= desktop["width"]
    # In a narrow window the page still fits: wide tables scroll inside their own box.
    narrow = probe(browser, html, 700, tmp_path)
    assert narrow["wide"] == [] and narrow["pageWidth"] <= narrow["width"]
    assert narrow["scrolling"]  # the crisis tables, for one, scroll instead
    shot = screenshot(browser, html, "report", 1280, desktop["height"], screenshots)
    print(f"\nreport screenshots: {shot.parent}/report*.png")


def test_index_renders_in_headless_chromium(default_report, browser, screenshots, tmp_path):
    store, record, _ = default_report
    html = store.fs.cat_file(store.report_url("index")).decode()
    assert f'href="{record.run_id}.html"' in html and "<td>default</td>" in html
    found = probe(browser, html, 1280, tmp_path)
    assert found["wide"] == [] and found["scrolling"] == [] and found["errors"] == 0
    shot = screenshot(browser, html, "index", 1280, found["height"], screenshots)
    print(f"\nindex screenshot: {shot}")


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
