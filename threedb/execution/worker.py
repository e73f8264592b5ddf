"""A render worker: one process, one Blender scene, job after job.

Per job, the worker loads the (environment, model) pair unless it is loaded already. It then
applies the pre-processing controls, renders, undoes those controls and applies the
post-processing controls. Finally it runs the model, scores the prediction, and writes every
channel straight into the result slot the driver reserved.

Rendering and scoring are separate steps (:meth:`Worker.render`, :meth:`Worker.score`), so a
local worker process scores one job on a second thread while Blender renders the next.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import threading
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
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


@dataclass
class Rendered:
    """A rendered job on its way from :meth:`Worker.render` to :meth:`Worker.score`."""

    outputs: Dict[str, Any]
    target: Any
    label: int
    grouped: Dict[str, Dict[str, Any]]
    measured: Dict[str, float]


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
        return self.score(job, self.render(job))

    def render(self, job: Dict[str, Any]) -> Rendered:
        """Load the job's scene if needed, apply the pre-processing controls and render.

        Blender runs here, so this must be called from the thread that imported ``bpy``.
        """
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
        measured: Dict[str, float] = {}
        try:
            for control in self.pre_controls:
                control.apply(context, _control_args(control, grouped))
                applied.append(control)
                _collect(control, measured)
            outputs = self.renderer.render(uid, None, None, job_seed=int(job["id"][:8], 16))
        finally:
            for control in reversed(applied):
                control.unapply(context)
        return Rendered(outputs=outputs, target=target, label=label, grouped=grouped, measured=measured)

    def score(self, job: Dict[str, Any], rendered: Rendered) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        """Apply the post-processing controls, run the model and score its prediction.

        Touches no Blender data, so it may run on another thread while the next job renders.
        """
        outputs, grouped = rendered.outputs, rendered.grouped
        measured = dict(rendered.measured)
        image = self.torch.from_numpy(outputs.pop("rgba"))
        for control in self.post_controls:
            image = control.apply(image, _control_args(control, grouped))
            _collect(control, measured)
        rgb = image[:3].clamp(0, 1).contiguous()

        logits = self.model(rgb.unsqueeze(0))[0]
        stats = self.evaluator.summary_stats(logits, rendered.target)

        channels: Dict[str, Any] = {"rgb": rgb.numpy()}
        if "segmentation" in outputs:
            channels["segmentation"] = np.where(outputs["segmentation"] > 0, rendered.label, -1).astype(np.int32)
        for name in ("depth", "uv"):
            if name in outputs:
                channels[name] = outputs[name]
        channels.update({k: v for k, v in stats.items() if k in self.channel_names})

        small = {k: _plain(v) for k, v in stats.items()}
        small["target"] = rendered.target
        if measured:
            small["measured"] = measured
        return channels, small


def _collect(control: Any, measured: Dict[str, float]) -> None:
    """Add what ``control`` measured in its last ``apply`` to ``measured``, as ``Control.name``."""
    report = getattr(control, "measurements", None)  # 3DB controls have no such method
    if report is None:
        return
    for key, value in report().items():
        measured[f"{type(control).__name__}.{key}"] = float(value)


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


class _Reporter:
    """The result channel, shared by the render thread and the scoring thread."""

    def __init__(self, results: Any) -> None:
        self.results = results
        self.lock = threading.Lock()

    def put(self, message: Tuple[str, int, Any, Any]) -> None:
        with self.lock:
            self.results.put(message)


def _score_and_report(worker: Worker, index: int, job: Dict[str, Any], rendered: Rendered,
                      reporter: _Reporter) -> None:
    try:
        channels, values = worker.score(job, rendered)
        worker.buffer.write(job["slot"], channels)
    except Exception as error:  # noqa: BLE001 - a failing job must not stop the worker
        logger.warning("job %s failed: %s", job["id"], error)
        reporter.put(("failed", index, job["id"], f"{type(error).__name__}: {error}"))
        return
    reporter.put(("done", index, job["id"], values))


def worker_main(index: int, experiment: Experiment, buffer: Any, tasks: Any, results: Any,
                threads: int, seed: int, log_level: int) -> None:
    """Entry point of a worker process: report ``ready``, then serve jobs until ``None``.

    The main thread renders and a second thread scores. While job k is scored, job k+1
    already renders, so the model's time overlaps Blender's instead of adding to it. At most
    one job is scored at a time. A job marked ``isolate`` runs alone: nothing is scored while
    it renders, and the next job waits for its score. The driver marks both jobs that way
    after a worker died with two jobs under way, to learn which one killed it.
    """
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
    reporter = _Reporter(results)
    reporter.put(("ready", index, None, worker.renderer.device))
    logger.info("worker %d started (pid %d, device %s)", index, os.getpid(), worker.renderer.device)

    scorer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="threedb-score")
    scoring: Future | None = None
    while True:
        job = tasks.get()
        if job is None:
            break
        if job.get("isolate") and scoring is not None:
            scoring.result()
        reporter.put(("started", index, job["id"], None))
        try:
            rendered = worker.render(job)
        except Exception as error:  # noqa: BLE001 - a failing job must not stop the worker
            logger.warning("job %s failed: %s", job["id"], error)
            reporter.put(("failed", index, job["id"], f"{type(error).__name__}: {error}"))
            continue
        if scoring is not None:
            scoring.result()
        scoring = scorer.submit(_score_and_report, worker, index, job, rendered, reporter)
        if job.get("isolate"):
            scoring.result()
    scorer.shutdown(wait=True)
    buffer.close()
    logger.info("worker %d stopped", index)
