"""`har-prep`: every pipeline stage as a command, plus the utilities (synth, inspect, show, predict, report).

Imports of the heavy libraries happen inside the commands so `har-prep --help` stays instant.
An expected error (har.errors.HarError: bad input, a missing store or model...; or an OSError on a file) prints as
one `error: ...` line on stderr and exits 1 (usage errors: 2); `har-prep --debug CMD` shows its traceback instead.
Any other exception is a bug and always shows its traceback.
"""
from __future__ import annotations

import sys
import traceback
from pathlib import Path

import typer
from typer.core import TyperGroup

try:  # typer >= 0.26 carries its own copy of click
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - older typer runs on click itself
    from click.exceptions import NoArgsIsHelpError, UsageError

from har.errors import HarError, one_line
from pipeline import trace

trace.install(sys.argv)
EXPECTED_ERRORS = (HarError, OSError)  # bad input or a missing artifact or file: not bugs
DEBUG = "har_prep_debug"  # ctx.meta key set by --debug


class ErrorLines(TyperGroup):
    """Runs a command; prints an expected error as one `error: ...` line (exit 1; usage errors exit 2), unless
    --debug was given. Anything else propagates with its traceback (pretty exceptions are off: a plain one)."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        debug = "--debug" in args  # the top level's own options (har-prep --bogus ...)
        try:
            return super().parse_args(ctx, args)
        except NoArgsIsHelpError:
            raise
        except UsageError as error:
            if debug:
                raise
            _fail_usage(error)

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except NoArgsIsHelpError:
            raise
        except UsageError as error:
            if ctx.meta.get(DEBUG):
                raise
            _fail_usage(error)
        except EXPECTED_ERRORS as error:
            if ctx.meta.get(DEBUG):
                raise
            _fail(one_line(error), 1, error)


def _fail_usage(error: UsageError) -> None:
    where = f" (see '{error.ctx.command_path} --help')" if error.ctx is not None else ""
    _fail(" ".join(error.format_message().split()) + where, error.exit_code, error)


def _fail(message: str, code: int, error: BaseException) -> None:
    """Print `error: message` on stderr and exit with `code`. The frames of the failed command are released first,
    so what they held (a progress bar in an abandoned generator...) is closed before the line is printed."""
    chain: list[BaseException] = []
    while error is not None and error not in chain:
        chain.append(error)
        traceback.clear_frames(error.__traceback__)
        error = error.__cause__ or error.__context__
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


app = typer.Typer(cls=ErrorLines, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="NTU RGB+D preprocessing pipeline and multimodal action-recognition models.")
PARAMS = typer.Option(Path("params.yaml"), "--params", help="params file (one section per stage)")
QUIET = typer.Option(False, "--quiet", help="no progress bars")


show_app = typer.Typer(no_args_is_help=True, help="PNG pictures of what a stage built for one sample.")
app.add_typer(show_app, name="show")
export_app = typer.Typer(no_args_is_help=True, help="Write the data in other toolkits' formats.")
app.add_typer(export_app, name="export")


@app.callback()
def _global_options(ctx: typer.Context,
                    debug: bool = typer.Option(False, "--debug", help="on an error, show the full traceback")):
    ctx.meta[DEBUG] = debug


def _echo_summary(title: str, summary: dict) -> None:
    typer.echo(f"{title}: " + ", ".join(f"{k}={v}" for k, v in summary.items()))


@app.command()
def synth(out_dir: Path = typer.Argument(..., help="folder to create (nturgb+d_skeletons/, nturgb+d_rgb/)"),
          seed: int | None = typer.Option(None, help="random seed (default: params synth.seed)"),
          tiny: bool = typer.Option(False, help="a few-second dataset for trying things out"),
          size: str | None = typer.Option(None, help="ntu60 | ntu120: every real NTU sample name (56,880 | "
                                          "114,480) instead of the params grid, for benchmarks"),
          samples: int | None = typer.Option(None, min=1, help="with --size: this many names, evenly spread"),
          skeleton_only: bool = typer.Option(False, help="with --size: .skeleton files only, no video"),
          archives: bool = typer.Option(False, "--zip", help="with --size: the skeletons in NTU's zip archives "
                                        "(nturgbd_skeletons_s001_to_s017.zip, ...) instead of nturgb+d_skeletons/"),
          video_size: str | None = typer.Option(None, help="WxH of the videos (e.g. 96x54; default: params "
                                                "synth.width/height)"),
          params: Path = PARAMS, quiet: bool = QUIET):
    """Generate synthetic data in the exact NTU raw formats (.skeleton text and _rgb.avi video).

    With --size, give --skeleton-only or --video-size (NTU60 at the default 480x270 would be ~120 GB of video)."""
    from pipeline import synth as stage
    if size is not None and size not in ("ntu60", "ntu120"):
        raise typer.BadParameter(f"{size!r}: expected ntu60 or ntu120", param_hint="--size")
    if size is None and (samples is not None or skeleton_only or archives):
        raise typer.BadParameter("needs --size ntu60|ntu120", param_hint="--samples/--skeleton-only/--zip")
    if size is not None and skeleton_only == (video_size is not None):
        raise typer.BadParameter("give --skeleton-only, or --video-size WxH (e.g. 96x54) for small videos",
                                 param_hint="--size")
    wxh = _video_size(video_size) if video_size is not None else None
    _echo_summary("synth", stage.run(out_dir, params, seed=seed, tiny=tiny, progress=not quiet, size=size,
                                     samples=samples, skeleton_only=skeleton_only, video_size=wxh,
                                     archives=archives))


def _video_size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit()):
        raise typer.BadParameter(f"{text!r}: expected WIDTHxHEIGHT, e.g. 96x54", param_hint="--video-size")
    return int(width), int(height)


@app.command()
def ingest(source: str | None = typer.Option(None, help="override params ingest.source"),
           params: Path = PARAMS, quiet: bool = QUIET):
    """Raw NTU folder or PYSKL pickle -> data/interim/skeletons.zarr (+ data/reports/ingest_quarantine.csv)."""
    from pipeline import ingest as stage
    _echo_summary("ingest", stage.run(params, source=source, progress=not quiet))


def _variant_option(section: str) -> typer.Option:
    return typer.Option("default", "--variant", help=f"which store variant to build: a name under params "
                                                     f"{section}.variants (dvc.yaml: one stage per variant)")


@app.command()
def skeletons(variant: str = _variant_option("skeletons"), params: Path = PARAMS, quiet: bool = QUIET):
    """Denoise, select actors, normalise, resample -> data/features/skeleton/<variant>.zarr
    (+ data/reports/skeletons_quarantine/<variant>.csv)."""
    from pipeline import skeletons as stage
    _echo_summary(f"skeletons@{variant}", stage.run(params, variant, progress=not quiet))


@app.command()
def heatmaps(variant: str = _variant_option("heatmaps"), params: Path = PARAMS, quiet: bool = QUIET):
    """Person-centric Gaussian pseudo-heatmaps -> data/features/heatmaps/<variant>.zarr
    (+ data/reports/heatmaps_quarantine/<variant>.csv)."""
    from pipeline import heatmaps as stage
    _echo_summary(f"heatmaps@{variant}", stage.run(params, variant, progress=not quiet))


@app.command()
def video(variant: str = _variant_option("video"), params: Path = PARAMS, quiet: bool = QUIET):
    """One decode per video -> data/features/video/<variant>/: the stores the variant lists among rgb_clips.zarr,
    part_crops.zarr and stroi.zarr (+ data/reports/video_quarantine/<variant>.csv)."""
    from pipeline import video as stage
    _echo_summary(f"video@{variant}", stage.run(params, variant, progress=not quiet))


@app.command()
def train(model: str = typer.Argument(..., help="model name, e.g. glimpse"), params: Path = PARAMS,
          quiet: bool = QUIET):
    """Train a model on its feature stores -> data/models/<model>/ (resumes from data/checkpoints/<model>/). With
    train_<model>.nproc > 1 it runs itself as that many DDP processes under torchrun (or run it under torchrun)."""
    from pipeline import train as stage
    stage.relaunch_under_torchrun(model, params, ["train", model, "--params", str(params)] + ["--quiet"] * quiet)
    summary = stage.train(model, params, progress=not quiet)
    if summary is not None:  # rank 0 (or the only process)
        _echo_summary(f"train {model}", summary)


@app.command()
def evaluate(model: str = typer.Argument(..., help="model name, e.g. glimpse"), params: Path = PARAMS):
    """Evaluate a trained model on the test split -> data/metrics/<model>.json and data/plots/<model>/ (sharded over
    train_<model>.nproc DDP processes under torchrun when it is above 1)."""
    from pipeline import train as stage
    stage.relaunch_under_torchrun(model, params, ["evaluate", model, "--params", str(params)])
    metrics = stage.evaluate(model, params)
    if metrics is None:  # a rank other than 0: rank 0 reports
        return
    summary = {k: metrics[k] for k in ("top1", "top5", "macro_f1", "appearance_pair_accuracy") if k in metrics}
    summary.update({f"{k}_top1": v["top1"] for k, v in metrics.get("streams", {}).items()})
    _echo_summary(f"evaluate {model}", summary)


@app.command()
def predict(skeleton_file: Path = typer.Argument(..., help="an NTU .skeleton file"),
            video: Path | None = typer.Option(None, "--video",
                                                 help="the sample's _rgb.avi (models that read RGB: epam, amfi, "
                                                      "das, stroi)"),
            model: str = typer.Option("glimpse", help="a trained model: glimpse, epam, amfi, das or stroi"),
            model_dir: Path | None = typer.Option(None, help="default data/models/<model>"),
            params: Path = PARAMS, repeat: int = typer.Option(20, help="timing repetitions")):
    """Top-5 classes of one sample, preprocessed by the stages' own code, with preprocessing and model times apart
    and how many sequences per second are classified here."""
    from pipeline import predict as stage
    stage.run(skeleton_file, model, model_dir, params, repeat, video_file=video)


@app.command()
def report(models: list[str] | None = typer.Option(None, "--model", help="models to include (default: all)"),
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
            sample: str | None = typer.Option(None, help="also print one sample's arrays")):
    """Print an artifact's arrays, attrs, sample count and splits."""
    from pipeline import inspect as stage
    typer.echo(stage.describe(store, sample))


def _show(kind: str, sample: str, out: Path | None, store: Path | None) -> None:
    from pipeline import paths, show, show_pose
    writers = {"heatmaps": (show_pose.show_heatmaps, "heatmaps"), "clips": (show.show_clips, "rgb_clips"),
               "crops": (show.show_crops, "part_crops"), "stroi": (show.show_stroi, "stroi")}
    writer, kind_store = writers[kind]
    path = writer(sample, out or Path(f"{sample}_{kind}.png"), store=store or paths.feature_store(kind_store))
    typer.echo(f"written: {path}")


SAMPLE = typer.Argument(..., help="sample name, e.g. S001C001P001R001A001")
OUT = typer.Option(None, "--out", help="PNG to write (default <sample>_<kind>.png)")
STORE = {kind: typer.Option(None, "--store", help=f"the store to read (default: the default variant's, "
                                                   f"data/features/{path})")
         for kind, path in (("heatmaps", "heatmaps/default.zarr"), ("clips", "video/default/rgb_clips.zarr"),
                            ("crops", "video/default/part_crops.zarr"), ("stroi", "video/default/stroi.zarr"))}


@show_app.command("heatmaps")
def show_heatmaps(sample: str = SAMPLE, out: Path | None = OUT, store: Path | None = STORE["heatmaps"]):
    """Heatmaps summed over joints for a few sampled frames (from a heatmaps store)."""
    _show("heatmaps", sample, out, store)


@show_app.command("clips")
def show_clips(sample: str = SAMPLE, out: Path | None = OUT, store: Path | None = STORE["clips"]):
    """The frames of the person-centric RGB clip (from an rgb_clips store)."""
    _show("clips", sample, out, store)


@show_app.command("crops")
def show_crops(sample: str = SAMPLE, out: Path | None = OUT, store: Path | None = STORE["crops"]):
    """The three body-part crop tracks: left hand, right hand, full body (from a part_crops store)."""
    _show("crops", sample, out, store)


@show_app.command("stroi")
def show_stroi(sample: str = SAMPLE, out: Path | None = OUT, store: Path | None = STORE["stroi"]):
    """The ST-ROI mosaic with cell borders: rows labelled with their part (head, hands, feet), columns with their
    video frame (from a stroi store)."""
    _show("stroi", sample, out, store)


@export_app.command("pyskl")
def export_pyskl(out: Path = typer.Argument(..., help="pickle to write, e.g. data/export/ntu_3danno.pkl"),
                 two_d: bool = typer.Option(False, "--2d", help="colour-frame pixels + keypoint_score, not xyz"),
                 dtype: str | None = typer.Option(None, help="float16 or float32 (default: float16 for 3D, "
                                                              "as PYSKL's ntu*_3danno.pkl; float32 for 2D)"),
                 img_shape: str = typer.Option("1080x1920", help="HEIGHTxWIDTH of the frames the 2D "
                                                                 "coordinates refer to (raw NTU sources)"),
                 store: Path = typer.Option(Path("data/interim/skeletons.zarr"), help="the ingest store"),
                 quiet: bool = QUIET):
    """PYSKL / mmaction2 annotation pickle {split, annotations}; keypoints chosen by PYSKL's NTU rules
    (+ <OUT stem>_quarantine.csv: samples PYSKL has no output for)."""
    from har.builders.export_pyskl import ExportOptions
    from pipeline import export as stage
    height, _, width = img_shape.lower().partition("x")
    if not (height.isdigit() and width.isdigit()):
        raise typer.BadParameter(f"--img-shape must be HEIGHTxWIDTH, e.g. 1080x1920, not {img_shape!r}")
    options = ExportOptions(dims=2 if two_d else 3, dtype=dtype or ("float32" if two_d else "float16"),
                            img_shape=(int(height), int(width)))
    _echo_summary("export pyskl", stage.run(out, store, options, progress=not quiet))


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="har-prep")


if __name__ == "__main__":  # pragma: no cover - python -m pipeline.cli
    main()
