"""Figures with a slider that moves in a static page: pre-rendered frames and a range input.

A built book page has no kernel, so an ipywidgets slider there is dead. :func:`frame_slider` draws the figure once
per value, keeps each frame as a compressed PNG (or SVG) data URI, and returns a :class:`FrameSlider` whose HTML
holds every frame, an ``<input type="range">`` and one inline ``oninput`` handler that shows the chosen frame: no
script file, no widget state, no network. Where a kernel runs (``interactive=True``) the live ipywidgets slider is
shown as well, drawing from the same function.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import matplotlib.pyplot as plt

Format = Literal["png", "svg"]

#: the handler of the range input: show frame ``value``, hide the others, write its label; nothing else
ONINPUT = ("var f=this.closest('figure'),m=f.querySelectorAll('img'),i=+this.value;"
           "for(var k=0;k<m.length;k++){m[k].style.display=k===i?'':'none';}"
           "f.querySelector('output').textContent=m[i].getAttribute('data-label');")


def figure_data_uri(fig: Any, *, fmt: Format = "png", dpi: int = 90, colors: int = 64) -> str:
    """One matplotlib figure as a ``data:`` URI. PNG is quantised to a palette of ``colors`` colours (about a third
    of the bytes of full colour for line and area plots), SVG is written as is. Closes the figure."""
    if fmt not in ("png", "svg"):
        raise ValueError(f"fmt must be 'png' or 'svg', not {fmt!r}")
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight", facecolor="white")
    finally:
        plt.close(fig)
    if fmt == "svg":
        return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    from PIL import Image

    img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def counts(top: int) -> list[int]:
    """Frames over a count 1..``top`` (copies, branches): every count ≤ 10, then every fifth, and ``top``
    (12 frames for top = 20, 18 for 50)."""
    if top < 1:
        raise ValueError(f"top must be ≥ 1, not {top}")
    return sorted({*range(1, min(10, top) + 1), *range(15, top + 1, 5), top})


@dataclass(frozen=True)
class FrameSlider:
    """Pre-rendered frames with a range control. ``frames``: data URIs, one per value; ``labels``: what the control
    shows for each; ``default``: the index shown first (and the only frame a page without JavaScript shows);
    ``caption``: what the figure shows (its caption, and with the frame's label its images' alt text)."""

    frames: tuple[str, ...]
    labels: tuple[str, ...]
    default: int
    name: str
    caption: str = ""

    def __post_init__(self) -> None:
        if not self.frames:
            raise ValueError("a slider needs at least one frame")
        if len(self.labels) != len(self.frames):
            raise ValueError(f"{len(self.frames)} frames but {len(self.labels)} labels")
        if not 0 <= self.default < len(self.frames):
            raise ValueError(f"default frame {self.default} is not in 0..{len(self.frames) - 1}")

    @property
    def nbytes(self) -> int:
        """Bytes the slider adds to a page (its HTML)."""
        return len(self.html().encode("utf-8"))

    def html(self) -> str:
        """The figure: every frame as an ``<img>`` (all but the default hidden), the range input and its label."""
        name = html.escape(self.name)
        what = f"{html.escape(self.caption.rstrip('.'))}, " if self.caption else ""
        imgs = "".join(
            f'<img src="{src}" alt="{what}{name} = {html.escape(lab)}" data-label="{name} = {html.escape(lab)}"'
            f' style="max-width:100%;{"" if k == self.default else "display:none"}">'
            for k, (src, lab) in enumerate(zip(self.frames, self.labels)))
        cap = f'<br><span class="companion-slider-caption">{html.escape(self.caption)}</span>' if self.caption else ""
        return (f'<figure class="companion-slider" data-frames="{len(self.frames)}" style="margin:0.5em 0">'
                f'<div class="companion-slider-frames">{imgs}</div>'
                f'<figcaption style="text-align:left"><label>{name} <input type="range" min="0" max="{len(self.frames) - 1}" step="1" '
                f'value="{self.default}" aria-label="{name}" oninput="{html.escape(ONINPUT)}" style="vertical-align:middle;'
                f'width:16em;max-width:60%"></label> <output>{name} = {html.escape(self.labels[self.default])}</output>'
                f'{cap}</figcaption></figure>')

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        return f"FrameSlider({self.name}: {len(self.frames)} frames, {self.nbytes / 1024:.0f} KB)"


def frame_slider(draw: Callable[[Any], Any], values: Sequence[Any], *, name: str, default: Any = None,
                 labels: Sequence[str] | None = None, caption: str = "", interactive: bool = False,
                 fmt: Format = "png", dpi: int = 90) -> FrameSlider:
    """Draw ``draw(v)`` (a function returning a matplotlib figure) for each of ``values`` and return the static
    slider over them (display it, or leave it as a cell's last value). ``default``: the value shown first (one of
    ``values``; the first when None); ``labels``: the control's text per value (``str(v)`` when None);
    ``caption``: what the figure shows (caption and alt text).
    ``interactive``: also show the live ipywidgets slider (needs a kernel), drawing with ``draw`` on demand."""
    values = list(values)
    if not values:
        raise ValueError("frame_slider needs at least one value")
    labels = [str(v) for v in values] if labels is None else list(labels)
    if len(labels) != len(values):
        raise ValueError(f"{len(values)} values but {len(labels)} labels")
    if default is None:
        default = values[0]
    if default not in values:
        raise ValueError(f"default {default!r} is not one of the values {values!r}")
    k = values.index(default)
    if interactive:
        _live(draw, values, labels, k, name)
    return FrameSlider(tuple(figure_data_uri(draw(v), fmt=fmt, dpi=dpi) for v in values), tuple(labels), k, name,
                       caption)


def _live(draw: Callable[[Any], Any], values: list[Any], labels: list[str], default: int, name: str) -> Any:
    """The ipywidgets version, displayed and returned: a selection slider over ``values`` redrawing with ``draw``."""
    import ipywidgets as widgets
    from IPython.display import display

    def show(v: Any) -> None:
        fig = draw(v)
        display(fig)
        plt.close(fig)

    slider = widgets.SelectionSlider(options=list(zip(labels, values)), value=values[default], description=name,
                                     continuous_update=False)
    live = widgets.interactive(show, v=slider)
    display(live)
    return live
