"""Material-nodes control: set named values inside the model's material node trees.

The general form of 3DB's ``mug_liquid`` control: each parameter of the control writes one
socket value of a named node, in every material of the model whose name matches. Declare the
parameters under ``args.targets`` and give their values or ranges like any other parameter::

    - module: threedb.controls.blender.material_nodes
      args:
        targets:
          roughness: {node: Principled BSDF, input: Roughness}
          red: {node: Principled BSDF, input: Base Color, component: 0}
          texture_scale: {material: "*", node: scale, range: [1, 20]}
      roughness: [0.0, 1.0]
      texture_scale: 8
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Tuple

from threedb.controls.base_control import PreProcessControl
from threedb.errors import DataError

TARGET_KEYS = ("material", "node", "input", "output", "component", "range")


@dataclass
class NodeTarget:
    """One socket to write: which materials (a shell pattern), which node, which socket.

    ``input`` names or indexes an input socket of the node; without it, the node's output
    ``output`` (default 0) is written, which is where a Value node stores its number.
    ``component`` picks one element of a colour or vector socket (0 = red or X).
    """

    material: str
    node: str
    input: str | int | None
    output: str | int
    component: int | None
    range: Tuple[float, float]

    def describe(self) -> str:
        socket = f"input {self.input!r}" if self.input is not None else f"output {self.output!r}"
        component = f"[{self.component}]" if self.component is not None else ""
        return f"material {self.material!r}, node {self.node!r}, {socket}{component}"


def parse_target(name: str, spec: Any) -> NodeTarget:
    """Return the :class:`NodeTarget` that a config entry describes; raise ``ValueError`` if invalid."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"target {name!r} must be a mapping with at least `node` (got {spec!r})")
    unknown = sorted(set(spec) - set(TARGET_KEYS))
    if unknown:
        raise ValueError(f"target {name!r} has unknown keys {unknown}; valid keys: {', '.join(TARGET_KEYS)}")
    if not isinstance(spec.get("node"), str) or not spec["node"]:
        raise ValueError(f"target {name!r} needs `node`: the name of a node in the material")
    if "input" in spec and "output" in spec:
        raise ValueError(f"target {name!r} sets both `input` and `output`; give one of them")
    for key in ("input", "output"):
        if key in spec and not isinstance(spec[key], (str, int)):
            raise ValueError(f"target {name!r}: `{key}` must be a socket name or index (got {spec[key]!r})")
    component = spec.get("component")
    if component is not None and (not isinstance(component, int) or component < 0):
        raise ValueError(f"target {name!r}: `component` must be an index >= 0 (got {component!r})")
    value_range = spec.get("range", (0.0, 1.0))
    if (not isinstance(value_range, (list, tuple)) or len(value_range) != 2
            or not all(isinstance(v, (int, float)) for v in value_range) or value_range[0] > value_range[1]):
        raise ValueError(f"target {name!r}: `range` must be [min, max] (got {value_range!r})")
    return NodeTarget(material=str(spec.get("material", "*")), node=spec["node"], input=spec.get("input"),
                      output=spec.get("output", 0), component=component,
                      range=(float(value_range[0]), float(value_range[1])))


def model_materials(objects: List[Any]) -> List[Any]:
    """Return the distinct materials in the material slots of ``objects``, in slot order."""
    materials: List[Any] = []
    for obj in objects:
        for slot in getattr(obj, "material_slots", []):
            if slot.material is not None and slot.material not in materials:
                materials.append(slot.material)
    return materials


class SocketWriter:
    """Writes socket values and remembers the previous ones so that :meth:`restore` undoes them."""

    def __init__(self) -> None:
        self._saved: List[Tuple[Any, Any]] = []

    def write(self, socket: Any, value: float, component: int | None, where: str) -> None:
        current = socket.default_value
        is_array = hasattr(current, "__len__")
        if is_array and component is None:
            raise DataError(f"{where} is a colour or vector socket; set `component` to pick one element")
        if is_array and component >= len(current):
            raise DataError(f"{where} has {len(current)} components; `component` {component} is out of range")
        self._saved.append((socket, tuple(current) if is_array else current))
        if is_array:
            values = list(current)
            values[component] = value
            socket.default_value = values
        else:
            socket.default_value = value

    def restore(self) -> None:
        for socket, value in reversed(self._saved):
            socket.default_value = value
        self._saved = []


def find_sockets(materials: List[Any], target: NodeTarget) -> List[Tuple[Any, str]]:
    """Return ``(socket, description)`` for every matching material that has the target's node."""
    found = []
    for material in materials:
        if not fnmatch.fnmatchcase(material.name, target.material) or material.node_tree is None:
            continue
        node = material.node_tree.nodes.get(target.node)
        if node is None:
            continue
        sockets = node.inputs if target.input is not None else node.outputs
        key = target.input if target.input is not None else target.output
        try:
            socket = sockets[key]
        except (KeyError, IndexError):
            names = ", ".join(repr(s.name) for s in sockets)
            kind = "input" if target.input is not None else "output"
            raise DataError(f"node {target.node!r} of material {material.name!r} has no {kind} {key!r}; "
                            f"its {kind}s are {names}") from None
        if not hasattr(socket, "default_value"):
            raise DataError(f"socket {key!r} of node {target.node!r} in material {material.name!r} has no value")
        found.append((socket, f"{material.name}/{target.node}/{socket.name}"))
    return found


class MaterialNodesControl(PreProcessControl):
    """One continuous parameter per entry of ``targets`` (see the module documentation).

    Each parameter's default range is the target's ``range`` (default [0, 1]). A job fails
    with a :class:`~threedb.errors.DataError` when no material of the model has the node.
    List it after ``material`` to set values in a replacement material.
    """

    def __init__(self, root_folder: str, targets: Mapping[str, Any] | None = None) -> None:
        if not targets or not isinstance(targets, Mapping):
            raise ValueError("MaterialNodesControl needs `args: {targets: {parameter: {node: ..., input: ...}}}`")
        self.targets = {str(name): parse_target(str(name), spec) for name, spec in targets.items()}
        super().__init__(root_folder, continuous_dims={name: t.range for name, t in self.targets.items()})
        self._writer = SocketWriter()

    def apply(self, context: Dict[str, Any], control_args: Dict[str, Any]) -> None:
        materials = model_materials(context["renderer"].model_objects())
        try:
            for name, target in self.targets.items():
                sockets = find_sockets(materials, target)
                if not sockets:
                    names = ", ".join(repr(m.name) for m in materials) or "none"
                    raise DataError(f"{self.name}.{name}: no material of the model matches {target.describe()} "
                                    f"(the model's materials: {names})")
                for socket, where in sockets:
                    self._writer.write(socket, float(control_args[name]), target.component, where)
        except BaseException:
            # The worker undoes only controls whose apply returned, so undo the partial change here.
            self._writer.restore()
            raise

    def unapply(self, context: Dict[str, Any]) -> None:
        self._writer.restore()


Control = BlenderControl = MaterialNodesControl
