"""The occlusion control on real renders: the occluded fraction measured from segmentation
tracks ``occlusion_ratio``, the occluder comes from ``direction``, grows with ``zoom``, is not
counted as the model, and leaves the scene as it was."""

from __future__ import annotations

import numpy as np
import pytest

from threedb.controls.blender.occlusion import OcclusionControl
from threedb.errors import DataError
from threedb.rendering.render_blender import BlenderRenderer

SIZE = 64
SETTINGS = {"resolution": [SIZE, SIZE], "samples": 4, "threads": 2, "with_segmentation": True,
            "with_depth": False, "with_uv": False, "max_depth": 10.0, "persistent_data": True}


@pytest.fixture(scope="module")
def scene(demo_data):
    renderer = BlenderRenderer(demo_data, SETTINGS, seed=2)
    renderer.setup_render("mug.blend", "studio.exr")
    context = renderer.get_context_dict("mug", 1)
    plain = renderer.render("mug")
    return renderer, context, plain, OcclusionControl(demo_data)


def occlude(scene, **args):
    renderer, context, _, control = scene
    full = {"occlusion_ratio": 0.5, "zoom": 0.25, "scale": 1.0, "direction": 1, "occluder": 0, **args}
    control.apply(context, full)
    try:
        return renderer.render("mug")
    finally:
        control.unapply(context)


def occluded_fraction(plain, output):
    return 1 - output["segmentation"].sum() / plain["segmentation"].sum()


@pytest.mark.parametrize("ratio, direction, occluder, zoom", [
    (0.2, 1, 3, 0.25), (0.5, 4, 0, 0.3), (0.8, 6, 5, 0.4), (0.35, 0, 7, 0.2), (0.65, 7, 10, 0.35),
])
def test_occluded_fraction_tracks_ratio(scene, ratio, direction, occluder, zoom):
    _, _, plain, control = scene
    output = occlude(scene, occlusion_ratio=ratio, direction=direction, occluder=occluder, zoom=zoom)
    assert control.achieved_ratio == pytest.approx(ratio, abs=0.03)
    assert occluded_fraction(plain, output) == pytest.approx(ratio, abs=0.07)


@pytest.mark.parametrize("direction", range(8))
def test_occluder_comes_from_direction(scene, direction):
    _, _, plain, control = scene
    output = occlude(scene, occlusion_ratio=0.3, direction=direction, occluder=2)
    hidden = (plain["segmentation"] == 1) & (output["segmentation"] == 0)
    rows, cols = np.nonzero(plain["segmentation"])
    hidden_rows, hidden_cols = np.nonzero(hidden)
    dx, dy = control.DIRECTIONS[direction]
    # +x is the image's right (larger column), +y its top (smaller row).
    if dx:
        assert np.sign(hidden_cols.mean() - cols.mean()) == dx
    if dy:
        assert np.sign(rows.mean() - hidden_rows.mean()) == dy


def test_occluder_rendered_but_not_segmented(scene):
    _, _, plain, _ = scene
    output = occlude(scene, occlusion_ratio=0.5)
    hidden = (plain["segmentation"] == 1) & (output["segmentation"] == 0)
    assert hidden.sum() > 100
    # The occluder is opaque geometry: the hidden pixels stay covered in the alpha channel.
    assert output["rgba"][3][hidden].min() > 0.5
    assert set(np.unique(output["segmentation"])) == {0, 1}


def test_larger_zoom_makes_larger_occluder(scene):
    def occluder_area(zoom):
        output = occlude(scene, occlusion_ratio=0.2, zoom=zoom, scale=0.4, occluder=4, direction=3)
        return ((output["rgba"][3] > 0.5) & (output["segmentation"] == 0)).sum()

    assert occluder_area(0.4) > 1.2 * occluder_area(0.1)


def test_small_occluder_covers_what_it_can(scene):
    _, _, plain, control = scene
    output = occlude(scene, occlusion_ratio=1.0, scale=0.25, zoom=0.1, occluder=1)
    assert 0.0 < control.achieved_ratio < 0.6
    assert occluded_fraction(plain, output) == pytest.approx(control.achieved_ratio, abs=0.07)
    assert control.measurements() == {"achieved_ratio": control.achieved_ratio}


def test_occlusion_leaves_scene_unchanged(scene):
    renderer, context, plain, _ = scene
    bpy = renderer.bpy
    counts = (len(bpy.data.objects), len(bpy.data.meshes), len(bpy.data.materials), len(context["scene"].objects))
    occlude(scene, occluder=6)
    assert (len(bpy.data.objects), len(bpy.data.meshes), len(bpy.data.materials),
            len(context["scene"].objects)) == counts
    assert np.array_equal(renderer.render("mug")["rgba"], plain["rgba"])


def test_occluder_choices_follow_folder(demo_data):
    control = OcclusionControl(demo_data)
    assert control.discrete_dims == {"direction": list(range(8)), "occluder": list(range(12))}
    assert [p.rsplit("/", 1)[-1] for p in control.occluder_paths][:2] == ["shape_000.blend", "shape_001.blend"]


def test_missing_occluder_folder_rejected(tmp_path):
    with pytest.raises(DataError, match="occluder folder not found"):
        OcclusionControl(str(tmp_path))
