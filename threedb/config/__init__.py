"""Experiment configs: YAML loading with ``base_config`` merging, and validation."""

from threedb.config.loader import LoadedConfig, load_config, merge_configs
from threedb.config.experiment import Experiment, ControlSpec, build_experiment

__all__ = ["LoadedConfig", "load_config", "merge_configs", "Experiment", "ControlSpec", "build_experiment"]
