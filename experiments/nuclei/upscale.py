#!/usr/bin/python3
"""Scratch: a DSB split at F x the pixels (images cubic, labels nearest), to measure what finer
sampling of small nuclei buys before building it in.
usage: experiments/nuclei/upscale.py SRC_SPLIT DST_SPLIT FACTOR"""
import os, sys
import numpy as np
from skimage.io import imread, imsave
from skimage.transform import rescale
src, dst, f = sys.argv[1], sys.argv[2], int(sys.argv[3])
for part in ('train', 'test'):
    for kind in ('images', 'labels'):
        os.makedirs(f'{dst}/{part}/{kind}', exist_ok=True)
        for name in sorted(os.listdir(f'{src}/{part}/{kind}')):
            a = imread(f'{src}/{part}/{kind}/{name}')
            if kind == 'labels':
                b = np.repeat(np.repeat(a, f, 0), f, 1)
            else:
                b = rescale(a.astype(np.float64), f, order=3, channel_axis=2 if a.ndim == 3 else None, preserve_range=True, anti_aliasing=False)
                b = np.clip(np.round(b), np.iinfo(a.dtype).min, np.iinfo(a.dtype).max).astype(a.dtype)
            imsave(f'{dst}/{part}/{kind}/{name}', b, check_contrast=False)
