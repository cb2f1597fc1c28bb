#!/usr/bin/env python3
"""PyTorch half of the tile-stream check (experiments/parity/tiles.ts writes OUT/ours.jsonl first).

Makes N tiles the way experiments/torch_recipe.py's train() does (sample drawn uniformly, window
placed by `place`, augmented by `augment_window`), from the same images and the targets and
weights `unet weights --write-targets` wrote, summarises each as tiles.ts does, writes
OUT/torch.jsonl and prints, per summary, the mean and spread of both streams and the difference of
the means in units of its standard error: a |z| well above 3 says the two streams differ there.
With --paired the windows are unet-ts' own (same sample and origin per tile, read from
ours.jsonl) and only the augmentation draws differ, so z compares the augmentations alone.

usage: /usr/bin/python3 experiments/parity/tiles.py IMAGES TARGETS OUT [--n 400] [--seed 1] [--tile 316]
  [--depth 4] [--sampling uniform]
"""
import argparse
import json
import math
import os
import sys

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, '..'))
sys.path.insert(0, os.path.join(here, '..', 'nuclei'))
import torch_recipe as recipe  # noqa: E402
from torch_reference import images_of, load_sample  # noqa: E402


def summary(ti, tl, tw, tile, out):
    m = (tile - out) // 2
    lab, wgt = tl[m:m + out, m:m + out], tw[m:m + out, m:m + out]
    img_out = ti[m:m + out, m:m + out]
    wsum = float(wgt.sum())
    share = [float(wgt[lab == k].sum()) / wsum if wsum > 0 else math.nan for k in range(3)]
    live = wgt > 0
    means = [img_out[live & (lab == k)].mean() if (live & (lab == k)).any() else math.nan for k in range(2)]
    return {
        'zeroWeight': float((wgt == 0).mean()), 'meanWeight': float(wgt.mean()),
        'weightBackground': share[0], 'weightInterior': share[1], 'weightBoundary': share[2],
        'imageMean': float(ti.mean()), 'imageStd': float(ti.std()), 'contrast': float(means[1] - means[0]),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('images')
    ap.add_argument('targets')
    ap.add_argument('out')
    ap.add_argument('--n', type=int, default=400)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--tile', type=int, default=316)
    ap.add_argument('--depth', type=int, default=4)
    ap.add_argument('--sampling', default='uniform')
    ap.add_argument('--paired', action='store_true')
    a = ap.parse_args()
    out = recipe.output_size(a.tile, a.depth)
    m = (a.tile - out) // 2
    stems = images_of(a.images)
    samples = [load_sample(stem, path, a.targets, 3) for stem, path in stems]
    index = {stem: i for i, (stem, _) in enumerate(stems)}
    ours = [json.loads(line) for line in open(os.path.join(a.out, 'ours.jsonl'))]
    rng = np.random.default_rng(a.seed)
    zero_outside = a.sampling != 'inside'
    rows = []
    for k in range(len(ours) if a.paired else a.n):
        if a.paired:
            img, lab, wgt = samples[index[ours[k]['sample']]]
            oy, ox = ours[k]['outTop'], ours[k]['outLeft']
        else:
            img, lab, wgt = samples[int(rng.integers(0, len(samples)))]
            oy, ox = recipe.place(rng, img.shape, out, a.sampling)
        ti, tl, tw = recipe.augment_window(img, lab, wgt, oy - m, ox - m, a.tile, rng, zero_outside)
        rows.append(summary(ti, tl, tw, a.tile, out))
    with open(os.path.join(a.out, 'torch.jsonl'), 'w') as f:
        f.writelines(json.dumps(r) + '\n' for r in rows)
    print(f'{"summary":18} {"unet-ts mean":>13} {"sd":>8} {"PyTorch mean":>13} {"sd":>8} {"z":>7}')
    for key in rows[0]:
        u = np.array([r[key] for r in ours], dtype=float)
        t = np.array([r[key] for r in rows], dtype=float)
        if a.paired:
            d = (u - t)[~np.isnan(u) & ~np.isnan(t)]
            se = d.std(ddof=1) / math.sqrt(len(d))
        else:
            se = math.sqrt(np.nanvar(u, ddof=1) / np.sum(~np.isnan(u)) + np.nanvar(t, ddof=1) / np.sum(~np.isnan(t)))
        u, t = u[~np.isnan(u)], t[~np.isnan(t)]
        z = (u.mean() - t.mean()) / se if se > 0 else 0.0
        print(f'{key:18} {u.mean():13.4f} {u.std(ddof=1):8.4f} {t.mean():13.4f} {t.std(ddof=1):8.4f} {z:7.2f}')


if __name__ == '__main__':
    main()
