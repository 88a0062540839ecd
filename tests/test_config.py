"""Config schema: every shipped config loads; bad ones report every error with its YAML path."""

from pathlib import Path

import pytest
import yaml

from portflow.config import ConfigError, PipelineConfig, load_config, parse_config

CONFIGS = sorted(Path(__file__).parents[1].joinpath("configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_validates(path):
    assert isinstance(load_config(path), PipelineConfig)


def test_shipped_configs_are_the_documented_ones():
    names = {p.name for p in CONFIGS}
    assert {"default.yaml", "mag7.yaml"} <= names
    mag7 = load_config(Path(CONFIGS[0]).parent / "mag7.yaml").data
    assert mag7.source == "yfinance" and mag7.benchmark == "QQQ" and mag7.end is None
    assert set(mag7.tickers) == {"AAPL", "MSFT", "AMZN", "NVDA", "GOOG", "META", "TSLA"}


def test_every_error_is_reported_at_once_with_its_yaml_path():
    raw = {
        "name": "x",
        "data": {"source": "sample", "universe": "sp500_20", "strat": "2001-01-01"},
        "prices": {"missing": "interpolate", "ffill_limit": "five"},
        "montly": {},
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, "bad.yaml")
    paths = [loc for loc, _ in caught.value.issues]
    assert paths == ["data.strat", "prices.missing", "prices.ffill_limit", "montly"]
    message = str(caught.value)
    assert message.startswith("[config] bad.yaml: 4 error(s)")
    assert "data.strat: unknown key" in message


def test_wrong_type_and_date_order():
    with pytest.raises(ConfigError, match="data.start"):
        parse_config({"name": "x", "data": {"source": "sample", "start": "yesterday"}})
    with pytest.raises(ConfigError, match="start 2010-01-01 must be before end 2009-01-01"):
        parse_config({"name": "x", "data": {"start": "2010-01-01", "end": "2009-01-01"}})


def test_configs_are_frozen():
    config = parse_config({"name": "x"})
    with pytest.raises(Exception, match="frozen"):
        config.name = "y"


def test_load_config_uses_safe_load(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")
    path = tmp_path / "list.yaml"
    path.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(ConfigError, match="must hold a YAML mapping"):
        load_config(path)


def test_find_config_by_name_or_path():
    from portflow.config import find_config

    assert find_config("default").name == "default.yaml"
    assert find_config("configs/mag7.yaml").name == "mag7.yaml"
    with pytest.raises(ConfigError, match="known names: .*'default'"):
        find_config("nope")


def test_strategy_sections_and_their_data():
    config = load_config("default")
    assert config.strategies()[:2] == ["hedge", "vol_managed"]
    assert config.data_for("hedge").universe == "tech4"
    assert config.data_for("vol_managed") == config.data


def test_overrides_are_validated_like_yaml():
    import datetime as dt

    from portflow.config import with_overrides

    config = load_config("default")
    changed = with_overrides(
        config,
        start=dt.date(2005, 1, 3),
        settings={"hedge.beta_window": 126},
        strategies=["hedge"],
    )
    assert changed.data.start == dt.date(2005, 1, 3)
    assert changed.hedge.data.start == dt.date(2005, 1, 3)
    assert changed.hedge.beta_window == 126 and changed.vol_managed is None
    assert config.hedge.beta_window == 252  # the original is untouched (frozen)
    with pytest.raises(ConfigError, match="hedge.beta_window"):
        with_overrides(config, settings={"hedge.beta_window": "long"})
    with pytest.raises(ConfigError, match="not configured"):
        with_overrides(with_overrides(config, strategies=["hedge"]), strategies=["vol_managed"])


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_no_overrides_give_the_same_config(path):
    from portflow.config import with_overrides

    config = load_config(path)
    assert with_overrides(config) == config
