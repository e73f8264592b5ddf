"""The table printed at the end of a run."""

from __future__ import annotations

import collections
import os

from threedb.execution.local import RunSummary


def accuracy_table(summary: RunSummary) -> str:
    """Return accuracy per model (rows) x environment (columns), as text."""
    import pandas as pd  # noqa: PLC0415

    if not summary.records:
        return "(no successful renders)"
    frame = pd.DataFrame(summary.records)
    frame["is_correct"] = frame["is_correct"].astype(float)
    table = frame.pivot_table(index="model", columns="environment", values="is_correct", aggfunc="mean")
    table["all"] = frame.groupby("model")["is_correct"].mean()
    table.loc["all"] = list(frame.groupby("environment")["is_correct"].mean().reindex(table.columns[:-1])) + \
        [frame["is_correct"].mean()]
    return table.to_string(float_format=lambda v: f"{v:.2f}")


def print_summary(summary: RunSummary, output_dir: str) -> None:
    done = len(summary.records)
    new = done - summary.earlier_records
    rate = new / summary.wall_time_s if summary.wall_time_s > 0 else 0.0
    print()
    if not summary.earlier_jobs:
        counts = f"{done} renders, {len(summary.failures)} failed, {summary.wall_time_s:.1f} s, {rate:.2f} renders/s"
    else:
        if not new and not summary.failures:
            print(f"Nothing left to render: all {summary.earlier_jobs} jobs were already in details.log.")
        counts = (f"{done} renders: {new} new and {summary.earlier_records} from the earlier run, "
                  f"{len(summary.failures)} new failures, {summary.wall_time_s:.1f} s, {rate:.2f} new renders/s")
    print(f"Accuracy per model x environment ({counts}):")
    print(accuracy_table(summary))
    if summary.failures:
        errors = collections.Counter(f["error"].splitlines()[0] for f in summary.failures)
        print(f"\n{len(summary.failures)} jobs failed:")
        for error, count in errors.most_common(10):
            print(f"  {count} x {error}")
    print(f"\nResults: {os.path.join(output_dir, 'details.log')}")
    if os.path.isdir(os.path.join(output_dir, "images")):
        print(f"Images:  {os.path.join(output_dir, 'images')}")
