#!/usr/bin/env python3
"""PyTorch half of the step-by-step parity check (experiments/parity/steps.ts writes OUT first).

Loads unet-ts' initial weights into bench/torch_unet.py's UNet (the network the PyTorch
reference trains, experiments/torch_recipe.py), runs the same tile through it, and prints
JSON: the largest logit difference, both first-step losses, per-layer gradient norms and
their relative differences, then the loss of every step of the same optimiser on the same
tile, and the relative difference of the final weights.

usage: /usr/bin/python3 experiments/parity/steps.py OUT [--threads 2]
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'bench'))
from torch_unet import UNet  # noqa: E402


def read_records(out, name):
    manifest = json.load(open(os.path.join(out, f'{name}.json')))
    flat = np.fromfile(os.path.join(out, f'{name}.bin'), np.float32)
    records, at = [], 0
    for r in manifest:
        n = int(np.prod(r['shape']))
        records.append((r['name'], r['shape'], flat[at:at + n].reshape(r['shape'])))
        at += n
    assert at == flat.size, f'{name}.bin holds {flat.size} floats, the manifest {at}'
    return records


def module_of(model, layer):
    """bench/torch_unet.py's module for a unet-ts layer name (src/model/unet.ts)."""
    if layer == 'out_conv':
        return model.out
    level, part = layer.split('_', 1)
    i = {'conv1': 0, 'conv2': 2}.get(part)
    if level == 'bottom':
        return model.bottom[i]
    if level.startswith('enc'):
        return model.enc[int(level[3:])][i]
    if part == 'upconv':
        return model.up[int(level[3:])]
    return model.dec[int(level[3:])][i]


def to_torch(name, values):
    """TF.js layout -> PyTorch: conv2d kernel [kh, kw, cin, cout] -> [cout, cin, kh, kw]; conv2dTranspose
    kernel [kh, kw, cout, cin] -> [cin, cout, kh, kw]; biases as they are."""
    return values if values.ndim == 1 else values.transpose(3, 2, 0, 1)


def param_of(model, name):
    layer, kind = name.rsplit('/', 1)
    m = module_of(model, layer)
    return m.weight if kind == 'kernel' else m.bias


def rel(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out')
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    run = json.load(open(os.path.join(a.out, 'run.json')))
    tile, (oh, ow) = run['tile'], run['output']
    model = UNet(run['depth'], run['filters'], classes=run['classes'], dropout=0.0)
    with torch.no_grad():
        for name, _, v in read_records(a.out, 'init'):
            p = param_of(model, name)
            t = torch.from_numpy(np.ascontiguousarray(to_torch(name, v)))
            assert p.shape == t.shape, f'{name}: torch {tuple(p.shape)} vs unet-ts {tuple(t.shape)}'
            p.copy_(t)
    m = (tile - oh) // 2
    image = np.fromfile(os.path.join(a.out, 'image.f32'), np.float32).reshape(tile, tile)
    labels = np.fromfile(os.path.join(a.out, 'labels.i32'), np.int32).reshape(tile, tile)[m:m + oh, m:m + ow]
    weights = np.fromfile(os.path.join(a.out, 'weights.f32'), np.float32).reshape(tile, tile)[m:m + oh, m:m + ow]
    x = torch.from_numpy(image)[None, None]
    y = torch.from_numpy(labels.astype(np.int64))[None]
    w = torch.from_numpy(np.ascontiguousarray(weights))[None]
    model.train()

    ours_logits = np.fromfile(os.path.join(a.out, 'logits.f32'), np.float32).reshape(1, oh, ow, run['classes'])
    logits = model(x)
    torch_logits = logits.detach().numpy().transpose(0, 2, 3, 1)
    loss = (F.cross_entropy(logits, y, reduction='none') * w).mean()
    model.zero_grad()
    loss.backward()
    layers = []
    for name, _, g in read_records(a.out, 'grads'):
        tg = param_of(model, name).grad.numpy()
        og = to_torch(name, g)
        layers.append({'name': name, 'ours_norm': float(np.linalg.norm(og)), 'torch_norm': float(np.linalg.norm(tg)), 'rel_diff': rel(og, tg)})

    with torch.no_grad():
        for name, _, v in read_records(a.out, 'init'):
            param_of(model, name).copy_(torch.from_numpy(np.ascontiguousarray(to_torch(name, v))))
    opt = (torch.optim.Adam(model.parameters(), lr=run['lr'], betas=(0.9, 0.999), eps=1e-7) if run['optimizer'] == 'adam'
           else torch.optim.SGD(model.parameters(), lr=run['lr'], momentum=0.99))
    losses = []
    for _ in range(run['steps']):
        opt.zero_grad()
        loss_s = (F.cross_entropy(model(x), y, reduction='none') * w).mean()
        loss_s.backward()
        opt.step()
        losses.append(float(loss_s))
    final = [{'name': name, 'rel_diff': rel(to_torch(name, v), param_of(model, name).detach().numpy())} for name, _, v in read_records(a.out, 'final')]
    print(json.dumps({
        'logits_max_abs_diff': float(np.abs(ours_logits - torch_logits).max()),
        'logits_scale': float(np.abs(torch_logits).max()),
        'loss1': {'ours': run['loss1'], 'torch': float(loss)},
        'grads': layers,
        'losses': {'ours': run['losses'], 'torch': losses},
        'final_weights_worst_rel_diff': max(final, key=lambda r: r['rel_diff']),
    }, indent=1))


if __name__ == '__main__':
    main()
