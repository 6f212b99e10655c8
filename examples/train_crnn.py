"""Train a small CRNN + CTC reader on strips made on the fly, and measure whether it reads.

    python examples/train_crnn.py                          # the full run: under 10 minutes on 2 cores
    python examples/train_crnn.py --quick                  # a short run (under 2 minutes), the same figures
    python examples/train_crnn.py --augment standard --report report.json --out model/
    python examples/train_crnn.py --eval heldout/dataset.npz   # also read an npz export of strips

Training strips come from MNIST's train split, made as they are needed (a SequenceDataset in
a DataLoader, batched by ``collate_ctc``). The reader is then tested on strips it has never
seen, each printed as whole-string accuracy and character error rate (CER):

* ``test``: strips of the same layout made by this package from MNIST's test split;
* ``independent``: strips composed here from the raw MNIST test files with plain NumPy, no
  code of this package: a reader that only learned this package's habits would fail them;
* ``hard``: test-split strips with rotate, scale and noise at their defaults, gaps 0..16 and
  width 256, which a reader trained on plain strips reads poorly (see ``--augment``);
* each ``--eval FILE.npz`` (an npz export of 28-px-high strips), named by its file name.

``--report FILE.json`` writes ``{set: {"accuracy", "cer", "count"}}``; ``--out DIR`` keeps the
model (``crnn.pt``, its options in ``crnn.json``). Needs ``pip install
"mnist_dataset_generator[train]"`` (torch). Every run is seeded: the same options make the
same strips, and on one machine the same figures.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np

HEIGHT = 28
LAYOUT = {"length": (3, 8), "spacing_range": (-2, 8), "image_width": 224}
HARD = {"length": (3, 8), "spacing_range": (0, 16), "image_width": 256, "fltrs": "rotate,scale,noise"}
ALPHABET = "0123456789"


# ------------------------------------------------------------------- model


def make_model(torch):
    """A CRNN of about 330k parameters: the strip folded into four half-resolution channels
    (``PixelUnshuffle``: nothing is lost, and the convolutions see a quarter of the positions),
    three conv blocks down to one row, a bidirectional LSTM, a linear layer to the 10 digits and
    CTC's blank (class 0). Any width; 4 px per output step. Pooling before batch norm and ReLU
    spares them most of their work; channels-last convolutions run about twice as fast
    on CPUs as the default layout."""
    nn = torch.nn

    def block(cin, cout, pool=None, padding=1):
        return [nn.Conv2d(cin, cout, 3, padding=padding, bias=False), *([nn.MaxPool2d(pool)] if pool else []),
                nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    class CRNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.PixelUnshuffle(2), *block(4, 48, 2), *block(48, 96, (2, 1)),
                                          *block(96, 128, padding=(0, 1)))  # 28 -> 14 -> 7 -> 3 -> 1 rows
            self.rnn = nn.LSTM(128, 96, batch_first=True, bidirectional=True)
            self.head = nn.Linear(192, len(ALPHABET) + 1)

        def forward(self, images):  # (B, 1, 28, W), dark ink on white, 0..1
            x = 1.0 - images  # ink as signal
            if x.shape[-1] % 2:  # PixelUnshuffle needs an even width: one more column of paper
                x = nn.functional.pad(x, (0, 1))
            x = self.features(x.contiguous(memory_format=torch.channels_last)).squeeze(2).transpose(1, 2)
            x, _ = self.rnn(x)  # (B, W/4, 192)
            return self.head(x).log_softmax(-1)  # (B, T, classes)

    return CRNN().to(memory_format=torch.channels_last)


def decode(log_probs) -> list[str]:
    """Greedy CTC decoding: the best class per step, repeats merged, blanks dropped."""
    best = log_probs.argmax(-1).cpu().numpy()
    out = []
    for row in best:
        keep = row[np.r_[True, row[1:] != row[:-1]]]
        out.append("".join(ALPHABET[c - 1] for c in keep if c))
    return out


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ca != cb))
    return row[-1]


def evaluate(torch, model, images: np.ndarray, labels: list[str], batch: int = 256) -> dict:
    """Whole-string accuracy and CER of ``model`` on 8-bit strips ``images`` (N, 28, W)."""
    model.eval()
    read = []
    with torch.no_grad():
        for a in range(0, len(images), batch):
            x = torch.from_numpy(np.ascontiguousarray(images[a:a + batch], np.float32) / 255.0).unsqueeze(1)
            read += decode(model(x))
    model.train()
    errors = sum(edit_distance(r, t) for r, t in zip(read, labels, strict=True))
    return {"accuracy": sum(r == t for r, t in zip(read, labels, strict=True)) / len(labels),
            "cer": errors / sum(map(len, labels)), "count": len(labels)}


# -------------------------------------------------------------- test sets


def made_set(count: int, seed: int, data_home, **layout) -> tuple[np.ndarray, list[str]]:
    """Strips made by this package from MNIST's test split."""
    from mnist_dataset_generator import generate_dataset

    return generate_dataset(count, seed=seed, data_home=data_home, split="test", dtype="uint8", **layout)


def read_idx(folder: Path, name: str) -> np.ndarray:
    """An IDX file as NumPy reads it (big-endian header, then uint8 data), plain or gzipped."""
    path = folder / name if (folder / name).exists() else folder / (name + ".gz")
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    dims = data[3]
    shape = np.frombuffer(data, ">u4", dims, 4)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def independent_set(count: int, seed: int, folder: Path) -> tuple[np.ndarray, list[str]]:
    """Strips composed with plain NumPy from the raw MNIST test files: each digit inverted to dark
    on white, placed after a gap drawn from -2..8 (overlaps keep the darker pixel), the string then
    stretched to 224 px by linear interpolation along each row."""
    rng = np.random.default_rng(seed)
    digits = read_idx(folder, "t10k-images-idx3-ubyte")
    classes = read_idx(folder, "t10k-labels-idx1-ubyte")
    width = LAYOUT["image_width"]
    images, labels = np.empty((count, HEIGHT, width), np.uint8), []
    for n in range(count):
        picks = rng.integers(0, len(digits), rng.integers(3, 9))
        gaps = rng.integers(-2, 9, len(picks) - 1)
        starts = np.r_[0, np.cumsum(28 + gaps)]
        canvas = np.full((HEIGHT, starts[-1] + 28), 255, np.uint8)
        for x, pick in zip(starts, picks, strict=True):
            canvas[:, x:x + 28] = np.minimum(canvas[:, x:x + 28], 255 - digits[pick])
        columns = np.linspace(0, canvas.shape[1] - 1, width)
        images[n] = np.round([np.interp(columns, np.arange(canvas.shape[1]), row) for row in canvas])
        labels.append("".join(str(classes[p]) for p in picks))
    return images, labels


def npz_set(path: str) -> tuple[np.ndarray, list[str]]:
    """The strips and labels of an npz export, or one line saying why it is not one."""
    try:
        with np.load(path) as npz:
            if not {"images", "labels"} <= set(npz.files):
                raise ValueError(f"holds {', '.join(npz.files) or 'nothing'}, not the images and labels of an export")
            images, labels = npz["images"], [str(label) for label in npz["labels"]]
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"--eval {path}: not an npz export of strips ({exc})") from None
    if images.ndim != 3 or images.shape[1] != HEIGHT or images.dtype not in (np.uint8, np.float32) or not len(images):
        raise ValueError(f"--eval {path}: images are {images.dtype} {images.shape}, not strips {HEIGHT} px high "
                         "(an export made with its default height)")
    if len(labels) != len(images) or any(not label or set(label) - set(ALPHABET) for label in labels):
        raise ValueError(f"--eval {path}: its labels are not one digit string per image")
    if images.dtype == np.float32:
        images = np.round(np.clip(images, 0, 1) * 255).astype(np.uint8)
    return images, labels


# ------------------------------------------------------------------ main


def parse(argv):
    parser = argparse.ArgumentParser(prog="train_crnn.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-d", "--data-dir", help="MNIST folder (default: the package's cache)")
    parser.add_argument("--steps", type=int, help="training steps (default 2000; --quick 400)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=4e-3, help="peak learning rate (one cycle, default 4e-3)")
    parser.add_argument("--augment", metavar="PRESET", help="train with this filter spec or preset, e.g. standard")
    parser.add_argument("--test-count", type=int, help="strips in each test set (default 2000; --quick 300)")
    parser.add_argument("--eval", action="append", default=[], metavar="FILE.npz", help="also read this npz export")
    parser.add_argument("--report", metavar="FILE.json", help="write the figures as JSON")
    parser.add_argument("--out", metavar="DIR", help="keep the trained model in DIR")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--quick", action="store_true", help="a short run (under 2 minutes) with the same figures")
    args = parser.parse_args(argv)
    args.steps = args.steps or (400 if args.quick else 2000)
    args.test_count = args.test_count or (300 if args.quick else 2000)
    for name in ("steps", "batch_size", "test_count", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.augment is not None:
        from mnist_dataset_generator import from_spec

        try:
            from_spec(args.augment)
        except ValueError as exc:
            parser.error(f"--augment {args.augment}: {exc}")
    return args


def main(argv=None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        eval_sets = {Path(path).name.removesuffix(".npz"): npz_set(path) for path in args.eval}  # bad files: now
        try:
            import torch
        except ImportError:
            raise ValueError("needs torch: pip install 'mnist_dataset_generator[train]'") from None
    except ValueError as exc:
        print(f"train_crnn.py: error: {exc}", file=sys.stderr)
        return 2
    from mnist_dataset_generator import SequenceDataset, collate_ctc, load

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # tiny values late in training would otherwise slow every step
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    folder = Path(load("test", data_home=args.data_dir, progress=False).source)  # downloaded and verified once

    train = SequenceDataset(args.steps * args.batch_size, seed=args.seed, data_home=args.data_dir, dtype="uint8",
                            fltrs=args.augment, **LAYOUT)
    # Batches are made in this process: a loader worker would take a core from the two torch threads.
    loader = torch.utils.data.DataLoader(train, batch_size=args.batch_size, collate_fn=collate_ctc)
    model = make_model(torch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=args.steps, pct_start=0.15)
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True)
    params = sum(p.numel() for p in model.parameters())
    print(f"training a CRNN of {params:,} parameters for {args.steps} steps of {args.batch_size} strips"
          f"{' with ' + args.augment if args.augment else ''}", file=sys.stderr)
    for step, (images, targets, lengths) in enumerate(loader, 1):
        log_probs = model(images)  # (B, T, C)
        steps = torch.full((len(images),), log_probs.shape[1], dtype=torch.int64)
        loss = ctc(log_probs.transpose(0, 1), targets, steps, lengths)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        schedule.step()
        if step % 100 == 0 or step == args.steps:
            print(f"step {step}/{args.steps}  loss {loss.item():.3f}  {time.perf_counter() - started:.0f} s",
                  file=sys.stderr)
    trained = time.perf_counter() - started

    sets = {"test": made_set(args.test_count, args.seed + 1, args.data_dir, **LAYOUT),
            "independent": independent_set(args.test_count, args.seed + 2, folder),
            "hard": made_set(args.test_count, args.seed + 3, args.data_dir, **HARD), **eval_sets}
    report = {name: evaluate(torch, model, images, labels) for name, (images, labels) in sets.items()}
    for name, figures in report.items():
        print(f"{name:<12} accuracy {100 * figures['accuracy']:5.1f} %   CER {100 * figures['cer']:5.2f} %   "
              f"({figures['count']} strips)")
    print(f"trained in {trained:.0f} s, evaluated in {time.perf_counter() - started - trained:.0f} s",
          file=sys.stderr)
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2) + "\n")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), out / "crnn.pt")
        (out / "crnn.json").write_text(json.dumps({"alphabet": ALPHABET, "height": HEIGHT, "layout": LAYOUT,
                                                   "augment": args.augment, "steps": args.steps,
                                                   "seed": args.seed}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
