"""The PyTorch side of bench/step-vs-pytorch: the same training step as akin-trainer's
default (small CNN + projector, batched augmentations, graph VICReg 25/25/1, AdamW), written
in plain PyTorch eager. Prints one `step_ms=<ms>` line per timed step.

python bench/step_pytorch.py [steps] [warm-up] [threads]
"""

import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

ITEMS, SIDE, ANCHORS = 10_000, 28, 256
WIDTHS = [16, 32, 64]
EMBEDDING, PROJECTOR = 128, 256


class ConvBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.norm(self.conv(x)))


class SmallCnn(nn.Module):
    """A stride-2 stem, two blocks each followed by 2x max pooling, a last block, and
    global average pooling: akin-trainer's `SmallCnn`."""

    def __init__(self):
        super().__init__()
        widths = [1] + WIDTHS + [EMBEDDING]
        self.blocks = nn.ModuleList(
            ConvBlock(widths[i], widths[i + 1], 2 if i == 0 else 1) for i in range(4)
        )

    def forward(self, x):
        for i, block in enumerate(self.blocks):
            x = block(x)
            if 0 < i < len(self.blocks) - 1:
                x = F.max_pool2d(x, 2)
        return x.mean(dim=(2, 3))


class Network(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = SmallCnn()
        self.projector = nn.Sequential(
            nn.Linear(EMBEDDING, PROJECTOR),
            nn.BatchNorm1d(PROJECTOR),
            nn.ReLU(),
            nn.Linear(PROJECTOR, PROJECTOR),
        )

    def forward(self, x):
        return self.projector(self.encoder(x))


def uniform(n, low, high):
    return torch.rand(n) * (high - low) + low


def augment(images):
    """Random resized crop with flip, brightness/contrast jitter, noise, standardise."""
    n = images.shape[0]
    area = uniform(n, 0.5, 1.0)
    log_aspect = torch.log(torch.tensor(4.0 / 3.0)).item()
    aspect = uniform(n, -log_aspect, log_aspect).exp()
    half_w = (area * aspect).sqrt().clamp_max(1.0)
    half_h = (area / aspect).sqrt().clamp_max(1.0)
    shift_x = uniform(n, -1.0, 1.0) * (1.0 - half_w)
    shift_y = uniform(n, -1.0, 1.0) * (1.0 - half_h)
    mirror = uniform(n, 0.0, 1.0).ge(0.5).float() * 2 - 1
    zeros = torch.zeros_like(area)
    theta = torch.stack([half_w * mirror, zeros, shift_x, zeros, half_h, shift_y], 1).view(n, 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    x = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    contrast = uniform(n, 0.6, 1.4).view(n, 1, 1, 1)
    brightness = uniform(n, -0.2, 0.2).view(n, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = ((x - mean) * contrast + mean + brightness).clamp(0.0, 1.0)
    x = x + torch.randn_like(x) * 0.03
    return (x - 0.5) / 0.5


def vicreg(z, anchors):
    """Graph VICReg with one augmentation edge per anchor (rows a and anchors + a)."""
    invariance = (z[:anchors] - z[anchors:]).square().mean(1).mean()
    std = (z.var(0) + 1e-4).sqrt()
    variance = F.relu(1.0 - std).mean()
    centred = z - z.mean(0, keepdim=True)
    cov = centred.T @ centred / (z.shape[0] - 1)
    covariance = (cov.square().sum() - cov.diagonal().square().sum()) / z.shape[1]
    return 25.0 * invariance + 25.0 * variance + covariance


def main():
    args = [int(a) for a in sys.argv[1:]]
    steps, warm_up, threads = (args + [10, 3, 2][len(args):])[:3]
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    images = torch.randint(0, 256, (ITEMS, 1, SIDE, SIDE), dtype=torch.uint8)
    network = Network()
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-3, weight_decay=1e-4)

    def step():
        rows = torch.randint(0, ITEMS, (ANCHORS,))
        pixels = images[torch.cat([rows, rows])].float() / 255.0
        loss = vicreg(network(augment(pixels)), ANCHORS)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    for _ in range(warm_up):
        step()
    for _ in range(steps):
        started = time.perf_counter()
        step()
        print(f"step_ms={(time.perf_counter() - started) * 1e3:.3f}", flush=True)


if __name__ == "__main__":
    main()
