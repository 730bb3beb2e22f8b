"""The denoising order as a GIF: one frame per step, one panel per record, tokens shown once committed.

Reads a record's ``order`` (``tokens``: trajectory 0's final response tokens; ``commit_step``:
the step each position was committed, -1 if never). A position not yet committed shows as
underscores of the token's length, so the text does not reflow between frames. A particle run's
record (with ``ancestry``, see :mod:`entrgi.analysis.lineage`) adds a lineage strip: one cell per
slot, coloured and numbered by the original trajectory the slot descends from at that frame, and a
red mark on the frames where a resampling happened.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from entrgi.analysis.lineage import ancestry, origins_at, resampled_at, slots

SPACE_MARKS = ("Ġ", "▁")  # byte-level BPE and SentencePiece word-start marks


def _pieces(tokens: list[str]) -> tuple[list[str], str]:
    """Printable tokens and the separator to join them with."""
    clean = [t.replace("\n", " ").replace("Ċ", " ") for t in tokens]
    if any(t.startswith((" ", *SPACE_MARKS)) for t in clean):
        return [t.replace(SPACE_MARKS[0], " ").replace(SPACE_MARKS[1], " ") for t in clean], ""
    return clean, " "


def frame_text(tokens: list[str], commit_step: list[int], step: int, width: int = 60) -> str:
    """The response as of the end of ``step``: committed tokens, underscores for masked ones, wrapped."""
    pieces, sep = _pieces(tokens)
    shown = []
    for piece, at in zip(pieces, commit_step, strict=True):
        if 0 <= at <= step:
            shown.append(piece)
        else:
            lead = piece[: len(piece) - len(piece.lstrip())]
            shown.append(lead + "_" * max(1, len(piece.strip())))
    return textwrap.fill(sep.join(shown).strip(), width=width) or " "


def denoising_steps(records: list[dict]) -> int:
    """Frames needed: the longest trace, or one past the last commit step."""
    steps = 0
    for rec in records:
        trace_len = len((rec.get("trace") or {}).get("committed") or [])
        steps = max(steps, trace_len, max(rec["order"]["commit_step"], default=-1) + 1)
    return steps


LINE_IN, HEADER_IN, TITLE_IN, STRIP_IN = 0.2, 0.75, 0.35, 0.35  # inches
FIG_W, DPI = 8.0, 100  # inches, pixels per inch
CELL_IN = 0.25  # a lineage cell's width, inches
NUMBERED = 24  # lineage cells carry their origin's number up to this many slots
FLASH = "red"  # brighter than tab10's red, which colours origin 3


class _Panel:
    """One record's artists: title, optional lineage strip and resampling mark, the response text."""

    def __init__(self, fig: Figure, title: str, rec: dict, top_in: float, height: float) -> None:
        def y(inches: float) -> float:  # inches below the figure's top -> figure fraction
            return 1 - inches / height

        self.rec = rec
        self.ancestry = ancestry(rec)
        fig.text(0.03, y(top_in), title, fontsize=10, fontweight="bold", va="top")
        text_top = top_in + TITLE_IN
        self.strip = None
        if self.ancestry is not None:
            self.k = slots(rec, self.ancestry)
            self._add_strip(fig, y(text_top + 0.05), 0.22 / height)
            text_top += STRIP_IN
        self.text = fig.text(
            0.03, y(text_top), "", va="top", ha="left", family="monospace", fontsize=9, linespacing=1.4
        )

    def _add_strip(self, fig: Figure, top: float, cell_h: float) -> None:
        from matplotlib import colormaps

        k = max(1, self.k)
        cmap = colormaps["tab10" if k <= 10 else "tab20" if k <= 20 else "viridis"]
        top_index = 9.5 if k <= 10 else 19.5 if k <= 20 else k - 0.5
        width = min(0.55, k * CELL_IN / FIG_W)
        fig.text(0.03, top - cell_h / 2, f"origin of slots 0..{k - 1}", fontsize=8, va="center", color="dimgray")
        ax = fig.add_axes((0.27, top - cell_h, width, cell_h))
        ax.set_xticks([])
        ax.set_yticks([])
        self.strip = ax.imshow(np.zeros((1, k)), cmap=cmap, vmin=-0.5, vmax=top_index, aspect="auto")
        self.cells = [
            ax.text(i, 0, "", ha="center", va="center", fontsize=7, color="white", fontweight="bold")
            for i in range(k if k <= NUMBERED else 0)
        ]
        self.axes = ax
        self.alive = fig.text(0.29 + width, top - cell_h / 2, "", fontsize=8, va="center", color="dimgray")
        self.flash = fig.text(
            0.97, top - cell_h / 2, "resampled", fontsize=9, fontweight="bold", color=FLASH, va="center", ha="right"
        )

    def show(self, step: int, width: int) -> None:
        order = self.rec["order"]
        self.text.set_text(frame_text(order["tokens"], order["commit_step"], step, width))
        if self.strip is None:
            return
        origins = origins_at(self.ancestry, step, self.k)
        self.strip.set_data(np.array([origins or [0]], dtype=float))
        for cell, origin in zip(self.cells, origins, strict=False):
            cell.set_text(str(origin))
        self.alive.set_text(f"{len(set(origins))} of {self.k} origins left")
        flash = resampled_at(self.ancestry, step)
        self.flash.set_visible(flash)
        for spine in self.axes.spines.values():
            spine.set_edgecolor(FLASH if flash else "gray")
            spine.set_linewidth(2.5 if flash else 0.5)


def denoising_frames(panels: list[tuple[str, dict]], width: int = 60) -> Iterator[np.ndarray]:
    """One RGB image [H, W, 3] per denoising step: a text panel per (title, record with ``order``), stacked;
    a record with ``ancestry`` (a particle run) also gets its lineage strip and resampling marks."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    steps = denoising_steps([rec for _, rec in panels])
    lines = max(
        frame_text(rec["order"]["tokens"], rec["order"]["commit_step"], steps, width).count("\n") + 1
        for _, rec in panels
    )
    heights = [TITLE_IN + (STRIP_IN if ancestry(rec) else 0) + lines * LINE_IN + 0.2 for _, rec in panels]
    height = HEADER_IN + sum(heights)
    fig = Figure(figsize=(FIG_W, height), dpi=DPI)
    canvas = FigureCanvasAgg(fig)
    prompt = textwrap.shorten(str(panels[0][1].get("prompt", "")), width=90, placeholder=" ...")
    fig.text(0.03, 1 - 0.55 / height, f"prompt: {prompt}", fontsize=8, color="dimgray", va="top")
    views = [_Panel(fig, title, rec, HEADER_IN + sum(heights[:i]), height) for i, (title, rec) in enumerate(panels)]
    header = fig.text(0.03, 1 - 0.1 / height, "", fontsize=11, va="top")
    for step in range(steps):
        for view in views:
            view.show(step, width)
        header.set_text(f"prompt {panels[0][1].get('sample_id')} — denoising step {step + 1}/{steps}")
        canvas.draw()
        yield np.asarray(canvas.buffer_rgba())[..., :3].copy()


def write_denoising_gif(panels: list[tuple[str, dict]], path: Path | str, fps: int = 6, width: int = 60) -> Path:
    """Write :func:`denoising_frames` of ``panels`` as a looping GIF, ``fps`` frames a second."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = [Image.fromarray(frame) for frame in denoising_frames(panels, width)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=int(1000 / fps), loop=0)
    return path
