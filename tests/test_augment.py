"""fitscope.data.augment: batched random affine augmentation and noise."""

from __future__ import annotations

import time

import pytest
import torch

from fitscope.config import AugmentConfig, DataConfig
from fitscope.data import load_data
from fitscope.data.augment import affine_theta, augment_batch, check_augment, random_theta, warp

SIZE = 24


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _blob(n: int, dx: float, dy: float, size: int = SIZE) -> torch.Tensor:
    """(n, 1, size, size) Gaussian spot of std 1 pixel, ``dx`` right / ``dy`` down of centre."""
    coords = torch.arange(size) - (size - 1) / 2
    img = torch.exp(-((coords[None, :] - dx) ** 2 + (coords[:, None] - dy) ** 2) / 2)
    return img.expand(n, 1, size, size).clone()


def _centroid(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(x right, y down) centroid of each image, in pixels from the centre."""
    h, w = images.shape[-2:]
    mass = images.sum(dim=(-1, -2, -3))
    xs = (images.sum(dim=(-2, -3)) * (torch.arange(w) - (w - 1) / 2)).sum(-1) / mass
    ys = (images.sum(dim=(-1, -3)) * (torch.arange(h) - (h - 1) / 2)).sum(-1) / mass
    return xs, ys


def _theta(n: int = 1, angle=0.0, zoom=1.0, shift=(0.0, 0.0), flip=(1.0, 1.0), keep=1.0,
           center=(0.0, 0.0), size=(SIZE, SIZE)) -> torch.Tensor:
    return affine_theta(torch.full((n,), float(angle)), torch.full((n,), float(zoom)),
                        torch.tensor([shift] * n), torch.tensor([flip] * n), keep,
                        torch.tensor([center] * n), size)


def _augment(images: torch.Tensor, cfg: AugmentConfig, seed: int = 0) -> torch.Tensor:
    shape = tuple(images.shape[1:])
    return augment_batch(images.reshape(len(images), -1), shape, cfg, _gen(seed)).reshape(
        images.shape)


# -- exact geometry through affine_theta ----------------------------------------------
def test_rotation_by_right_angles_matches_rot90():
    img = torch.rand(3, 2, 7, 7)
    for angle, expected in ((90, torch.rot90(img, 1, (-2, -1))),
                            (-90, torch.rot90(img, -1, (-2, -1))),
                            (180, img.flip(-1, -2))):
        assert torch.allclose(warp(img, _theta(3, angle=angle, size=(7, 7))), expected,
                              atol=1e-5), angle


def test_rotation_of_non_square_images_keeps_pixel_geometry():
    img = torch.rand(2, 1, 6, 10)
    assert torch.allclose(warp(img, _theta(2, angle=180, size=(6, 10))), img.flip(-1, -2),
                          atol=1e-5)
    spot = torch.zeros(1, 1, 6, 10)
    spot[0, 0, 2, 7] = 1.0  # 2.5 px right of centre, 0.5 px up
    turned = warp(spot, _theta(angle=90, size=(6, 10)))
    row, col = divmod(int(turned.flatten().argmax()), 10)
    assert (row, col) == (0, 4)  # counterclockwise: now 2.5 px up, 0.5 px left


def test_zoom_shift_and_crop_move_content_as_documented():
    spot = _blob(1, dx=3.0, dy=0.0)
    x, y = _centroid(warp(spot, _theta(zoom=2.0)))
    assert abs(float(x) - 6.0) < 0.05 and abs(float(y)) < 1e-4
    x, y = _centroid(warp(spot, _theta(shift=(0.125, -0.25))))
    assert abs(float(x) - (3.0 + 0.125 * SIZE)) < 0.05 and abs(float(y) + 0.25 * SIZE) < 0.05
    assert torch.allclose(warp(spot, _theta(keep=0.5)), warp(spot, _theta(zoom=2.0)), atol=1e-6)


def test_random_crops_stay_inside_the_image():
    theta = random_theta(500, (SIZE, SIZE), AugmentConfig(crop=0.4), _gen())
    corners = torch.tensor([[-1.0, -1.0, 1.0], [1.0, -1.0, 1.0], [-1.0, 1.0, 1.0], [1, 1, 1.0]])
    sampled = theta @ corners.T  # (500, 2, 4): where the output corners read from
    assert sampled.abs().max() <= 1.0 + 1e-6
    sides = sampled[:, 0, 1] - sampled[:, 0, 0]
    assert torch.allclose(sides, torch.full_like(sides, 2 * 0.6))
    assert sampled[:, :, 0].std(0).min() > 0.1  # the crop's position varies


# -- random augmentation through augment_batch ----------------------------------------
def test_identity_config_returns_an_equal_copy():
    x = torch.randn(8, 3 * 5 * 5)
    out = augment_batch(x, (3, 5, 5), AugmentConfig(), _gen())
    assert torch.equal(out, x) and out is not x


@pytest.mark.parametrize(("field", "dim"), [("flip_h", -1), ("flip_v", -2)])
def test_flips_give_each_example_itself_or_its_mirror(field, dim):
    img = torch.rand(64, 2, 5, 7)
    before = img.clone()
    out = _augment(img, AugmentConfig(**{field: True}))
    same = (out - img).abs().amax(dim=(1, 2, 3)) < 1e-5
    mirrored = (out - img.flip(dim)).abs().amax(dim=(1, 2, 3)) < 1e-5
    assert torch.all(same ^ mirrored)
    assert 10 < int(mirrored.sum()) < 54
    assert torch.equal(img, before)


def test_random_rotation_turns_content_within_the_range():
    spot = _blob(300, dx=6.0, dy=0.0)
    x, y = _centroid(_augment(spot, AugmentConfig(rotate_deg=30)))
    radius = torch.hypot(x, y)
    degrees = torch.rad2deg(torch.atan2(-y, x))  # counterclockwise as displayed
    assert torch.allclose(radius, torch.full_like(radius, 6.0), atol=0.1)
    assert degrees.abs().max() <= 30.5
    assert degrees.max() > 25 and degrees.min() < -25


def test_random_scale_and_translate_stay_within_their_ranges():
    spot = _blob(300, dx=4.0, dy=0.0)
    x, _ = _centroid(_augment(spot, AugmentConfig(scale=0.4)))
    ratio = x / 4.0
    assert ratio.min() >= 0.59 and ratio.max() <= 1.41
    assert ratio.min() < 0.7 and ratio.max() > 1.3
    x, y = _centroid(_augment(_blob(300, 0.0, 0.0), AugmentConfig(translate=0.2)))
    limit = 0.2 * SIZE
    for shift in (x, y):
        assert shift.abs().max() <= limit + 0.05 and shift.abs().max() > 0.8 * limit


def test_pixels_from_outside_the_image_repeat_the_border():
    background = torch.full((32, 1, 10, 10), -0.4)  # a standardized blank image
    out = _augment(background, AugmentConfig(rotate_deg=45, scale=0.3, translate=0.3))
    assert torch.allclose(out, background, atol=1e-6)


def test_noise_has_the_requested_std_on_vectors():
    x = torch.zeros(4000, 10)
    out = augment_batch(x, (10,), AugmentConfig(noise_std=0.3), _gen())
    assert abs(float(out.std()) - 0.3) < 0.01 and abs(float(out.mean())) < 0.01
    assert torch.equal(x, torch.zeros(4000, 10))


def test_same_seed_same_output_other_seed_other_output():
    cfg = AugmentConfig(flip_h=True, rotate_deg=20, scale=0.1, translate=0.1, crop=0.1,
                        noise_std=0.1)
    img = torch.rand(16, 1, 8, 8)
    assert torch.equal(_augment(img, cfg, seed=3), _augment(img, cfg, seed=3))
    assert not torch.allclose(_augment(img, cfg, seed=3), _augment(img, cfg, seed=4))


def test_geometric_ops_need_image_shapes():
    with pytest.raises(ValueError, match=r"needs images \(C, H, W\); got input shape \(4,\)"):
        augment_batch(torch.zeros(2, 4), (4,), AugmentConfig(rotate_deg=5), _gen())


# -- check_augment --------------------------------------------------------------------
@pytest.mark.parametrize("field", ["flip_h", "flip_v", "rotate_deg", "scale", "translate", "crop"])
def test_check_augment_refuses_geometric_ops_on_vectors(field):
    value = True if field.startswith("flip") else 0.1
    cfg = AugmentConfig(**{field: value})
    with pytest.raises(ValueError, match=rf"regularization\.augment\.{field} needs image data; "
                                         r"data 'moons' is vectors"):
        check_augment(cfg, load_data(DataConfig(name="moons")))
    check_augment(cfg, load_data(DataConfig(name="digits")))


def test_check_augment_allows_noise_anywhere_and_names_signals():
    check_augment(AugmentConfig(noise_std=0.5), load_data(DataConfig(name="moons")))
    signals = load_data(DataConfig(name="mnist1d", n_samples=100))
    with pytest.raises(ValueError, match="data 'mnist1d' is signals"):
        check_augment(AugmentConfig(flip_h=True), signals)


def test_augmenting_a_large_batch_is_fast():
    cfg = AugmentConfig(flip_h=True, rotate_deg=15, scale=0.1, translate=0.1, crop=0.1,
                        noise_std=0.1)
    x = torch.rand(2048, 28 * 28)
    augment_batch(x, (1, 28, 28), cfg, _gen())  # warm-up
    start = time.perf_counter()
    augment_batch(x, (1, 28, 28), cfg, _gen())
    assert time.perf_counter() - start < 2.0  # one batched call, not a loop over examples
