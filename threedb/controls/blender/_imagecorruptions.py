"""The ``imagecorruptions`` package (1.1.2), made to import and run with current libraries.

imagecorruptions 1.1.2 has two incompatibilities with the versions threedb installs:

- it imports ``pkg_resources``, which only setuptools provides and which a fresh virtual
  environment may lack. Only ``resource_filename`` is used (to find the frost images next to
  the module), so a stand-in is put in place for the import when the real one is missing;
- ``glass_blur`` and ``gaussian_blur`` call ``skimage.filters.gaussian(..., multichannel=True)``,
  an argument scikit-image removed in 0.21 in favour of ``channel_axis``. The module's
  ``gaussian`` is replaced by a function that accepts both.

The corruptions draw from NumPy's global random generator; :func:`corrupt` seeds it per
call and puts the previous state back, so the same image gives the same corruption.
``impulse_noise`` calls ``skimage.util.random_noise``, which has its own generator since
scikit-image 0.19; it gets a seed drawn from the global one.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
import types
import warnings
from typing import Any, List

import numpy as np

_module: Any = None


def _resource_filename(package: str, relative: str) -> str:
    return os.path.join(os.path.dirname(sys.modules[package].__file__), relative)


def _gaussian(image: Any, sigma: Any = 1, multichannel: bool | None = None, **kwargs: Any) -> Any:
    from skimage.filters import gaussian  # noqa: PLC0415

    if multichannel is not None and "channel_axis" not in kwargs:
        kwargs["channel_axis"] = -1 if multichannel else None
    return gaussian(image, sigma=sigma, **kwargs)


def _random_noise(image: Any, **kwargs: Any) -> Any:
    from skimage.util import random_noise  # noqa: PLC0415

    kwargs.setdefault("rng", int(np.random.randint(2 ** 31)))
    return random_noise(image, **kwargs)


def load() -> Any:
    """Import ``imagecorruptions`` with the fixes above applied; return the package."""
    global _module
    if _module is not None:
        return _module

    stand_in = None
    try:
        importlib.import_module("pkg_resources")
    except ImportError:
        stand_in = types.ModuleType("pkg_resources")
        stand_in.resource_filename = _resource_filename  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = stand_in
    try:
        with warnings.catch_warnings():
            # scipy.ndimage.interpolation is deprecated (SciPy 1.x) but still works.
            warnings.simplefilter("ignore", DeprecationWarning)
            package = importlib.import_module("imagecorruptions")
    finally:
        if stand_in is not None and sys.modules.get("pkg_resources") is stand_in:
            del sys.modules["pkg_resources"]

    import skimage.color  # noqa: PLC0415

    package.corruptions.gaussian = _gaussian
    # The module reaches scikit-image only through ``sk.util.random_noise`` and ``sk.color``.
    package.corruptions.sk = types.SimpleNamespace(util=types.SimpleNamespace(random_noise=_random_noise),
                                                   color=skimage.color)
    _module = package
    return package


def corruption_names() -> List[str]:
    """Return the names of the 19 ImageNet-C corruptions (15 common, then 4 validation ones)."""
    return list(load().get_corruption_names("all"))


def corrupt(image: np.ndarray, name: str, severity: int) -> np.ndarray:
    """Return ``image`` (H, W, 3) uint8 corrupted by ``name`` at ``severity`` (1-5), as uint8.

    The random draws are seeded from the image's bytes, the name and the severity.
    """
    package = load()
    digest = hashlib.sha256(image.tobytes() + f"{name}:{severity}".encode()).digest()
    seed = int.from_bytes(digest[:4], "little")
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return package.corrupt(image, severity=severity, corruption_name=name)
    finally:
        np.random.set_state(state)
