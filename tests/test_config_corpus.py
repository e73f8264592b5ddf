"""A corpus of malformed configs: each gets a clear error before any rendering, never a traceback."""

from __future__ import annotations

import os

import pytest

from threedb.cli import main

BASE = """
evaluation:
  args: {classmap_path: class_map.json}
render_args: {resolution: 32, samples: 2}
policy: {module: threedb.policies.grid_search, samples_per_dim: 2}
"""

CORPUS = [
    ("yaml_syntax", "policy: {module: [\n", "YAML syntax error at line"),
    ("top_level_list", "- a\n- b\n", "the file must contain a mapping of sections"),
    ("unknown_section", BASE + "polcy: {}\n", "polcy: unknown section (did you mean 'policy'?)"),
    ("section_wrong_type", BASE.replace("render_args: {resolution: 32, samples: 2}", "render_args: 5"),
     "render_args: must be a mapping (got 5)"),
    ("resolution_wrong_type", BASE.replace("resolution: 32", "resolution: big"),
     "render_args.resolution: must be an integer or [width, height]"),
    ("controls_not_list", BASE + "controls: 7\n", "controls: must be a list of controls"),
    ("control_without_module", BASE + "controls: [{rotation_x: 1}]\n", "controls[0].module: must name a control module"),
    ("unknown_control", BASE + "controls: [{module: orientaton}]\n", "did you mean 'orientation'?"),
    ("unknown_parameter", BASE + "controls: [{module: orientation, rotation_w: 1}]\n",
     "controls[0].rotation_w: unknown parameter of OrientationControl"),
    ("empty_range", BASE + "controls: [{module: orientation, rotation_x: []}]\n", "controls[0].rotation_x: empty range"),
    ("inverted_range", BASE + "controls: [{module: orientation, rotation_x: [1, -1]}]\n",
     "controls[0].rotation_x: inverted range: min 1.0 is greater than max -1.0"),
    ("three_bounds", BASE + "controls: [{module: orientation, rotation_x: [1, 2, 3]}]\n",
     "a continuous range needs exactly 2 numbers"),
    ("string_value", BASE + "controls: [{module: orientation, rotation_x: left}]\n",
     "controls[0].rotation_x: expected a number or a [min, max] range"),
    ("unknown_policy", BASE.replace("threedb.policies.grid_search", "threedb.policies.grid"),
     "policy.module: module 'threedb.policies.grid' not found"),
    ("policy_unknown_argument", BASE.replace("samples_per_dim: 2", "samples_per_dim: 2, sample: 3"),
     "policy.sample: unknown argument"),
    ("policy_bad_value", BASE.replace("samples_per_dim: 2", "samples_per_dim: -2"),
     "policy.samples_per_dim: must be an integer >= 1 (values per continuous parameter) (got -2)"),
    ("missing_policy", BASE.replace("policy: {module: threedb.policies.grid_search, samples_per_dim: 2}", ""),
     "policy: missing section"),
    ("unknown_inference_module", BASE + "inference: {module: no_such_models, class: Net}\n",
     "inference.module: module 'no_such_models' not found"),
    ("unknown_inference_class", BASE + "inference: {module: threedb.inference.efficientnet, class: Lite9}\n",
     "inference.class: not found in threedb.inference.efficientnet"),
    ("bad_normalization", BASE + "inference: {normalization: {mean: [0.5], std: [1, 1, 1]}}\n",
     "inference.normalization: must be {mean: [3 numbers], std: [3 numbers]}"),
    ("missing_checkpoint", BASE + "inference: {checkpoint: weights/missing.pth}\n",
     "inference.checkpoint: file not found"),
    ("missing_classmap", BASE.replace("class_map.json", "nowhere.json"),
     "evaluation.args.classmap_path: file not found"),
    ("evaluator_unknown_argument", BASE.replace("{classmap_path: class_map.json}", "{classmap_path: class_map.json, top_k: 5}"),
     "evaluation.args.top_k: unknown argument (did you mean 'topk'?)"),
    ("unknown_logger", BASE + "logging: {logger_modules: [threedb.result_logging.jsn_logger]}\n",
     "logging.logger_modules[0]: module 'threedb.result_logging.jsn_logger' not found"),
    ("logger_without_export", BASE + "logging: {logger_modules: [threedb.result_logging.base_logger]}\n",
     "logger module does not export `Logger`"),
    ("missing_base_config", "base_config: nothere.yaml\n" + BASE, "base_config: config file not found"),
]


@pytest.mark.parametrize("name,text,expected", CORPUS, ids=[c[0] for c in CORPUS])
def test_malformed_config_clear_error(tmp_path, demo_data, capsys, name, text, expected):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    output = tmp_path / "out"
    code = main(["run", str(path), "--data", demo_data, "--output", str(output), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 2
    assert expected in captured.err
    assert str(path) in captured.err or "base_config" in captured.err
    assert "Traceback" not in captured.err
    assert not output.exists()


def test_base_config_cycle_clear_error(tmp_path, demo_data, capsys):
    (tmp_path / "a.yaml").write_text("base_config: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base_config: a.yaml\n")
    code = main(["run", str(tmp_path / "a.yaml"), "--data", demo_data, "--output", str(tmp_path / "o")])
    captured = capsys.readouterr()
    assert code == 2
    assert "base_config chain has a cycle" in captured.err
    assert f"{tmp_path / 'a.yaml'} -> {tmp_path / 'b.yaml'} -> {tmp_path / 'a.yaml'}" in captured.err
    assert "Traceback" not in captured.err


def test_missing_config_file_clear_error(tmp_path, capsys):
    code = main(["run", str(tmp_path / "nope.yaml"), "--output", str(tmp_path / "o")])
    assert code == 2
    assert "config file not found" in capsys.readouterr().err


def test_missing_data_folder_clear_error(tmp_path, capsys):
    code = main(["run", os.path.join(os.path.dirname(__file__), "..", "examples", "quickstart.yaml"),
                 "--data", str(tmp_path / "nodata"), "--output", str(tmp_path / "o")])
    assert code == 2
    assert "--data: folder not found" in capsys.readouterr().err


def test_empty_data_folder_reports_both_parts(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    code = main(["run", os.path.join(os.path.dirname(__file__), "..", "examples", "quickstart.yaml"),
                 "--data", str(tmp_path / "data"), "--output", str(tmp_path / "o")])
    assert code == 2
    error = capsys.readouterr().err
    assert f"model folder not found: {tmp_path / 'data' / 'blender_models'}" in error
    assert f"environment folder not found: {tmp_path / 'data' / 'blender_environments'}" in error
    assert not (tmp_path / "o").exists()
