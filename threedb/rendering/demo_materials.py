"""Materials of the demo data folder (``blender_control_material/``), built in code.

Each material is written to its own ``.blend`` file, as the material control expects. Textures
are placed by the model's object coordinates (demo models span about [-0.5, 0.5] on each axis).
A Value node named ``scale`` multiplies the coordinates, so the material-nodes control can vary
the pattern size. ``metal`` has a Value node named ``roughness`` instead.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Tuple

Colour = Tuple[float, float, float, float]

# material name -> (builder, texture scale or None); images come from pybullet_data.
IMAGE_MATERIALS: Dict[str, Tuple[str, float]] = {
    "checker_grid": ("checker_grid.jpg", 1.0),
    "grass": ("roboschool/models_outdoor/stadium/stadium_grass.jpg", 1.0),
    "tabletop": ("table/table.png", 1.0),
}


def build_materials(target: str, assets: str) -> None:
    """Write one ``<name>.blend`` per demo material into ``target``; ``assets`` is pybullet_data's folder."""
    import bpy  # noqa: PLC0415

    procedural: Dict[str, Callable[[Any], None]] = {
        "checker_red": _checker, "wood": _wood, "metal": _metal, "zebra": _zebra, "leopard": _leopard,
    }
    for name, build in procedural.items():
        bpy.ops.wm.read_factory_settings(use_empty=True)
        material = _new_material(name)
        build(material.node_tree)
        _write(material, os.path.join(target, f"{name}.blend"))
    for name, (relative, scale) in IMAGE_MATERIALS.items():
        bpy.ops.wm.read_factory_settings(use_empty=True)
        material = _new_material(name)
        _image_texture(material.node_tree, os.path.join(assets, relative), scale)
        _write(material, os.path.join(target, f"{name}.blend"))


def _new_material(name: str) -> Any:
    import bpy  # noqa: PLC0415

    material = bpy.data.materials.new(name)
    if material.node_tree is None:
        material.use_nodes = True
    return material


def _write(material: Any, path: str) -> None:
    import bpy  # noqa: PLC0415

    for image in bpy.data.images:
        if image.packed_file is None and image.source == "FILE":
            image.pack()
    bpy.data.libraries.write(path, {material}, fake_user=True, compress=True)


def _principled(tree: Any) -> Any:
    return tree.nodes.get("Principled BSDF") or next(n for n in tree.nodes if n.type == "BSDF_PRINCIPLED")


def _scaled_coordinates(tree: Any, scale: float) -> Any:
    """Return the output socket of object coordinates times a Value node named ``scale``."""
    coordinates = tree.nodes.new("ShaderNodeTexCoord")
    value = tree.nodes.new("ShaderNodeValue")
    value.name = value.label = "scale"
    value.outputs[0].default_value = scale
    multiply = tree.nodes.new("ShaderNodeVectorMath")
    multiply.operation = "SCALE"
    tree.links.new(coordinates.outputs["Object"], multiply.inputs[0])
    tree.links.new(value.outputs[0], multiply.inputs["Scale"])
    return multiply.outputs["Vector"]


def _colour_ramp(tree: Any, stops: Tuple[Tuple[float, Colour], ...], constant: bool = False) -> Any:
    ramp = tree.nodes.new("ShaderNodeValToRGB")
    elements = ramp.color_ramp.elements
    elements[0].position, elements[0].color = stops[0]
    elements[1].position, elements[1].color = stops[-1]
    for position, colour in stops[1:-1]:
        element = elements.new(position)
        element.color = colour
    if constant:
        ramp.color_ramp.interpolation = "CONSTANT"
    return ramp


def _checker(tree: Any) -> None:
    checker = tree.nodes.new("ShaderNodeTexChecker")
    checker.inputs["Color1"].default_value = (0.8, 0.05, 0.04, 1.0)
    checker.inputs["Color2"].default_value = (0.9, 0.9, 0.9, 1.0)
    checker.inputs["Scale"].default_value = 1.0
    tree.links.new(_scaled_coordinates(tree, 6.0), checker.inputs["Vector"])
    tree.links.new(checker.outputs["Color"], _principled(tree).inputs["Base Color"])


def _wood(tree: Any) -> None:
    wave = tree.nodes.new("ShaderNodeTexWave")
    wave.wave_type = "RINGS"
    wave.inputs["Scale"].default_value = 1.0
    wave.inputs["Distortion"].default_value = 6.0
    wave.inputs["Detail"].default_value = 3.0
    tree.links.new(_scaled_coordinates(tree, 3.0), wave.inputs["Vector"])
    ramp = _colour_ramp(tree, ((0.0, (0.30, 0.14, 0.05, 1.0)), (1.0, (0.62, 0.38, 0.18, 1.0))))
    tree.links.new(wave.outputs["Fac"], ramp.inputs["Fac"])
    bsdf = _principled(tree)
    tree.links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = 0.6


def _metal(tree: Any) -> None:
    bsdf = _principled(tree)
    bsdf.inputs["Base Color"].default_value = (0.85, 0.85, 0.88, 1.0)
    bsdf.inputs["Metallic"].default_value = 1.0
    roughness = tree.nodes.new("ShaderNodeValue")
    roughness.name = roughness.label = "roughness"
    roughness.outputs[0].default_value = 0.25
    tree.links.new(roughness.outputs[0], bsdf.inputs["Roughness"])


def _zebra(tree: Any) -> None:
    wave = tree.nodes.new("ShaderNodeTexWave")
    wave.wave_type = "BANDS"
    wave.bands_direction = "X"
    wave.inputs["Scale"].default_value = 1.0
    wave.inputs["Distortion"].default_value = 4.0
    tree.links.new(_scaled_coordinates(tree, 2.0), wave.inputs["Vector"])
    ramp = _colour_ramp(tree, ((0.0, (0.02, 0.02, 0.02, 1.0)), (0.5, (0.9, 0.9, 0.88, 1.0))), constant=True)
    tree.links.new(wave.outputs["Fac"], ramp.inputs["Fac"])
    bsdf = _principled(tree)
    tree.links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = 0.8


def _leopard(tree: Any) -> None:
    voronoi = tree.nodes.new("ShaderNodeTexVoronoi")
    voronoi.inputs["Scale"].default_value = 1.0
    voronoi.inputs["Randomness"].default_value = 0.8
    tree.links.new(_scaled_coordinates(tree, 8.0), voronoi.inputs["Vector"])
    ramp = _colour_ramp(tree, ((0.0, (0.06, 0.03, 0.01, 1.0)), (0.28, (0.06, 0.03, 0.01, 1.0)),
                               (0.36, (0.75, 0.45, 0.15, 1.0)), (1.0, (0.8, 0.52, 0.2, 1.0))))
    tree.links.new(voronoi.outputs["Distance"], ramp.inputs["Fac"])
    bsdf = _principled(tree)
    tree.links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = 0.8


def _image_texture(tree: Any, image_path: str, scale: float) -> None:
    import bpy  # noqa: PLC0415

    texture = tree.nodes.new("ShaderNodeTexImage")
    texture.image = bpy.data.images.load(image_path)
    texture.projection = "BOX"
    texture.projection_blend = 0.2
    tree.links.new(_scaled_coordinates(tree, scale), texture.inputs["Vector"])
    tree.links.new(texture.outputs["Color"], _principled(tree).inputs["Base Color"])
