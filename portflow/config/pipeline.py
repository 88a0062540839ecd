"""The whole experiment config, and loading it from YAML with every error reported.

One YAML file in ``configs/`` describes one experiment. Every section is a frozen model
that forbids unknown keys, and each stage receives only its own section (its *slice*),
whose field names are the keyword arguments of the stage's function in ``portflow.quant``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, PositiveInt, ValidationError

from portflow.config.allocation import ALLOCATOR_CONFIGS, AllocationConfig
from portflow.config.base import Frozen
from portflow.config.data import DataConfig, SampleData
from portflow.config.hedge import HedgeConfig
from portflow.config.optimization import OptimizationConfig
from portflow.config.vol_managed import VolManagedConfig


class PricesConfig(Frozen):
    """Slice of the ``prices`` stage: validation and the missing-data policy."""

    missing: Literal["error", "drop_dates", "ffill", "keep"] = Field(
        "error",
        description="Interior gaps in a ticker's prices: error, drop the dates where any "
        "ticker is missing, carry the last price forward (at most ffill_limit days), or "
        "keep them missing (returns across a gap, and its month, are then missing).",
    )
    ffill_limit: PositiveInt = Field(5, description="Longest gap (days) that ffill may fill.")


class MonthlyConfig(Frozen):
    """Slice of the monthly stages (returns and realized variance)."""

    min_days: PositiveInt = Field(
        15, description="Fewest daily returns a month needs for a realized variance."
    )


class StoreConfig(Frozen):
    """Where artifacts live: a local path or an fsspec URL (memory://, s3://…), and the
    fsspec storage options that open it."""

    root: str = Field("artifacts", description="A local path or an fsspec URL.")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="fsspec storage options of root's file system, e.g. for s3:// "
        "{endpoint_url: http://127.0.0.1:9000, key: ..., secret: ...}. Never written into "
        "run records or manifests; keep secrets out of the YAML (s3fs also reads the "
        "AWS_* environment variables and ~/.aws).",
    )


Strategy = Literal["hedge", "vol_managed", "optimization", "allocation"]
STRATEGIES: tuple[Strategy, ...] = ("hedge", "vol_managed", "optimization", "allocation")


class PipelineConfig(Frozen):
    """A whole experiment: data, shared stage settings, strategies and the artifact store.

    A strategy runs when its section is present. It uses the top-level ``data`` unless
    its section has a ``data`` of its own (the offline hedge needs the sample stocks that
    carry volume, for instance); shared stages run once per distinct data section.
    """

    name: str = Field(description="Experiment name, shown in runs and reports.")
    description: str = ""
    store: StoreConfig = StoreConfig()
    data: DataConfig = SampleData()
    prices: PricesConfig = PricesConfig()
    monthly: MonthlyConfig = MonthlyConfig()
    hedge: HedgeConfig | None = Field(
        None, description="Beta-hedged volume-weighted basket; absent = not run."
    )
    vol_managed: VolManagedConfig | None = Field(
        None, description="Volatility-managed portfolios (Moreira & Muir 2017); absent = not run."
    )
    optimization: OptimizationConfig | None = Field(
        None,
        description="Factor-model active optimization: gamma and TEV sweeps, sector rotation, "
        "regime-aware moments; absent = not run.",
    )
    allocation: AllocationConfig | None = Field(
        None,
        description="Allocation backtests (fixed, inverse-volatility, mean-variance, LSTM); "
        "absent = not run.",
    )

    def recorded(self) -> dict[str, Any]:
        """The config as a run record keeps it (JSON-ready): everything but the store's
        options, which may hold credentials."""
        return self.model_dump(mode="json", exclude={"store": {"options"}})

    def data_for(self, strategy: Strategy) -> DataConfig:
        """The data section a strategy runs on: its own ``data`` if set, else the top-level one."""
        return getattr(getattr(self, strategy), "data", None) or self.data

    def strategies(self) -> list[Strategy]:
        """The strategies whose sections are present, in pipeline order."""
        return [name for name in STRATEGIES if getattr(self, name, None) is not None]

    def section(self, path: str) -> Frozen:
        """The section at a dotted path, e.g. ``"optimization.moments"``.

        Raises
        ------
        ValueError
            If a section on the path is absent from this config.
        """
        node = self
        for key in path.split("."):
            node = getattr(node, key)
            if node is None:
                raise ValueError(f"the config has no {path!r} section")
        return node


class ConfigError(Exception):
    """A config file failed validation; ``issues`` holds every (yaml path, message) pair."""

    def __init__(self, path: str, issues: list[tuple[str, str]]) -> None:
        self.path = path
        self.issues = issues
        lines = "\n".join(f"  {loc}: {msg}" for loc, msg in issues)
        super().__init__(f"[config] {path}: {len(issues)} error(s). Fix each field below.\n{lines}")


_UNION_TAGS = {"sample", "yfinance", "files", "synthetic", *ALLOCATOR_CONFIGS}


def _yaml_path(loc: tuple[Any, ...]) -> str:
    """Turn a pydantic error location into a YAML path, dropping the tags of tagged unions."""
    parts = [str(p) for i, p in enumerate(loc) if not (i > 0 and p in _UNION_TAGS)]
    return ".".join(parts) or "(top level)"


def parse_config(raw: Any, path: str = "<config>") -> PipelineConfig:
    """Validate a mapping (as read from YAML) into a :class:`PipelineConfig`.

    Raises
    ------
    ConfigError
        With every validation error at once, each with its YAML path.
    """
    if not isinstance(raw, dict):
        raise ConfigError(path, [("(top level)", "the file must hold a YAML mapping")])
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check the spelling; allowed keys are in the schema)"
            issues.append((_yaml_path(err["loc"]), msg))
        raise ConfigError(path, issues) from None


CONFIG_DIRS = (Path("configs"), Path(__file__).resolve().parents[2] / "configs")
"""Where a config *name* is looked up: ./configs, then the configs/ of this checkout."""


def find_config(name_or_path: str | Path) -> Path:
    """Resolve ``default`` or ``configs/default.yaml`` to a config file.

    A value naming an existing file is used as is; otherwise ``<name>.yaml`` is looked up
    in :data:`CONFIG_DIRS`, so deployments and the CLI can say ``config: mag7``.
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    for directory in CONFIG_DIRS:
        candidate = directory / f"{path.name.removesuffix('.yaml')}.yaml"
        if candidate.is_file():
            return candidate
    known = sorted({p.stem for d in CONFIG_DIRS if d.is_dir() for p in d.glob("*.yaml")})
    raise ConfigError(
        str(name_or_path), [("(file)", f"no such config file or name; known names: {known}")]
    )


class _ConfigLoader(yaml.SafeLoader):
    """``yaml.safe_load``'s loader, except that dates stay text: the schema parses them, so
    an impossible date (``2010-13-45``) is an error that names its field."""


_ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def yaml_value(text: str) -> Any:
    """A value written as in a config's YAML (``[1, 5]``, ``0.02``, ``true``, a date stays
    text): how ``portflow run --set PATH=VALUE`` reads VALUE. Raises ValueError."""
    try:
        return yaml.load(text, Loader=_ConfigLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        raise ValueError(f"not valid YAML: {' '.join(str(exc).split())}") from None


def load_config(name_or_path: str | Path) -> PipelineConfig:
    """Read a YAML config (a path, or a name in ``configs/``) with a safe loader."""
    path = find_config(name_or_path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [("(file)", f"cannot read it as text: {exc}")]) from None
    try:
        raw = yaml.load(text, Loader=_ConfigLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())  # one line, with the line and column
        raise ConfigError(str(path), [("(file)", f"not valid YAML: {problem}")]) from None
    return parse_config(raw, str(path))


KNOBS = {
    "hedge_beta_window": "hedge.beta_window",
    "hedge_rebalance_every": "hedge.rebalance_every",
    "allocation_rebalance": "allocation.rebalance",
    "allocation_rebalance_every": "allocation.rebalance_every",
    "tev_budgets": "optimization.sweep.tev_budgets",
    "risk_aversions": "optimization.sweep.gammas",
}
"""Run parameter (of the flow, its deployments and ``portflow run``) -> the config field it
overrides (None keeps the config's value)."""


def with_overrides(
    config: PipelineConfig,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    strategies: list[str] | None = None,
    settings: dict[str, Any] | None = None,
) -> PipelineConfig:
    """A copy of ``config`` with run-time overrides, validated like a YAML file.

    Parameters
    ----------
    start, end : date, optional
        Replace the date range of ``data`` and of every strategy's own ``data`` section.
    strategies : list of str, optional
        Run only these strategies (their sections must be in the config).
    settings : dict, optional
        Dotted YAML paths to new values, e.g. ``{"hedge.window": 60}``.
    """
    # Only what the config set: defaults re-apply on validation, and validators that
    # reject fields foreign to a choice (e.g. a factor source) see what the user wrote.
    raw = config.model_dump(mode="json", by_alias=True, exclude_unset=True)
    raw.setdefault("data", {})
    own_data = [raw[name]["data"] for name in config.strategies() if raw[name].get("data")]
    for section in [raw["data"], *own_data]:
        if start is not None:
            section["start"] = start.isoformat()
        if end is not None:
            section["end"] = end.isoformat()
    if strategies is not None:
        missing = sorted(set(strategies) - set(config.strategies()))
        if missing:
            raise ConfigError(
                config.name,
                [("strategies", f"{missing} not configured; configured: {config.strategies()}")],
            )
        for name in config.strategies():
            if name not in strategies:
                raw[name] = None
    for path, value in (settings or {}).items():
        _set_path(config, raw, path, value)
    return parse_config(raw, f"{config.name} (with overrides)")


def _set_path(config: PipelineConfig, raw: dict[str, Any], path: str, value: Any) -> None:
    """Set ``raw`` (a config as YAML holds it) at the dotted ``path``.

    A section the YAML leaves to its defaults (``optimization.sweep``) is created on the
    way; an absent optional section (a strategy the config does not run) or a section the
    schema does not know is a ConfigError naming the path.
    """
    *parents, leaf = path.split(".")
    node, section = raw, config
    for key in parents:
        current = getattr(section, key, None) if isinstance(section, Frozen) else None
        if key in node and node[key] is None:
            raise ConfigError(config.name, [(path, f"no section {key!r} in this run")])
        if isinstance(node.get(key), dict):
            pass
        elif isinstance(current, Frozen | dict):
            node[key] = {}  # a section (or mapping) left to its defaults
        elif isinstance(section, Frozen) and key in type(section).model_fields:
            raise ConfigError(config.name, [(path, f"no section {key!r} in this config")])
        else:
            raise ConfigError(config.name, [(path, f"unknown key {key!r} (no such section)")])
        node, section = node[key], current
    node[leaf] = value  # an unknown leaf is the schema's error (extra keys are forbidden)
