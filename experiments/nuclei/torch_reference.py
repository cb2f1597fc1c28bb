#!/usr/bin/python3
"""PyTorch reference for the nuclei (instance) recipe: trains what `unet train --label-mode
instances` trains (--classes 3: background / interior / boundary, unet-ts's default for instance
labels, `--targets boundary`; --classes 2: the paper's two classes with a one-pixel background
line cut between touching nuclei, `--targets separated`), with the border weight map and class
balancing, elastic + geometric + gray-value augmentation, depth 4, 16 filters, tile 316, Adam lr
0.001 (constant, or `--lr-schedule poly` as unet train plans for instance labels), batch 1, on targets and weights written by unet-ts itself, and writes probability maps
that unet-ts tunes and scores (`unet tune --probs`, `unet instances --evaluate`;
experiments/nuclei/compare-torch.sh).

Run with Debian's python (`/usr/bin/python3`, packages python3-torch, python3-pil):

  node dist/cli/main.js weights --labels TRAIN_LABELS --out TARGETS --label-mode instances \
      --targets boundary --w0 10 --sigma 3 --write-targets
  /usr/bin/python3 experiments/nuclei/torch_reference.py --images FIT_IMAGES --targets TARGETS \
      --classes 3 --out OUT --iterations 2500 --seed 1 --predict val=VAL_IMAGES --predict test=TEST_IMAGES

Trains on every image of --images (STEM.png), with TARGETS/STEM.targets.png (class per pixel) and
TARGETS/STEM.weights.tif (w(x)). Writes OUT/NAME/STEM_prob.tif for each --predict NAME=DIR (float32,
one page per class in class order, background first: what `unet predict --outputs prob` writes)
and OUT/summary.json.
Images are normalised as unet-ts's default 'dtype' (8-bit / 255, 16-bit / 65535). The recipe
itself (network, init, tiles, augmentation, loss, optimizer) is experiments/torch_recipe.py,
shared with experiments/isbi2012/torch_reference.py.
"""
import argparse
import os
import sys
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import torch_recipe as recipe  # noqa: E402

IMAGE_EXTENSIONS = ('.png', '.tif', '.tiff', '.jpg', '.jpeg')


def read_image(path):
    """A single-channel image normalised as unet-ts's 'dtype' (src/io/normalize.ts); gray + alpha keeps the gray channel (src/io/raster.ts toModelChannels)."""
    im = Image.open(path)
    if im.mode in ('L', 'LA'):
        return np.asarray(im, dtype=np.float32)[..., 0] / 255 if im.mode == 'LA' else np.asarray(im, dtype=np.float32) / 255
    if im.mode == 'I;16':
        return np.asarray(im, dtype=np.float32) / 65535
    raise SystemExit(f'torch_reference.py: {path} is a {im.mode} image; the nuclei recipe takes 8- or 16-bit gray images (1 channel, as the model)')


def images_of(folder):
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith('.'))
    if not names:
        raise SystemExit(f'torch_reference.py: {folder} holds no images')
    return [(os.path.splitext(n)[0], os.path.join(folder, n)) for n in names]


def load_sample(stem, path, targets, classes):
    img = read_image(path)
    tpath, wpath = os.path.join(targets, f'{stem}.targets.png'), os.path.join(targets, f'{stem}.weights.tif')
    for p in (tpath, wpath):
        if not os.path.exists(p):
            raise SystemExit(f'torch_reference.py: {p} is missing (write it with unet weights --label-mode instances --write-targets)')
    lab = np.asarray(Image.open(tpath)).astype(np.int64)
    wgt = np.asarray(Image.open(wpath), dtype=np.float32)
    if lab.shape != img.shape or wgt.shape != img.shape:
        raise SystemExit(f'torch_reference.py: {path} is {img.shape}, {tpath} {lab.shape}, {wpath} {wgt.shape}')
    if lab.min() < 0 or lab.max() >= classes:
        raise SystemExit(f'torch_reference.py: {tpath} holds classes {lab.min()}..{lab.max()}, --classes {classes} allows 0..{classes - 1}')
    return img, lab, wgt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--images', required=True, help='the training images (STEM.png)')
    ap.add_argument('--targets', required=True, help='folder of STEM.targets.png and STEM.weights.tif from unet weights --write-targets')
    ap.add_argument('--predict', action='append', default=[], metavar='NAME=DIR', help='write OUT/NAME/STEM_prob.tif for the images of DIR')
    ap.add_argument('--classes', type=int, choices=(2, 3), default=2,
                    help='3 for targets written with --targets boundary (background, interior, boundary), 2 for --targets separated')
    recipe.add_recipe_args(ap, filters=16, tile=316, optimizer='adam')
    a = ap.parse_args()
    jobs = []
    for spec in a.predict:
        name, sep, folder = spec.partition('=')
        if not sep or not name or not folder:
            raise SystemExit(f'torch_reference.py: --predict takes NAME=DIR, got {spec!r}')
        jobs.append((name, folder))
    t_load = time.time()
    samples = [load_sample(stem, path, a.targets, a.classes) for stem, path in images_of(a.images)]
    load_seconds = time.time() - t_load
    model, stats = recipe.train(samples, a, classes=a.classes)
    t_pred = time.time()
    predicted = 0
    for name, folder in jobs:
        out = os.path.join(a.out, name)
        os.makedirs(out, exist_ok=True)
        for stem, path in images_of(folder):
            prob = recipe.predict(model, read_image(path), a.depth)
            pages = [Image.fromarray(p.astype(np.float32), mode='F') for p in prob]
            pages[0].save(os.path.join(out, f'{stem}_prob.tif'), save_all=True, append_images=pages[1:])
            predicted += 1
    os.makedirs(a.out, exist_ok=True)
    recipe.write_summary(os.path.join(a.out, 'summary.json'), a, stats, images=len(samples), load_seconds=load_seconds,
                         predict_seconds=time.time() - t_pred, predicted_images=predicted)


if __name__ == '__main__':
    main()
