#!/usr/bin/python3
"""PyTorch reference for the ISBI 2012 experiment: the same U-Net, data split, tiles,
weighted loss, augmentation recipe, optimizer and iteration budget as `unet train`, so
that the two trainings can be compared result for result (scored by `unet evaluate`).

Run with Debian's python (`/usr/bin/python3`, packages python3-torch, python3-pil):

  /usr/bin/python3 experiments/isbi2012/torch_reference.py --data ../shared/data/isbi2012_em \
      --weights DIR_OF_WEIGHT_TIFFS --out OUT --filters 16 --tile 252 --iterations 2000 --seed 1

Writes OUT/train_NN_prob.png (16-bit membrane probability) for the validation slices 25-29,
and OUT/summary.json (timings, losses).

The recipe (network, init, tiles, augmentation, loss, optimizers) is experiments/torch_recipe.py,
shared with experiments/nuclei/torch_reference.py; its docstring says what matches which part of unet-ts.
Class 1 = membrane (label value 0), as `unet train --invert`.
"""
import argparse
import os
import sys
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import torch_recipe as recipe  # noqa: E402


def load(data, idx, weights_dir):
    img = np.asarray(Image.open(os.path.join(data, 'images', f'train_{idx:02d}.png')), dtype=np.float32) / 255
    lab = (np.asarray(Image.open(os.path.join(data, 'labels', f'train_{idx:02d}.png'))) <= 127).astype(np.int64)
    if weights_dir:
        wgt = np.asarray(Image.open(os.path.join(weights_dir, f'train_{idx:02d}.weights.tif')), dtype=np.float32)
    else:
        wgt = np.ones_like(img)
    return img, lab, wgt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', required=True)
    ap.add_argument('--weights', default=None, help='folder of train_NN.weights.tif written by `unet weights`')
    ap.add_argument('--no-predict', action='store_true', help='skip predicting the validation slices (npm run bench, case e2e)')
    recipe.add_recipe_args(ap)
    a = ap.parse_args()
    t_load = time.time()
    train = [load(a.data, i, a.weights) for i in range(25)]
    val = [load(a.data, i, None)[0] for i in range(25, 30)]
    load_seconds = time.time() - t_load
    model, stats = recipe.train(train, a)
    os.makedirs(a.out, exist_ok=True)
    for k, img in enumerate([] if a.no_predict else val):
        p = recipe.predict(model, img, a.depth)[1]
        Image.fromarray(np.round(p * 65535).astype(np.uint16)).save(os.path.join(a.out, f'train_{25 + k:02d}_prob.png'))
    recipe.write_summary(os.path.join(a.out, 'summary.json'), a, stats, load_seconds=load_seconds)


if __name__ == '__main__':
    main()
