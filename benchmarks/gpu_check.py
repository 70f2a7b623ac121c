"""GPU check: every model's training step and its data loader on the device present, side by side.

Run:  python benchmarks/gpu_check.py [--scale paper|reduced] [--steps N] [--models glimpse,das] [--out check.json]

For each model (benchmarks/gpu_cases.py): builds the model at `--scale` (paper on CUDA, reduced on the CPU by
default) and runs N timed training steps (forward, the model's own loss, backward, Adam step; after `--warmup`
untimed ones) on synthetic tensors of its input shapes, with `amp` and `channels_last` resolved as a train section's
`auto` resolves them on this device (har.train.precision; `--amp` / `--channels-last` override). Prints:
- train samples/s, and the peak memory: torch.cuda.max_memory_allocated on CUDA, the process's peak RSS so far on
  the CPU (resource.getrusage: it only grows from one model to the next);
- loader samples/s: a synthetic feature store of each of the model's input types is written to a temp dir and read
  with the training pipeline's own FeatureDataset (augmentation on) + make_loader, `--workers` processes: a loader
  slower than the model is the bottleneck;
- a tiny overfit: `--overfit-steps` steps on 4 fixed samples (dropout off), first and last loss; it must fall.
Exit status 1 when an overfit loss does not fall, is not finite, or a model runs out of memory.
No network; only what `pip install` of the project brings.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import resource
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_cases import NUM_CLASSES, case, synthetic_batch, write_stores  # noqa: E402

from har.models import amfi_net, das_attention, epam_net, stroi_net  # noqa: E402
from har.models.layers import train_mode  # noqa: E402
from har.train.data import FeatureDataset, FeatureStores, SampleCache, make_loader  # noqa: E402
from har.train.loop import default_forward  # noqa: E402
from har.train.precision import Precision, optimizer_step  # noqa: E402
from har.train.registry import MODELS, model_spec  # noqa: E402

LOSSES = {
    "glimpse": lambda out, target, model, config: nn.functional.cross_entropy(out["logits"], target),
    "epam": lambda out, target, model, config: epam_net.loss(out, target)[0],
    "amfi": lambda out, target, model, config: amfi_net.loss(out, target, config)[0],
    "das": lambda out, target, model, config: das_attention.loss(out, target, config, model)[0],
    "stroi": lambda out, target, model, config: stroi_net.loss(out, target, config)[0],
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def loader_rate(spec, work, folder: Path, workers: int, batches: int) -> tuple[float, dict]:
    """(samples/s of the training loader after its first batch, that first batch) over `batches` + 1 batches."""
    count = work.batch * (batches + 1)
    stores = FeatureStores.open(write_stores(folder, work.layouts, count))
    dataset = FeatureDataset(stores, range(count), {k: k for k in range(NUM_CLASSES)},
                             partial(spec.make_inputs, work.config), SampleCache(2**30), augment=True, seed=0)
    loader = iter(make_loader(dataset, work.batch, True, 0, workers))
    first = next(loader)  # worker start-up and imports are not the steady rate
    began, seen = time.perf_counter(), 0
    for batch in loader:
        seen += batch["target"].shape[0]
    return seen / max(time.perf_counter() - began, 1e-9), first


def no_dropout(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.modules.dropout._DropoutNd):
            module.p = 0.0
        elif isinstance(module, nn.RNNBase):
            module.dropout = 0.0


def train_steps(model, batch, precision, loss_fn, steps: int, lr: float) -> list[float]:
    """`steps` training steps of the whole model on one batch; the loss of each."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer, scaler = torch.optim.Adam(parameters, lr=lr), precision.scaler()
    train_mode(model, True)
    losses = []
    with precision.kernels():
        for _ in range(steps):
            batch = precision.prepare_batch(batch)
            with precision.autocast():
                outputs = default_forward(model, batch)
                loss = loss_fn(outputs, batch["target"])
            optimizer_step(loss, optimizer, scaler, parameters, 0.0)
            losses.append(loss.detach())
    return [float(v) for v in losses]


def check_model(name: str, args, device: torch.device, folder: Path) -> dict:
    spec, work = model_spec(name), case(name, args.scale, args.batch)
    row = {"model": name, "scale": args.scale, "batch": work.batch, "workers": args.workers}
    row["loader_samples_per_s"], first = loader_rate(spec, work, folder / name, args.workers, args.loader_batches)
    config = work.config
    precision = Precision.of(dataclasses.replace(config, amp=args.amp, channels_last=args.channels_last), device,
                             spec.image_inputs)
    row.update(amp=precision.name, channels_last=precision.channels_last)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    torch.manual_seed(0)
    model = precision.prepare_model(spec.build(config.model, NUM_CLASSES).to(device))
    row["parameters"] = sum(p.numel() for p in model.parameters())
    loss_fn = partial(LOSSES[name], model=model, config=config.model)
    batch = synthetic_batch(first, device)
    try:
        train_steps(model, batch, precision, loss_fn, args.warmup, 1e-4)
        sync(device)
        began = time.perf_counter()
        train_steps(model, batch, precision, loss_fn, args.steps, 1e-4)
        sync(device)
        row["train_samples_per_s"] = args.steps * work.batch / (time.perf_counter() - began)
        row["peak_memory_mb"] = peak_memory_mb(device)
        no_dropout(model)
        tiny = {k: v[:4] for k, v in first.items()}
        losses = train_steps(model, synthetic_batch(tiny, device, seed=1), precision, loss_fn, args.overfit_steps,
                             1e-3)
    except torch.cuda.OutOfMemoryError as error:
        row.update(error=f"out of memory: {str(error).splitlines()[0]}", ok=False)
        return row
    row.update(overfit_first=losses[0], overfit_last=losses[-1],
               ok=all(math.isfinite(v) for v in losses) and losses[-1] < losses[0])
    return row


def table(rows: list[dict], device: str) -> str:
    memory = "peak GPU MiB" if device == "cuda" else "peak RSS MiB"
    head = f"{'model':8} {'batch':>5} {'amp':>4} {'NHWC':>4} {'train/s':>9} {'loader/s':>9} {memory:>12} " \
           f"{'overfit loss':>16}  ok"
    lines = [head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['model']:8} {r['batch']:>5} {r['amp']:>4} {'on' if r['channels_last'] else 'off':>4} "
                         f"{r['error']}")
            continue
        lines.append(f"{r['model']:8} {r['batch']:>5} {r['amp']:>4} {'on' if r['channels_last'] else 'off':>4} "
                     f"{r['train_samples_per_s']:>9.1f} {r['loader_samples_per_s']:>9.1f} "
                     f"{r['peak_memory_mb']:>12.0f} {r['overfit_first']:>7.3f} -> {r['overfit_last']:<6.3f} "
                     f"{'yes' if r['ok'] else 'NO'}")
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--scale", choices=("paper", "reduced", "smoke"),
                        help="default: paper on CUDA, reduced on CPU; smoke: tiny models (CI)")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated (default: all five)")
    parser.add_argument("--steps", type=int, help="timed steps per model (default: 20 on CUDA, 3 on CPU)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (cuDNN autotuning)")
    parser.add_argument("--overfit-steps", type=int, default=6)
    parser.add_argument("--batch", type=int, help="batch size of every model (default: per model and scale)")
    parser.add_argument("--loader-batches", type=int, default=4, help="timed loader batches (after the first)")
    parser.add_argument("--workers", type=int, help="loader worker processes (default: min(8, CPUs - 1) on CUDA, "
                                                    "0 on CPU)")
    parser.add_argument("--amp", choices=("auto", "off", "bf16", "fp16"), default="auto")
    parser.add_argument("--channels-last", choices=("auto", "on", "off"), default="auto")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    args.device = "cuda" if cuda else "cpu"
    args.scale = args.scale or ("paper" if cuda else "reduced")
    args.steps = args.steps or (20 if cuda else 2)
    args.workers = args.workers if args.workers is not None else (min(8, (os.cpu_count() or 2) - 1) if cuda else 0)
    unknown = sorted(set(args.models.split(",")) - set(MODELS))
    if unknown:
        parser.error(f"unknown model(s) {unknown} (known: {', '.join(MODELS)})")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"gpu_check: {name}, torch {torch.__version__}, scale {args.scale}, {args.steps} timed steps, "
          f"{args.workers} loader workers", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as folder:
        for model in args.models.split(","):
            began = time.perf_counter()
            rows.append(check_model(model, args, device, Path(folder)))
            rows[-1]["seconds"] = round(time.perf_counter() - began, 1)
            print(f"  {model}: done in {rows[-1]['seconds']} s", flush=True)
    print(table(rows, device.type))
    if args.out:
        args.out.write_text(json.dumps({"device": name, "torch": torch.__version__, "rows": rows}, indent=1))
    failed = [r["model"] for r in rows if not r["ok"]]
    if failed:
        print(f"FAILED: {', '.join(failed)} (overfit loss did not fall, was not finite, or out of memory)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
