"""Render workers on a real Ray cluster on this machine: a head node and a worker node on
127.0.0.1, started by ``ray_cluster.py``. A Ray run must log what a local run logs, and an actor
or node that dies must lose no job and log none twice.

Without Ray installed these tests fail, unless THREEDB_SKIP_RAY=1 skips them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import psutil
import pytest

from conftest import TESTS_DIR, subset_data, tiny_config, write_config

RAY_INSTALLED = importlib.util.find_spec("ray") is not None
SKIP_RAY = os.environ.get("THREEDB_SKIP_RAY") == "1"
CLUSTER_START_TIMEOUT_S = 120
RUN_TIMEOUT_S = 300

pytestmark = pytest.mark.skipif(SKIP_RAY and not RAY_INSTALLED, reason="Ray is not installed and THREEDB_SKIP_RAY=1")


def require_ray():
    if not RAY_INSTALLED:
        pytest.fail('Ray is not installed: run pip install -e ".[test]" (or "threedb[ray]"), '
                    "or set THREEDB_SKIP_RAY=1 to skip the Ray tests", pytrace=False)


def ray_env(ray_tmp):
    """Return the environment for the cluster and for threedb: Ray on 127.0.0.1, its files under ``ray_tmp``."""
    return {
        **os.environ,
        "PYTHONPATH": TESTS_DIR + os.pathsep + os.environ.get("PYTHONPATH", ""),
        # Keeps Ray on the loopback address; see ray_cluster.py.
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_TMPDIR": str(ray_tmp),
    }


class RayCluster:
    """A ``ray_cluster.py`` process: its address, environment and the commands it takes."""

    def __init__(self, node_cpus):
        # Ray's Unix socket paths must stay under 108 bytes, too short for pytest's tmp_path.
        self.ray_tmp = tempfile.mkdtemp(prefix="tdb-ray-")
        self.env = ray_env(self.ray_tmp)
        self.stderr_path = os.path.join(self.ray_tmp, "cluster.err")
        with open(self.stderr_path, "w", encoding="utf-8") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, os.path.join(TESTS_DIR, "ray_cluster.py"), *[str(n) for n in node_cpus]],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True, env=self.env)
        self.address = self._read_line(CLUSTER_START_TIMEOUT_S)["address"]

    def _read_line(self, timeout):
        lines = []
        reader = threading.Thread(target=lambda: lines.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not lines or not lines[0]:
            with open(self.stderr_path, encoding="utf-8") as handle:
                errors = handle.read()[-3000:]
            self.stop()
            raise AssertionError(f"the Ray test cluster did not answer within {timeout} s:\n{errors}")
        return json.loads(lines[0])

    def remove_node(self):
        self.process.stdin.write("remove-node\n")
        self.process.stdin.flush()
        assert self._read_line(60) == {"removed": True}

    def stop(self):
        """Shut the cluster down, then kill any process left that runs with this cluster's RAY_TMPDIR."""
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        for process in psutil.process_iter(["pid"]):
            try:
                if process.pid != os.getpid() and process.environ().get("RAY_TMPDIR") == self.ray_tmp:
                    process.kill()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        shutil.rmtree(self.ray_tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    """A head node and one worker node with 1 CPU each, so two 1-CPU workers run on different nodes."""
    require_ray()
    started = RayCluster([1, 1])
    yield started
    started.stop()


def threedb(*args, env, timeout=RUN_TIMEOUT_S):
    return subprocess.run([sys.executable, "-m", "threedb", *args, "--no-progress"], capture_output=True,
                          text=True, timeout=timeout, env=env)


def records(output):
    with open(os.path.join(output, "details.log"), encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def resource_rows(output):
    with open(os.path.join(output, "resources.jsonl"), encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def run_info(output):
    with open(os.path.join(output, "run_info.json"), encoding="utf-8") as handle:
        return json.load(handle)


def grid_config(tmp_path, samples, controls=None):
    config = tiny_config(policy={"module": "threedb.policies.grid_search", "samples_per_dim": samples})
    if controls is not None:
        config["controls"] = controls
    return write_config(tmp_path, config)


def test_ray_run_equals_local_run(tmp_path, demo_data, cluster):
    data = subset_data(tmp_path, demo_data, ["teddy.blend", "mug.blend"], ["studio.exr"])
    config = tiny_config(render_args={"resolution": 32, "samples": 2},
                         policy={"module": "threedb.policies.random_search", "samples": 3})
    config["controls"].append({"module": "threedb.controls.blender.camera", "zoom_factor": [0.7, 1.3],
                               "aperture": 32.0, "focal_length": 50.0})
    path = write_config(tmp_path, config)
    local, remote = str(tmp_path / "local"), str(tmp_path / "ray")

    result = threedb("run", path, "--data", data, "--output", local, "--workers", "2", "--seed", "5", env=cluster.env)
    assert result.returncode == 0, result.stderr
    result = threedb("run", path, "--data", data, "--output", remote, "--workers", "2", "--seed", "5",
                     "--ray", "auto", env=cluster.env)
    assert result.returncode == 0, result.stderr

    local_records = {r["id"]: r for r in records(local)}
    ray_records = {r["id"]: r for r in records(remote)}
    assert len(local_records) == 6
    assert ray_records.keys() == local_records.keys()
    for identifier, record in local_records.items():
        assert ray_records[identifier]["prediction"] == record["prediction"]
        assert ray_records[identifier]["loss"] == record["loss"]
        assert ray_records[identifier] == record
    for identifier in local_records:
        local_png = (tmp_path / "local" / "images" / f"{identifier}_rgb.png").read_bytes()
        ray_png = (tmp_path / "ray" / "images" / f"{identifier}_rgb.png").read_bytes()
        assert ray_png == local_png
    assert sorted(os.listdir(remote)) == sorted(os.listdir(local))

    info = run_info(remote)
    assert info["backend"] == "ray"
    assert info["ray"] == {"address": "auto", "worker_cpus": 1.0, "worker_gpus": 0.0}
    assert len(info["devices"]) == 2
    assert all(device.startswith("CPU on ") for device in info["devices"])
    assert run_info(local)["backend"] == "local"

    # The last sample of resources.jsonl has both workers: read from /proc locally, reported
    # by the actors with their host on Ray.
    for output, remote_rows in ((local, False), (remote, True)):
        rows = resource_rows(output)
        last = [row for row in rows if row["t"] == rows[-1]["t"]]
        workers = {row["role"]: row for row in last if row["role"].startswith("worker-")}
        assert sorted(workers) == ["worker-0", "worker-1"]
        for row in workers.values():
            assert row["rss_mib"] > 100
            assert row["results"] == 6
            assert ("host" in row) == remote_rows


def test_killed_actor_jobs_rerun_once(tmp_path, demo_data, cluster):
    data = subset_data(tmp_path, demo_data, ["teddy.blend", "mug.blend"], ["studio.exr"])
    controls = [{"module": "faults.kill_control", "args": {"marker_dir": str(tmp_path), "mode": "once"}}]
    output = str(tmp_path / "out")
    result = threedb("run", grid_config(tmp_path, 3, controls), "--data", data, "--output", output,
                     "--workers", "2", "--ray", cluster.address, env=cluster.env)
    assert result.returncode == 0, result.stderr
    assert os.path.exists(tmp_path / "killed-1.000")
    assert "worker 0 died" in result.stderr or "worker 1 died" in result.stderr
    assert "its worker process has died" in result.stderr

    logged = records(output)
    assert len(logged) == 6
    assert len({r["id"] for r in logged}) == 6
    assert all(r["status"] == "ok" for r in logged)


def test_raising_job_fails_alone_on_ray(tmp_path, demo_data, cluster):
    data = subset_data(tmp_path, demo_data, ["teddy.blend"], ["studio.exr"])
    output = str(tmp_path / "out")
    result = threedb("run", grid_config(tmp_path, 3, [{"module": "faults.raising_control"}]), "--data", data,
                     "--output", output, "--workers", "2", "--ray", cluster.address, env=cluster.env)
    assert result.returncode == 1, result.stderr
    logged = records(output)
    assert sorted(r["status"] for r in logged) == ["failed", "ok", "ok"]
    failed = [r for r in logged if r["status"] == "failed"][0]
    assert failed["error"] == "ValueError: control refused value 1.0"
    assert failed["attempts"] == 1
    assert "died" not in result.stderr


def wait_for_lines(path, count, process, timeout=RUN_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                if sum(1 for _ in handle) >= count:
                    return
        assert process.poll() is None, "threedb ended before the node was removed"
        time.sleep(0.2)
    raise AssertionError(f"{path} did not reach {count} lines within {timeout} s")


def test_lost_node_jobs_rerun_once(tmp_path, demo_data):
    require_ray()
    own_cluster = RayCluster([1, 1])
    try:
        data = subset_data(tmp_path, demo_data, ["teddy.blend", "mug.blend"], ["studio.exr"])
        # 16 jobs of at least 0.5 s on 2 workers: the node goes while most jobs are still to run.
        slow = [{"module": "faults.slow_control", "args": {"seconds": 0.5}}]
        output = str(tmp_path / "out")
        stderr_path = tmp_path / "stderr.txt"
        with open(stderr_path, "w", encoding="utf-8") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "threedb", "run", grid_config(tmp_path, 8, slow), "--data", data, "--output", output,
                 "--workers", "2", "--ray", own_cluster.address, "--no-progress", "-v"],
                stdout=subprocess.DEVNULL, stderr=stderr, env=own_cluster.env)
            try:
                wait_for_lines(os.path.join(output, "details.log"), 2, process)
                own_cluster.remove_node()
                returncode = process.wait(timeout=RUN_TIMEOUT_S)
            finally:
                if process.poll() is None:
                    process.kill()
        log = stderr_path.read_text(encoding="utf-8")
    finally:
        own_cluster.stop()

    assert returncode == 0, log[-5000:]
    assert "died (Ray actor lost" in log
    assert "jobs in flight; starting a replacement" in log
    logged = records(output)
    assert len(logged) == 16
    assert len({r["id"] for r in logged}) == 16
    assert all(r["status"] == "ok" for r in logged)


def test_sigterm_then_resume_on_ray(tmp_path, demo_data, cluster):
    data = subset_data(tmp_path, demo_data, ["teddy.blend", "mug.blend"], ["studio.exr"])
    config = grid_config(tmp_path, 8, [{"module": "faults.slow_control", "args": {"seconds": 0.3}}])
    output = str(tmp_path / "out")
    process = subprocess.Popen(
        [sys.executable, "-m", "threedb", "run", config, "--data", data, "--output", output, "--workers", "2",
         "--ray", cluster.address, "--no-progress"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=cluster.env)
    try:
        wait_for_lines(os.path.join(output, "details.log"), 3, process)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    # Exit code 130 and this message come from threedb's own SIGTERM handler, which ray.init replaces.
    assert process.returncode == 130, stderr
    assert "interrupted; results computed so far are in the output directory" in stderr
    first = records(output)
    assert 3 <= len(first) < 16
    assert len({r["id"] for r in first}) == len(first)

    resumed = threedb("run", config, "--data", data, "--output", output, "--workers", "2", "--ray", cluster.address,
                      "--resume", env=cluster.env)
    assert resumed.returncode == 0, resumed.stderr
    union = records(output)
    assert len(union) == 16
    assert len({r["id"] for r in union}) == 16


def test_cluster_too_small_rejected(tmp_path, demo_data, cluster):
    data = subset_data(tmp_path, demo_data, ["teddy.blend"], ["studio.exr"])
    path = grid_config(tmp_path, 2)
    cases = [
        (["--workers", "1", "--worker-gpus", "1"], "no node of the Ray cluster has 1 CPUs and 1 GPUs"),
        (["--workers", "3"], "the Ray cluster has room for 2 workers of 1 CPUs and 0 GPUs"),
    ]
    for options, message in cases:
        output = tmp_path / f"out{len(options)}"
        result = threedb("run", path, "--data", data, "--output", str(output), "--ray", cluster.address, *options,
                         env=cluster.env, timeout=120)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr
        assert not output.exists()


def test_autoscaling_starts_on_small_cluster(tmp_path, demo_data, cluster):
    # The two 1-CPU nodes have room for 2 of the 3 workers. Without an autoscaler the third
    # is never placed, and the run finishes with the two others.
    data = subset_data(tmp_path, demo_data, ["teddy.blend"], ["studio.exr"])
    output = tmp_path / "out"
    result = threedb("run", grid_config(tmp_path, 3), "--data", data, "--output", str(output), "--ray",
                     cluster.address, "--workers", "3", "--ray-autoscaling", env=cluster.env)
    assert result.returncode == 0, result.stderr
    assert "the Ray cluster has room for 2 workers" in result.stderr
    assert "Starting anyway (--ray-autoscaling)" in result.stderr
    assert len(records(output)) == 3


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_cluster_rejected_fast(tmp_path, demo_data):
    require_ray()
    data = subset_data(tmp_path, demo_data, ["teddy.blend"], ["studio.exr"])
    output = tmp_path / "out"
    started = time.monotonic()
    result = threedb("run", grid_config(tmp_path, 2), "--data", data, "--output", str(output),
                     "--ray", f"127.0.0.1:{free_port()}", env=ray_env(tmp_path), timeout=120)
    assert result.returncode == 2
    assert "no Ray cluster is reachable there" in result.stderr
    assert time.monotonic() - started < 60
    assert not output.exists()


def test_missing_ray_named_with_install_command(tmp_path, demo_data):
    # A package named ray that fails to import simulates an environment without Ray.
    (tmp_path / "shadow" / "ray").mkdir(parents=True)
    (tmp_path / "shadow" / "ray" / "__init__.py").write_text('raise ImportError("No module named \'ray\'")\n')
    data = subset_data(tmp_path, demo_data, ["teddy.blend"], ["studio.exr"])
    output = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "shadow")}
    result = threedb("run", grid_config(tmp_path, 2), "--data", data, "--output", str(output), "--ray", "auto",
                     env=env, timeout=120)
    assert result.returncode == 2
    assert 'Install it with: pip install "threedb[ray]"' in result.stderr
    assert not output.exists()


@pytest.mark.parametrize("options,message", [
    (["--worker-gpus", "1"], "--worker-gpus sets the resources of Ray workers and needs --ray ADDRESS"),
    (["--worker-cpus", "2"], "--worker-cpus sets the resources of Ray workers and needs --ray ADDRESS"),
    (["--ray-autoscaling"], "--ray-autoscaling describes a Ray cluster and needs --ray ADDRESS"),
    (["--ray", "head-node"], "--ray: invalid address 'head-node'"),
    (["--ray", "auto", "--worker-cpus", "0"], "--worker-cpus must be above 0, got 0"),
])
def test_invalid_ray_options_rejected(tmp_path, options, message):
    if "auto" in options:
        require_ray()
    config = write_config(tmp_path, tiny_config())
    result = threedb("run", config, "--output", str(tmp_path / "out"), *options, env=dict(os.environ), timeout=60)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "out").exists()
