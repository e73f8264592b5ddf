"""Faults injected for real: killed workers, broken assets, failing controls, models and loggers,
interrupts, resume and reproducibility. Each test checks that nothing is lost or duplicated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import TESTS_DIR, subset_data, tiny_config, write_config

ENV = {**os.environ, "PYTHONPATH": TESTS_DIR + os.pathsep + os.environ.get("PYTHONPATH", "")}


def threedb(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "threedb", *args, "--no-progress"], capture_output=True,
                          text=True, timeout=timeout, env=env or ENV)


def lines(output):
    with open(os.path.join(output, "details.log"), encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def kill_config(tmp_path, mode):
    config = tiny_config(policy={"module": "threedb.policies.grid_search", "samples_per_dim": 3})
    config["controls"] = [{"module": "faults.kill_control", "args": {"marker_dir": str(tmp_path), "mode": mode}}]
    return write_config(tmp_path, config)


@pytest.fixture
def small_data(tmp_path, demo_data):
    return subset_data(tmp_path, demo_data, ["teddy.blend"], ["studio.exr"])


def test_killed_worker_jobs_rerun_once(tmp_path, small_data):
    output = str(tmp_path / "out")
    result = threedb("run", kill_config(tmp_path, "once"), "--data", small_data, "--output", output, "--workers", "2")
    assert result.returncode == 0, result.stderr
    records = lines(output)
    assert len(records) == 3
    assert len({r["id"] for r in records}) == 3
    assert all(r["status"] == "ok" for r in records)
    assert os.path.exists(tmp_path / "killed-1.000")


def test_job_killing_every_worker_marked_failed(tmp_path, small_data):
    output = str(tmp_path / "out")
    result = threedb("run", kill_config(tmp_path, "always"), "--data", small_data, "--output", output)
    assert result.returncode == 1
    records = lines(output)
    assert len(records) == 3
    failed = [r for r in records if r["status"] == "failed"]
    assert len(failed) == 1
    assert failed[0]["render_args"]["KillControl.value"] == 1.0
    assert "worker process died 3 times" in failed[0]["error"]
    assert "killed by signal 9" in failed[0]["error"]
    assert "1 jobs failed" in result.stdout


def test_death_while_scoring_blames_culprit(tmp_path, small_data):
    # The worker scores job k on a second thread while it renders job k+1, so it dies with two
    # jobs under way. Both rerun alone, and only the one that kills again is charged.
    config = tiny_config(policy={"module": "threedb.policies.grid_search", "samples_per_dim": 5})
    config["controls"] = [{"module": "faults.kill_while_scoring", "args": {"kill_value": 0.5}}]
    output = str(tmp_path / "out")
    result = threedb("run", write_config(tmp_path, config), "--data", small_data, "--output", output)
    assert result.returncode == 1
    assert "both rerun alone" in result.stderr
    records = lines(output)
    assert sorted(r["render_args"]["KillWhileScoring.value"] for r in records) == [0.0, 0.25, 0.5, 0.75, 1.0]
    failed = [r for r in records if r["status"] == "failed"]
    assert [r["render_args"]["KillWhileScoring.value"] for r in failed] == [0.5]
    assert "worker process died 3 times" in failed[0]["error"]
    assert len({r["id"] for r in records}) == 5


def test_raising_control_fails_only_its_jobs(tmp_path, small_data):
    config = tiny_config(policy={"module": "threedb.policies.grid_search", "samples_per_dim": 3})
    config["controls"] = [{"module": "faults.raising_control"}]
    output = str(tmp_path / "out")
    result = threedb("run", write_config(tmp_path, config), "--data", small_data, "--output", output)
    assert result.returncode == 1
    statuses = sorted(r["status"] for r in lines(output))
    assert statuses == ["failed", "ok", "ok"]
    assert "ValueError: control refused value 1.0" in result.stdout


def test_raising_model_fails_only_its_jobs(tmp_path, small_data):
    config = tiny_config(inference={"module": "faults.models", "class": "FlakyClassifier"})
    output = str(tmp_path / "out")
    result = threedb("run", write_config(tmp_path, config), "--data", small_data, "--output", output)
    assert result.returncode == 1
    records = lines(output)
    assert sorted(r["status"] for r in records) == ["failed", "ok"]
    assert "model failed on this input" in [r for r in records if r["status"] == "failed"][0]["error"]


@pytest.mark.parametrize("broken", ["corrupt_model", "empty_model", "empty_environment"])
def test_broken_asset_fails_only_its_jobs(tmp_path, demo_data, broken):
    data = subset_data(tmp_path, demo_data, ["teddy.blend"], ["studio.exr"])
    if broken == "corrupt_model":
        (tmp_path / "data" / "blender_models" / "zz_broken.blend").write_bytes(os.urandom(4096))
    elif broken == "empty_model":
        (tmp_path / "data" / "blender_models" / "zz_broken.blend").write_bytes(b"")
    else:
        (tmp_path / "data" / "blender_environments" / "zz_broken.exr").write_bytes(b"")
    classmap = {"teddy": 850, "zz_broken": 1}
    (tmp_path / "classmap.json").write_text(json.dumps(classmap))
    config = tiny_config()
    config["evaluation"]["args"]["classmap_path"] = str(tmp_path / "classmap.json")
    output = str(tmp_path / "out")
    result = threedb("run", write_config(tmp_path, config), "--data", data, "--output", output)
    assert result.returncode == 1, result.stderr
    records = lines(output)
    bad = [r for r in records if "zz_broken" in r["model"] + r["environment"]]
    good = [r for r in records if r not in bad]
    assert bad and all(r["status"] == "failed" for r in bad)
    assert good and all(r["status"] == "ok" for r in good)
    assert all("zz_broken" in r["error"] for r in bad)
    assert len({r["id"] for r in records}) == len(records)


@pytest.mark.parametrize("module,message", [
    ("faults.raising_logger", "logger faults.raising_logger raised an error"),
    ("faults.dying_logger", "logger faults.dying_logger died (killed by signal 9)"),
])
def test_failing_logger_named_and_json_complete(tmp_path, small_data, module, message):
    config = tiny_config(policy={"module": "threedb.policies.grid_search", "samples_per_dim": 6},
                         logging={"logger_modules": ["threedb.result_logging.json_logger", module]})
    output = str(tmp_path / "out")
    result = threedb("run", write_config(tmp_path, config), "--data", small_data, "--output", output)
    assert result.returncode == 2
    assert message in result.stderr
    records = lines(output)
    assert len({r["id"] for r in records}) == len(records) >= 2
    with open(os.path.join(output, "details.log"), encoding="utf-8") as handle:
        assert handle.read().endswith("\n")


def test_logger_that_never_frees_is_named(tmp_path, small_data):
    config = tiny_config(policy={"module": "threedb.policies.grid_search", "samples_per_dim": 12},
                         logging={"logger_modules": ["threedb.result_logging.json_logger", "faults.hoarding_logger"],
                                  "buffer_size": 4})
    output = str(tmp_path / "out")
    env = {**ENV, "THREEDB_STALL_TIMEOUT": "5"}
    started = time.monotonic()
    result = threedb("run", write_config(tmp_path, config), "--data", small_data, "--output", output, env=env)
    assert result.returncode == 2
    assert "logger faults.hoarding_logger holds 4 of 4 entries without calling free" in result.stderr
    assert time.monotonic() - started < 120
    assert len(lines(output)) == 4


def ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def wait_for_lines(path, count, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and sum(1 for _ in open(path, encoding="utf-8")) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"{path} did not reach {count} lines")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_then_resume_equals_full_run(tmp_path, demo_data, sig):
    data = subset_data(tmp_path, demo_data, ["teddy.blend", "mug.blend"], ["studio.exr"])
    # The slow control makes the 16 jobs take several seconds, so the signal lands mid-run.
    settings = tiny_config(policy={"module": "threedb.policies.grid_search", "samples_per_dim": 8})
    settings["controls"].append({"module": "faults.slow_control", "args": {"seconds": 0.3}, "value": 0.5})
    config = write_config(tmp_path, settings)
    output = str(tmp_path / "out")
    # The run starts with SIGINT ignored, as a shell starts background jobs: threedb must still stop.
    process = subprocess.Popen([sys.executable, "-m", "threedb", "run", config, "--data", data, "--output", output,
                                "--no-progress", "--seed", "3"], env=ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=ignore_sigint)
    wait_for_lines(os.path.join(output, "details.log"), 3)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    first = lines(output)
    assert 3 <= len(first) < 16
    assert len({r["id"] for r in first}) == len(first)

    # A crash can leave half a line; resume must cope with it.
    with open(os.path.join(output, "details.log"), "a", encoding="utf-8") as handle:
        handle.write('{"id": "half-writ')
    resumed = threedb("run", config, "--data", data, "--output", output, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    union = lines(output)
    assert len(union) == 16
    assert len({r["id"] for r in union}) == 16

    reference = str(tmp_path / "reference")
    full = threedb("run", config, "--data", data, "--output", reference, "--seed", "3")
    assert full.returncode == 0
    assert {r["id"] for r in lines(reference)} == {r["id"] for r in union}


def test_resume_of_finished_run_renders_nothing(tmp_path, small_data):
    path = write_config(tmp_path, tiny_config())
    output = str(tmp_path / "out")
    assert threedb("run", path, "--data", small_data, "--output", output).returncode == 0
    details = (tmp_path / "out" / "details.log").read_bytes()
    info = (tmp_path / "out" / "run_info.json").read_text(encoding="utf-8")
    resumed = threedb("run", path, "--data", small_data, "--output", output, "--resume", "-v")
    assert resumed.returncode == 0, resumed.stderr
    assert "Nothing left to render: all 2 jobs were already in details.log." in resumed.stdout
    assert "(2 renders: 0 new and 2 from the earlier run, 0 new failures" in resumed.stdout
    assert "ready on" not in resumed.stderr  # no worker was started
    assert (tmp_path / "out" / "details.log").read_bytes() == details
    assert json.loads((tmp_path / "out" / "run_info.json").read_text(encoding="utf-8"))["devices"] == \
        json.loads(info)["devices"]


def test_resume_with_other_config_rejected(tmp_path, small_data):
    config = tiny_config()
    path = write_config(tmp_path, config)
    output = str(tmp_path / "out")
    assert threedb("run", path, "--data", small_data, "--output", output).returncode == 0
    config["render_args"]["samples"] = 3
    result = threedb("run", write_config(tmp_path, config), "--data", small_data, "--output", output, "--resume")
    assert result.returncode == 2
    assert "config differs" in result.stderr
    assert "render_args.samples: 2 then, 3 now" in result.stderr


def test_same_seed_same_results_any_worker_count(tmp_path, demo_data):
    data = subset_data(tmp_path, demo_data, ["teddy.blend", "mug.blend"], ["forest.exr", "studio.exr"])
    config = tiny_config(render_args={"resolution": 32, "samples": 2},
                         policy={"module": "threedb.policies.random_search", "samples": 3})
    config["controls"].append({"module": "threedb.controls.blender.camera", "zoom_factor": [0.7, 1.3],
                               "aperture": 32.0, "focal_length": 50.0})
    path = write_config(tmp_path, config)
    runs = {}
    for workers in ("1", "2"):
        output = str(tmp_path / f"out{workers}")
        assert threedb("run", path, "--data", data, "--output", output, "--workers", workers,
                       "--seed", "11").returncode == 0
        runs[workers] = {r["id"]: r for r in lines(output)}
    assert runs["1"] == runs["2"]
    assert len(runs["1"]) == 12
    for identifier in runs["1"]:
        one = open(tmp_path / "out1" / "images" / f"{identifier}_rgb.png", "rb").read()
        two = open(tmp_path / "out2" / "images" / f"{identifier}_rgb.png", "rb").read()
        assert one == two
    info = json.load(open(tmp_path / "out1" / "run_info.json"))
    assert info["seed"] == 11
    assert {"threedb", "blender", "torch"} <= set(info["versions"])
