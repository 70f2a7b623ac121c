"""Benchmark: the data stages at NTU scale, measured from outside the stage processes.

Run:  python benchmarks/bench_scale.py [--sizes 1000,10000,56880] [--raw files|zip] [--workdir DIR] [--keep] [--no-dvc]
                                      [--video-counts 500,2000] [--video-size 96x54] [--real-copies 2,10]
                                      [--no-video] [--no-scale] [--json OUT.json]

Scale part, for each N of --sizes: `har-prep synth --size ntu60 --samples N --skeleton-only` writes N real NTU60
names (whole takes evenly spread over the grid; N = 56880 is all of NTU60) into a fresh DVC project whose params
are the repository's params.yaml (with --raw zip: in NTU's archive nturgbd_skeletons_s001_to_s017.zip, stored, which
ingest reads in place); then `har-prep ingest`, `skeletons` and `heatmaps` run there, each as its own
subprocess with the default params (2 worker processes). After the three stages, `dvc commit` records them
(stage definitions copied from the repository's dvc.yaml; the code deps, outside the temporary project, left out)
and a no-op `dvc status` is timed (median of 3 after a warm-up), for the whole pipeline (the ingest stage's deps
include the N raw files) and for `skeletons heatmaps` alone (the stores only).

Video part: peak memory of the video stage on --video-counts synthetic samples with small --video-size videos;
the marginal cost per real 1920x1080 video (tests/data/ntu-samples, 103 frames): the stage run on K1 and K2
copies of it (--real-copies), (cost(K2) - cost(K1)) / (K2 - K1), in wall seconds and CPU seconds (all processes);
and the projected core-hours (CPU seconds per video x sample count) for NTU60 and NTU120 at the default video
settings and at the papers' (PAPER_VIDEO below, or the poses/video sections of params.paper.yaml when it exists).

How a stage is measured: it runs under this script's `_measure` mode, a wrapper process that makes itself the
child subreaper (so every descendant, worker pools included, is reaped by it or by a reaped ancestor), starts the
command, polls the summed RSS of all its descendants every 0.05 s with psutil (peak RSS: shared pages count once
per process), and after every descendant has exited reads its own /proc/self/io (write_bytes: bytes sent to the
storage layer by every reaped descendant; cancelled_write_bytes: of those, bytes of files deleted or truncated
before writeback) and getrusage(RUSAGE_CHILDREN) (CPU seconds, and max_rss: the largest single process).
Bytes on disk: allocated blocks of the store's files (st_blocks x 512); files: regular files in the store.

Targets (issue 11), checked on the figures of this run: per-sample cost (wall) of the three stages at the largest
N within 1.2x of N = 1000; peak RSS at the largest N within +10 % of N = 10000 (each stage); the three stages in
<= 6 min at N = 56880; a no-op `dvc status` in <= 2 s; the video stage's peak RSS flat (within +10 %) from the
smallest to the largest --video-counts.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
REAL = REPO / "tests" / "data" / "ntu-samples"
REAL_SAMPLE = "S001C001P001R001A001"
STORES = {"ingest": ["data/interim/skeletons.zarr"], "skeletons": ["data/features/skeleton/default.zarr"],
          "heatmaps": ["data/features/heatmaps/default.zarr"],
          "video": ["data/features/video/default"]}  # the default variant of each feature stage
RAW = "data/raw/ntu"
NTU_COUNTS = {"NTU60": 56_880, "NTU120": 114_480}
# The papers' video inputs (issue 9): Das et al. feed 64-frame I3D clips of 224x224 part crops, ST-ROI 96-pixel
# ROI cells; AMFI-Net reads 112x112 clips (the default). clip_frames takes that many of the poses.frames indices,
# so poses.frames rises to 64 as well.
PAPER_VIDEO = {"poses": {"frames": 64}, "video": {"clip_frames": 64, "crop_size": 224, "roi_out": 96}}
PR_SET_CHILD_SUBREAPER = 36
TARGETS = {"cost_ratio": 1.2, "rss_ratio": 1.10, "ntu60_seconds": 360.0, "dvc_status_seconds": 2.0,
           "video_rss_ratio": 1.10}


# --- measuring one command from outside -----------------------------------------------------------------------

def _proc_io() -> dict[str, int]:
    with open("/proc/self/io") as handle:
        return {key: int(value) for key, value in (line.split(": ") for line in handle.read().splitlines())}


def _poll_rss(stop: threading.Event, peak: list[int]) -> None:
    import psutil
    me = psutil.Process()
    while not stop.wait(0.05):
        total = 0
        for child in me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:  # exited between listing and reading
                pass
        peak[0] = max(peak[0], total)


def measure_main(out_json: str, command: list[str]) -> int:
    """`_measure` mode: run command as a child, wait for it and every descendant, write the figures to out_json."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")
    io_before, peak, stop = _proc_io(), [0], threading.Event()
    poller = threading.Thread(target=_poll_rss, args=(stop, peak), daemon=True)
    began = time.perf_counter()
    child = subprocess.Popen(command)
    poller.start()
    code = child.wait()
    wall = time.perf_counter() - began
    while True:  # orphaned descendants (a forkserver and its workers) were re-parented to this process
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    stop.set()
    poller.join()
    io_after, usage = _proc_io(), resource.getrusage(resource.RUSAGE_CHILDREN)
    figures = {"returncode": code, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
               "peak_rss": peak[0], "max_rss": usage.ru_maxrss * 1024,
               **{key: io_after[key] - io_before[key] for key in ("write_bytes", "cancelled_write_bytes")}}
    Path(out_json).write_text(json.dumps(figures))
    return code


def stage_env(stage: str) -> dict[str, str]:
    """The environment assignments that lead a stage's command in dvc.yaml (`NAME=value har-prep ...`), so the
    benchmark runs the stage as `dvc repro` does."""
    definition = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][stage]
    env = {}
    for token in shlex.split(definition.get("do", definition)["cmd"]):
        name, equals, value = token.partition("=")
        if not equals or not name.isidentifier():
            break
        env[name] = value
    return env


def measured(command: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None) -> dict:
    """Run command in cwd (with `env` added to the environment) under the `_measure` wrapper; its output goes to
    log. Raises when it fails."""
    out = log.with_suffix(".json")
    with open(log, "w") as handle:
        subprocess.run([sys.executable, __file__, "_measure", str(out), "--", *command], cwd=cwd, stdout=handle,
                       stderr=subprocess.STDOUT, check=False, env={**os.environ, **(env or {})})
    figures = json.loads(out.read_text()) if out.exists() else {"returncode": None}
    if figures["returncode"] != 0:
        raise RuntimeError(f"{shlex.join(command)} failed in {cwd}; last lines of {log}:\n"
                           + "\n".join(log.read_text().splitlines()[-15:]))
    return figures


def store_figures(project: Path, stores: list[str]) -> dict:
    """Apparent bytes, bytes on disk (allocated blocks) and regular files of the given stores."""
    apparent = disk = files = 0
    for store in stores:
        for path in (project / store).rglob("*"):
            if path.is_file() and not path.is_symlink():
                info = path.stat()
                apparent, disk, files = apparent + info.st_size, disk + info.st_blocks * 512, files + 1
    return {"store_bytes": apparent, "disk_bytes": disk, "files": files}


# --- a temporary DVC project ------------------------------------------------------------------------------------

def make_project(directory: Path, overrides: dict | None = None, stages=("ingest", "skeletons", "heatmaps"),
                 dvc: bool = True) -> Path:
    """A project folder with the repository's params.yaml (ingest.source = RAW, plus overrides); with `dvc`, a DVC
    project (no git) with the given stages of the repository's dvc.yaml, minus the code deps (outside it)."""
    directory.mkdir(parents=True)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["ingest"]["source"] = RAW
    for section, values in (overrides or {}).items():  # the default variant's settings (and its pose view's)
        params[section]["variants"]["default"].update(values)
    (directory / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    if not dvc:
        return directory
    definitions = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    chosen = {}
    for name in stages:
        stage = dict(definitions[name])
        body = stage
        if "foreach" in stage:  # a foreach group: every variant
            body = stage["do"] = dict(stage["do"])
        body["deps"] = [RAW if dep == "${ingest.source}" else dep for dep in body.get("deps", [])
                        if not dep.startswith(("har/", "pipeline/"))]
        chosen[name] = stage
    (directory / "dvc.yaml").write_text(yaml.safe_dump({"stages": chosen}, sort_keys=False))
    for command in (["dvc", "init", "--no-scm", "-q"], ["dvc", "config", "cache.type", "hardlink,symlink,copy"],
                    ["dvc", "config", "core.analytics", "false"]):
        subprocess.run(command, cwd=directory, check=True, capture_output=True)
    return directory


def dvc_status_times(project: Path, repeats: int = 3) -> dict:
    """Commit the already-run stages, then time no-op `dvc status` runs (one untimed warm-up each)."""
    subprocess.run(["dvc", "commit", "-f", "-q"], cwd=project, check=True, capture_output=True)
    figures = {}
    for label, targets in (("dvc_status_s", []), ("dvc_status_stores_s", ["skeletons", "heatmaps"])):
        times = []
        for attempt in range(repeats + 1):
            began = time.perf_counter()
            result = subprocess.run(["dvc", "status", *targets], cwd=project, capture_output=True, text=True)
            if attempt:
                times.append(time.perf_counter() - began)
            if result.returncode != 0 or "up to date" not in result.stdout:
                raise RuntimeError(f"dvc status in {project} is not a no-op:\n{result.stdout}{result.stderr}")
        figures[label] = statistics.median(times)
    return figures


# --- the scale part ----------------------------------------------------------------------------------------------

def scale_run(n: int, work: Path, with_dvc: bool, raw: str = "files") -> dict:
    """Synth + ingest + skeletons + heatmaps at N samples: per-stage figures, and dvc status times.
    raw: 'files' (one .skeleton file per sample) or 'zip' (NTU's archive, read in place by ingest)."""
    project = make_project(work / f"scale_{n}")
    logs = work / "logs"
    synth = measured(["har-prep", "synth", RAW, "--size", "ntu60", "--samples", str(n), "--skeleton-only",
                      *(["--zip"] if raw == "zip" else []), "--quiet"], project, logs / f"synth_{n}.log")
    result = {"n": n, "raw": raw, "synth": synth | store_figures(project, [RAW]), "stages": {}}
    for stage in ("ingest", "skeletons", "heatmaps"):
        figures = measured(["har-prep", stage, "--quiet"], project, logs / f"{stage}_{n}.log", stage_env(stage))
        result["stages"][stage] = figures | store_figures(project, STORES[stage])
        print(f"  N={n} {stage}: {figures['wall_s']:.1f} s", flush=True)
    if with_dvc:
        result |= dvc_status_times(project)
    return result


def print_scale(results: list[dict]) -> None:
    header = (f"{'N':>6} {'stage':<9} {'wall s':>7} {'samples/s':>9} {'ms/sample':>9} {'CPU s':>7} "
              f"{'peak RSS MB':>11} {'max proc MB':>11} {'written MB':>10} {'store MB':>9} {'on disk MB':>10} "
              f"{'files':>6} {'write amp':>9}")
    print(f"\nraw skeletons: {results[0].get('raw', 'files')}\n" + header + "\n" + "-" * len(header))
    for result in results:
        n = result["n"]
        synth = result["synth"]
        print(f"{n:>6} {'synth':<9} {synth['wall_s']:>7.1f} {n / synth['wall_s']:>9.1f} "
              f"{1000 * synth['wall_s'] / n:>9.2f} {synth['cpu_s']:>7.1f} {synth['peak_rss'] / 1e6:>11.0f} "
              f"{synth['max_rss'] / 1e6:>11.0f} {synth['write_bytes'] / 1e6:>10.0f} "
              f"{synth['store_bytes'] / 1e6:>9.0f} {synth['disk_bytes'] / 1e6:>10.0f} {synth['files']:>6}")
        for stage, f in result["stages"].items():
            amplification = f["write_bytes"] / f["disk_bytes"] if f["disk_bytes"] else float("nan")
            print(f"{n:>6} {stage:<9} {f['wall_s']:>7.1f} {n / f['wall_s']:>9.1f} {1000 * f['wall_s'] / n:>9.2f} "
                  f"{f['cpu_s']:>7.1f} {f['peak_rss'] / 1e6:>11.0f} {f['max_rss'] / 1e6:>11.0f} "
                  f"{f['write_bytes'] / 1e6:>10.0f} {f['store_bytes'] / 1e6:>9.0f} {f['disk_bytes'] / 1e6:>10.0f} "
                  f"{f['files']:>6} {amplification:>9.2f}")
        total = sum(f["wall_s"] for f in result["stages"].values())
        line = f"{n:>6} three stages {total:.1f} s ({n / total:.1f} samples/s)"
        if "dvc_status_s" in result:
            line += (f"; no-op dvc status {result['dvc_status_s']:.2f} s (stores only: "
                     f"{result['dvc_status_stores_s']:.2f} s)")
        print(line)


def _verdict(label: str, value: float, limit: float, unit: str = "") -> bool:
    ok = value <= limit
    print(f"  {label}: {value:.3g}{unit} (target <= {limit:g}{unit}) {'OK' if ok else 'MISSED'}")
    return ok


def check_scale(results: list[dict]) -> list[bool]:
    """The issue's targets that the sizes of this run allow to check."""
    by_n = {r["n"]: r for r in results}
    largest = by_n[max(by_n)]
    verdicts = []
    print("\ntargets (scale):")
    if 1000 in by_n and largest["n"] > 1000:
        cost = {n: sum(f["wall_s"] for f in r["stages"].values()) / n for n, r in by_n.items()}
        for stage in largest["stages"]:
            ratio = (largest["stages"][stage]["wall_s"] / largest["n"]) / (by_n[1000]["stages"][stage]["wall_s"]
                                                                        / 1000)
            print(f"  per-sample cost {stage}, N={largest['n']} / N=1000: {ratio:.3f}")
        verdicts.append(_verdict(f"per-sample cost of the three stages, N={largest['n']} / N=1000",
                                 cost[largest["n"]] / cost[1000], TARGETS["cost_ratio"]))
    if 10000 in by_n and largest["n"] > 10000:
        ratios = {stage: largest["stages"][stage]["peak_rss"] / by_n[10000]["stages"][stage]["peak_rss"]
                  for stage in largest["stages"]}
        print("  peak RSS N=" + f"{largest['n']} / N=10000: "
              + ", ".join(f"{stage} {ratio:.3f}" for stage, ratio in ratios.items()))
        verdicts.append(_verdict("largest of those ratios", max(ratios.values()), TARGETS["rss_ratio"]))
    if 56880 in by_n:
        total = sum(f["wall_s"] for f in by_n[56880]["stages"].values())
        verdicts.append(_verdict("three stages at N=56880", total, TARGETS["ntu60_seconds"], " s"))
    if "dvc_status_s" in largest:
        verdicts.append(_verdict(f"no-op dvc status at N={largest['n']}", largest["dvc_status_s"],
                                 TARGETS["dvc_status_seconds"], " s"))
    if not verdicts:
        print("  (none checkable: the targets need N=1000 with a larger N, N=10000 with a larger N, or N=56880)")
    return verdicts


# --- the video part ---------------------------------------------------------------------------------------------

def video_memory(count: int, size: str, work: Path) -> dict:
    """Peak memory and time of the video stage on `count` synthetic samples with size (WxH) videos."""
    project = make_project(work / f"video_{count}", dvc=False)
    logs = work / "logs"
    measured(["har-prep", "synth", RAW, "--size", "ntu60", "--samples", str(count), "--video-size", size,
              "--quiet"], project, logs / f"synth_video_{count}.log")
    measured(["har-prep", "ingest", "--quiet"], project, logs / f"ingest_video_{count}.log")
    figures = measured(["har-prep", "video", "--quiet"], project, logs / f"video_{count}.log", stage_env("video"))
    print(f"  video stage, {count} videos: {figures['wall_s']:.1f} s", flush=True)
    return {"count": count} | figures | store_figures(project, STORES["video"])


def real_copies(raw: Path, copies: int) -> None:
    """raw/ holding `copies` links to the real 1080p sample under distinct names (subjects P001...)."""
    (raw / "nturgb+d_skeletons").mkdir(parents=True)
    (raw / "nturgb+d_rgb").mkdir()
    for subject in range(1, copies + 1):
        name = f"S001C001P{subject:03d}R001A001"
        (raw / "nturgb+d_skeletons" / f"{name}.skeleton").symlink_to(REAL / f"{REAL_SAMPLE}.skeleton")
        (raw / "nturgb+d_rgb" / f"{name}_rgb.avi").symlink_to(REAL / f"{REAL_SAMPLE}_rgb.avi")


def real_video_cost(label: str, overrides: dict, copies: tuple[int, int], work: Path) -> dict:
    """Marginal wall and CPU seconds per real 1080p video of the whole video stage (K2 - K1 more videos)."""
    runs = []
    for k in copies:
        project = make_project(work / f"real_{label}_{k}", overrides, dvc=False)
        real_copies(project / RAW, k)
        measured(["har-prep", "ingest", "--quiet"], project, work / "logs" / f"ingest_real_{label}_{k}.log")
        runs.append(measured(["har-prep", "video", "--quiet"], project, work / "logs" / f"video_real_{label}_{k}.log",
                             stage_env("video")))
    extra = copies[1] - copies[0]
    wall = (runs[1]["wall_s"] - runs[0]["wall_s"]) / extra
    cpu = (runs[1]["cpu_s"] - runs[0]["cpu_s"]) / extra
    print(f"  real 1080p, {label}: {copies[0]} videos {runs[0]['wall_s']:.1f} s, {copies[1]} videos "
          f"{runs[1]['wall_s']:.1f} s", flush=True)
    return {"label": label, "overrides": overrides, "wall_per_video_s": wall, "cpu_per_video_s": cpu,
            "core_hours": {name: cpu * count / 3600 for name, count in NTU_COUNTS.items()}}


def paper_overrides() -> tuple[str, dict]:
    paper = REPO / "params.paper.yaml"
    if paper.exists():
        params = yaml.safe_load(paper.read_text())  # the video variant Das reads (the largest crops) and its poses
        video = dict(params["video"]["variants"][params["train_das"]["stores"]["part_crops"]])
        poses = dict(params["poses"]["variants"][video.pop("poses")])
        video.pop("stores")
        return str(paper.name), {"poses": poses, "video": video}
    return "PAPER_VIDEO in this script", PAPER_VIDEO


def print_video(memory: list[dict], costs: list[dict], paper_source: str) -> list[bool]:
    verdicts = []
    if memory:
        print(f"\n{'videos':>6} {'wall s':>7} {'videos/s':>8} {'CPU s':>7} {'peak RSS MB':>11} {'max proc MB':>11} "
              f"{'written MB':>10} {'stores MB':>9} {'files':>6}")
        for m in memory:
            print(f"{m['count']:>6} {m['wall_s']:>7.1f} {m['count'] / m['wall_s']:>8.1f} {m['cpu_s']:>7.1f} "
                  f"{m['peak_rss'] / 1e6:>11.0f} {m['max_rss'] / 1e6:>11.0f} {m['write_bytes'] / 1e6:>10.0f} "
                  f"{m['store_bytes'] / 1e6:>9.0f} {m['files']:>6}")
    for c in costs:
        settings = ", ".join(f"{s}.{k}={v}" for s, values in c["overrides"].items() for k, v in values.items())
        print(f"\nreal 1920x1080 video, {c['label']} settings{' (' + settings + ')' if settings else ''}: "
              f"{c['wall_per_video_s']:.2f} s wall, {c['cpu_per_video_s']:.2f} CPU s per video; projected "
              + ", ".join(f"{name} {hours:.1f} core-hours" for name, hours in c["core_hours"].items()))
    if any(c["label"] == "paper" for c in costs):
        print(f"  (paper settings from {paper_source})")
    if len(memory) > 1:
        print("\ntargets (video):")
        ratio = memory[-1]["peak_rss"] / memory[0]["peak_rss"]
        verdicts.append(_verdict(f"video stage peak RSS, {memory[-1]['count']} / {memory[0]['count']} videos",
                                 ratio, TARGETS["video_rss_ratio"]))
    return verdicts


# --- main --------------------------------------------------------------------------------------------------------

def _ints(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected positive integers separated by commas")
    return values


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=_ints, default=[1000, 10000, 56880], help="N of the scale part")
    parser.add_argument("--workdir", type=Path, help="where the temporary projects go (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary projects")
    parser.add_argument("--no-dvc", action="store_true", help="skip dvc commit and the dvc status timing")
    parser.add_argument("--no-scale", action="store_true", help="skip the scale part")
    parser.add_argument("--raw", choices=["files", "zip"], default="files",
                        help="raw skeletons as one file per sample, or in NTU's zip archive (read in place)")
    parser.add_argument("--no-video", action="store_true", help="skip the video part")
    parser.add_argument("--video-counts", type=_ints, default=[500, 2000], help="synthetic videos (memory)")
    parser.add_argument("--video-size", default="96x54", help="WxH of the synthetic videos")
    parser.add_argument("--real-copies", type=_ints, default=[2, 10], help="K1,K2 copies of the real video")
    parser.add_argument("--no-paper", action="store_true", help="skip the real video at the papers' settings")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args(argv)
    if len(args.real_copies) != 2 or args.real_copies[0] >= args.real_copies[1]:
        parser.error("--real-copies: give K1,K2 with K1 < K2")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print("command: python benchmarks/bench_scale.py " + shlex.join(argv if argv is not None else sys.argv[1:]))
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    work = Path(tempfile.mkdtemp(prefix="bench_scale_", dir=args.workdir))
    (work / "logs").mkdir()
    figures, verdicts = {}, []
    try:
        if not args.no_scale:
            figures["scale"] = [scale_run(n, work, not args.no_dvc, args.raw) for n in sorted(args.sizes)]
            print_scale(figures["scale"])
            verdicts += check_scale(figures["scale"])
        if not args.no_video:
            memory = [video_memory(c, args.video_size, work) for c in sorted(args.video_counts)]
            paper_source, paper = paper_overrides()
            settings = [("default", {})] + ([] if args.no_paper else [("paper", paper)])
            costs = [real_video_cost(label, o, tuple(args.real_copies), work) for label, o in settings]
            figures["video"] = {"memory": memory, "real": costs}
            verdicts += print_video(memory, costs, paper_source)
    finally:
        if args.json:
            args.json.write_text(json.dumps(figures, indent=1))
        if args.keep:
            print(f"\nkept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{sum(verdicts)} of {len(verdicts)} checked targets met")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "_measure" and sys.argv[3] == "--":
        sys.exit(measure_main(sys.argv[2], sys.argv[4:]))
    sys.exit(main())
