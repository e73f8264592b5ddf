"""Turn a loaded config into a validated :class:`Experiment`, reporting every problem at once."""

from __future__ import annotations

import inspect
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

from threedb.config.loader import LoadedConfig
from threedb.config.values import (did_you_mean, import_module, is_number, parse_continuous,
                                   parse_discrete, resolve_path)
from threedb.errors import ConfigError, ConfigProblem

TOP_LEVEL_KEYS = ["inference", "evaluation", "render_args", "controls", "policy", "logging"]

DEFAULT_ENGINE = "threedb.rendering.render_blender"
RENDER_ARGS_DEFAULTS: Dict[str, Any] = {
    "engine": DEFAULT_ENGINE,
    "resolution": 256,
    "samples": 16,
    "threads": 0,
    "with_segmentation": False,
    "with_depth": False,
    "with_uv": False,
    "max_depth": 10.0,
    "use_gpu": False,
    "persistent_data": True,
}

INFERENCE_DEFAULTS: Dict[str, Any] = {
    "module": "threedb.inference.efficientnet",
    "class": "EfficientNetLite0",
    "args": {},
    "normalization": {"mean": [127 / 255] * 3, "std": [128 / 255] * 3},
    "resolution": [224, 224],
    "label_map": "imagenet_classes.json",
    "checkpoint": None,
    "batch_size": 1,
}
INFERENCE_KEYS = set(INFERENCE_DEFAULTS) | {"output_shape"}

EVALUATION_DEFAULT_MODULE = "threedb.evaluators.classification"
DEFAULT_LOGGERS = ["threedb.result_logging.json_logger", "threedb.result_logging.image_logger"]
LOGGING_KEYS = {"logger_modules", "buffer_size"}


@dataclass
class ControlSpec:
    """One control of the experiment: its module, constructor args and resolved parameters.

    ``continuous`` maps a parameter to ``("fixed", value)`` or ``("range", (min, max))``;
    ``discrete`` maps a parameter to its list of choices (one choice means fixed).
    """

    module: str
    class_name: str
    args: Dict[str, Any]
    continuous: Dict[str, Tuple[str, Any]] = field(default_factory=dict)
    discrete: Dict[str, List[Any]] = field(default_factory=dict)
    kind: str = "pre"


@dataclass
class Experiment:
    """A validated experiment, ready to schedule. All paths are absolute."""

    config: Dict[str, Any]
    config_path: str
    data_dir: str
    render_args: Dict[str, Any]
    controls: List[ControlSpec]
    policy: Dict[str, Any]
    inference: Dict[str, Any]
    evaluation: Dict[str, Any]
    logger_modules: List[str]
    buffer_size: int | None
    models: List[str]
    environments: List[str]

    def resolved_config(self) -> Dict[str, Any]:
        """Return the config with defaults filled in and paths made absolute."""
        controls = []
        for spec in self.controls:
            entry: Dict[str, Any] = {"module": spec.module}
            if spec.args:
                entry["args"] = spec.args
            for key, (kind, value) in spec.continuous.items():
                entry[key] = list(value) if kind == "range" else value
            for key, choices in spec.discrete.items():
                entry[key] = choices if len(choices) != 1 else choices[0]
            controls.append(entry)
        logging_section: Dict[str, Any] = {"logger_modules": self.logger_modules}
        if self.buffer_size:
            logging_section["buffer_size"] = self.buffer_size
        return {
            "inference": self.inference,
            "evaluation": self.evaluation,
            "render_args": self.render_args,
            "controls": controls,
            "policy": self.policy,
            "logging": logging_section,
        }


class _Collector:
    """Collects problems for one config file."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: List[ConfigProblem] = []

    def add(self, key: str, message: str, value: Any = None, valid: str | None = None,
            has_value: bool = True) -> None:
        self.problems.append(ConfigProblem(self.file, key, message, value, valid, has_value))


def _check_unknown_keys(section: Dict[str, Any], allowed: set, prefix: str, out: _Collector) -> None:
    for key in section:
        if key not in allowed:
            hint = did_you_mean(key, allowed)
            out.add(f"{prefix}.{key}" if prefix else key, f"unknown key{hint}", value=key,
                    valid=", ".join(sorted(allowed)))


def _section(config: Dict[str, Any], name: str, out: _Collector) -> Dict[str, Any]:
    value = config.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        out.add(name, "must be a mapping", value=value)
        return {}
    return value


def _validate_render_args(config: Dict[str, Any], out: _Collector) -> Dict[str, Any]:
    section = _section(config, "render_args", out)
    _check_unknown_keys(section, set(RENDER_ARGS_DEFAULTS), "render_args", out)
    args = {**RENDER_ARGS_DEFAULTS, **{k: v for k, v in section.items() if k in RENDER_ARGS_DEFAULTS}}

    resolution = args["resolution"]
    if isinstance(resolution, int) and not isinstance(resolution, bool):
        resolution = [resolution, resolution]
    if (not isinstance(resolution, (list, tuple)) or len(resolution) != 2
            or not all(isinstance(r, int) and not isinstance(r, bool) and 8 <= r <= 8192 for r in resolution)):
        out.add("render_args.resolution", "must be an integer or [width, height] between 8 and 8192",
                value=args["resolution"])
        resolution = [64, 64]
    args["resolution"] = list(resolution)

    for key in ("samples", "threads"):
        value = args[key]
        minimum = 1 if key == "samples" else 0
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            out.add(f"render_args.{key}", f"must be an integer >= {minimum}", value=value)
    for key in ("with_segmentation", "with_depth", "with_uv", "use_gpu", "persistent_data"):
        if not isinstance(args[key], bool):
            out.add(f"render_args.{key}", "must be true or false", value=args[key])
    if not is_number(args["max_depth"]) or args["max_depth"] <= 0:
        out.add("render_args.max_depth", "must be a positive number (scene units)", value=args["max_depth"])

    engine, error = import_module(str(args["engine"]))
    if error:
        out.add("render_args.engine", error, value=args["engine"], valid=DEFAULT_ENGINE)
    elif not hasattr(engine, "Renderer"):
        out.add("render_args.engine", "renderer module does not export `Renderer`", value=args["engine"])
    return args


def _control_module_path(name: str) -> List[str]:
    if "." in name:
        return [name, f"threedb.controls.blender.{name}"]
    return [f"threedb.controls.blender.{name}", name]


def _load_control_class(module_name: Any, key: str, out: _Collector) -> Tuple[str, Any]:
    if not isinstance(module_name, str) or not module_name:
        out.add(key, "must name a control module", value=module_name,
                valid="e.g. threedb.controls.blender.orientation")
        return "", None

    first_error = ""
    for candidate in _control_module_path(module_name):
        module, error = import_module(candidate)
        if module is None:
            first_error = first_error or error
            continue
        control_class = getattr(module, "Control", None) or getattr(module, "BlenderControl", None)
        if control_class is None:
            out.add(key, "control module exports neither `Control` nor `BlenderControl`", value=candidate)
            return candidate, None
        return candidate, control_class

    builtin_dir = os.path.join(os.path.dirname(os.path.dirname(__file__)), "controls", "blender")
    builtins = sorted(f[:-3] for f in os.listdir(builtin_dir) if f.endswith(".py") and not f.startswith("_"))
    hint = did_you_mean(module_name.split(".")[-1], builtins)
    out.add(key, f"{first_error}{hint}", value=module_name, valid="built-in controls: " + ", ".join(builtins))
    return module_name, None


def _validate_control(entry: Any, index: int, data_dir: str, out: _Collector) -> ControlSpec | None:
    key = f"controls[{index}]"
    if not isinstance(entry, dict):
        out.add(key, "each control must be a mapping with a `module` key", value=entry)
        return None
    module_path, control_class = _load_control_class(entry.get("module"), f"{key}.module", out)
    if control_class is None:
        return None

    args = entry.get("args") or {}
    if not isinstance(args, dict):
        out.add(f"{key}.args", "must be a mapping of constructor arguments", value=args)
        return None
    try:
        control = control_class(root_folder=data_dir, **args)
    except Exception as error:  # noqa: BLE001 - report any constructor failure as a config problem
        out.add(key, f"{control_class.__name__} could not be created: {type(error).__name__}: {error}",
                value=args)
        return None

    spec = ControlSpec(module=module_path, class_name=type(control).__name__, args=dict(args),
                       kind=getattr(control, "kind", "pre") or "pre")
    params = {k: v for k, v in entry.items() if k not in ("module", "args")}
    declared = list(control.continuous_dims) + list(control.discrete_dims)
    for name, value in params.items():
        if name not in declared:
            hint = did_you_mean(name, declared)
            out.add(f"{key}.{name}", f"unknown parameter of {spec.class_name}{hint}", value=name,
                    valid=", ".join(declared) or "(this control has no parameters)")

    for name, default in control.continuous_dims.items():
        kind, parsed, error = parse_continuous(params.get(name, default))
        if error:
            out.add(f"{key}.{name}", error, value=params.get(name, default), valid="a number or [min, max]")
            continue
        spec.continuous[name] = (kind, parsed)

    for name, default_choices in control.discrete_dims.items():
        choices = parse_discrete(params.get(name, default_choices))
        allowed = list(default_choices) if isinstance(default_choices, (list, tuple)) else [default_choices]
        if not choices:
            out.add(f"{key}.{name}", "empty list of choices", value=[], valid=repr(allowed))
            continue
        invalid = [c for c in choices if c not in allowed]
        if name in params and invalid and allowed:
            out.add(f"{key}.{name}", f"invalid choice{'s' if len(invalid) > 1 else ''} {invalid!r}",
                    value=params[name], valid=repr(allowed))
            continue
        spec.discrete[name] = choices
    return spec


def _validate_controls(config: Dict[str, Any], data_dir: str, out: _Collector) -> List[ControlSpec]:
    entries = config.get("controls") or []
    if isinstance(entries, dict):
        # An older 3DB layout: {module_name: {param: value}}.
        entries = [{"module": name, **(params or {})} for name, params in entries.items()]
    if not isinstance(entries, list):
        out.add("controls", "must be a list of controls, each with a `module` key", value=entries)
        return []

    specs = []
    for index, entry in enumerate(entries):
        spec = _validate_control(entry, index, data_dir, out)
        if spec is not None:
            specs.append(spec)

    names = [s.class_name for s in specs]
    for name in sorted({n for n in names if names.count(n) > 1}):
        out.add("controls", f"control {name} is listed more than once", value=name)
    _check_control_order(specs, out)
    return specs


def _check_control_order(specs: List[ControlSpec], out: _Collector) -> None:
    """Report a control listed before one that its class's ``run_after`` names (e.g. a
    corruption that must see the background already composited)."""
    positions = {spec.class_name: index for index, spec in enumerate(specs)}
    for index, spec in enumerate(specs):
        module, _ = import_module(spec.module)
        control_class = getattr(module, "Control", None) or getattr(module, "BlenderControl", None)
        for earlier in getattr(control_class, "run_after", ()):
            if positions.get(earlier, -1) > index:
                out.add("controls", f"{earlier} must be listed before {spec.class_name}",
                        value=[s.class_name for s in specs], valid=f"move {earlier} above {spec.class_name}")


def _check_callable_args(target: Any, args: Dict[str, Any], key: str, out: _Collector,
                         ignore: Tuple[str, ...] = ()) -> None:
    """Report arguments that ``target``'s signature does not accept and required ones that are missing."""
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return
    params = {n: p for n, p in signature.parameters.items() if n != "self"}
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return
    accepted = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for name in args:
        if name not in accepted and name not in ignore:
            out.add(f"{key}.{name}", f"unknown argument{did_you_mean(name, accepted)}", value=name,
                    valid=", ".join(a for a in accepted if a not in ignore))
    for name, param in params.items():
        if (param.default is param.empty and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)
                and name not in args and name not in ignore):
            out.add(f"{key}.{name}", "missing required argument", has_value=False)


def _validate_policy(config: Dict[str, Any], out: _Collector) -> Dict[str, Any]:
    section = _section(config, "policy", out)
    if not section:
        out.add("policy", "missing section: name a search policy", has_value=False,
                valid="module: threedb.policies.grid_search (samples_per_dim) or "
                      "threedb.policies.random_search (samples)")
        return {}
    module_name = section.get("module")
    module, error = import_module(str(module_name)) if module_name else (None, "missing `module`")
    if module is None:
        out.add("policy.module", error, value=module_name,
                valid="threedb.policies.grid_search, threedb.policies.random_search")
        return dict(section)
    policy_class = getattr(module, "Policy", None)
    if policy_class is None:
        out.add("policy.module", "policy module does not export `Policy`", value=module_name)
        return dict(section)
    args = {k: v for k, v in section.items() if k != "module"}
    _check_callable_args(policy_class, args, "policy", out,
                         ignore=("continuous_dim", "discrete_sizes", "seed"))
    validate = getattr(policy_class, "validate_args", None)
    if validate is not None:
        for key, message, value in validate(args):
            out.add(f"policy.{key}", message, value=value)
    return dict(section)


def _validate_inference(config: Dict[str, Any], search_dirs: List[str], out: _Collector) -> Dict[str, Any]:
    section = _section(config, "inference", out)
    _check_unknown_keys(section, INFERENCE_KEYS, "inference", out)
    inference = {**INFERENCE_DEFAULTS, **section}
    if "module" in section and "class" not in section:
        out.add("inference.class", "missing: name the model class or function in the module", has_value=False)

    module, error = import_module(str(inference["module"]))
    if module is None:
        out.add("inference.module", error, value=inference["module"])
    elif not hasattr(module, str(inference["class"])):
        public = [n for n in dir(module) if not n.startswith("_")]
        out.add("inference.class", f"not found in {inference['module']}{did_you_mean(inference['class'], public)}",
                value=inference["class"])
    if not isinstance(inference.get("args") or {}, dict):
        out.add("inference.args", "must be a mapping of constructor arguments", value=inference["args"])
    inference["args"] = inference.get("args") or {}

    normalization = inference["normalization"]
    if (not isinstance(normalization, dict) or set(normalization) != {"mean", "std"}
            or any(not isinstance(normalization[k], list) or len(normalization[k]) != 3
                   or not all(is_number(x) for x in normalization[k]) for k in ("mean", "std"))):
        out.add("inference.normalization", "must be {mean: [3 numbers], std: [3 numbers]}", value=normalization)
    elif any(x <= 0 for x in normalization["std"]):
        out.add("inference.normalization.std", "must be positive", value=normalization["std"])

    resolution = inference["resolution"]
    if isinstance(resolution, int) and not isinstance(resolution, bool):
        resolution = [resolution, resolution]
    if not (isinstance(resolution, list) and len(resolution) == 2 and all(isinstance(r, int) and r > 0 for r in resolution)):
        out.add("inference.resolution", "must be [height, width] in pixels", value=inference["resolution"])
    inference["resolution"] = resolution

    batch = inference["batch_size"]
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        out.add("inference.batch_size", "must be an integer >= 1", value=batch)

    for key in ("label_map", "checkpoint"):
        if inference.get(key) is None:
            continue
        path, tried = resolve_path(inference[key], search_dirs)
        if path is None:
            out.add(f"inference.{key}", "file not found", value=inference[key], valid="tried " + ", ".join(tried))
        else:
            inference[key] = path
    return inference


def _validate_evaluation(config: Dict[str, Any], search_dirs: List[str], models: List[str],
                         out: _Collector) -> Dict[str, Any]:
    section = _section(config, "evaluation", out)
    _check_unknown_keys(section, {"module", "args"}, "evaluation", out)
    evaluation = {"module": section.get("module", EVALUATION_DEFAULT_MODULE), "args": dict(section.get("args") or {})}
    if evaluation["module"] == EVALUATION_DEFAULT_MODULE and "classmap_path" not in evaluation["args"]:
        # The demo data folder, like 3DB's examples, keeps its class map at its top level.
        evaluation["args"]["classmap_path"] = "class_map.json"

    module, error = import_module(str(evaluation["module"]))
    if module is None:
        out.add("evaluation.module", error, value=evaluation["module"], valid=EVALUATION_DEFAULT_MODULE)
        return evaluation
    evaluator_class = getattr(module, "Evaluator", None)
    if evaluator_class is None:
        out.add("evaluation.module", "evaluator module does not export `Evaluator`", value=evaluation["module"])
        return evaluation

    args = evaluation["args"]
    _check_callable_args(evaluator_class, args, "evaluation.args", out)
    if "classmap_path" in args:
        path, tried = resolve_path(args["classmap_path"], search_dirs)
        if path is None:
            out.add("evaluation.args.classmap_path", "file not found", value=args["classmap_path"],
                    valid="tried " + ", ".join(tried))
            return evaluation
        args["classmap_path"] = path
        _check_classmap(path, models, out)
    return evaluation


def _check_classmap(path: str, models: List[str], out: _Collector) -> None:
    key = "evaluation.args.classmap_path"
    try:
        with open(path, encoding="utf-8") as handle:
            classmap = json.load(handle)
    except (OSError, json.JSONDecodeError) as error:
        out.add(key, f"not a readable JSON file: {error}", value=path)
        return
    if not isinstance(classmap, dict):
        out.add(key, "must map model uids to a class index or a list of indices", value=path)
        return
    for uid, target in classmap.items():
        targets = target if isinstance(target, list) else [target]
        if not targets or not all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in targets):
            out.add(f"{key}[{uid!r}]", "class must be a non-negative integer or a list of them", value=target)
    missing = sorted({os.path.splitext(m)[0] for m in models} - set(classmap))
    if missing:
        out.add(key, f"no class for model{'s' if len(missing) > 1 else ''} {', '.join(missing)}", value=path,
                valid="add an entry per model uid (file name without extension)")


def _validate_logging(config: Dict[str, Any], out: _Collector) -> Tuple[List[str], int | None]:
    section = _section(config, "logging", out)
    _check_unknown_keys(section, LOGGING_KEYS, "logging", out)
    modules = section.get("logger_modules", DEFAULT_LOGGERS)
    if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
        out.add("logging.logger_modules", "must be a list of module paths", value=modules)
        return [], None
    for index, name in enumerate(modules):
        module, error = import_module(name)
        if module is None:
            out.add(f"logging.logger_modules[{index}]", error, value=name,
                    valid="threedb.result_logging.{json_logger,image_logger,csv_logger,tb_logger} or your module")
        elif not hasattr(module, "Logger"):
            out.add(f"logging.logger_modules[{index}]", "logger module does not export `Logger`", value=name)
    if len(set(modules)) != len(modules):
        out.add("logging.logger_modules", "a logger module is listed twice", value=modules)

    buffer_size = section.get("buffer_size")
    if buffer_size is not None and (not isinstance(buffer_size, int) or buffer_size < 2):
        out.add("logging.buffer_size", "must be an integer >= 2 (result slots)", value=buffer_size)
        buffer_size = None
    return list(modules), buffer_size


def build_experiment(loaded: LoadedConfig, data_dir: str) -> Experiment:
    """Validate a config against a data folder; raise :class:`ConfigError` listing every problem."""
    out = _Collector(loaded.path)
    config = loaded.data
    data_dir = os.path.abspath(data_dir)

    for key in config:
        if key not in TOP_LEVEL_KEYS:
            out.add(key, f"unknown section{did_you_mean(key, TOP_LEVEL_KEYS)}", value=key,
                    valid=", ".join(TOP_LEVEL_KEYS + ["base_config"]))

    render_args = _validate_render_args(config, out)
    models, environments = _enumerate_data(render_args["engine"], data_dir, out)
    search_dirs = [os.path.dirname(f) for f in loaded.files] + [data_dir]

    controls = _validate_controls(config, data_dir, out)
    policy = _validate_policy(config, out)
    inference = _validate_inference(config, search_dirs, out)
    evaluation = _validate_evaluation(config, search_dirs, models, out)
    logger_modules, buffer_size = _validate_logging(config, out)

    if out.problems:
        raise ConfigError(out.problems)
    return Experiment(config=config, config_path=loaded.path, data_dir=data_dir, render_args=render_args,
                      controls=controls, policy=policy, inference=inference, evaluation=evaluation,
                      logger_modules=logger_modules, buffer_size=buffer_size,
                      models=models, environments=environments)


def _enumerate_data(engine_name: str, data_dir: str, out: _Collector) -> Tuple[List[str], List[str]]:
    module, error = import_module(str(engine_name))
    if module is None or not hasattr(module, "Renderer"):
        return [], []
    renderer_class = module.Renderer
    found: List[List[str]] = []
    # Both lists are read even if the first fails, so that every missing part is reported at once.
    for enumerate_files in (renderer_class.enumerate_models, renderer_class.enumerate_environments):
        try:
            found.append(enumerate_files(data_dir))
        except Exception as error:  # noqa: BLE001 - a data folder problem is reported with the config's
            out.problems.append(ConfigProblem("<data folder>", data_dir, str(error), has_value=False))
            found.append([])
    models, environments = found
    return models, environments
