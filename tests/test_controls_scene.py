"""Scene controls checked by geometry on real renders: pin_to_ground, obj_loc_in_frame,
pointlight, material, material_nodes and mug_liquid (64 px, few samples)."""

from __future__ import annotations

import numpy as np
import pytest

from threedb.controls.blender.material import MaterialControl
from threedb.controls.blender.material_nodes import MaterialNodesControl
from threedb.controls.blender.mug_liquid import MugLiquidControl
from threedb.controls.blender.obj_loc_in_frame import ObjLocInFrameControl
from threedb.controls.blender.orientation import OrientationControl
from threedb.controls.blender.pin_to_ground import PinToGroundControl
from threedb.controls.blender.pointlight import PointLightControl
from threedb.errors import DataError
from threedb.rendering.blender_support import CameraProjection, model_world_vertices, update_scene
from threedb.rendering.render_blender import BlenderRenderer

SIZE = 64
SETTINGS = {"resolution": [SIZE, SIZE], "samples": 8, "threads": 2, "with_segmentation": True,
            "with_depth": False, "with_uv": False, "max_depth": 10.0, "persistent_data": True}


@pytest.fixture(scope="module")
def renderer(demo_data):
    return BlenderRenderer(demo_data, SETTINGS, seed=1)


def load(renderer, model, env="studio.exr"):
    if renderer.loaded != (env, f"{model}.blend"):
        renderer.setup_render(f"{model}.blend", env)
    return renderer.get_context_dict(model, 1)


def render_with(renderer, context, controls):
    """Apply ``[(control, args), ...]`` in order, render, undo in reverse order."""
    applied = []
    try:
        for control, args in controls:
            control.apply(context, args)
            applied.append(control)
        return renderer.render(context["model_uid"])
    finally:
        for control in reversed(applied):
            control.unapply(context)


def object_mean(output):
    mask = output["segmentation"] == 1
    return output["rgba"][:3, mask].mean(axis=1)


# -- pin_to_ground -----------------------------------------------------------------------------

def test_pin_to_ground_puts_lowest_vertex_on_height(renderer):
    context = load(renderer, "mug")
    pin = PinToGroundControl(renderer.root_dir)
    turn = OrientationControl(renderer.root_dir)
    for rotation_x in (0.0, 1.1):
        for height in (0.0, 0.35, 0.8):
            turn.apply(context, {"rotation_x": rotation_x, "rotation_y": 0.4, "rotation_z": 0.0})
            pin.apply(context, {"z_ground": height})
            update_scene()
            lowest = model_world_vertices(renderer.model_objects())[:, 2].min()
            pin.unapply(context)
            turn.unapply(context)
            assert lowest == pytest.approx(height, abs=1e-5)


def test_pin_to_ground_moves_lowest_pixel_row(renderer):
    context = load(renderer, "mug")
    pin = PinToGroundControl(renderer.root_dir)
    projection = CameraProjection(context["scene"], context["camera"])
    update_scene()
    rest = model_world_vertices(renderer.model_objects())[:, 2].min()
    rows = {}
    for height in (rest - 0.05, rest + 0.1):
        pin.apply(context, {"z_ground": height})
        update_scene()
        # The silhouette's lowest point is a vertex: the one that projects lowest.
        expected_v = projection.project(model_world_vertices(renderer.model_objects()))[:, 1].min()
        output = renderer.render("mug")
        pin.unapply(context)
        lowest_row = np.nonzero(output["segmentation"].any(axis=1))[0].max()
        measured_v = 1 - (lowest_row + 0.5) / SIZE
        assert abs(measured_v - expected_v) <= 1.5 / SIZE
        rows[height] = lowest_row
    # Raising the model by 0.15 scene units moves its lowest pixel up (smaller row index).
    low, high = sorted(rows)
    assert rows[high] < rows[low] - 2


# -- obj_loc_in_frame --------------------------------------------------------------------------

@pytest.mark.parametrize("x_shift, y_shift", [(0.0, 0.0), (-0.5, 0.4), (0.6, -0.3), (0.25, 0.6)])
def test_obj_loc_in_frame_puts_centre_at_shift(renderer, x_shift, y_shift):
    context = load(renderer, "soccer_ball")
    control = ObjLocInFrameControl(renderer.root_dir)
    output = render_with(renderer, context, [(control, {"x_shift": x_shift, "y_shift": y_shift})])
    rows, cols = np.nonzero(output["segmentation"])
    # Pixel centres: column c is at u = (c + 0.5) / SIZE, row r at v = 1 - (r + 0.5) / SIZE.
    assert (cols.mean() + 0.5) / SIZE == pytest.approx((x_shift + 1) / 2, abs=1.5 / SIZE)
    assert 1 - (rows.mean() + 0.5) / SIZE == pytest.approx((y_shift + 1) / 2, abs=1.5 / SIZE)


def test_obj_loc_in_frame_keeps_size(renderer):
    context = load(renderer, "soccer_ball")
    control = ObjLocInFrameControl(renderer.root_dir)
    centred = render_with(renderer, context, [(control, {"x_shift": 0.0, "y_shift": 0.0})])["segmentation"].sum()
    shifted = render_with(renderer, context, [(control, {"x_shift": 0.5, "y_shift": 0.5})])["segmentation"].sum()
    assert shifted == pytest.approx(centred, rel=0.15)


# -- pointlight --------------------------------------------------------------------------------

LIGHT = {"H": 0.0, "S": 0.0, "V": 1.0, "intensity": 4000.0, "distance": 6.0, "dir_x": 1.0, "dir_y": 0.0,
         "dir_z": 0.0}


def test_pointlight_brightens_lit_side(renderer):
    context = load(renderer, "mug", "night.exr")
    light = PointLightControl(renderer.root_dir)
    dark = renderer.render("mug")
    lit = render_with(renderer, context, [(light, LIGHT)])
    assert object_mean(lit).mean() > object_mean(dark).mean() + 0.1

    # A light at +X (the image's right, seen from the default camera) lights the right half.
    mask = lit["segmentation"] == 1
    cols = np.nonzero(mask)[1]
    middle = int(np.median(cols))
    brightness = lit["rgba"][:3].mean(axis=0)
    left = brightness[:, :middle][mask[:, :middle]].mean()
    right = brightness[:, middle:][mask[:, middle:]].mean()
    assert right > left + 0.1

    left_light = render_with(renderer, context, [(light, {**LIGHT, "dir_x": -1.0})])
    brightness = left_light["rgba"][:3].mean(axis=0)
    assert brightness[:, :middle][mask[:, :middle]].mean() > brightness[:, middle:][mask[:, middle:]].mean()


def test_pointlight_colour_and_intensity(renderer):
    context = load(renderer, "mug", "night.exr")
    light = PointLightControl(renderer.root_dir)
    red = object_mean(render_with(renderer, context, [(light, {**LIGHT, "H": 0.0, "S": 1.0})]))
    blue = object_mean(render_with(renderer, context, [(light, {**LIGHT, "H": 2 / 3, "S": 1.0})]))
    assert red[0] > red[2] + 0.1
    assert blue[2] > blue[0] + 0.1

    weak = object_mean(render_with(renderer, context, [(light, {**LIGHT, "intensity": 1000.0})])).mean()
    strong = object_mean(render_with(renderer, context, [(light, {**LIGHT, "intensity": 8000.0})])).mean()
    assert strong > weak + 0.05


def test_pointlight_removed_after_render(renderer):
    context = load(renderer, "mug", "night.exr")
    bpy = renderer.bpy
    before = (len(bpy.data.objects), len(bpy.data.lights), len(context["scene"].objects))
    render_with(renderer, context, [(PointLightControl(renderer.root_dir), LIGHT)])
    assert (len(bpy.data.objects), len(bpy.data.lights), len(context["scene"].objects)) == before


# -- material ----------------------------------------------------------------------------------

def test_material_choices_list_folder(demo_data):
    choices = MaterialControl(demo_data).discrete_dims["replacement_material"]
    assert choices[-1] == "keep_original"
    assert {"checker_grid.blend", "grass.blend", "metal.blend", "wood.blend", "zebra.blend"} <= set(choices)


def test_material_swap_changes_colours(renderer):
    context = load(renderer, "mug")
    control = MaterialControl(renderer.root_dir)
    original = renderer.render("mug")
    kept = render_with(renderer, context, [(control, {"replacement_material": "keep_original"})])
    assert np.array_equal(kept["rgba"], original["rgba"])

    grass = object_mean(render_with(renderer, context, [(control, {"replacement_material": "grass.blend"})]))
    assert grass[1] > grass[0] + 0.05
    assert grass[1] > grass[2] + 0.05

    checker = render_with(renderer, context, [(control, {"replacement_material": "checker_grid.blend"})])
    mask = checker["segmentation"] == 1
    luminance = checker["rgba"][:3].mean(axis=0)[mask]
    # Black and white squares: many dark and many bright pixels, unlike the plain white mug.
    assert (luminance < 0.3).mean() > 0.15
    assert (luminance > 0.6).mean() > 0.15
    assert (original["rgba"][:3].mean(axis=0)[original["segmentation"] == 1] < 0.3).mean() < 0.05

    # The silhouette does not change with the material.
    assert np.array_equal(checker["segmentation"], original["segmentation"])


def test_material_restored_and_removed(renderer):
    context = load(renderer, "table")
    renderer.render("table")  # the first render of a scene adds the "Render Result" image
    bpy = renderer.bpy
    slots = [slot.material for obj in renderer.model_objects() for slot in obj.material_slots]
    counts = (len(bpy.data.materials), len(bpy.data.images), len(bpy.data.node_groups))
    render_with(renderer, context, [(MaterialControl(renderer.root_dir), {"replacement_material": "tabletop.blend"})])
    assert [slot.material for obj in renderer.model_objects() for slot in obj.material_slots] == slots
    assert (len(bpy.data.materials), len(bpy.data.images), len(bpy.data.node_groups)) == counts


def test_material_file_with_two_materials_rejected(renderer, tmp_path):
    context = load(renderer, "mug")
    bpy = renderer.bpy
    folder = tmp_path / "blender_control_material"
    folder.mkdir()
    first, second = bpy.data.materials.new("first"), bpy.data.materials.new("second")
    bpy.data.libraries.write(str(folder / "two.blend"), {first, second}, fake_user=True)
    bpy.data.materials.remove(first)
    bpy.data.materials.remove(second)

    count = len(bpy.data.materials)
    control = MaterialControl(str(tmp_path))
    with pytest.raises(DataError, match="contains 2 materials"):
        control.apply(context, {"replacement_material": "two.blend"})
    assert len(bpy.data.materials) == count


def test_material_folder_missing_rejected(tmp_path):
    with pytest.raises(DataError, match="material folder not found"):
        MaterialControl(str(tmp_path))


# -- material_nodes and mug_liquid -------------------------------------------------------------

def test_material_nodes_sets_and_restores_values(renderer):
    context = load(renderer, "mug")
    bsdf = renderer.model_objects()[0].material_slots[0].material.node_tree.nodes["Principled BSDF"]
    before = (tuple(bsdf.inputs["Base Color"].default_value), bsdf.inputs["Roughness"].default_value)
    control = MaterialNodesControl(renderer.root_dir, targets={
        "red": {"node": "Principled BSDF", "input": "Base Color", "component": 0},
        "roughness": {"node": "Principled BSDF", "input": "Roughness"},
    })
    assert control.continuous_dims == {"red": (0.0, 1.0), "roughness": (0.0, 1.0)}

    original = object_mean(renderer.render("mug"))
    cyan = object_mean(render_with(renderer, context, [(control, {"red": 0.0, "roughness": 0.5})]))
    # Without red in the base colour the white mug turns cyan.
    assert cyan[0] < original[0] - 0.15
    assert cyan[1] == pytest.approx(original[1], abs=0.1)
    assert (tuple(bsdf.inputs["Base Color"].default_value), bsdf.inputs["Roughness"].default_value) == before


def test_material_nodes_sets_value_node_of_replacement(renderer):
    context = load(renderer, "mug")
    material = MaterialControl(renderer.root_dir)
    nodes = MaterialNodesControl(renderer.root_dir, targets={"scale": {"node": "scale", "range": [1, 20]}})
    coarse = render_with(renderer, context, [(material, {"replacement_material": "checker_grid.blend"}),
                                             (nodes, {"scale": 1.0})])
    fine = render_with(renderer, context, [(material, {"replacement_material": "checker_grid.blend"}),
                                           (nodes, {"scale": 3.0})])
    mask = coarse["segmentation"] == 1

    def transitions(output):
        luminance = output["rgba"][:3].mean(axis=0) > 0.45
        return np.logical_and(luminance[:, 1:] != luminance[:, :-1], mask[:, 1:] & mask[:, :-1]).sum()

    # A larger texture scale packs more checker squares onto the mug.
    assert transitions(fine) > 1.5 * transitions(coarse)


def test_material_nodes_missing_node_fails_cleanly(renderer):
    context = load(renderer, "mug")
    bsdf = renderer.model_objects()[0].material_slots[0].material.node_tree.nodes["Principled BSDF"]
    roughness = bsdf.inputs["Roughness"].default_value
    control = MaterialNodesControl(renderer.root_dir, targets={
        "roughness": {"node": "Principled BSDF", "input": "Roughness"},
        "missing": {"node": "no such node"},
    })
    with pytest.raises(DataError, match="no material of the model matches"):
        control.apply(context, {"roughness": 0.9, "missing": 0.5})
    # The value written before the failure is undone.
    assert bsdf.inputs["Roughness"].default_value == roughness


@pytest.mark.parametrize("targets, message", [
    (None, "needs `args: {targets"),
    ({"x": {"input": "Roughness"}}, "needs `node`"),
    ({"x": {"node": "n", "inputs": "Roughness"}}, "unknown keys \\['inputs'\\]"),
    ({"x": {"node": "n", "range": [1, 0]}}, "`range` must be"),
])
def test_material_nodes_rejects_bad_targets(targets, message):
    with pytest.raises(ValueError, match=message):
        MaterialNodesControl("/nonexistent", targets=targets)


def add_liquid_material(renderer):
    """Give the loaded model a material named ``liquid`` laid out like 3DB's mug: two Value nodes
    mix coffee, milk and water colours. Returns the material."""
    bpy = renderer.bpy
    material = bpy.data.materials.new("liquid")
    tree = material.node_tree
    bsdf = tree.nodes["Principled BSDF"]
    ratio, water = tree.nodes.new("ShaderNodeValue"), tree.nodes.new("ShaderNodeValue")
    ratio.name, water.name = "coffee_milk_ratio", "water_ratio"
    milk_or_coffee, with_water = tree.nodes.new("ShaderNodeMix"), tree.nodes.new("ShaderNodeMix")
    for mix in (milk_or_coffee, with_water):
        mix.data_type = "RGBA"
    colour_inputs = [s for s in milk_or_coffee.inputs if s.type == "RGBA"]
    colour_inputs[0].default_value = (0.9, 0.9, 0.85, 1.0)   # milk at ratio 0
    colour_inputs[1].default_value = (0.05, 0.02, 0.01, 1.0)  # coffee at ratio 1
    tree.links.new(ratio.outputs[0], milk_or_coffee.inputs["Factor"])
    water_inputs = [s for s in with_water.inputs if s.type == "RGBA"]
    tree.links.new([s for s in milk_or_coffee.outputs if s.type == "RGBA"][0], water_inputs[0])
    water_inputs[1].default_value = (0.3, 0.5, 0.9, 1.0)      # water at ratio 1
    tree.links.new(water.outputs[0], with_water.inputs["Factor"])
    tree.links.new([s for s in with_water.outputs if s.type == "RGBA"][0], bsdf.inputs["Base Color"])
    return material


def test_mug_liquid_mixes_colours(renderer):
    context = load(renderer, "mug")
    mesh = renderer.model_objects()[0]
    original = mesh.material_slots[0].material
    liquid = add_liquid_material(renderer)
    mesh.material_slots[0].material = liquid
    try:
        control = MugLiquidControl(renderer.root_dir)
        coffee = object_mean(render_with(renderer, context, [(control, {"ratio_coffee": 1.0, "ratio_milk": 0.0})]))
        milk = object_mean(render_with(renderer, context, [(control, {"ratio_coffee": 0.0, "ratio_milk": 1.0})]))
        water = object_mean(render_with(renderer, context, [(control, {"ratio_coffee": 0.0, "ratio_milk": 0.0})]))
        assert coffee.mean() < milk.mean() - 0.3
        assert water[2] > water[0] + 0.1
        assert liquid.node_tree.nodes["water_ratio"].outputs[0].default_value == 0.0
    finally:
        mesh.material_slots[0].material = original
        renderer.bpy.data.materials.remove(liquid)


def test_mug_liquid_needs_liquid_slot(renderer):
    context = load(renderer, "mug")
    with pytest.raises(DataError, match="no material slot named 'liquid'"):
        MugLiquidControl(renderer.root_dir).apply(context, {"ratio_coffee": 0.5, "ratio_milk": 0.5})


def test_obj_loc_in_frame_on_wide_frame(renderer, demo_data):
    wide = BlenderRenderer(demo_data, {**SETTINGS, "resolution": [64, 40]}, seed=1)
    wide.setup_render("soccer_ball.blend", "studio.exr")
    renderer.loaded = None  # the module's renderer shares the one bpy scene, which was replaced
    context = wide.get_context_dict("soccer_ball", 1)
    control = ObjLocInFrameControl(demo_data)
    output = render_with(wide, context, [(control, {"x_shift": 0.6, "y_shift": -0.3})])
    rows, cols = np.nonzero(output["segmentation"])
    assert (cols.mean() + 0.5) / 64 == pytest.approx(0.8, abs=1.5 / 64)
    assert 1 - (rows.mean() + 0.5) / 40 == pytest.approx(0.35, abs=1.5 / 40)
