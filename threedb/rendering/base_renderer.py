"""The renderer interface. Controls, the scheduler and the workers only talk to this class;
Blender (:mod:`threedb.rendering.render_blender`) is one implementation."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Dict, List, Tuple

import numpy as np

# name -> (shape, dtype name), as the result buffer declares its channels.
OutputDeclaration = Dict[str, Tuple[List[int], str]]


class BaseRenderer(ABC):
    """One scene, loaded once per (environment, model) and rendered job after job.

    ``root_dir`` is the data folder; ``render_settings`` is the config's validated
    ``render_args``.
    """

    NAME = "base"

    def __init__(self, root_dir: str, render_settings: Dict[str, Any]) -> None:
        self.root_dir = root_dir
        self.args = render_settings

    @staticmethod
    @abstractmethod
    def enumerate_models(search_dir: str) -> List[str]:
        """Return the model file names of the data folder, sorted."""

    @staticmethod
    @abstractmethod
    def enumerate_environments(search_dir: str) -> List[str]:
        """Return the environment file names of the data folder, sorted."""

    @staticmethod
    @abstractmethod
    def declare_outputs(render_settings: Dict[str, Any]) -> OutputDeclaration:
        """Return the image channels ``render`` produces, with their shapes and dtypes."""

    @abstractmethod
    def get_model_uid(self, model: str) -> str:
        """Return the id under which the class map lists ``model``."""

    @abstractmethod
    def load_model(self, model: str) -> Any:
        """Load a model file into the scene; return a handle."""

    @abstractmethod
    def load_env(self, env: str) -> Any:
        """Load an environment; return a handle."""

    @abstractmethod
    def setup_render(self, model: str, env: str) -> None:
        """Make the scene hold exactly ``env`` and ``model``, replacing what was loaded before."""

    @abstractmethod
    def get_context_dict(self, model_uid: str, object_class: int) -> Dict[str, Any]:
        """Return the context that pre-processing controls receive."""

    @abstractmethod
    def render(self, model_uid: str, loaded_model: Any, loaded_env: Any) -> Dict[str, np.ndarray]:
        """Render the current scene; return the declared channels."""
