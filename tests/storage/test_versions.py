"""Code versions follow every portflow module a stage imports, lazily or not, and
computing them imports nothing."""

import subprocess
import sys
import textwrap

import pytest

import portflow
from storage.versions import code_version, portflow_dependencies


@pytest.fixture
def package_dir(tmp_path, monkeypatch):
    """A folder searched for ``portflow.*`` modules (as if it were inside the package);
    modules written there are forgotten after the test."""
    monkeypatch.setattr(portflow, "__path__", [*portflow.__path__, str(tmp_path)])
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def _stage_function(package_dir, name: str, source: str):
    (package_dir / f"{name}.py").write_text(textwrap.dedent(source))
    module = __import__(f"portflow.{name}", fromlist=["f"])
    return module.f


def test_a_module_imported_inside_a_function_counts_and_is_not_imported(package_dir):
    helper = package_dir / "_lazy_helper.py"
    helper.write_text("def scale(x):\n    return 2 * x\n")
    f = _stage_function(
        package_dir,
        "_lazy_stage",
        """
        def f(x):
            from portflow._lazy_helper import scale

            return scale(x)
        """,
    )
    before = code_version(f)
    assert "portflow._lazy_helper" in portflow_dependencies("portflow._lazy_stage")
    assert "portflow._lazy_helper" not in sys.modules
    helper.write_text("def scale(x):\n    return 3 * x\n")
    assert code_version(f) != before
    assert "portflow._lazy_helper" not in sys.modules


def test_relative_and_submodule_imports_resolve_to_their_modules(package_dir):
    (package_dir / "_rel_helper.py").write_text("K = 1\n")
    (package_dir / "_sub_helper.py").write_text("J = 2\n")
    _stage_function(
        package_dir,
        "_rel_stage",
        """
        from . import _sub_helper
        from ._rel_helper import K
        from portflow.errors import DataError

        def f():
            return K + _sub_helper.J
        """,
    )
    found = set(portflow_dependencies("portflow._rel_stage"))
    assert {"portflow._rel_helper", "portflow._sub_helper", "portflow.errors"} <= found
    # Only portflow's own modules: not the package itself, not third-party libraries.
    assert all(name.startswith("portflow.") for name in found)


def test_the_lstm_stages_version_their_torch_code_without_importing_torch():
    """Importing the pipeline and versioning every stage imports none of the heavy
    libraries: a warm re-run never pays for them."""
    script = textwrap.dedent(
        """
        import sys
        import flows.pipeline
        from storage.versions import code_version, portflow_dependencies
        from tasks import allocation, hedge, optimization, shared, vol_managed
        stages = [*shared.SHARED, *hedge.HEDGE, *vol_managed.VOL_MANAGED,
                  *optimization.OPTIMIZATION_INPUTS, *optimization.OPTIMIZATION_RESULTS,
                  *allocation.ALLOCATION, *allocation.LSTM]
        for stage in stages:
            code_version(stage.function)
        assert "portflow.quant.allocation.sharpe_network" in portflow_dependencies(
            allocation.LSTM_MODEL.function.__module__
        )
        heavy = ["torch", "matplotlib", "statsmodels", "hmmlearn", "exchange_calendars",
                 "yfinance"]
        print([name for name in heavy if name in sys.modules])
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stderr


def test_the_import_index_parses_a_source_once_for_every_process(tmp_path, monkeypatch):
    from storage import versions

    monkeypatch.setenv("PORTFLOW_CACHE_DIR", str(tmp_path))
    source = b"from portflow.quant import metrics\nimport portflow.sources.tidy as tidy\n"
    index = versions.ImportIndex()
    names = index.imports(source, "m.py")
    index.save()
    assert names == versions._parse_imports(source, "m.py")
    assert (0, "portflow.quant.metrics") in names and (0, "portflow.sources.tidy") in names

    def unparsed(source, path):
        raise AssertionError("parsed again")

    with monkeypatch.context() as patched:  # another process: the index file answers
        patched.setattr(versions, "_parse_imports", unparsed)
        assert versions.ImportIndex().imports(source, "m.py") == names

    index = tmp_path / versions.IMPORT_INDEX
    index.write_text(index.read_text().replace("metrics", "returns"))  # edited: ignored
    assert versions.ImportIndex().imports(source, "m.py") == names
    index.write_text("{")
    assert versions.ImportIndex().imports(source, "m.py") == names
    edited = source.replace(b"metrics", b"returns")  # another text: another entry
    assert (0, "portflow.quant.returns") in versions.ImportIndex().imports(edited, "m.py")


def test_a_code_version_leaves_its_parsed_imports_in_the_index(tmp_path, monkeypatch):
    import json

    from storage import versions

    monkeypatch.setenv("PORTFLOW_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(versions, "_IMPORTS", versions.ImportIndex())
    modules = versions.portflow_dependencies("portflow.quant.performance")
    saved = json.loads((tmp_path / versions.IMPORT_INDEX).read_text())["sources"]
    assert 2 <= len(saved) <= len(modules)  # performance imports portflow.quant.metrics
