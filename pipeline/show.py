"""`har-prep show clips|crops|stroi SAMPLE --out x.png`: PNG montages of one sample of the RGB artifacts.

- clips: the T frames of the person-centric clip, 8 per row;
- crops: one row per part (left hand, right hand, full body), T frames each;
- stroi: the mosaic enlarged with cell borders, each row labelled with its part (head, left hand, right hand,
  left foot, right foot) and each column with its video frame.
Every picture reads the default store of its stage unless given another one (`--store`).
The stores hold RGB; PNGs are written through OpenCV, which expects BGR, so channels are flipped here.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from har.errors import UnknownNameError
from har.io.store import open_store, read_strings
from har.layout import STROI_PARTS, action_name
from har.viz import labelled_grid, montage, upscale, with_caption, write_png
from pipeline import paths


def _sample_row(store: Path, artifact: str, sample: str) -> tuple:
    group = open_store(store, artifact)
    names = list(read_strings(group["sample"]))
    if sample not in names:
        raise UnknownNameError(f"{store}: no sample {sample!r} (it may have been quarantined; see "
                       f"{paths.REPORTS / 'video_quarantine.csv'})")
    row = names.index(sample)
    return group, row, int(np.asarray(group["label"][row]))


def _bgr(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[..., ::-1])


def _caption(sample: str, label: int, detail: str) -> list[str]:
    return [f"{sample}  {action_name(label)}", detail]


def show_clips(sample: str, out_png: Path, store: Path = paths.DEFAULT_STORES["rgb_clips"],
               min_side: int = 128) -> Path:
    """Montage of the sample's clip frames (8 per row), captioned with the video frame numbers."""
    group, row, label = _sample_row(store, "rgb_clips", sample)
    clip = np.asarray(group["clips"][row])  # (T, S, S, 3) RGB
    frames = np.asarray(group["frame_index"][row])
    tiles = [with_caption(upscale(_bgr(f), min_side), [f"frame {n}"]) for f, n in zip(clip, frames)]
    image = with_caption(montage(tiles, columns=8), _caption(sample, label, f"{len(clip)} frames, "
                                                                            f"{clip.shape[1]}x{clip.shape[2]}"))
    write_png(out_png, image)
    return Path(out_png)


def show_crops(sample: str, out_png: Path, store: Path = paths.DEFAULT_STORES["part_crops"],
               min_side: int = 96) -> Path:
    """One row per body part (as stored: left hand, right hand, full body), one column per frame."""
    group, row, label = _sample_row(store, "part_crops", sample)
    crops = np.asarray(group["crops"][row])  # (P, T, s, s, 3) RGB
    parts = list(group.attrs.get("parts", [f"part {p}" for p in range(len(crops))]))
    tiles = [upscale(_bgr(c), min_side) for track in crops for c in track]
    image = with_caption(montage(tiles, columns=crops.shape[1]),
                         _caption(sample, label, "rows: " + ", ".join(parts)))
    write_png(out_png, image)
    return Path(out_png)


def show_stroi(sample: str, out_png: Path, store: Path = paths.DEFAULT_STORES["stroi"], cell_min: int = 96) -> Path:
    """The ST-ROI mosaic, cells enlarged (nearest neighbour) to `cell_min` pixels and framed: one row per part,
    labelled with its name, one column per frame, labelled with its index in the video. A cell of a two-person
    sample shows a light line between actor 0 (left half) and actor 1."""
    group, row, label = _sample_row(store, "stroi", sample)
    mosaic = np.asarray(group["mosaic"][row])  # (K r, L r, 3) RGB
    frames = [int(f) for f in np.asarray(group["frame_index"][row])]
    parts = [str(p).replace("_", " ") for p in group.attrs.get("parts", [name for name, _ in STROI_PARTS])]
    persons = int(np.asarray(group["num_persons"][row])) if "num_persons" in group else 1
    grid = labelled_grid(_bgr(mosaic), parts, [f"frame {f}" for f in frames], cell_min, halves=persons == 2)
    detail = f"{len(parts)} parts x {len(frames)} frames, {mosaic.shape[0] // len(parts)}-pixel cells" + \
        (", actor 0 left, actor 1 right" if persons == 2 else "")
    write_png(out_png, with_caption(grid, _caption(sample, label, detail)))
    return Path(out_png)
