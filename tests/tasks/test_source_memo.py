"""A source that read files leaves a memo: a re-run reuses its versions without reading the
files, and only while every file it read is unchanged."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

import pytest

from portflow.config import FilesData, PipelineConfig, SampleData
from portflow.config.optimization import FactorDataConfig
from portflow.sources import reads
from portflow.sources.factors import FrenchLibrary, SampleFactors
from portflow.sources.files import FilesSource
from portflow.sources.reads import FileStamp, recorded_reads
from portflow.sources.sample import SampleSource
from storage import ArtifactStore
from tasks import ingest as ingest_module
from tasks.ingest import (
    factor_source,
    ingest,
    known_factor_source,
    known_ingest,
    memo_key,
)
from tasks.run import PipelineRun

PANEL = """\
permno,date,ret,prc,shrout,vol
10001,20181101,,-10.50,1000,200
10001,20181102,0.010,10.605,1000,300
84398,20181101,0.005,324.87,900000,59151200
84398,20181102,-0.008,322.41,900000,77709700
"""
RISK_FREE = "date,rf\n2018-11-01,0.0001\n2018-11-02,0.0002\n"
COLUMNS = {"ticker": "permno", "close": "prc", "volume": "vol", "shares_outstanding": "shrout"}
FIXTURES = Path(__file__).parents[1] / "data" / "sources"


@pytest.fixture
def settled(monkeypatch):
    """Files written by the test count as settled at once (they are seconds old)."""
    monkeypatch.setattr(reads, "SETTLE_SECONDS", 0.0)


def files_data(tmp_path: Path) -> FilesData:
    (tmp_path / "panel.csv").write_text(PANEL)
    (tmp_path / "rf.csv").write_text(RISK_FREE)
    return FilesData(
        path=str(tmp_path / "panel.csv"),
        columns=COLUMNS,
        risk_free_path=str(tmp_path / "rf.csv"),
        risk_free_frequency="daily",
    )


def versions(ingested) -> tuple[str, str]:
    return ingested.market_data.version, ingested.risk_free_source.version


def test_a_second_ingest_reads_no_file_and_gives_the_same_versions(tmp_path, settled, monkeypatch):
    store, data = str(tmp_path / "store"), files_data(tmp_path)
    first = ingest.fn(store, data)

    def unread(self):
        raise AssertionError("the source was read")

    monkeypatch.setattr(FilesSource, "load", unread)
    known = known_ingest(store, data)
    assert versions(known) == versions(first) and known.benchmark == first.benchmark
    assert {r.status for r in known.results} == {"reused"}
    assert known.market_data.rows == first.market_data.rows
    inline = PipelineRun(store, PipelineConfig(name="test"), inline=True)
    assert versions(inline.ingest(data)) == versions(first)


def test_a_file_rewritten_with_its_size_and_modification_time_is_read_again(tmp_path, settled):
    store, data = str(tmp_path / "store"), files_data(tmp_path)
    first = ingest.fn(store, data)
    panel = Path(data.path)
    before = panel.stat()
    panel.write_text(PANEL.replace("0.010", "0.011"))  # same size
    os.utime(panel, ns=(before.st_atime_ns, before.st_mtime_ns))  # what `touch -d` can do
    assert panel.stat().st_size == before.st_size
    assert panel.stat().st_mtime_ns == before.st_mtime_ns

    assert known_ingest(store, data) is None
    again = ingest.fn(store, data)
    assert again.market_data.version != first.market_data.version
    assert again.risk_free_source.version == first.risk_free_source.version
    assert versions(known_ingest(store, data)) == versions(again)


def test_a_removed_or_replaced_file_is_read_again(tmp_path, settled):
    store, data = str(tmp_path / "store"), files_data(tmp_path)
    ingest.fn(store, data)
    rf = Path(data.risk_free_path)
    rf.unlink()
    assert known_ingest(store, data) is None
    rf.write_text(RISK_FREE)  # the same bytes in a new file: read again, same versions
    assert known_ingest(store, data) is None
    assert ingest.fn(store, data).risk_free_source.status == "reused"


def test_a_file_changed_just_before_it_was_read_leaves_no_memo(tmp_path):
    store, data = str(tmp_path / "store"), files_data(tmp_path)  # written just now
    ingest.fn(store, data)
    assert ArtifactStore(store).read_memo(memo_key("ingest", data)) is None
    assert known_ingest(store, data) is None


def test_other_config_new_code_a_damaged_memo_or_artifact_read_the_source_again(
    tmp_path, settled, monkeypatch
):
    store_root, data = str(tmp_path / "store"), files_data(tmp_path)
    first = ingest.fn(store_root, data)
    store = ArtifactStore(store_root)
    assert known_ingest(store_root, data) is not None
    assert known_ingest(store_root, data.model_copy(update={"start": dt.date(2018, 11, 2)})) is None

    with monkeypatch.context() as patched:
        patched.setattr(ingest_module, "module_version", lambda module: f"edited {module}")
        assert known_ingest(store_root, data) is None

    memo = Path(store_root) / "_memos" / f"{memo_key('ingest', data)}.json"
    text = memo.read_text()
    memo.write_text(text.replace(first.market_data.version, "0" * 16))  # checksum fails
    assert known_ingest(store_root, data) is None
    memo.write_text("not json")
    assert known_ingest(store_root, data) is None
    memo.write_text(text)
    assert known_ingest(store_root, data) is not None

    data_file = Path(store._data_path(first.market_data.ref))
    data_file.write_bytes(data_file.read_bytes()[:-1] + b"\0")
    assert known_ingest(store_root, data) is None  # the damaged version is set aside
    assert ingest.fn(store_root, data).market_data.status == "computed"


def test_a_relative_path_read_from_another_directory_is_another_file(
    tmp_path, settled, monkeypatch
):
    first_dir, second_dir = tmp_path / "a", tmp_path / "b"
    for folder, text in ((first_dir, PANEL), (second_dir, PANEL.replace("0.010", "0.020"))):
        folder.mkdir()
        (folder / "panel.csv").write_text(text)
    data, store = FilesData(path="panel.csv", columns=COLUMNS), str(tmp_path / "store")
    monkeypatch.chdir(first_dir)
    first = ingest.fn(store, data)
    assert versions(known_ingest(store, data)) == versions(first)
    monkeypatch.chdir(second_dir)
    assert known_ingest(store, data) is None
    assert ingest.fn(store, data).market_data.version != first.market_data.version


def test_the_sample_data_of_another_installation_is_other_files(tmp_path, monkeypatch):
    from portflow.sources import sample

    store, data = str(tmp_path / "store"), SampleData(universe="tech4")
    first = ingest.fn(store, data)  # the installed packages' files: long settled
    assert versions(known_ingest(store, data)) == versions(first)
    installed = sample.sample_path
    copies = tmp_path / "elsewhere"
    copies.mkdir()

    def elsewhere(name):
        copy = copies / installed(name).name
        copy.write_bytes(installed(name).read_bytes())
        return copy

    monkeypatch.setattr(sample, "sample_path", elsewhere)
    assert known_ingest(store, data) is None


def test_synthetic_data_is_remembered_by_its_config_alone(tmp_path):
    from portflow.config import SyntheticData

    store, data = str(tmp_path / "store"), SyntheticData(n_assets=2, n_days=30)
    first = ingest.fn(store, data)
    assert versions(known_ingest(store, data)) == versions(first)
    assert known_ingest(store, data.model_copy(update={"seed": 8})) is None


def test_factor_files_are_remembered_and_downloads_are_not(tmp_path, settled, monkeypatch):
    store = str(tmp_path / "store")
    factors = "date,Mkt-RF,SMB,HML,RF\n201810,1,0.5,0.2,0.1\n201811,-2,0.1,0.3,0.2\n"
    (tmp_path / "factors.csv").write_text(factors)
    config = FactorDataConfig(source="files", path=str(tmp_path / "factors.csv"), units="percent")
    first = factor_source.fn(store, config)
    assert known_factor_source(store, config).version == first.version

    live = FactorDataConfig(source="french_library", as_of=dt.date(2019, 1, 4))
    recorded = (FIXTURES / "ff_research_data_factors.zip").read_bytes()
    library = FrenchLibrary(live, opener=lambda url, timeout: recorded)
    monkeypatch.setattr(ingest_module, "make_factor_source", lambda config: library)
    assert factor_source.fn(store, live).status == "computed"
    assert known_factor_source(store, live) is None  # its cache is the download, per as-of


def test_every_data_file_a_source_opens_is_stamped_and_declared(tmp_path, settled):
    """The memo is only as good as the list of files read: every data file a source opens
    (Python's audit events) is stamped, and the stamped files are the ones the source
    declares (``files()``), which a re-run compares with the memo's."""
    opened: list[str] = []

    def audit(event, args):
        if event == "open" and recording and isinstance(args[0], str | Path):
            opened.append(os.path.abspath(args[0]))

    recording = False
    sys.addaudithook(audit)  # hooks cannot be removed: this one records only below
    sources = [SampleSource(SampleData(universe=u)) for u in ("sp500_20", "tech4", "multi_asset")]
    sources += [
        FilesSource(files_data(tmp_path)),
        FilesSource(FilesData(path=str(tmp_path / "panel.csv"), columns=COLUMNS)),
        SampleFactors(FactorDataConfig()),
    ]
    for source in sources:
        opened.clear()
        recording = True
        try:
            with recorded_reads() as stamps:
                source.load()
        finally:
            recording = False
        data_files = {p for p in opened if p.endswith((".csv", ".gz", ".bz2", ".parquet"))}
        assert data_files, "the audit hook saw no data file"
        assert data_files <= {stamp.path for stamp in stamps}
        assert {stamp.path for stamp in stamps} == {os.path.abspath(p) for p in source.files()}


def test_a_stamp_changes_with_the_content_and_settles_after_a_while(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("a\n1\n")
    stamp = FileStamp.of(path)
    assert stamp.current() and not stamp.settled()
    assert FileStamp.from_json(stamp.as_json()) == stamp
    old = FileStamp(**{**stamp.as_json(), "stamped_ns": stamp.stamped_ns + 3 * 10**9})
    assert old.settled()
    path.write_text("a\n22\n")
    assert not stamp.current()
    with pytest.raises((TypeError, ValueError)):
        FileStamp.from_json({**stamp.as_json(), "size": "4"})
