#!/usr/bin/env python3
"""Prediction side by side: a trained unet-ts model's weights (experiments/parity/export-weights.ts
wrote OUT/trained.json/.bin and OUT/config.json) in bench/torch_unet.py's UNet, each image of
IMAGES predicted by experiments/torch_recipe.py's predict (overlap-tile, mirrored context, softmax,
the PyTorch reference's own prediction path), against the probability maps `unet predict --outputs
prob --prob-format tif --no-tta` wrote to PROBS. Prints per image the largest difference of any
class probability, and the largest over all images.

usage: /usr/bin/python3 experiments/parity/predict.py OUT IMAGES PROBS [--limit 5] [--threads 2]
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, '..'))
sys.path.insert(0, os.path.join(here, '..', 'nuclei'))
sys.path.insert(0, os.path.join(here, '..', '..', 'bench'))
import torch_recipe as recipe  # noqa: E402
from steps import param_of, read_records, to_torch  # noqa: E402
from torch_reference import images_of, read_image  # noqa: E402
from torch_unet import UNet  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out')
    ap.add_argument('images')
    ap.add_argument('probs')
    ap.add_argument('--limit', type=int, default=5)
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    import tifffile
    torch.set_num_threads(a.threads)
    config = json.load(open(os.path.join(a.out, 'config.json')))
    model = UNet(config['depth'], config['baseFilters'], classes=config['classes'], dropout=config['dropout'])
    with torch.no_grad():
        for name, _, v in read_records(a.out, 'trained'):
            param_of(model, name).copy_(torch.from_numpy(np.ascontiguousarray(to_torch(name, v))))
    model.eval()
    worst = 0.0
    for stem, path in images_of(a.images)[:a.limit]:
        ours = tifffile.imread(os.path.join(a.probs, f'{stem}_prob.tif')).astype(np.float32)
        theirs = recipe.predict(model, read_image(path), config['depth'])
        diff = float(np.abs(ours - theirs).max())
        worst = max(worst, diff)
        print(json.dumps({'image': stem, 'shape': list(theirs.shape), 'max_abs_diff': diff}))
    print(json.dumps({'images': min(a.limit, len(images_of(a.images))), 'max_abs_diff': worst}))


if __name__ == '__main__':
    main()
