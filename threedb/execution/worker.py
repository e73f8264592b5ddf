"""A render worker: one process, one Blender scene, job after job.

Per job, the worker loads the (environment, model) pair unless it is loaded already. It then
applies the pre-processing controls, renders, undoes those controls and applies the
post-processing controls. Finally it runs the model, scores the prediction, and writes every
channel straight into the result slot the driver reserved.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import traceback
from typing import Any, Dict, List, Tuple

import numpy as np

from threedb.config.experiment import Experiment
from threedb.scheduling.search_space import split_by_control

logger = logging.getLogger(__name__)


def _make_controls(experiment: Experiment) -> Tuple[List[Any], List[Any]]:
    pre, post = [], []
    for spec in experiment.controls:
        module = importlib.import_module(spec.module)
        control_class = getattr(module, "Control", None) or getattr(module, "BlenderControl")
        control = control_class(root_folder=experiment.data_dir, **spec.args)
        (pre if control.kind == "pre" else post).append(control)
    return pre, post


def _control_args(control: Any, grouped: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    return dict(grouped.get(type(control).__name__, {}))


class Worker:
    """Everything one worker process holds: renderer, controls, model and evaluator."""

    def __init__(self, experiment: Experiment, buffer: Any, threads: int, seed: int,
                 channel_names: Any = None) -> None:
        import torch  # noqa: PLC0415

        from threedb.inference.model import InferenceModel  # noqa: PLC0415

        # One inference thread whatever the worker count: float sums then run in one order, so
        # logged losses are bit-identical between runs with 1 and with N workers.
        torch.set_num_threads(1)
        self.torch = torch
        self.experiment = experiment
        self.buffer = buffer
        self.channel_names = set(channel_names if channel_names is not None else buffer.channels)
        render_args = dict(experiment.render_args)
        if threads and not render_args.get("threads"):
            render_args["threads"] = threads
        renderer_module = importlib.import_module(render_args["engine"])
        self.renderer = renderer_module.Renderer(experiment.data_dir, render_args, seed=seed)
        self.pre_controls, self.post_controls = _make_controls(experiment)
        self.model = InferenceModel(experiment.inference)
        evaluator_module = importlib.import_module(experiment.evaluation["module"])
        self.evaluator = evaluator_module.Evaluator(**experiment.evaluation["args"])
        self.loaded: Tuple[str, str] | None = None

    def run_job(self, job: Dict[str, Any]) -> Dict[str, Any]:
        """Render and score one job; write its channels into ``job["slot"]``; return its small values."""
        channels, small = self.compute(job)
        self.buffer.write(job["slot"], channels)
        return small

    def compute(self, job: Dict[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        """Render and score one job; return ``(channels for the buffer, small values for the driver)``."""
        torch = self.torch
        pair = (job["environment"], job["model"])
        if self.loaded != pair:
            self.loaded = None
            self.renderer.setup_render(job["model"], job["environment"])
            self.loaded = pair

        uid = self.renderer.get_model_uid(job["model"])
        target = self.evaluator.get_target(uid)
        label = self.evaluator.get_segmentation_label(uid)
        context = self.renderer.get_context_dict(uid, label)
        grouped = split_by_control(job["params"])

        applied = []
        try:
            for control in self.pre_controls:
                control.apply(context, _control_args(control, grouped))
                applied.append(control)
            outputs = self.renderer.render(uid, None, None, job_seed=int(job["id"][:8], 16))
        finally:
            for control in reversed(applied):
                control.unapply(context)

        image = torch.from_numpy(outputs.pop("rgba"))
        for control in self.post_controls:
            image = control.apply(image, _control_args(control, grouped))
        rgb = image[:3].clamp(0, 1).contiguous()

        logits = self.model(rgb.unsqueeze(0))[0]
        stats = self.evaluator.summary_stats(logits, target)

        channels: Dict[str, Any] = {"rgb": rgb.numpy()}
        if "segmentation" in outputs:
            channels["segmentation"] = np.where(outputs["segmentation"] > 0, label, -1).astype(np.int32)
        for name in ("depth", "uv"):
            if name in outputs:
                channels[name] = outputs[name]
        channels.update({k: v for k, v in stats.items() if k in self.channel_names})

        small = {k: _plain(v) for k, v in stats.items()}
        small["target"] = target
        return channels, small


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def worker_main(index: int, experiment: Experiment, buffer: Any, tasks: Any, results: Any,
                threads: int, seed: int, log_level: int) -> None:
    """Entry point of a worker process: report ``ready``, then serve jobs until ``None``."""
    # Ctrl-C reaches the whole process group; the driver decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=log_level, format=f"%(asctime)s worker-{index} %(levelname)s %(name)s: %(message)s")
    # A parent that imported bpy passes bpy's own script folder in sys.path. That folder
    # contains a pure-Python "bpy" package that would shadow the compiled module here.
    sys.path[:] = [p for p in sys.path if not p.replace(os.sep, "/").endswith("scripts/modules")]
    try:
        worker = Worker(experiment, buffer, threads, seed)
    except Exception as error:  # noqa: BLE001 - the driver reports start-up failures
        results.put(("start_failed", index, None, f"{type(error).__name__}: {error}\n{traceback.format_exc()}"))
        return
    results.put(("ready", index, None, worker.renderer.device))
    logger.info("worker %d started (pid %d, device %s)", index, os.getpid(), worker.renderer.device)

    while True:
        job = tasks.get()
        if job is None:
            break
        results.put(("started", index, job["id"], None))
        try:
            values = worker.run_job(job)
        except Exception as error:  # noqa: BLE001 - a failing job must not stop the worker
            logger.warning("job %s failed: %s", job["id"], error)
            results.put(("failed", index, job["id"], f"{type(error).__name__}: {error}"))
            continue
        results.put(("done", index, job["id"], values))
    buffer.close()
    logger.info("worker %d stopped", index)
