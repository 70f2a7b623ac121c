"""`har-prep`: every pipeline stage as a command, plus the utilities (synth, inspect, show, predict, report).

Imports of the heavy libraries happen inside the commands so `har-prep --help` stays instant.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from pipeline import trace

trace.install(sys.argv)
app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="NTU RGB+D preprocessing pipeline and multimodal action-recognition models.")
PARAMS = typer.Option(Path("params.yaml"), "--params", help="params file (one section per stage)")
QUIET = typer.Option(False, "--quiet", help="no progress bars")


show_app = typer.Typer(no_args_is_help=True, help="PNG pictures of what a stage built for one sample.")
app.add_typer(show_app, name="show")


def _echo_summary(title: str, summary: dict) -> None:
    typer.echo(f"{title}: " + ", ".join(f"{k}={v}" for k, v in summary.items()))


@app.command()
def synth(out_dir: Path = typer.Argument(..., help="folder to create (nturgb+d_skeletons/, nturgb+d_rgb/)"),
          seed: Optional[int] = typer.Option(None, help="random seed (default: params synth.seed)"),
          tiny: bool = typer.Option(False, help="a few-second dataset for trying things out"),
          params: Path = PARAMS, quiet: bool = QUIET):
    """Generate synthetic data in the exact NTU raw formats (.skeleton text and _rgb.avi video)."""
    from pipeline import synth as stage
    _echo_summary("synth", stage.run(out_dir, params, seed=seed, tiny=tiny, progress=not quiet))


@app.command()
def ingest(source: Optional[str] = typer.Option(None, help="override params ingest.source"),
           params: Path = PARAMS, quiet: bool = QUIET):
    """Raw NTU folder or PYSKL pickle -> data/interim/skeletons.zarr (+ data/reports/ingest_quarantine.csv)."""
    from pipeline import ingest as stage
    _echo_summary("ingest", stage.run(params, source=source, progress=not quiet))


@app.command()
def skeletons(params: Path = PARAMS, quiet: bool = QUIET):
    """Denoise, select actors, normalise, resample -> data/features/skeleton.zarr."""
    from pipeline import skeletons as stage
    _echo_summary("skeletons", stage.run(params, progress=not quiet))


@app.command()
def heatmaps(params: Path = PARAMS, quiet: bool = QUIET):
    """Person-centric Gaussian pseudo-heatmaps -> data/features/heatmaps.zarr."""
    from pipeline import heatmaps as stage
    _echo_summary("heatmaps", stage.run(params, progress=not quiet))


@app.command()
def video(params: Path = PARAMS, quiet: bool = QUIET):
    """One decode per video -> rgb_clips.zarr, part_crops.zarr and stroi.zarr (+ video_quarantine.csv)."""
    from pipeline import video as stage
    _echo_summary("video", stage.run(params, progress=not quiet))


@app.command()
def train(model: str = typer.Argument(..., help="model name, e.g. glimpse"), params: Path = PARAMS,
          quiet: bool = QUIET):
    """Train a model on its feature stores -> data/models/<model>/ (resumes from data/checkpoints/<model>/)."""
    from pipeline import train as stage
    _echo_summary(f"train {model}", stage.train(model, params, progress=not quiet))


@app.command()
def evaluate(model: str = typer.Argument(..., help="model name, e.g. glimpse"), params: Path = PARAMS):
    """Evaluate a trained model on the test split -> data/metrics/<model>.json and data/plots/<model>/."""
    from pipeline import train as stage
    metrics = stage.evaluate(model, params)
    summary = {k: metrics[k] for k in ("top1", "top5", "macro_f1", "appearance_pair_accuracy") if k in metrics}
    summary.update({f"{k}_top1": v["top1"] for k, v in metrics.get("streams", {}).items()})
    _echo_summary(f"evaluate {model}", summary)


@app.command()
def predict(skeleton_file: Path = typer.Argument(..., help="an NTU .skeleton file"),
            model: str = typer.Option("glimpse", help="a trained skeleton model"),
            model_dir: Optional[Path] = typer.Option(None, help="default data/models/<model>"),
            params: Path = PARAMS, repeat: int = typer.Option(20, help="timing repetitions")):
    """Top-5 classes of one .skeleton file and how many sequences per second the model classifies here."""
    from pipeline import predict as stage
    stage.run(skeleton_file, model, model_dir, params, repeat)


@app.command()
def report(models: Optional[list[str]] = typer.Option(None, "--model", help="models to include (default: all)"),
           params: Path = PARAMS):
    """Compare every trained model -> data/reports/summary.md and data/reports/summary.json."""
    from pipeline import report as stage
    for row in stage.run(params, models):
        typer.echo(f"{row['model']:<8} top1 {row['top1']:.3f}  top5 {row['top5']:.3f}  "
                   f"pairs {row['appearance_pair_accuracy']}  {row['gflops_per_sample']} GFLOPs  "
                   f"{row['sequences_per_second']} seq/s")
    typer.echo("written: data/reports/summary.md, data/reports/summary.json")


@app.command()
def inspect(store: Path = typer.Argument(..., help="a .zarr artifact"),
            sample: Optional[str] = typer.Option(None, help="also print one sample's arrays")):
    """Print an artifact's arrays, attrs, sample count and splits."""
    from pipeline import inspect as stage
    typer.echo(stage.describe(store, sample))


def _show(kind: str, sample: str, out: Optional[Path]) -> None:
    from pipeline import show, show_pose
    writers = {"heatmaps": show_pose.show_heatmaps, "clips": show.show_clips, "crops": show.show_crops,
               "stroi": show.show_stroi}
    path = writers[kind](sample, out or Path(f"{sample}_{kind}.png"))
    typer.echo(f"written: {path}")


SAMPLE = typer.Argument(..., help="sample name, e.g. S001C001P001R001A001")
OUT = typer.Option(None, "--out", help="PNG to write (default <sample>_<kind>.png)")


@show_app.command("heatmaps")
def show_heatmaps(sample: str = SAMPLE, out: Optional[Path] = OUT):
    """Heatmaps summed over joints for a few sampled frames (from data/features/heatmaps.zarr)."""
    _show("heatmaps", sample, out)


@show_app.command("clips")
def show_clips(sample: str = SAMPLE, out: Optional[Path] = OUT):
    """The frames of the person-centric RGB clip (from data/features/rgb_clips.zarr)."""
    _show("clips", sample, out)


@show_app.command("crops")
def show_crops(sample: str = SAMPLE, out: Optional[Path] = OUT):
    """The three body-part crop tracks: left hand, right hand, full body (data/features/part_crops.zarr)."""
    _show("crops", sample, out)


@show_app.command("stroi")
def show_stroi(sample: str = SAMPLE, out: Optional[Path] = OUT):
    """The ST-ROI mosaic, rows head / hands / feet, columns time (data/features/stroi.zarr)."""
    _show("stroi", sample, out)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
