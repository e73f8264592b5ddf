"""Safe access to files in the output directory, and PNG previews of .npy render channels."""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path, PurePosixPath

import numpy as np

from threedb.errors import ThreeDBError

logger = logging.getLogger(__name__)

IMAGES_DIR = "images"
# Largest .npy channel file that the server converts to PNG, in bytes (a 4096 x 4096 float32 depth map is 64 MiB).
MAX_CHANNEL_BYTES = 64 * 1024 * 1024


class ForbiddenPathError(ThreeDBError):
    """Raised for a request path that would leave the output directory."""


def resolve_inside(root: Path, relative: str) -> Path | None:
    """Return the real path of ``relative`` under ``root``, or None when no such file exists.

    ``relative`` is a URL-decoded, slash-separated path. Raises ForbiddenPathError
    when it is absolute, contains a ``..`` segment, a backslash or a NUL byte, or
    resolves (through symlinks) to a file outside ``root``. Only regular files
    are returned, never directories.
    """
    if "\x00" in relative or "\\" in relative:
        raise ForbiddenPathError(f"path {relative!r} contains a backslash or a NUL byte")
    pure = PurePosixPath(relative)
    if pure.is_absolute() or relative.startswith("/"):
        raise ForbiddenPathError(f"path {relative!r} is absolute: expected a path inside the output directory")
    if ".." in pure.parts:
        raise ForbiddenPathError(f"path {relative!r} contains '..': expected a path inside the output directory")

    real_root = root.resolve()
    candidate = real_root.joinpath(*pure.parts)
    try:
        real = candidate.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, RuntimeError) as error:
        # RuntimeError: a symlink loop on Python 3.11.
        logger.warning("failed to resolve %s: %s", candidate, error)
        return None
    if not real.is_relative_to(real_root):
        raise ForbiddenPathError(f"path {relative!r} points outside the output directory")
    if not real.is_file():
        return None
    return real


def find_channel_files(root: Path, render_id: str) -> dict[str, str]:
    """Map each channel of one render to its file, relative to ``root`` (``images/<id>_<channel>.<ext>``).

    A channel with both a .png and a .npy file maps to the .png. Files whose
    resolved path leaves ``root`` are skipped.
    """
    images_dir = root / IMAGES_DIR
    prefix = f"{render_id}_"
    channels: dict[str, str] = {}
    if not images_dir.is_dir() or "/" in render_id or "\\" in render_id or render_id in ("", ".", ".."):
        return channels
    with os.scandir(images_dir) as entries:
        for entry in entries:
            if not entry.name.startswith(prefix):
                continue
            stem, dot, extension = entry.name[len(prefix):].rpartition(".")
            if not dot or not stem or extension.lower() not in ("png", "npy", "jpg", "jpeg"):
                continue
            relative = f"{IMAGES_DIR}/{entry.name}"
            try:
                if resolve_inside(root, relative) is None:
                    continue
            except ForbiddenPathError:
                logger.warning("skipping %s: it points outside the output directory", relative)
                continue
            if stem not in channels or extension.lower() == "png":
                channels[stem] = relative
    return channels


def channel_png(path: Path, channel: str) -> bytes:
    """Render a .npy channel as PNG bytes for display.

    A 2-D integer array (segmentation) gets one colour per id, with ids 0 and
    below black because renderers use 0 or -1 for the background.
    A 2-D float array (depth) is scaled from its finite minimum to maximum onto
    viridis, with non-finite values black. An array with 2 to 4 channels on the
    last or first axis (uv, normals) shows its first 3 channels clipped to [0, 1].
    Raises ValueError for other shapes and for files over MAX_CHANNEL_BYTES.
    """
    size = path.stat().st_size
    if size > MAX_CHANNEL_BYTES:
        raise ValueError(f"{path.name} is {size} bytes, more than the {MAX_CHANNEL_BYTES} bytes the dashboard converts")
    array = np.load(path, allow_pickle=False)
    array = np.squeeze(array)
    if array.ndim == 3 and array.shape[0] in (2, 3, 4) and array.shape[-1] not in (2, 3, 4):
        array = np.moveaxis(array, 0, -1)

    if array.ndim == 2 and np.issubdtype(array.dtype, np.integer):
        rgb = _color_labels(array)
    elif array.ndim == 2:
        rgb = _color_scalar_field(array.astype(np.float64))
    elif array.ndim == 3 and array.shape[-1] in (2, 3, 4):
        rgb = _color_vectors(array.astype(np.float64))
    else:
        raise ValueError(f"cannot show {channel} array of shape {array.shape} and dtype {array.dtype} as an image")
    return _encode_png(rgb)


def _color_labels(labels: np.ndarray) -> np.ndarray:
    from matplotlib import colormaps

    palette = (np.asarray(colormaps["tab20"].colors) * 255).astype(np.uint8)
    rgb = palette[np.mod(labels, len(palette))]
    rgb[labels <= 0] = 0
    return rgb


def _color_scalar_field(values: np.ndarray) -> np.ndarray:
    from matplotlib import colormaps

    finite = np.isfinite(values)
    scaled = np.zeros_like(values)
    if finite.any():
        low, high = values[finite].min(), values[finite].max()
        scaled[finite] = (values[finite] - low) / (high - low) if high > low else 0.5
    rgb = (colormaps["viridis"](scaled)[..., :3] * 255).astype(np.uint8)
    rgb[~finite] = 0
    return rgb


def _color_vectors(values: np.ndarray) -> np.ndarray:
    channels = values[..., :3]
    if channels.shape[-1] == 2:
        channels = np.concatenate([channels, np.zeros(channels.shape[:-1] + (1,))], axis=-1)
    channels = np.nan_to_num(channels, nan=0.0, posinf=1.0, neginf=0.0)
    return (np.clip(channels, 0.0, 1.0) * 255).astype(np.uint8)


def _encode_png(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG")
    return buffer.getvalue()
