"""Same-run PyTorch CPU reference for `finetune` training speed: the tail of EfficientNet-Lite0
(the last N MBConv blocks + 1x1 head conv + ReLU6 + average pool + dropout + linear head), forward +
backward + AdamW step on batches of cached activations, as `sneaker-id train --model finetune`
runs it in burn. Weights are random (speed does not depend on them); shapes are the real ones.

usage: python torch_tail.py --unfreeze 2 --batch 64 --classes 50 --steps 30
prints one JSON line: {"images_per_s": ..., ...}
"""
import argparse, json, time
import torch
import torch.nn as nn
import torch.nn.functional as F

# (expand, kernel, stride, out, repeats) of EfficientNet-Lite0, 224x224 input
STAGES = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
          (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]


def blocks():
    out, ch, size = [], 32, 112
    for e, k, s, o, r in STAGES:
        for i in range(r):
            st = s if i == 0 else 1
            osz = -(-size // st)
            out.append(dict(expand=e, kernel=k, stride=st, cin=ch, cout=o, size=size, osize=osz))
            ch, size = o, osz
    return out


def same_pad(size, k, s):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


class MBConv(nn.Module):
    def __init__(self, b):
        super().__init__()
        h = b["cin"] * b["expand"]
        self.expand = nn.Conv2d(b["cin"], h, 1) if b["expand"] != 1 else None
        self.dw = nn.Conv2d(h, h, b["kernel"], b["stride"], groups=h)
        self.project = nn.Conv2d(h, b["cout"], 1)
        self.pad = same_pad(b["size"], b["kernel"], b["stride"])
        self.skip = b["stride"] == 1 and b["cin"] == b["cout"]

    def forward(self, x):
        y = x
        if self.expand is not None:
            y = F.relu6(self.expand(y))
        a, z = self.pad
        y = F.relu6(self.dw(F.pad(y, (a, z, a, z))))
        y = self.project(y)
        return y + x if self.skip else y


class Tail(nn.Module):
    def __init__(self, n, classes):
        super().__init__()
        bs = blocks()[16 - n:]
        self.blocks = nn.Sequential(*[MBConv(b) for b in bs])
        self.head_conv = nn.Conv2d(320, 1280, 1)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(1280, classes)

    def forward(self, x):
        x = F.relu6(self.head_conv(self.blocks(x)))
        return self.fc(self.drop(x.mean((2, 3))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--unfreeze", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--classes", type=int, default=50)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    b = blocks()[15 - a.unfreeze]
    shape = (a.batch, b["cout"], b["osize"], b["osize"])
    model = Tail(a.unfreeze, a.classes)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-2)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    x = torch.randn(shape) * 0.5
    y = torch.randint(0, a.classes, (a.batch,))
    for _ in range(3):  # warm-up
        opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()
    t = time.perf_counter()
    for _ in range(a.steps):
        opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()
    dt = time.perf_counter() - t
    print(json.dumps(dict(framework=f"torch {torch.__version__}", threads=a.threads, unfreeze=a.unfreeze,
                          batch=a.batch, input=list(shape), steps=a.steps,
                          images_per_s=a.steps * a.batch / dt)))


if __name__ == "__main__":
    main()
