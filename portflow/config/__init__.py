"""Experiment configuration: frozen pydantic models loaded from YAML.

One YAML file in ``configs/`` describes one experiment. Every section is a frozen model
that forbids unknown keys, and each stage receives only its own section (its *slice*),
whose field names are the keyword arguments of the stage's function in ``portflow.quant``.
"""

from portflow.config.allocation import AllocationConfig
from portflow.config.base import Frozen
from portflow.config.data import (
    SAMPLE_UNIVERSES,
    DataConfig,
    FilesData,
    SampleData,
    SyntheticData,
    YFinanceData,
)
from portflow.config.pipeline import (
    KNOBS,
    STRATEGIES,
    ConfigError,
    MonthlyConfig,
    PipelineConfig,
    PricesConfig,
    StoreConfig,
    Strategy,
    find_config,
    load_config,
    parse_config,
    with_overrides,
    yaml_value,
)

__all__ = [
    "AllocationConfig",
    "KNOBS",
    "STRATEGIES",
    "Strategy",
    "with_overrides",
    "find_config",
    "SAMPLE_UNIVERSES",
    "ConfigError",
    "DataConfig",
    "FilesData",
    "Frozen",
    "MonthlyConfig",
    "PipelineConfig",
    "PricesConfig",
    "SampleData",
    "StoreConfig",
    "SyntheticData",
    "YFinanceData",
    "load_config",
    "parse_config",
    "yaml_value",
]
