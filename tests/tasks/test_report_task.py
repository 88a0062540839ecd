"""A run whose report content exists already points to it instead of drawing it again."""

import datetime as dt

import pytest

from storage import ArtifactStore, RunRecord
from tasks import report
from tasks.report import (
    KEY_META,
    pointer_page,
    report_key,
    report_with_key,
    write_index,
    written_report,
)

STAGES = [
    {"scope": "data", "stage": "prices", "version": "v1", "rows": 3, "status": "computed"},
    {"scope": "hedge", "stage": "hedge_metrics", "version": "v2", "rows": 4, "status": "computed"},
]


def record(run_id: str, minute: int, stages=STAGES, config=None) -> RunRecord:
    started = dt.datetime(2026, 1, 2, 12, minute, tzinfo=dt.UTC)
    return RunRecord(
        run_id=run_id,
        config_name="default",
        config=config or {"name": "default", "hedge": {"beta_window": 252}},
        started_at=started,
        finished_at=started + dt.timedelta(seconds=30),
        stages=[dict(row, seconds=1.0) for row in stages],
    )


def full_report(store: ArtifactStore, run: RunRecord, key: str | None = None) -> None:
    """A stand-in for a drawn report: a page with its key in its head."""
    key = key or report_key(run)
    store.save_report(run.run_id, f"<html><head><meta name='{KEY_META}' content='{key}'>...")


def test_the_key_follows_versions_config_and_report_code_not_timings_or_statuses(monkeypatch):
    first = record("a", 0)
    assert report_key(record("b", 5, [dict(r, status="reused") for r in STAGES])) == report_key(
        first
    )
    changed = [STAGES[0], dict(STAGES[1], version="v3")]
    assert report_key(record("c", 5, changed)) != report_key(first)
    assert report_key(record("d", 5, config={"name": "default"})) != report_key(first)
    before = report_key(first)
    monkeypatch.setattr(report, "module_version", lambda module: "other report code")
    assert report_key(first) != before


def test_a_run_with_the_content_of_an_earlier_report_points_to_it(tmp_path):
    store = ArtifactStore(str(tmp_path))
    first, second, third = record("a", 0), record("b", 5), record("c", 9)
    for run in (first, second, third):
        store.save_run(run)
    assert report_with_key(store, first, report_key(first)) is None  # no report yet
    full_report(store, first)
    key = report_key(second)
    assert report_with_key(store, second, key) == "a"
    store.save_report("b", pointer_page(second, key, "a"))
    assert written_report(store, "b") == (key, "a")
    # A third run finds the newest page first, a pointer, and follows it to the report.
    assert report_with_key(store, third, key) == "a"
    page = (tmp_path / "_reports" / "b.html").read_text()
    assert "<meta http-equiv='refresh' content='0; url=a.html'>" in page
    assert '<a href="a.html">open the report</a>' in page and "portflow report b" in page
    write_index(store)
    index = (tmp_path / "_reports" / "index.html").read_text()
    assert all(f'href="{run_id}.html"' in index for run_id in ("a", "b"))


@pytest.mark.parametrize("written", ["older report code", None])
def test_a_report_of_other_code_or_without_a_key_is_drawn_again(tmp_path, written):
    store = ArtifactStore(str(tmp_path))
    first, second = record("a", 0), record("b", 5)
    store.save_run(first)
    store.save_run(second)
    if written is None:
        store.save_report("a", "<html><head><title>no key</title>...")
    else:
        full_report(store, first, key=written)
    assert report_with_key(store, second, report_key(second)) is None
