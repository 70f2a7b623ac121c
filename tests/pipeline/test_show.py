"""`har-prep show`: the ST-ROI picture has framed, labelled cells, and every picture reads the store it is given."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from har.io.store import atomic_store, stamp, write_array, write_meta
from har.layout import STROI_PARTS
from har.viz import GRID_COLOUR, labelled_grid, upscale
from pipeline.cli import app

NAMES = ["S001C001P001R001A001", "S001C002P003R001A058"]
CELL = 4
FRAMES = [[3, 10, 17, 24, 31], [2, 9, 16, 22, 29]]


def coloured_mosaic(rows: int, columns: int, cell: int, seed: int = 0) -> np.ndarray:
    """(rows cell, columns cell, 3) uint8: each cell one random colour, none of them the grid colour."""
    colours = np.random.default_rng(seed).integers(100, 256, (rows, columns, 3), dtype=np.uint8)
    return np.repeat(np.repeat(colours, cell, axis=0), cell, axis=1)


def test_labelled_grid_frames_every_cell_and_keeps_its_pixels():
    mosaic = coloured_mosaic(5, 3, CELL)
    rows = [name.replace("_", " ") for name, _ in STROI_PARTS]
    grid = labelled_grid(mosaic, rows, ["frame 1", "frame 5", "frame 9"], cell_min=12, border=2)
    side = 12  # 4-pixel cells enlarged 3 times
    left, top = grid.shape[1] - 3 * (side + 2) - 2, grid.shape[0] - 5 * (side + 2) - 2
    assert left > 40 and top > 10  # room for the row and column labels
    for r in range(5):
        y = top + 2 + r * (side + 2)
        assert (grid[y - 2:y, left:] == GRID_COLOUR).all()  # the border above row r
        for c in range(3):
            x = left + 2 + c * (side + 2)
            assert (grid[y:y + side, x - 2:x] == GRID_COLOUR).all()  # the border left of the cell
            cell = mosaic[r * CELL:(r + 1) * CELL, c * CELL:(c + 1) * CELL]
            assert np.array_equal(grid[y:y + side, x:x + side], upscale(cell, side))
    assert (grid[-2:, left:] == GRID_COLOUR).all() and (grid[top:, -2:] == GRID_COLOUR).all()
    assert (grid[:top - 2, :left] == 255).all()  # the corner stays blank
    assert (grid[top + 2:, :left] != 255).any() and (grid[:top, left:] != 255).any()  # the labels are drawn
    plain = upscale(mosaic, 5 * side)
    assert grid.shape != plain.shape or not np.array_equal(grid, plain)
    with pytest.raises(ValueError, match="does not split into 5 x 5"):
        labelled_grid(mosaic, rows, ["a", "b", "c", "d", "e"])


def test_two_person_cells_show_their_halves():
    mosaic = coloured_mosaic(1, 2, 8)
    one, two = (labelled_grid(mosaic, ["head"], ["f 0", "f 1"], cell_min=16, halves=h) for h in (False, True))
    assert one.shape == two.shape and 0 < (one != two).any(axis=2).sum() <= 2 * 16


def build_stroi(path: Path) -> np.ndarray:
    """A two-sample stroi store like the video stage's; returns its (N, 5 CELL, 5 CELL, 3) RGB mosaics."""
    mosaics = np.stack([coloured_mosaic(5, 5, CELL, seed) for seed in (1, 2)])
    with atomic_store(path) as group:
        write_array(group, "mosaic", mosaics)
        write_array(group, "frame_index", np.array(FRAMES, np.int32))
        write_array(group, "num_persons", np.array([1, 2], np.int8))
        write_meta(group, {"sample": NAMES, "label": [0, 57], "setup": [1, 1], "camera": [1, 2],
                           "subject": [1, 3], "replication": [1, 1]})
        stamp(group, artifact="stroi", parts=[name for name, _ in STROI_PARTS], cell=CELL, frames=5)
    return mosaics


def test_show_stroi_reads_the_given_store_and_draws_the_grid(tmp_path, monkeypatch):
    mosaics = build_stroi(tmp_path / "elsewhere" / "stroi.zarr")
    monkeypatch.chdir(tmp_path)  # no data/ here: only --store can find the store
    for row, name in enumerate(NAMES):
        result = CliRunner().invoke(app, ["show", "stroi", name, "--store", "elsewhere/stroi.zarr",
                                          "--out", f"{name}.png"])
        assert result.exit_code == 0, result.output
        picture = cv2.imread(f"{name}.png")
        rows = [part.replace("_", " ") for part, _ in STROI_PARTS]
        grid = labelled_grid(mosaics[row][..., ::-1], rows, [f"frame {f}" for f in FRAMES[row]], halves=row == 1)
        assert np.array_equal(picture[:grid.shape[0]], grid)  # the framed grid, then the caption band
        assert picture.shape[0] > grid.shape[0] and (picture[grid.shape[0]:] != 255).any()
    result = CliRunner().invoke(app, ["show", "stroi", NAMES[0]])
    assert result.exit_code == 1 and "error: data/features/video/default/stroi.zarr: no zarr store" in result.output


@pytest.mark.parametrize("kind", ["heatmaps", "clips", "crops"])
def test_every_show_command_reads_the_given_store(kind, tmp_path, monkeypatch):
    build_stroi(tmp_path / "other.zarr")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["show", kind, NAMES[0], "--store", "other.zarr"])
    artifact = {"heatmaps": "heatmaps", "clips": "rgb_clips", "crops": "part_crops"}[kind]
    assert result.exit_code == 1
    assert result.output.strip() == f"error: other.zarr: expected a '{artifact}' artifact, found 'stroi'"
