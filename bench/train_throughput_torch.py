"""PyTorch reference for bench/trainThroughput.ts: the same networks, batch sizes and step counts.

Prints one JSON line (images/s from the median step time):
{"network", "imagesPerSec", "msPerStep", "threads", "maxRssMB", "torch", "device", "stepsRun"}.
Run by the TypeScript benchmark with /usr/bin/python3 (Debian's python3-torch), one process per row.
--device auto trains on CUDA when torch.cuda.is_available(), else on the CPU; on CUDA each step
ends with torch.cuda.synchronize() so that the time is the step's, not its launch's.
--max-seconds bounds the row as the TypeScript side's --row-seconds does.
"""
import argparse
import json
import resource
import time

import torch
from torch import nn


def lenet(activation: str, pooling: str) -> nn.Module:
    act = nn.Sigmoid if activation == "sigmoid" else nn.ReLU
    pool = (lambda: nn.AvgPool2d(2, 2)) if pooling == "avg" else (lambda: nn.MaxPool2d(2, 2))
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), act(), pool(),
        nn.Conv2d(6, 16, 5), act(), pool(),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), act(),
        nn.Linear(120, 84), act(),
        nn.Linear(84, 10),
    )


class Residual(nn.Module):
    """The notes' basic block: biased 3×3 convs with batch norm, bare 1×1 projection."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv3 = nn.Conv2d(cin, cout, 1, stride=stride) if stride != 1 or cin != cout else None
        self.bn1 = nn.BatchNorm2d(cout)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (self.conv3(x) if self.conv3 is not None else x))


def resnet18() -> nn.Module:
    layers = [nn.Conv2d(1, 64, 7, stride=2, padding=3), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for stage, width in enumerate([64, 128, 256, 512]):
        for block in range(2):
            stride = 2 if stage > 0 and block == 0 else 1
            layers.append(Residual(cin, width, stride))
            cin = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10)]
    return nn.Sequential(*layers)


NETWORKS = {
    "lenet": lambda: lenet("sigmoid", "avg"),
    "lenet-relu-max": lambda: lenet("relu", "max"),
    "resnet18": resnet18,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--network", required=True, choices=sorted(NETWORKS))
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="0: PyTorch's default")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--max-seconds", type=float, default=0, help="0: no bound")
    args = parser.parse_args()
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda:0" if cuda else "cpu")
    budget = args.max_seconds if args.max_seconds > 0 else float("inf")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = NETWORKS[args.network]().to(device)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(args.batch, 1, args.size, args.size, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)

    def step() -> float:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        if cuda:
            torch.cuda.synchronize()
        return loss.item()

    warmup_start = time.perf_counter()
    for _ in range(args.warmup):
        step()
        if time.perf_counter() - warmup_start > budget / 2:
            break
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
        if sum(times) > budget:
            break
    median = sorted(times)[len(times) // 2]
    print(json.dumps({
        "network": args.network,
        "imagesPerSec": args.batch / median,
        "msPerStep": 1000 * median,
        "threads": torch.get_num_threads(),
        "maxRssMB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch": torch.__version__,
        "device": f"cuda:0 {torch.cuda.get_device_name(0)}" if cuda else "cpu",
        "stepsRun": len(times),
    }))


if __name__ == "__main__":
    main()
