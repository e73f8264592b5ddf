"""Camera control: viewpoint, zoom, aperture and focal length."""

from __future__ import annotations

from typing import Any, Dict

from threedb.controls.base_control import PreProcessControl
from threedb.rendering.blender_support import restore_transform, save_transform


class CameraControl(PreProcessControl):
    """Place the camera around the model.

    - ``view_point_x``, ``view_point_y`` in [-1, 1] and ``view_point_z`` in [0, 1]: the
      direction from the model's bounding-box centre to the camera (normalised; +Z is up).
    - ``zoom_factor`` in [0.5, 2]: at 1 the model's bounding sphere just fits the frame;
      larger values bring the camera closer (the model looks larger), by that factor.
    - ``aperture`` in [1, 32]: the f-number of the depth of field, focused on the model's
      centre (smaller values blur more).
    - ``focal_length`` in [10, 400] mm: the lens; the distance follows so that
      ``zoom_factor`` keeps its meaning, so the lens changes perspective, not framing.
    """

    def __init__(self, root_folder: str) -> None:
        dims = {"view_point_x": (-1.0, 1.0), "view_point_y": (-1.0, 1.0), "view_point_z": (0.0, 1.0),
                "zoom_factor": (0.5, 2.0), "aperture": (1.0, 32.0), "focal_length": (10.0, 400.0)}
        super().__init__(root_folder, continuous_dims=dims)

    def apply(self, context: Dict[str, Any], control_args: Dict[str, Any]) -> None:
        camera = context["camera"]
        data = camera.data
        self._saved_transform = save_transform(camera)
        self._saved = (data.lens, data.dof.use_dof, data.dof.aperture_fstop, data.dof.focus_object, data.clip_end)
        data.lens = control_args["focal_length"]
        direction = (control_args["view_point_x"], control_args["view_point_y"], control_args["view_point_z"])
        context["renderer"].frame_camera(direction, control_args["zoom_factor"])
        data.dof.use_dof = True
        data.dof.aperture_fstop = control_args["aperture"]
        data.dof.focus_object = context["object"]

    def unapply(self, context: Dict[str, Any]) -> None:
        camera = context["camera"]
        data = camera.data
        data.lens, data.dof.use_dof, data.dof.aperture_fstop, data.dof.focus_object, data.clip_end = self._saved
        restore_transform(camera, self._saved_transform)


Control = BlenderControl = CameraControl
