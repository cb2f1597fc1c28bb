"""`unet train`'s recipe in PyTorch, shared by the references that compare against it
(experiments/isbi2012/torch_reference.py, experiments/nuclei/torch_reference.py); not run on its own.

Run with Debian's python (`/usr/bin/python3`, packages python3-torch, python3-pil).

Same as unet-ts (file names under src/):
- network: bench/torch_unet.py (valid 3x3 convs + ReLU, 2x2 max-pool, 2x2 up-conv halving the
  channels, centre-cropped skips, dropout 0.5 at the bottom, 1x1 conv), weights N(0, 2/N) with
  N = k*k*cin (conv) and cin (up-conv), biases 0 (model/init.ts);
- tiles (train/tiles.ts, train/tile-jobs.ts): per step a sample drawn uniformly; output window
  placed 'uniform' (every pixel in the output window equally often, uniformCoverageOrigin; output
  pixels outside the image weigh 0), 'clamped' (those windows moved inside the image,
  clampedCoverageOrigin) or 'inside'; input window mirrored only at the image borders;
- augmentation (augment/augment.ts, elastic.ts, resample.ts): one sampling map per tile in image
  coordinates (rotation uniform in +-180 degrees and flips about the tile centre, elastic field from
  a 3x3 grid of N(0, 10^2) displacements spanning the tile, Keys-cubic interpolated), so rotated
  windows read the real image around the tile; image Keys-cubic, labels nearest, weights linear,
  mirrored where the map leaves the image; then contrast about the tile mean, brightness, gamma on
  the tile's [min, max], Gaussian noise;
- loss (loss/cross-entropy.ts): pixel-wise softmax cross-entropy weighted by w(x), averaged over
  the output pixels; optimizers as train/train.ts makeOptimizer (Adam epsilon 1e-7 as TF.js);
- prediction (infer/predict.ts): overlap-tile with mirrored context, softmax probabilities.
Random streams differ (numpy/torch generators), so runs agree in distribution, not bit for bit.
Checked side by side in experiments/parity/: from the same weights and tile the two give the same
logits, loss, gradients and optimiser steps (steps.ts / steps.py, test/torch-parity.test.ts), the
two tile streams have the same per-tile statistics (tiles.ts / tiles.py), and a trained model
predicts the same probabilities through both (export-weights.ts / predict.py).
"""
import json
import math
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# The same U-Net module as the benchmark's (bench/torch_unet.py), so all comparisons use one network.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'bench'))
from torch_unet import UNet  # noqa: E402


def he_init(model):
    """Sec. 3: N(0, 2/N), N = k*k*cin for convs and cin for the 2x2 up-convs (as src/model/init.ts)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0, math.sqrt(2 / (m.kernel_size[0] * m.kernel_size[1] * m.in_channels)))
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0, math.sqrt(2 / m.in_channels))
            nn.init.zeros_(m.bias)
    return model


def output_size(tile, depth):
    """Output side of a valid-padding U-Net for an input side, or None when the input is not valid (src/model/size.ts)."""
    s = tile
    for _ in range(depth):
        s -= 4
        if s <= 0 or s % 2:
            return None
        s //= 2
    s -= 4
    if s <= 0:
        return None
    for _ in range(depth):
        s = 2 * s - 4
    return s if s > 0 else None


def reflect(i, n):
    """Mirror index without repeating the edge pixel (-1 -> 1), as src/util/mirror.ts reflectIndex."""
    if n == 1:
        return np.zeros_like(i)
    p = 2 * n - 2
    k = np.mod(i, p)
    return np.where(k < n, k, p - k)


def mirror_window(a, top, left, h, w):
    return a[np.ix_(reflect(np.arange(top, top + h), a.shape[0]), reflect(np.arange(left, left + w), a.shape[1]))]


def uniform_origin(rng, size, out):
    """src/train/tiles.ts uniformCoverageOrigin: a grid of n = ceil(size/out) windows shifted uniformly, one window taken."""
    n = -(-size // out)
    return int(rng.integers(size - n * out, 0, endpoint=True)) + int(rng.integers(0, n)) * out


def clamped_origin(rng, size, out):
    """src/train/tiles.ts clampedCoverageOrigin: uniform_origin moved into [0, size - out] when the axis holds a window."""
    o = uniform_origin(rng, size, out)
    return min(max(o, 0), size - out) if size >= out else o


def place(rng, shape, out, sampling):
    if sampling == 'uniform':
        return uniform_origin(rng, shape[0], out), uniform_origin(rng, shape[1], out)
    if sampling == 'clamped':
        return clamped_origin(rng, shape[0], out), clamped_origin(rng, shape[1], out)
    return int(rng.integers(0, max(0, shape[0] - out), endpoint=True)), int(rng.integers(0, max(0, shape[1] - out), endpoint=True))


def keys(t):
    """Keys' cubic convolution kernel, a = -0.5 (src/augment/elastic.ts cubicKernel)."""
    a = np.abs(t)
    return np.where(a <= 1, (1.5 * a - 2.5) * a * a + 1, np.where(a < 2, ((-0.5 * a + 2.5) * a - 4) * a + 2, 0.0))


def interpolation_matrix(n, g):
    """n x g weights of the g grid nodes (spanning 0..n-1, edge nodes repeated) per pixel (src/augment/elastic.ts interpolateDisplacements)."""
    m = np.zeros((n, g))
    for p in range(n):
        u = 0.0 if n == 1 else p * (g - 1) / (n - 1)
        base = math.floor(u)
        for k in range(4):
            node = base - 1 + k
            m[p, min(g - 1, max(0, node))] += keys(np.float64(u - node))
    return m


def elastic_field(rng, h, w, grid=3, std=10.0):
    g = rng.normal(0, std, size=(grid, grid, 2))
    my, mx = interpolation_matrix(h, grid), interpolation_matrix(w, grid)
    return my @ g[:, :, 0] @ mx.T, my @ g[:, :, 1] @ mx.T


def resample(a, sy, sx, order):
    """a (H x W) at source positions (sy, sx), mirrored outside: order 3 Keys cubic, 1 linear, 0 nearest (src/augment/resample.ts)."""
    h, w = a.shape
    if order == 0:
        return a[reflect(np.floor(sy + 0.5).astype(np.int64), h), reflect(np.floor(sx + 0.5).astype(np.int64), w)]
    y0 = np.floor(sy).astype(np.int64)
    x0 = np.floor(sx).astype(np.int64)
    fy = sy - y0
    fx = sx - x0
    if order == 1:
        r0, r1 = reflect(y0, h), reflect(y0 + 1, h)
        c0, c1 = reflect(x0, w), reflect(x0 + 1, w)
        return (1 - fy) * ((1 - fx) * a[r0, c0] + fx * a[r0, c1]) + fy * ((1 - fx) * a[r1, c0] + fx * a[r1, c1])
    out = np.zeros(sy.shape)
    for ky in range(4):
        wy = keys(fy + 1 - ky)
        r = reflect(y0 - 1 + ky, h)
        for kx in range(4):
            out += wy * keys(fx + 1 - kx) * a[r, reflect(x0 - 1 + kx, w)]
    return out


def gray_value(img, rng, brightness=0.1, contrast=0.1, gamma=0.2, noise=0.01):
    """src/augment/augment.ts grayValueVariation: contrast about the tile mean, offset, gamma on the tile's [min, max], noise."""
    c = 1 + (2 * rng.uniform() - 1) * contrast
    b = (2 * rng.uniform() - 1) * brightness
    g = math.exp((2 * rng.uniform() - 1) * gamma)
    mean = float(img.mean())
    img = ((img - mean) * c + mean + b).astype(np.float32)
    lo, hi = float(img.min()), float(img.max())
    if g != 1 and hi > lo:
        img = lo + (hi - lo) * np.maximum(0, (img - lo) / (hi - lo)) ** g
    return (img + rng.normal(0, noise, size=img.shape)).astype(np.float32)


def augment_window(img, lab, wgt, top, left, size, rng, zero_outside, rotation=180.0):
    """The size x size input window at (top, left), augmented with a sampling map in image coordinates (src/augment/augment.ts augmentWindow)."""
    angle = math.radians((2 * rng.uniform() - 1) * rotation)
    flip_y, flip_x = rng.uniform() < 0.5, rng.uniform() < 0.5
    dy, dx = elastic_field(rng, size, size)
    c = (size - 1) / 2
    yy, xx = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64), indexing='ij')
    vy = c - yy if flip_y else yy - c
    vx = c - xx if flip_x else xx - c
    sy = math.cos(angle) * vy + math.sin(angle) * vx + c + dy + top
    sx = -math.sin(angle) * vy + math.cos(angle) * vx + c + dx + left
    ti = resample(img, sy, sx, 3).astype(np.float32)
    tl = resample(lab, sy, sx, 0)
    tw = resample(wgt, sy, sx, 1).astype(np.float32)
    if zero_outside:
        ry, rx = np.floor(sy + 0.5), np.floor(sx + 0.5)
        tw[(ry < 0) | (ry >= img.shape[0]) | (rx < 0) | (rx >= img.shape[1])] = 0
    return gray_value(ti, rng), tl, tw


def cut_window(img, lab, wgt, top, left, size, zero_outside):
    """The window as it is, mirrored at the image borders (src/train/tiles.ts cutTile)."""
    ti, tl, tw = (mirror_window(a, top, left, size, size) for a in (img, lab, wgt))
    tw = tw.astype(np.float32, copy=True)
    if zero_outside:
        ys, xs = np.arange(top, top + size), np.arange(left, left + size)
        tw[(ys < 0) | (ys >= img.shape[0]), :] = 0
        tw[:, (xs < 0) | (xs >= img.shape[1])] = 0
    return ti.astype(np.float32), tl, tw


POLY_EXPONENT = 0.9


def scheduled_lr(schedule, base, step, iterations):
    """Step size of step `step` (1-based) of `iterations` (src/train/schedule.ts scheduledLearningRate)."""
    if schedule == 'constant':
        return base
    if schedule == 'poly':
        return base * (1 - (step - 1) / iterations) ** POLY_EXPONENT
    raise ValueError(f'lr schedule must be constant or poly, got {schedule!r}')


def add_recipe_args(ap, filters=64, tile=572, optimizer='sgd'):
    """The `unet train` flags the references share (same names and defaults as unet train, unless a caller's recipe says otherwise)."""
    ap.add_argument('--out', required=True)
    ap.add_argument('--depth', type=int, default=4)
    ap.add_argument('--filters', type=int, default=filters)
    ap.add_argument('--tile', type=int, default=tile)
    ap.add_argument('--iterations', type=int, required=True)
    ap.add_argument('--optimizer', choices=['sgd', 'adam'], default=optimizer)
    ap.add_argument('--lr', type=float, default=0.001)
    ap.add_argument('--momentum', type=float, default=0.99)
    ap.add_argument('--lr-schedule', choices=['constant', 'poly'], default='constant')
    ap.add_argument('--seed', type=int, required=True)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--tile-sampling', choices=['uniform', 'clamped', 'inside'], default='uniform')
    ap.add_argument('--no-augment', action='store_true')


def train(samples, a, classes=2):
    """Trains a U-Net on samples [(image, class labels, weights)] (H x W each) with the recipe of `a` (add_recipe_args); returns (model, stats)."""
    out = output_size(a.tile, a.depth)
    if out is None:
        raise SystemExit(f'--tile {a.tile} is not a valid input size for depth {a.depth}')
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    m = (a.tile - out) // 2
    model = he_init(UNet(a.depth, a.filters, classes=classes))
    opt = (torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum) if a.optimizer == 'sgd'
           else torch.optim.Adam(model.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-7))
    losses = []
    data_seconds = 0.0
    zero_outside = a.tile_sampling != 'inside'
    t0 = time.time()
    model.train()
    for it in range(1, a.iterations + 1):
        t_data = time.time()
        img, lab, wgt = samples[int(rng.integers(0, len(samples)))]
        oy, ox = place(rng, img.shape, out, a.tile_sampling)
        window = (img, lab, wgt, oy - m, ox - m, a.tile, zero_outside)
        ti, tl, tw = cut_window(*window) if a.no_augment else augment_window(*window[:6], rng, zero_outside)
        x = torch.from_numpy(np.ascontiguousarray(ti))[None, None]
        tl = torch.from_numpy(np.ascontiguousarray(tl[m:m + out, m:m + out], dtype=np.int64))[None]
        tw = torch.from_numpy(np.ascontiguousarray(tw[m:m + out, m:m + out]))[None]
        data_seconds += time.time() - t_data
        for group in opt.param_groups:
            group['lr'] = scheduled_lr(a.lr_schedule, a.lr, it, a.iterations)
        loss = (F.cross_entropy(model(x), tl, reduction='none') * tw).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
        if it % 50 == 0 or it == a.iterations:
            print(f'{it}/{a.iterations} loss {np.mean(losses[-50:]):.4f} {time.time() - t0:.0f}s', flush=True)
    seconds = time.time() - t0
    model.eval()
    return model, {'seconds': seconds, 'seconds_per_step': seconds / a.iterations, 'data_seconds': data_seconds,
                   'loss_last100': float(np.mean(losses[-100:])), 'losses': losses[::10]}


def prediction_tile(h, w, depth, largest=1212):
    """The smallest valid input tile whose output covers the image, at most `largest` (larger images are tiled)."""
    need = max(h, w)
    best = None
    for t in range(16, largest + 1):
        o = output_size(t, depth)
        if o is not None:
            best = t
            if o >= need:
                break
    return best


@torch.no_grad()
def predict(model, img, depth):
    """Softmax probabilities (K x H x W) of an H x W image by overlap-tile prediction with mirrored context."""
    tile = prediction_tile(*img.shape, depth)
    out = output_size(tile, depth)
    m = (tile - out) // 2
    h, w = img.shape
    prob = None
    for oy in range(0, h, out):
        for ox in range(0, w, out):
            win = mirror_window(img, oy - m, ox - m, tile, tile).astype(np.float32)
            p = F.softmax(model(torch.from_numpy(win)[None, None]), 1)[0].numpy()
            if prob is None:
                prob = np.zeros((p.shape[0], h, w), np.float32)
            hh, ww = min(out, h - oy), min(out, w - ox)
            prob[:, oy:oy + hh, ox:ox + ww] = p[:, :hh, :ww]
    return prob


def write_summary(path, a, stats, **extra):
    with open(path, 'w') as f:
        json.dump({'args': vars(a), **stats, **extra,
                   'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'torch': torch.__version__}, f, indent=1)
