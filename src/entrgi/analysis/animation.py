"""The denoising order as a GIF: one frame per step, each panel's tokens shown once committed.

Reads a record's ``order`` (``tokens``: trajectory 0's final response tokens; ``commit_step``:
the step each position was committed, -1 if never). A position not yet committed shows as
underscores of the token's length, so the text does not reflow between frames.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from matplotlib.figure import Figure

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


def write_denoising_gif(panels: list[tuple[str, dict]], path: Path | str, fps: int = 6, width: int = 60) -> Path:
    """Write a GIF with one text panel per (title, record with ``order``), stacked, one frame per step."""
    from matplotlib.animation import PillowWriter
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    steps = denoising_steps([rec for _, rec in panels])
    lines = max(
        frame_text(rec["order"]["tokens"], rec["order"]["commit_step"], steps, width).count("\n") + 1
        for _, rec in panels
    )
    line_in, header_in, title_in = 0.2, 0.75, 0.35  # inches
    panel_in = title_in + lines * line_in + 0.2
    height = header_in + len(panels) * panel_in
    fig = Figure(figsize=(8, height))
    FigureCanvasAgg(fig)
    prompt = textwrap.shorten(str(panels[0][1].get("prompt", "")), width=90, placeholder=" ...")
    fig.text(0.03, 1 - 0.55 / height, f"prompt: {prompt}", fontsize=8, color="dimgray", va="top")
    texts = []
    for i, (title, _) in enumerate(panels):
        top = 1 - (header_in + i * panel_in) / height
        fig.text(0.03, top, title, fontsize=10, fontweight="bold", va="top")
        texts.append(
            fig.text(
                0.03, top - title_in / height, "", va="top", ha="left", family="monospace", fontsize=9, linespacing=1.4
            )
        )
    header = fig.text(0.03, 1 - 0.1 / height, "", fontsize=11, va="top")
    writer = PillowWriter(fps=fps)
    with writer.saving(fig, str(path), dpi=100):
        for step in range(steps):
            for text, (_, rec) in zip(texts, panels, strict=True):
                order = rec["order"]
                text.set_text(frame_text(order["tokens"], order["commit_step"], step, width))
            header.set_text(f"prompt {panels[0][1].get('sample_id')} — denoising step {step + 1}/{steps}")
            writer.grab_frame()
    return path
