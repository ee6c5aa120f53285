"""Camera-trap data layer: images, records tables and Camtrap DP packages -> one clean records table.

Torch-free: `occupancy` imports it.
"""
from zoo.data.config import DataConfig, as_data_config, load_data_config
from zoo.data.labels import LabelNormalizer, canonical
from zoo.data.schema import COLUMNS, RecordsError, read_records, validate_records
from zoo.data.sequences import assign_sequences
from zoo.data.splits import leaking_sequences, split_by_group, split_from_file, split_stratified
from zoo.data.study import Study, build_study, load_records, load_study
from zoo.data.times import parse_times

__all__ = [
    "COLUMNS", "DataConfig", "LabelNormalizer", "RecordsError", "Study", "as_data_config", "assign_sequences",
    "build_study", "canonical", "leaking_sequences", "load_data_config", "load_records", "load_study",
    "parse_times", "read_records", "split_by_group", "split_from_file", "split_stratified", "validate_records",
]
