"""Material control: give the model a material from the data folder for the render."""

from __future__ import annotations

import os
from typing import Any, Dict, List, Tuple

from threedb.controls.base_control import PreProcessControl
from threedb.errors import DataError
from threedb.rendering.blender_support import AddedDataBlocks, import_bpy, quiet_stdout

MATERIAL_FOLDER = "blender_control_material"
KEEP_ORIGINAL = "keep_original"


def list_material_files(root_folder: str) -> List[str]:
    """Return the ``.blend`` file names in ``<root_folder>/blender_control_material``, sorted."""
    folder = os.path.join(root_folder, MATERIAL_FOLDER)
    if not os.path.isdir(folder):
        raise DataError(f"material folder not found: {folder} (the material control needs one "
                        f".blend file per material there)")
    names = sorted(f for f in os.listdir(folder) if f.lower().endswith(".blend") and not f.startswith("."))
    if not names:
        raise DataError(f"no .blend material files in {folder}")
    return names


class MaterialControl(PreProcessControl):
    """``replacement_material``: a ``.blend`` file name from ``blender_control_material/`` or
    ``keep_original``.

    Each file must contain exactly one material. It replaces the material of every material slot
    of the model's meshes (a mesh without slots gets one for the render). The material and the
    images and node groups that came with it are removed again after the render.
    """

    def __init__(self, root_folder: str) -> None:
        choices = list_material_files(root_folder) + [KEEP_ORIGINAL]
        super().__init__(root_folder, discrete_dims={"replacement_material": choices})
        self._saved: List[Tuple[Any, List[Any], bool]] = []
        self._added: AddedDataBlocks | None = None

    def apply(self, context: Dict[str, Any], control_args: Dict[str, Any]) -> None:
        self._saved, self._added = [], None
        name = control_args["replacement_material"]
        if name == KEEP_ORIGINAL:
            return
        material = self._load(name)
        try:
            for obj in context["renderer"].model_objects():
                if obj.type != "MESH":
                    continue
                slots = [slot.material for slot in obj.material_slots]
                added_slot = not slots
                if added_slot:
                    obj.data.materials.append(material)
                self._saved.append((obj, slots, added_slot))
                for slot in obj.material_slots:
                    slot.material = material
        except BaseException:
            # The worker undoes only controls whose apply returned, so undo the partial change here.
            self.unapply(context)
            raise

    def _load(self, name: str) -> Any:
        bpy = import_bpy()
        path = os.path.join(self.root_folder, MATERIAL_FOLDER, name)
        if not os.path.isfile(path):
            raise DataError(f"material file not found: {path}")
        self._added = AddedDataBlocks()
        with quiet_stdout():
            with bpy.data.libraries.load(path, link=False) as (source, target):
                target.materials = list(source.materials)
        self._added.freeze()
        materials = [m for m in target.materials if m is not None]
        if len(materials) != 1:
            self._added.remove()
            self._added = None
            raise DataError(f"material file {path} contains {len(materials)} materials; it must contain exactly one")
        return materials[0]

    def unapply(self, context: Dict[str, Any]) -> None:
        for obj, slots, added_slot in reversed(self._saved):
            if added_slot:
                obj.data.materials.pop()
                continue
            for slot, material in zip(obj.material_slots, slots):
                slot.material = material
        self._saved = []
        if self._added is not None:
            self._added.remove()
            self._added = None


Control = BlenderControl = MaterialControl
