"""What a report makes of a set of versions is made once, then read from its memo in the
store: the formatted result tables (a re-run's Prefect artifacts, report and terminal) and
the headline figures of the index page (rewritten from every run by every run)."""

import pandas as pd

from portflow.report import index, run_view, tables
from portflow.report.index import build_index
from portflow.report.tables import ResultTable, result_tables, tables_memo_key
from storage import ArtifactStore, DamagedArtifactError


def test_result_tables_come_from_their_memo_and_equal_the_made_ones(
    default_run, copy_store, monkeypatch
):
    store, record = ArtifactStore(str(copy_store())), default_run[1]
    memo = store.read_memo(tables_memo_key(record))
    assert memo is not None, "the run's Prefect artifacts left the memo"
    made = tables._result_tables(store, record)
    remembered = [ResultTable.from_json(value) for value in memo["tables"]]
    assert [t.key for t in remembered] == [t.key for t in made]
    for left, right in zip(remembered, made, strict=True):
        pd.testing.assert_frame_equal(left.frame, right.frame)
        assert (left.title, left.note, left.source, left.terminal, left.scope) == (
            right.title,
            right.note,
            right.source,
            right.terminal,
            right.scope,
        )
        assert left.records() == right.records()

    def unmade(store, record):
        raise AssertionError("made again")

    with monkeypatch.context() as patched:
        patched.setattr(tables, "_result_tables", unmade)
        assert [t.key for t in result_tables(store, record)] == [t.key for t in made]

    path = store._memo_path(tables_memo_key(record))
    store.fs.pipe_file(path, b"{}")  # not a sealed memo: made again, and remembered
    assert [t.key for t in result_tables(store, record)] == [t.key for t in made]
    assert store.read_memo(tables_memo_key(record)) == memo


def test_new_table_code_or_other_versions_make_another_memo(default_run, monkeypatch):
    record = default_run[1]
    key = tables_memo_key(record)
    edited = record.model_copy(
        update={"stages": [{**record.stages[0], "version": "0" * 16}, *record.stages[1:]]}
    )
    assert tables_memo_key(edited) != key
    monkeypatch.setattr(run_view, "module_version", lambda module: "edited")
    assert tables_memo_key(record) != key


def test_headline_figures_come_from_their_memo_and_failures_are_not_remembered(
    default_run, copy_store, monkeypatch
):
    store, record = ArtifactStore(str(copy_store())), default_run[1]
    page = build_index(store, [record], reports=set())
    key = index.versions_memo_key("headlines", record, index.__name__)
    made = store.read_memo(key)["headlines"]
    assert set(made) == {"hedge", "vol_managed", "optimization", "allocation"}

    def unmade(run):
        raise AssertionError("made again")

    with monkeypatch.context() as patched:
        patched.setattr(index, "headline_figures", unmade)
        assert build_index(store, [record], reports=set()) == page

    store.fs.rm(store._memo_path(key))

    def damaged(run):
        raise DamagedArtifactError("store", "hedge_metrics", "flipped byte", "repair")

    with monkeypatch.context() as patched:
        patched.setitem(index.HEADLINES, "hedge", damaged)
        assert "unavailable" in build_index(store, [record], reports=set())
    assert store.read_memo(key) is None  # the damage may be repaired: nothing remembered
    assert build_index(store, [record], reports=set()) == page
