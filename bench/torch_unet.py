#!/usr/bin/env python3
"""PyTorch side of `npm run bench`: the paper's U-Net (valid 3x3 convs, 64 base filters,
depth 4, 2 classes, 1 input channel, dropout 0.5 at the bottom), SGD momentum 0.99 and
the pixel-averaged weighted softmax cross-entropy, like src/model/unet.ts and
src/train/train.ts. One case per process so its peak RSS is its own.

usage: torch_unet.py CASE RUNS THREADS [--profile]   (CASE: KIND SIZE [xFILTERS] [bBATCH] as
bench/cases.ts, e.g. train572 fwd252 train412x16b4 bundled700; or convfwd convfwdbwd)
Prints one JSON line: {"case", "times_s": [...], "median_s", "peak_rss_mb", "torch"}; with
--profile (bench/profile.ts) also "profile": the timed steps run under torch.profiler, and each op's
self CPU time per step, with its input shapes (which tell a 3x3 convolution from an up-convolution).
"""
import json
import re
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def double_conv(ci, co):
    return nn.Sequential(nn.Conv2d(ci, co, 3), nn.ReLU(inplace=True), nn.Conv2d(co, co, 3), nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(self, depth=4, base=64, classes=2, channels=1, dropout=0.5):
        super().__init__()
        f = [base * 2 ** i for i in range(depth + 1)]
        self.enc = nn.ModuleList([double_conv(channels if i == 0 else f[i - 1], f[i]) for i in range(depth)])
        self.bottom = double_conv(f[depth - 1], f[depth])
        self.drop = nn.Dropout(dropout)
        self.up = nn.ModuleList([nn.ConvTranspose2d(f[i + 1], f[i], 2, stride=2) for i in range(depth)])
        self.dec = nn.ModuleList([double_conv(2 * f[i], f[i]) for i in range(depth)])
        self.out = nn.Conv2d(base, classes, 1)

    def forward(self, x):
        skips = []
        for enc in self.enc:
            x = enc(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.drop(self.bottom(x))
        for i in reversed(range(len(self.enc))):
            x = self.up[i](x)
            s = skips[i]
            c = (s.shape[2] - x.shape[2]) // 2
            x = self.dec[i](torch.cat([s[:, :, c:c + x.shape[2], c:c + x.shape[3]], x], 1))
        return self.out(x)


def parse_case(name):
    """(kind, size, filters, batch) of a net case, as parseCase in bench/cases.ts."""
    m = re.fullmatch(r'(train|fwd|bundled)(\d+)(?:x(\d+))?(?:b(\d+))?', name)
    if not m:
        raise SystemExit(f'torch_unet.py: unknown case {name!r}')
    filters = int(m[3]) if m[3] else 16 if m[1] == 'bundled' else 64
    return ('train' if m[1] == 'train' else 'fwd'), int(m[2]), filters, int(m[4]) if m[4] else 1


def main():
    case, runs, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if sys.argv[4:] not in ([], ['--profile']):
        raise SystemExit(f'torch_unet.py: the only option after THREADS is --profile, got {sys.argv[4:]}')
    profiling = sys.argv[4:] == ['--profile']
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if case.startswith('conv'):
        conv = nn.Conv2d(64, 128, 3, bias=False).to(memory_format=torch.channels_last)
        x = torch.randn(1, 64, 284, 284).to(memory_format=torch.channels_last)
        if case == 'convfwd':
            def step():
                with torch.no_grad():
                    conv(x)
        else:
            x.requires_grad_(True)
            dy = torch.randn(1, 128, 282, 282).to(memory_format=torch.channels_last)

            def step():
                x.grad = None
                conv.weight.grad = None
                conv(x).backward(dy)
    else:
        kind, size, filters, batch = parse_case(case)
        # bundled700: the bundled models' net (16 base filters) on the one 700 tile that covers a 512 x 512 image.
        model = UNet(base=filters)
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0, 0.05)
                nn.init.zeros_(m.bias)
        x = torch.rand(batch, 1, size, size)
        if kind == 'train':
            model.train()
            opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.99)
            out = size - 184
            labels = torch.randint(0, 2, (batch, out, out))
            weights = torch.ones(batch, out, out)

            def step():
                opt.zero_grad()
                logits = model(x)
                loss = (F.cross_entropy(logits, labels, reduction='none') * weights).mean()
                loss.backward()
                opt.step()
                loss.item()
        else:
            model.eval()

            def step():
                with torch.no_grad():
                    model(x).sum().item()
    step()  # warm-up
    times = []

    def timed_steps():
        for _ in range(runs):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
    result = {'case': case}
    if profiling:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            timed_steps()
        # Self time: each op's own time, without the ops it calls, so that the ops add up to the step.
        result['profile'] = {'ops': [{'name': e.key, 'shapes': e.input_shapes, 'ms': e.self_cpu_time_total / 1000 / runs, 'calls': e.count / runs}
                                     for e in prof.key_averages(group_by_input_shape=True) if e.self_cpu_time_total > 0]}
    else:
        timed_steps()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result.update({'times_s': times, 'median_s': statistics.median(times), 'peak_rss_mb': rss_mb, 'torch': torch.__version__})
    print(json.dumps(result))


if __name__ == '__main__':
    main()
