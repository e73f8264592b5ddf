"""The ``threedb`` command line: ``run``, ``dashboard`` and ``report``."""

from __future__ import annotations

import argparse
import functools
import json
import logging
import math
import os
import signal
import sys
from typing import TYPE_CHECKING, List

from threedb._standalone import LOG_FORMAT, log_level
from threedb.errors import ThreeDBError

if TYPE_CHECKING:
    from threedb.config.experiment import Experiment
    from threedb.execution.local import LocalRun

logger = logging.getLogger("threedb")

RUN_DESCRIPTION = """\
Render every configuration an experiment config describes, run the model under test on each
render, score it, and write the results to the output directory (details.log, images/, ...).
The whole config is validated before any rendering starts."""


def _add_run_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="run an experiment", description=RUN_DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="experiment YAML file (3DB layout)")
    parser.add_argument("--data", metavar="DIR",
                        help="data folder with blender_models/ and blender_environments/ "
                             "(default: the demo data folder, built on first use from registry packages)")
    parser.add_argument("--output", metavar="DIR",
                        help="output directory; must be new or empty (default: results/<config name>)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="render workers (processes, or Ray actors with --ray), each with its own Blender "
                             "(default: 1)")
    parser.add_argument("--seed", type=int, default=None, metavar="S",
                        help="seed of the policies and of Cycles' sampling; same seed, same results (default: 0, or the interrupted run's with --resume)")
    parser.add_argument("--threads", type=int, default=0, metavar="T",
                        help="CPU threads per worker for Cycles and PyTorch (default: cores / workers; "
                             "with --ray, --worker-cpus rounded up)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run in --output: render only the jobs that its "
                             "details.log lacks (the config, data and seed must be unchanged)")

    ray_options = parser.add_argument_group(
        "Ray cluster",
        "Run the render workers as Ray actors. The scheduler, buffer and loggers stay in this\n"
        "process, which must run on a node of the cluster. Needs: pip install \"threedb[ray]\"")
    ray_options.add_argument("--ray", metavar="ADDRESS",
                             help="address of the Ray cluster's head node (HOST:PORT, as printed by "
                                  "`ray start --head`), or auto for the cluster this machine belongs to")
    ray_options.add_argument("--worker-cpus", type=float, default=None, metavar="N",
                             help="CPUs that Ray reserves for each worker (default: 1)")
    ray_options.add_argument("--worker-gpus", type=float, default=None, metavar="N",
                             help="GPUs that Ray reserves for each worker; above 0, Cycles renders on the GPU "
                                  "(default: 0; a fraction shares a GPU between workers)")
    ray_options.add_argument("--ray-autoscaling", action="store_true",
                             help="the cluster adds nodes on demand: start even if it has no room for every "
                                  "worker yet (workers wait until Ray places them; without this option, "
                                  "threedb stops before rendering when the cluster is too small)")

    parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more: -v for starts and stops, -vv for debugging")
    parser.set_defaults(func=_run_command)


def _validate_run_args(args: argparse.Namespace) -> None:
    if args.workers < 1:
        raise ThreeDBError(f"--workers must be at least 1, got {args.workers}")
    if args.threads < 0:
        raise ThreeDBError(f"--threads must be 0 (automatic) or more, got {args.threads}")
    if args.seed is not None and args.seed < 0:
        raise ThreeDBError(f"--seed must be a non-negative integer, got {args.seed}")
    if args.data and not os.path.isdir(args.data):
        raise ThreeDBError(f"--data: folder not found: {args.data}. A data folder contains blender_models/ and "
                           f"blender_environments/; leave out --data to use the demo data")
    _validate_ray_args(args)


def _validate_ray_args(args: argparse.Namespace) -> None:
    if not args.ray:
        for option, value in (("--worker-cpus", args.worker_cpus), ("--worker-gpus", args.worker_gpus)):
            if value is not None:
                raise ThreeDBError(f"{option} sets the resources of Ray workers and needs --ray ADDRESS")
        if args.ray_autoscaling:
            raise ThreeDBError("--ray-autoscaling describes a Ray cluster and needs --ray ADDRESS")
        return
    from threedb.execution.ray_pool import import_ray, parse_address  # noqa: PLC0415

    if args.worker_cpus is None:
        args.worker_cpus = 1.0
    if args.worker_gpus is None:
        args.worker_gpus = 0.0
    if not args.worker_cpus > 0:
        raise ThreeDBError(f"--worker-cpus must be above 0, got {args.worker_cpus:g}")
    if not args.worker_gpus >= 0:
        raise ThreeDBError(f"--worker-gpus must be 0 or more, got {args.worker_gpus:g}")
    parse_address(args.ray)
    import_ray()


def _run_command(args: argparse.Namespace) -> int:
    from threedb.config import build_experiment, load_config  # noqa: PLC0415
    from threedb.rendering.demo_data import ensure_demo_data  # noqa: PLC0415

    _validate_run_args(args)
    loaded = load_config(args.config)
    data_dir = args.data or ensure_demo_data()
    experiment = build_experiment(loaded, data_dir)
    if not args.ray:
        return _run_experiment(args, experiment)

    from threedb.execution.ray_pool import disconnect  # noqa: PLC0415

    try:
        _connect_ray(args, experiment)
        return _run_experiment(args, experiment)
    finally:
        disconnect()


def _connect_ray(args: argparse.Namespace, experiment: Experiment) -> None:
    """Connect to the Ray cluster and check that it has room for the workers, before any output is written."""
    from threedb.execution.ray_pool import check_capacity, connect  # noqa: PLC0415

    level = log_level(args.verbose)
    connect(args.ray, level)
    try:
        check_capacity(args.workers, args.worker_cpus, args.worker_gpus)
    except ThreeDBError as error:
        if not args.ray_autoscaling:
            raise
        logger.warning("%s. Starting anyway (--ray-autoscaling): workers wait until the autoscaler adds nodes",
                       str(error).split(". Lower", 1)[0])
    if experiment.render_args.get("use_gpu") and not args.worker_gpus:
        logger.warning("render_args.use_gpu is set, but with --ray the workers render on the GPU only "
                       "with --worker-gpus above 0; rendering on the CPU")


def _run_experiment(args: argparse.Namespace, experiment: Experiment) -> int:
    from threedb.execution.local import LocalRun  # noqa: PLC0415
    from threedb.execution.output import prepare_output_dir, write_run_files  # noqa: PLC0415
    from threedb.execution.resume import check_resumable, read_completed, record_resume  # noqa: PLC0415
    from threedb.execution.summary import print_summary  # noqa: PLC0415

    output_name = os.path.splitext(os.path.basename(args.config))[0]
    output_dir = os.path.abspath(args.output or os.path.join("results", output_name))
    completed = {}
    if args.resume:
        seed = check_resumable(output_dir, experiment, args.seed)
        completed = read_completed(os.path.join(output_dir, "details.log"))
        record_resume(output_dir)
        logger.info("resuming %s: %d jobs already logged", output_dir, len(completed))
    else:
        seed = 0 if args.seed is None else args.seed
        prepare_output_dir(output_dir)
        write_run_files(output_dir, experiment, seed, args.workers)

    level = log_level(args.verbose)
    threads, pool_factory = args.threads, None
    if args.ray:
        from threedb.execution.ray_pool import RayWorkerPool  # noqa: PLC0415

        threads = args.threads or max(1, math.ceil(args.worker_cpus))
        pool_factory = functools.partial(RayWorkerPool, worker_cpus=args.worker_cpus, worker_gpus=args.worker_gpus)
    run = LocalRun(experiment, output_dir, workers=args.workers, seed=seed, threads=threads,
                   progress=not args.no_progress, log_level=level, completed=completed, pool_factory=pool_factory)
    try:
        summary = run.execute()
    finally:
        _record_workers(output_dir, args, run)
    print_summary(summary, output_dir)
    return 1 if summary.failures else 0


def _record_workers(output_dir: str, args: argparse.Namespace, run: LocalRun) -> None:
    """Add the backend and each worker's render device to ``run_info.json``.

    A resumed run that had nothing left to render started no worker and leaves the file as it was.
    """
    info_path = os.path.join(output_dir, "run_info.json")
    if not os.path.isfile(info_path) or not run.workers:
        return
    with open(info_path, encoding="utf-8") as handle:
        info = json.load(handle)
    info["backend"] = "ray" if args.ray else "local"
    if args.ray:
        info["ray"] = {"address": args.ray, "worker_cpus": args.worker_cpus, "worker_gpus": args.worker_gpus}
    info["devices"] = [worker.device or "not started" for worker in run.workers]
    with open(info_path, "w", encoding="utf-8") as handle:
        json.dump(info, handle, indent=2)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="threedb",
        description="Debug computer-vision models with simulated data rendered by Blender.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    _add_run_parser(subparsers)
    for module_name in ("threedb.dashboard", "threedb.report"):
        try:
            module = __import__(module_name, fromlist=["add_subparser"])
        except ImportError:
            continue
        add = getattr(module, "add_subparser", None)
        if add is not None:
            add(subparsers)
    return parser


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: List[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = getattr(args, "verbose", 0)
    logging.basicConfig(level=log_level(verbose), format=LOG_FORMAT)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    # A shell starts background jobs with SIGINT ignored, and Python then keeps ignoring it.
    # `kill -INT` must still stop a run cleanly, so the handler is installed explicitly.
    signal.signal(signal.SIGINT, _raise_interrupt)
    try:
        return int(args.func(args) or 0)
    except ThreeDBError as error:
        print(f"threedb: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("threedb: interrupted; results computed so far are in the output directory", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
