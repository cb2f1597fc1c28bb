#!/usr/bin/python3
"""Seed rules for the watershed compared on saved probability maps, with scikit-image (a re-implementation
for the comparison; the shipped code is src/infer/instances.ts, searched by src/train/tune.ts). Each
run prints the stored rule's mean F1 at IoU 0.5 (object pixels p > 0.7, seeds p >= 0.9, min size 50;
0.8651 here against unet-ts' 0.8644 on the same maps) and then one line per setting of one family:
  (none)    h-maxima of the distance transform of the object pixels, flooded on the distance
  probdist  h-maxima of the distance transform of the probability seeds, flooded on p
  high      higher seed levels (0.95-0.995), and h-maxima of p itself
  rel       distance h-maxima relative to each object's largest distance
  relsize   minimum size relative to the image's median object area
  erode     probability seeds eroded by a disc (skimage binary_erosion): what unet-ts adopted
  edt       the same as a distance threshold on the seed regions (EDT > r)
usage: experiments/nuclei/seeds.py PRED_DIR TRUTH_DIR [FAMILY]   (PRED_DIR: <stem>_prob.tif of
  `unet predict --outputs prob`; the README's figures used the bundled model's on its 43 hold-out images)"""
import os, sys, itertools
import numpy as np
import tifffile
from scipy import ndimage as ndi
from skimage.io import imread
from skimage.morphology import h_maxima
from skimage.segmentation import watershed
from skimage.measure import label

pred_dir, truth_dir = sys.argv[1], sys.argv[2]

def f1(t, p):
    nt, np_ = t.max() + 1, p.max() + 1
    if nt == 1 and np_ == 1: return 1.0
    inter = np.bincount((t * np_ + p).ravel(), minlength=nt * np_).reshape(nt, np_)
    at, ap = inter.sum(1), inter.sum(0)
    iou = inter / (at[:, None] + ap[None, :] - inter + 1e-12)
    tp = int((iou[1:, 1:] > 0.5).sum())
    T = int((at[1:] > 0).sum()); P = int((ap[1:] > 0).sum())
    return 2 * tp / (T + P) if T + P else 1.0

def drop_small(lab, m):
    if m == 0: return lab
    s = np.bincount(lab.ravel())
    if isinstance(m, tuple):  # (absolute floor, fraction of the image's median object area)
        sizes = s[1:][s[1:] > 0]
        m = max(m[0], m[1] * np.median(sizes)) if len(sizes) else m[0]
    keep = s >= m; keep[0] = False
    out = np.where(keep[lab], lab, 0)
    return out

cases = []
for f in sorted(os.listdir(truth_dir)):
    stem = f.rsplit('.', 1)[0]
    t = imread(os.path.join(truth_dir, f)).astype(np.int64)
    if t.ndim == 3: t = t[..., 0]
    prob = tifffile.imread(os.path.join(pred_dir, stem + '_prob.tif'))
    cases.append((t, prob[1].astype(np.float64)))

def run(fg_t, mode, level, min_size):
    s = 0.0
    for t, p in cases:
        fg = p > fg_t
        if mode == 'prob':
            markers = label(fg & (p >= level), connectivity=1)
            lab = watershed(-p, markers, mask=fg, connectivity=1)
            # unseeded components keep their own id (as unet-ts does)
            rest = label(fg & (lab == 0), connectivity=1)
            lab = np.where(rest > 0, rest + lab.max(), lab)
        elif mode == 'erode':
            # seeds = the probability seeds eroded by a disc of radius level[1]: necks narrower than it break
            from skimage.morphology import binary_erosion, disk
            sm = binary_erosion(fg & (p >= level[0]), disk(level[1]))
            markers = label(sm, connectivity=1)
            lab = watershed(-p, markers, mask=fg, connectivity=1)
            rest = label(fg & (lab == 0), connectivity=1)
            lab = np.where(rest > 0, rest + lab.max(), lab)
        elif mode == 'edt':
            # seeds = probability-seed pixels farther than level[1] px from the seed region's edge (an erosion by a disc)
            sm = fg & (p >= level[0])
            markers = label(ndi.distance_transform_edt(sm) > level[1], connectivity=1)
            lab = watershed(-p, markers, mask=fg, connectivity=1)
            rest = label(fg & (lab == 0), connectivity=1)
            lab = np.where(rest > 0, rest + lab.max(), lab)
        elif mode == 'hmax':
            # seeds = maxima of the probability whose dynamic (depth of the dip to a higher maximum) is >= h
            q = np.round(p * 1000) / 1000
            markers = label(h_maxima(np.where(fg, q, 0), level) & fg, connectivity=2)
            lab = watershed(-p, markers, mask=fg, connectivity=1)
            rest = label(fg & (lab == 0), connectivity=1)
            lab = np.where(rest > 0, rest + lab.max(), lab)
        elif mode == 'reldist':
            # per object: maxima of the distance transform whose dynamic is >= ratio x the object's largest distance
            d = ndi.distance_transform_edt(fg)
            comp = label(fg, connectivity=1)
            markers = np.zeros(fg.shape, np.int64); n = 0
            for k, sl in enumerate(ndi.find_objects(comp), start=1):
                if sl is None: continue
                sl = tuple(slice(max(0, a.start - 1), a.stop + 1) for a in sl)
                m = comp[sl] == k; dd = np.where(m, d[sl], 0)
                hm = label(h_maxima(dd, max(level * dd.max(), 1e-3)) & m, connectivity=2)
                markers[sl][hm > 0] = hm[hm > 0] + n; n += hm.max()
            lab = watershed(-d, markers, mask=fg, connectivity=1)
        elif mode == 'probdist':
            # h-maxima of the distance transform of the probability seeds: splits seed regions shaped like two nuclei
            sm = fg & (p >= level[0])
            d = ndi.distance_transform_edt(sm)
            markers = label(h_maxima(d, level[1]) & sm, connectivity=2)
            lab = watershed(-p, markers, mask=fg, connectivity=1)
            rest = label(fg & (lab == 0), connectivity=1)
            lab = np.where(rest > 0, rest + lab.max(), lab)
        else:
            d = ndi.distance_transform_edt(fg)
            markers = label(h_maxima(d, level) & fg, connectivity=2)
            lab = watershed(-d, markers, mask=fg, connectivity=1)
        s += f1(t, drop_small(lab, min_size).astype(np.int64))
    return s / len(cases)

print('prob 0.7/0.9/50 (stored):', round(run(0.7, 'prob', 0.9, 50), 4), flush=True)
import sys as _s
if len(_s.argv) > 3 and _s.argv[3] == 'edt':
    for fg_t, s_, r, m in itertools.product([0.7, 0.8], [0.8, 0.9, 0.95], [1.5, 2, 2.5], [30, 50, 80]):
        print('edt', fg_t, s_, r, m, round(run(fg_t, 'edt', (s_, r), m), 4), flush=True)
    _s.exit(0)
if len(_s.argv) > 3 and _s.argv[3] == 'erode':
    for fg_t, s_, r, m in itertools.product([0.6, 0.7], [0.5, 0.7, 0.9], [1, 2, 3], [30, 50]):
        print('erode', fg_t, s_, r, m, round(run(fg_t, 'erode', (s_, r), m), 4), flush=True)
    _s.exit(0)
if len(_s.argv) > 3 and _s.argv[3] == 'relsize':
    for fg_t, s_, m in itertools.product([0.6, 0.7, 0.8], [0.7, 0.8, 0.9], [(0, 0.1), (0, 0.2), (0, 0.3), (0, 0.4), (10, 0.2), (10, 0.3), (20, 0.2), (20, 0.3)]):
        print('relsize', fg_t, s_, m, round(run(fg_t, 'prob', s_, m), 4), flush=True)
    _s.exit(0)
if len(_s.argv) > 3 and _s.argv[3] == 'rel':
    for fg_t, r, m in itertools.product([0.6, 0.7, 0.8], [0.15, 0.25, 0.35, 0.5], [20, 50]):
        print('reldist', fg_t, r, m, round(run(fg_t, 'reldist', r, m), 4), flush=True)
    _s.exit(0)
if len(_s.argv) > 3 and _s.argv[3] == 'high':
    for fg_t, s_, m in itertools.product([0.6, 0.7, 0.8], [0.95, 0.97, 0.98, 0.99, 0.995], [20, 50]):
        print('prob', fg_t, s_, m, round(run(fg_t, 'prob', s_, m), 4), flush=True)
    for fg_t, h, m in itertools.product([0.6, 0.7, 0.8], [0.01, 0.02, 0.05, 0.1, 0.2], [20, 50]):
        print('hmax', fg_t, h, m, round(run(fg_t, 'hmax', h, m), 4), flush=True)
    _s.exit(0)
if len(_s.argv) > 3 and _s.argv[3] == 'probdist':
    best = (0, None)
    for fg_t, s_, h, m in itertools.product([0.6, 0.7, 0.8], [0.5, 0.7, 0.9], [1, 2, 3, 5], [20, 50]):
        r = run(fg_t, 'probdist', (s_, h), m)
        if r > best[0]: best = (r, (fg_t, s_, h, m))
        print('probdist', fg_t, s_, h, m, round(r, 4), flush=True)
    print('best probdist', best)
    _s.exit(0)
best = (0, None)
for fg_t, h, m in itertools.product([0.5, 0.6, 0.7, 0.8], [0.5, 1, 1.5, 2, 3, 4], [0, 20, 50]):
    r = run(fg_t, 'dist', h, m)
    if r > best[0]: best = (r, (fg_t, h, m))
    print('dist', fg_t, h, m, round(r, 4), flush=True)
print('best dist', best)
