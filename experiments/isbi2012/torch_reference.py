#!/usr/bin/python3
"""PyTorch reference for the ISBI 2012 experiment: the same U-Net, data split, tiles,
weighted loss, augmentation recipe, optimizer and iteration budget as `unet train`, so
that the two trainings can be compared result for result (scored by `unet evaluate`).

Run with Debian's python (`/usr/bin/python3`, packages python3-torch, python3-scipy, python3-pil):

  /usr/bin/python3 experiments/isbi2012/torch_reference.py --data ../shared/data/isbi2012_em \
      --weights DIR_OF_WEIGHT_TIFFS --out OUT --filters 16 --tile 252 --iterations 2000 --seed 1

Writes OUT/train_NN_prob.png (16-bit membrane probability) for the validation slices 25-29,
and OUT/summary.json (timings, losses).

Same as unet-ts (src/model/unet.ts, src/train/train.ts, src/augment):
- valid 3x3 convs + ReLU, 2x2 max-pool, 2x2 up-conv halving channels, centre-cropped skip,
  dropout at the bottom, 1x1 conv; weights N(0, 2/N) with N = k*k*cin (conv) and cin (up-conv);
- loss: pixel-wise softmax cross-entropy weighted by w(x), averaged over output pixels;
- tiles: output window uniform inside the image, input window mirrored (reflect) at the borders;
- augmentation: elastic (3x3 grid, std 10 px, bicubic upsampling of displacements), rotation,
  flips, brightness/contrast/gamma/noise; image cubic, labels nearest, weights linear;
- class 1 = membrane (label value 0), as `unet train --invert`.
Random streams differ (numpy/torch generators), so runs agree in distribution, not bit for bit.
"""
import argparse
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
from PIL import Image
from scipy import ndimage

# The same U-Net module as the benchmark's (bench/torch_unet.py), so both compare one network.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'bench'))
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
    s = tile
    for _ in range(depth):
        s = (s - 4) // 2
    s -= 4
    for _ in range(depth):
        s = 2 * s - 4
    return s


def mirror_window(a, top, left, h, w):
    ys = np.arange(top, top + h)
    xs = np.arange(left, left + w)
    def reflect(i, n):
        if n == 1:
            return np.zeros_like(i)
        p = 2 * n - 2
        k = np.mod(i, p)
        return np.where(k < n, k, p - k)
    return a[np.ix_(reflect(ys, a.shape[0]), reflect(xs, a.shape[1]))]


def augment(img, lab, wgt, rng, elastic_std=10.0, grid=3, rotation=180.0, brightness=0.1, contrast=0.1, gamma=0.2, noise=0.01):
    h, w = img.shape
    # Elastic: displacements on a grid x grid lattice spanning the tile, upsampled bicubically.
    g = rng.normal(0, elastic_std, size=(2, grid, grid))
    dy = ndimage.zoom(g[0], (h / grid, w / grid), order=3, mode='nearest', grid_mode=False)[:h, :w]
    dx = ndimage.zoom(g[1], (h / grid, w / grid), order=3, mode='nearest', grid_mode=False)[:h, :w]
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing='ij')
    theta = math.radians(rng.uniform(-rotation, rotation))
    cy, cx = (h - 1) / 2, (w - 1) / 2
    ry = cy + math.cos(theta) * (yy - cy) - math.sin(theta) * (xx - cx)
    rx = cx + math.sin(theta) * (yy - cy) + math.cos(theta) * (xx - cx)
    if rng.uniform() < 0.5:
        rx = (w - 1) - rx
    if rng.uniform() < 0.5:
        ry = (h - 1) - ry
    coords = [ry + dy, rx + dx]
    img = ndimage.map_coordinates(img, coords, order=3, mode='mirror')
    lab = ndimage.map_coordinates(lab, coords, order=0, mode='mirror')
    wgt = ndimage.map_coordinates(wgt, coords, order=1, mode='mirror')
    img = (img - 0.5) * (1 + rng.uniform(-contrast, contrast)) + 0.5 + rng.uniform(-brightness, brightness)
    img = np.clip(img, 0, 1) ** math.exp(rng.uniform(-gamma, gamma))
    img = img + rng.normal(0, noise, size=img.shape)
    return img.astype(np.float32), lab.astype(np.int64), wgt.astype(np.float32)


def load(data, idx, weights_dir):
    img = np.asarray(Image.open(os.path.join(data, 'images', f'train_{idx:02d}.png')), dtype=np.float32) / 255
    lab = (np.asarray(Image.open(os.path.join(data, 'labels', f'train_{idx:02d}.png'))) <= 127).astype(np.int64)
    if weights_dir:
        wgt = np.asarray(Image.open(os.path.join(weights_dir, f'train_{idx:02d}.weights.tif')), dtype=np.float32)
    else:
        wgt = np.ones_like(img)
    return img, lab, wgt


@torch.no_grad()
def predict(model, img, tile, out):
    m = (tile - out) // 2
    h, w = img.shape
    prob = np.zeros((h, w), np.float32)
    for oy in range(0, h, out):
        for ox in range(0, w, out):
            win = mirror_window(img, oy - m, ox - m, tile, tile)
            p = F.softmax(model(torch.from_numpy(win)[None, None]), 1)[0, 1].numpy()
            hh, ww = min(out, h - oy), min(out, w - ox)
            prob[oy:oy + hh, ox:ox + ww] = p[:hh, :ww]
    return prob


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', required=True)
    ap.add_argument('--weights', default=None, help='folder of train_NN.weights.tif written by `unet weights`')
    ap.add_argument('--out', required=True)
    ap.add_argument('--depth', type=int, default=4)
    ap.add_argument('--filters', type=int, default=64)
    ap.add_argument('--tile', type=int, default=572)
    ap.add_argument('--iterations', type=int, required=True)
    ap.add_argument('--optimizer', choices=['sgd', 'adam'], default='sgd')
    ap.add_argument('--lr', type=float, default=0.001)
    ap.add_argument('--momentum', type=float, default=0.99)
    ap.add_argument('--seed', type=int, required=True)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--no-augment', action='store_true')
    ap.add_argument('--no-predict', action='store_true', help='skip predicting the validation slices (npm run bench, case e2e)')
    a = ap.parse_args()
    t_load = time.time()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    train = [load(a.data, i, a.weights) for i in range(25)]
    val = [load(a.data, i, None)[0] for i in range(25, 30)]
    out = output_size(a.tile, a.depth)
    m = (a.tile - out) // 2
    model = he_init(UNet(a.depth, a.filters))
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum) if a.optimizer == 'sgd' else torch.optim.Adam(model.parameters(), lr=a.lr)
    losses = []
    load_seconds = time.time() - t_load
    data_seconds = 0.0
    t0 = time.time()
    model.train()
    for it in range(1, a.iterations + 1):
        t_data = time.time()
        img, lab, wgt = train[rng.integers(0, len(train))]
        oy = rng.integers(0, max(0, img.shape[0] - out) + 1)
        ox = rng.integers(0, max(0, img.shape[1] - out) + 1)
        ti, tl, tw = (mirror_window(x, oy - m, ox - m, a.tile, a.tile) for x in (img, lab, wgt))
        if not a.no_augment:
            ti, tl, tw = augment(ti, tl, tw, rng)
        x = torch.from_numpy(np.ascontiguousarray(ti))[None, None]
        tl = torch.from_numpy(np.ascontiguousarray(tl[m:m + out, m:m + out]))[None]
        tw = torch.from_numpy(np.ascontiguousarray(tw[m:m + out, m:m + out]))[None]
        data_seconds += time.time() - t_data
        logits = model(x)
        loss = (F.cross_entropy(logits, tl, reduction='none') * tw).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
        if it % 50 == 0 or it == a.iterations:
            print(f'{it}/{a.iterations} loss {np.mean(losses[-50:]):.4f} {time.time() - t0:.0f}s', flush=True)
    seconds = time.time() - t0
    model.eval()
    os.makedirs(a.out, exist_ok=True)
    for k, img in enumerate([] if a.no_predict else val):
        p = predict(model, img, a.tile, out)
        Image.fromarray(np.round(p * 65535).astype(np.uint16)).save(os.path.join(a.out, f'train_{25 + k:02d}_prob.png'))
    with open(os.path.join(a.out, 'summary.json'), 'w') as f:
        json.dump({'args': vars(a), 'seconds': seconds, 'seconds_per_step': seconds / a.iterations,
                   'data_seconds': data_seconds, 'load_seconds': load_seconds,
                   'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                   'loss_last100': float(np.mean(losses[-100:])), 'torch': torch.__version__}, f, indent=1)


if __name__ == '__main__':
    main()
