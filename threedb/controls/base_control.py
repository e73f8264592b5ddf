"""Base classes of controls: the scene and image parameters that an experiment varies.

A control declares parameters and applies them:

- continuous parameters: ``continuous_dims`` maps a name to its default ``(min, max)``;
- discrete parameters: ``discrete_dims`` maps a name to its list of choices.

A config may replace any default: a scalar fixes the parameter, a 2-element list (or a
string such as ``"(-3.14, 3.14)"``) sets a continuous range, a list sets the choices of a
discrete parameter.

Pre-processing controls change the Blender scene before the render and undo their change
afterwards (``unapply``), so that a worker can render job after job in one scene.
Post-processing controls transform the rendered image.

A control module exports its class as ``Control`` (3DB modules export ``BlenderControl``
too; both are looked up).

A control may also report what its last ``apply`` measured, such as the fraction of the
object that an occluder really hides, through :meth:`BaseControl.measurements`. Results
record those values under ``measured``, next to the requested parameters.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from typing import Any, Dict, List, Mapping, Tuple

import numpy as np


class BaseControl(ABC):
    """Parameters shared by pre- and post-processing controls.

    ``kind`` is ``"pre"`` or ``"post"``; subclasses set it through their base class.
    """

    kind: str = ""

    def __init__(
        self,
        root_folder: str,
        *,
        continuous_dims: Mapping[str, Tuple[float, float]] | None = None,
        discrete_dims: Mapping[str, List[Any]] | None = None,
    ) -> None:
        self.root_folder = root_folder
        self.continuous_dims: Dict[str, Any] = copy.deepcopy(dict(continuous_dims or {}))
        self.discrete_dims: Dict[str, Any] = copy.deepcopy(dict(discrete_dims or {}))

    def measurements(self) -> Dict[str, float]:
        """Return the values that the last ``apply`` measured, by name (none by default).

        The worker calls this right after ``apply``. Results record each value as
        ``measured["<control name>.<name>"]``.
        """
        return {}

    @property
    def name(self) -> str:
        """The name that prefixes this control's parameters in results (``CameraControl``)."""
        return type(self).__name__

    def check_arguments(self, control_args: Mapping[str, Any]) -> Tuple[bool, str]:
        """Check job arguments against the declared parameters; return ``(ok, message)``."""
        declared = set(self.continuous_dims) | set(self.discrete_dims)
        given = set(control_args)
        if given != declared:
            missing = sorted(declared - given)
            unexpected = sorted(given - declared)
            return False, (
                f"{self.name}: arguments do not match the declared parameters "
                f"(missing {missing}, unexpected {unexpected})"
            )
        for key in self.continuous_dims:
            if not isinstance(control_args[key], (int, float, np.floating, np.integer)):
                return False, f"{self.name}.{key} must be a number, got {control_args[key]!r}"
        return True, ""


class PreProcessControl(BaseControl, ABC):
    """A control that changes the scene before the render and undoes it afterwards.

    ``context`` is the worker's scene description: ``context["object"]`` is the model's
    Blender object, ``context["camera"]`` the camera, ``context["scene"]`` the scene, and
    ``context["root_folder"]`` the data folder. A control may store what it needs to undo
    its change in ``context`` or on itself.
    """

    kind = "pre"

    @abstractmethod
    def apply(self, context: Dict[str, Any], control_args: Dict[str, Any]) -> None:
        """Change the scene in place according to ``control_args``."""

    @abstractmethod
    def unapply(self, context: Dict[str, Any]) -> None:
        """Undo what ``apply`` changed, leaving the scene as it was before."""


class PostProcessControl(BaseControl, ABC):
    """A control that transforms the rendered image.

    ``render`` is a float32 tensor of shape (4, H, W) in display space, values in [0, 1]:
    channels 0-2 are the colour image (the object composited over the environment) and
    channel 3 is the object's alpha coverage (1 on the object, 0 on the background).
    ``apply`` returns a tensor of the same shape. It runs on the worker's scoring thread while
    Blender renders the next job, so it must not use ``bpy``.
    """

    kind = "post"

    @abstractmethod
    def apply(self, render: Any, control_args: Dict[str, Any]) -> Any:
        """Return the transformed image."""
