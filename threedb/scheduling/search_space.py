"""The search space: the controls' parameters as a unit cube plus discrete choices."""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

from threedb.config.experiment import ControlSpec


class SearchSpace:
    """Maps a policy's point (``continuous`` in [0, 1]^d, ``discrete`` choice indices) to parameters.

    Parameter keys are ``"<ControlClass>.<parameter>"``, e.g. ``"OrientationControl.rotation_z"``.
    Continuous values are ``min + u * (max - min)``; fixed parameters are always set.
    """

    def __init__(self, controls: Sequence[ControlSpec]) -> None:
        self.continuous: List[Tuple[str, Tuple[float, float]]] = []
        self.discrete: List[Tuple[str, List[Any]]] = []
        self.fixed: Dict[str, Any] = {}
        for spec in controls:
            for param, (kind, value) in spec.continuous.items():
                key = f"{spec.class_name}.{param}"
                if kind == "range":
                    self.continuous.append((key, value))
                else:
                    self.fixed[key] = value
            for param, choices in spec.discrete.items():
                key = f"{spec.class_name}.{param}"
                if len(choices) == 1:
                    self.fixed[key] = choices[0]
                else:
                    self.discrete.append((key, list(choices)))

    @property
    def continuous_dim(self) -> int:
        return len(self.continuous)

    @property
    def discrete_sizes(self) -> List[int]:
        return [len(choices) for _, choices in self.discrete]

    def unpack(self, continuous: Sequence[float], discrete: Sequence[int]) -> Dict[str, Any]:
        """Return the parameters of one point, keyed ``"<ControlClass>.<parameter>"``."""
        if len(continuous) != self.continuous_dim or len(discrete) != len(self.discrete):
            raise ValueError(
                f"point has {len(continuous)} continuous and {len(discrete)} discrete values; "
                f"the space has {self.continuous_dim} and {len(self.discrete)}"
            )
        params: Dict[str, Any] = {}
        for (key, (low, high)), unit in zip(self.continuous, continuous):
            params[key] = float(low + float(unit) * (high - low))
        for (key, choices), index in zip(self.discrete, discrete):
            params[key] = choices[int(index)]
        params.update(self.fixed)
        return params


def split_by_control(params: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Group ``{"Ctrl.param": v}`` into ``{"Ctrl": {"param": v}}``."""
    grouped: Dict[str, Dict[str, Any]] = {}
    for key, value in params.items():
        control, _, param = key.partition(".")
        grouped.setdefault(control, {})[param] = value
    return grouped
