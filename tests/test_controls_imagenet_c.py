"""The ImageNet-C control: all 19 corruptions at severities 1-5 on small images, with checks
that blurs blur, noises grow with severity, and the config keeps ``background`` first."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from threedb.config import build_experiment, load_config
from threedb.controls.blender import _imagecorruptions
from threedb.controls.blender.imagenet_c import CORRUPTIONS, ImagenetCControl
from threedb.errors import ConfigError, DataError
from conftest import tiny_config, write_config

BLURS = ["defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "gaussian_blur"]
NOISES = ["gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise"]


def make_image(height=40, width=48):
    """A (4, H, W) render-like tensor: a grey gradient with a checkered square and a partial alpha."""
    rows, cols = np.mgrid[0:height, 0:width]
    image = np.empty((4, height, width), dtype=np.float32)
    gradient = 0.2 + 0.5 * cols / width
    checker = ((rows // 4 + cols // 4) % 2).astype(np.float32)
    inside = (rows > height // 4) & (rows < 3 * height // 4) & (cols > width // 4) & (cols < 3 * width // 4)
    for channel, tint in enumerate((1.0, 0.8, 0.6)):
        image[channel] = np.where(inside, 0.1 + 0.8 * checker, gradient * tint)
    image[3] = inside.astype(np.float32)
    return torch.from_numpy(image)


def edge_energy(rgb):
    return float(np.abs(np.diff(rgb.numpy(), axis=2)).mean() + np.abs(np.diff(rgb.numpy(), axis=1)).mean())


@pytest.fixture(scope="module")
def corrupted():
    control = ImagenetCControl("/nonexistent")
    image = make_image()
    return image, {(name, severity): control.apply(image, {"corruption_name": name, "severity": severity})
                   for name in CORRUPTIONS for severity in range(1, 6)}


def test_names_match_package():
    assert sorted(CORRUPTIONS) == sorted(_imagecorruptions.corruption_names())
    assert len(CORRUPTIONS) == 19


def test_choices_are_3db_parameters():
    control = ImagenetCControl("/nonexistent")
    assert control.discrete_dims == {"corruption_name": CORRUPTIONS, "severity": [1, 2, 3, 4, 5]}
    assert control.continuous_dims == {}


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_every_severity_keeps_shape_and_alpha(corrupted, name):
    image, outputs = corrupted
    for severity in range(1, 6):
        output = outputs[(name, severity)]
        assert output.shape == image.shape
        assert output.dtype == torch.float32
        assert float(output.min()) >= 0.0
        assert float(output.max()) <= 1.0
        assert torch.equal(output[3], image[3])
        assert not torch.allclose(output[:3], image[:3], atol=1 / 255), f"{name} at severity {severity} did nothing"


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_same_image_same_corruption(corrupted, name):
    image, outputs = corrupted
    again = ImagenetCControl("/nonexistent").apply(image, {"corruption_name": name, "severity": 3})
    assert torch.equal(again, outputs[(name, 3)])


def test_global_random_state_untouched():
    np.random.seed(11)
    expected = np.random.random()
    np.random.seed(11)
    ImagenetCControl("/nonexistent").apply(make_image(), {"corruption_name": "gaussian_noise", "severity": 2})
    assert np.random.random() == expected


@pytest.mark.parametrize("name", BLURS)
def test_blurs_remove_fine_detail(name):
    # White noise has detail at every position, so even zoom blur (weakest at the centre) and
    # motion blur (along one random angle) must flatten it.
    noise = torch.from_numpy(np.random.default_rng(5).random((4, 40, 48)).astype(np.float32))
    control = ImagenetCControl("/nonexistent")
    original = edge_energy(noise[:3])
    energies = [edge_energy(control.apply(noise, {"corruption_name": name, "severity": severity})[:3])
                for severity in range(1, 6)]
    assert max(energies) < 0.6 * original
    assert energies[4] < energies[0]


@pytest.mark.parametrize("name", NOISES)
def test_noise_grows_with_severity(corrupted, name):
    image, outputs = corrupted
    errors = [float((outputs[(name, severity)][:3] - image[:3]).abs().mean()) for severity in range(1, 6)]
    assert errors[4] > 1.5 * errors[0]


def test_brightness_and_contrast_follow_severity(corrupted):
    _, outputs = corrupted
    brightness = [float(outputs[("brightness", s)][:3].mean()) for s in range(1, 6)]
    contrast = [float(outputs[("contrast", s)][:3].std()) for s in range(1, 6)]
    assert brightness == sorted(brightness)
    assert contrast == sorted(contrast, reverse=True)


def test_small_image_rejected():
    with pytest.raises(DataError, match="at least 32 x 32 px, got 48 x 16"):
        ImagenetCControl("/nonexistent").apply(make_image(16, 48), {"corruption_name": "fog", "severity": 1})


def test_background_must_precede_imagenet_c(tmp_path, demo_data):
    background = {"module": "threedb.controls.blender.background", "H": 0.5, "S": 0.5, "V": 0.5}
    corruption = {"module": "threedb.controls.blender.imagenet_c", "corruption_name": "fog", "severity": 2}
    wrong = tiny_config(controls=[corruption, background])
    with pytest.raises(ConfigError, match="BackgroundControl must be listed before ImagenetCControl"):
        build_experiment(load_config(write_config(tmp_path, wrong, "wrong.yaml")), demo_data)

    right = tiny_config(controls=[background, corruption])
    experiment = build_experiment(load_config(write_config(tmp_path, right, "right.yaml")), demo_data)
    assert [spec.class_name for spec in experiment.controls] == ["BackgroundControl", "ImagenetCControl"]


def test_3db_module_name_accepted(tmp_path, demo_data):
    config = tiny_config(controls=[{"module": "threedb.controls.blender.imagenet_c_corruption",
                                    "corruption_name": "snow", "severity": 1}])
    experiment = build_experiment(load_config(write_config(tmp_path, config)), demo_data)
    assert experiment.controls[0].discrete == {"corruption_name": ["snow"], "severity": [1]}
