"""Random data augmentation of training batches.

Geometric operations (images only) are folded into one affine map per example and
applied with ``F.affine_grid`` + ``F.grid_sample`` (bilinear, ``align_corners=False``),
all examples at once. In normalized coordinates (x right, y down, both in [-1, 1]) the
map from an output pixel ``p`` to the input point it samples is

    p_in = keep * Flip * Rot(angle) * (p - shift) / zoom + center

with, drawn independently per example from the given generator:

* ``Flip = diag(fx, fy)``: ``fx = -1`` with probability 1/2 when ``flip_h`` (mirror left
  to right), ``fy`` likewise for ``flip_v``; else 1;
* ``angle`` uniform in [-rotate_deg, rotate_deg]; a positive angle turns the content
  counterclockwise as displayed (row 0 on top). ``Rot`` acts in pixel units, so
  non-square images are not sheared;
* ``zoom`` uniform in [1 - scale, 1 + scale]; above 1 the content looks larger;
* ``shift`` uniform in [-translate, translate] of the width (x) and height (y);
* ``keep = 1 - crop`` and ``center`` uniform in [-crop, crop] per axis: a random square
  crop of side ``keep`` (a share of the image), resized back to the full image.

Samples falling outside the image take the nearest border pixel
(``padding_mode="border"``): images are standardized, so a zero pad would be the mean
grey rather than background, while the border of MNIST-like images is background.
Last, Gaussian noise of std ``noise_std`` is added (any data, vectors included).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from fitscope.config import AugmentConfig
from fitscope.data import DataSplits

GEOMETRIC = ("flip_h", "flip_v", "rotate_deg", "scale", "translate", "crop")


def check_augment(cfg: AugmentConfig, splits: DataSplits) -> None:
    """Refuse geometric augmentation (flip, rotate, scale, translate, crop) on non-images."""
    if splits.is_image:
        return
    kind = "signals" if len(splits.input_shape) == 2 else "vectors"
    for field in GEOMETRIC:
        if getattr(cfg, field):
            raise ValueError(f"regularization.augment.{field} needs image data; "
                             f"data {splits.name!r} is {kind}")


def affine_theta(angle_deg: torch.Tensor, zoom: torch.Tensor, shift: torch.Tensor,
                 flip: torch.Tensor, keep: float, center: torch.Tensor,
                 size: tuple[int, int]) -> torch.Tensor:
    """The (B, 2, 3) ``theta`` of ``F.affine_grid`` for the map in the module docstring.

    ``angle_deg`` and ``zoom`` are (B,); ``shift`` (as a share of width/height),
    ``flip`` (entries +-1) and ``center`` are (B, 2) in (x, y) order; ``size`` is (H, W).
    """
    height, width = size
    rad = angle_deg * (math.pi / 180.0)
    cos, sin = torch.cos(rad), torch.sin(rad)
    rot = torch.stack([torch.stack([cos, -sin * (height / width)], -1),
                       torch.stack([sin * (width / height), cos], -1)], -2)
    linear = keep * flip[:, :, None] * rot / zoom[:, None, None]
    offset = center - (linear @ (2.0 * shift)[:, :, None])[:, :, 0]
    return torch.cat([linear, offset[:, :, None]], dim=2)


def warp(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Resample (B, C, H, W) ``images`` through the affine maps ``theta`` (B, 2, 3)."""
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border",
                         align_corners=False)


def random_theta(n: int, size: tuple[int, int], cfg: AugmentConfig,
                 generator: torch.Generator) -> torch.Tensor:
    """``n`` random affine maps drawn as the module docstring describes (on the CPU)."""
    u = 2.0 * torch.rand(n, 8, generator=generator) - 1.0  # uniform in [-1, 1)
    asked = torch.tensor([cfg.flip_h, cfg.flip_v])
    flip = torch.where((u[:, :2] < 0) & asked, -1.0, 1.0)
    return affine_theta(
        angle_deg=u[:, 2] * cfg.rotate_deg, zoom=1.0 + u[:, 3] * cfg.scale,
        shift=u[:, 4:6] * cfg.translate, flip=flip, keep=1.0 - cfg.crop,
        center=u[:, 6:8] * cfg.crop, size=size,
    )


def augment_batch(x: torch.Tensor, input_shape: tuple[int, ...], cfg: AugmentConfig,
                  generator: torch.Generator) -> torch.Tensor:
    """A randomly transformed copy of the flat batch ``x`` (B, F); ``x`` is left unchanged.

    ``generator`` is a CPU generator; the same state gives the same output. Random
    numbers are drawn on the CPU and moved to ``x``'s device.
    """
    out = x
    if any(getattr(cfg, field) for field in GEOMETRIC):
        if len(input_shape) != 3:
            raise ValueError(f"geometric augmentation needs images (C, H, W); got input "
                             f"shape {input_shape}")
        theta = random_theta(len(x), input_shape[1:], cfg, generator)
        images = x.reshape(len(x), *input_shape)
        out = warp(images, theta.to(x.device, x.dtype)).reshape(len(x), -1)
    if cfg.noise_std:
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype)
        out = out + cfg.noise_std * noise.to(x.device)
    return x.clone() if out is x else out
