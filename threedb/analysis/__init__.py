"""Load threedb and 3DB results into pandas and find where a model fails.

>>> from threedb.analysis import load_results, accuracy_by_parameter
>>> df = load_results("results/")                       # doctest: +SKIP
>>> accuracy_by_parameter(df, "OrientationControl.rotation_z", bins=8)  # doctest: +SKIP
"""

from ._frame import (
    IMAGE_PATH_COLUMN,
    RESULT_COLUMNS,
    ResultsTable,
    load_results,
    parameter_columns,
    scan_image_files,
    validate_output_dir,
)
from ._stats import (
    AnalysisError,
    Grouping,
    accuracy_by_model_environment,
    accuracy_by_parameter,
    accuracy_by_parameter_pair,
    accuracy_heatmap,
    check_parameter,
    format_number,
    group_parameter,
    is_numeric_parameter,
    keep_top_categories,
    scored_results,
    summarize_results,
    wilson_interval,
    worst_configurations,
)

__all__ = [
    "AnalysisError",
    "Grouping",
    "IMAGE_PATH_COLUMN",
    "RESULT_COLUMNS",
    "ResultsTable",
    "accuracy_by_model_environment",
    "accuracy_by_parameter",
    "accuracy_by_parameter_pair",
    "accuracy_heatmap",
    "check_parameter",
    "format_number",
    "group_parameter",
    "is_numeric_parameter",
    "keep_top_categories",
    "load_results",
    "parameter_columns",
    "scan_image_files",
    "scored_results",
    "summarize_results",
    "validate_output_dir",
    "wilson_interval",
    "worst_configurations",
]
