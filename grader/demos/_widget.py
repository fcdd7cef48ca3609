"""Shared plumbing of the demos: controls, panels, the frame codec and the widget.

A demo describes its controls (each a short list of options), its panels (heatmaps and
line charts) and its readouts, and computes one *frame* (the panels' arrays and the
readouts' numbers) for one choice of every control, with ``grader.reference``.

:class:`DemoWidget` is an anywidget that carries

* ``frames``: every frame of the control grid, computed in Python when the widget is
  made. The page's JavaScript (``static/demo.js``) only looks frames up and draws them,
  so a static page with no kernel (the published book) stays interactive;
* ``values``: the current control positions (option indices), synced both ways;
* ``frame``: with a kernel attached, each control change is sent to Python, which
  recomputes that frame with ``grader.reference`` and sends it back.

Frames are compact: arrays are quantized (``bits`` = 6 or 12, one or two base64
characters per number) between a rounded ``lo`` and ``hi``; readouts are kept to six
significant digits (:mod:`._frames` is the codec; the JavaScript ``decode`` inverts it).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from dataclasses import dataclass
from pathlib import Path

import anywidget
import numpy as np
import torch
import traitlets

from ._frames import decode_array, encode_array

STATIC = Path(__file__).with_name("static")

# Okabe-Ito, the colour-blind-safe palette of the book's figures.
COLORS = {"blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "vermillion": "#D55E00",
          "purple": "#CC79A7", "sky": "#56B4E9", "yellow": "#F0E442", "grey": "#777777"}


# --------------------------------------------------------------------------- computing frames


@contextlib.contextmanager
def single_thread():
    """Run torch on one thread: these tensors are tiny, and on a busy machine torch's
    thread pool costs several times more than the arithmetic (4 ms instead of 25 ms)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _number(value):
    """A readout as JSON: ints stay ints, floats keep six significant digits."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    value = float(value)
    return float(f"{value:.6g}") if math.isfinite(value) else None


# ------------------------------------------------------------------ demo description


@dataclass(frozen=True)
class Control:
    """One control: a short list of ``options``; the widget stores the chosen index.

    ``kind`` is ``"slider"`` for ordered numbers or ``"choice"`` for a row of buttons.
    ``labels`` are the texts shown for the options (by default ``str(option)``).
    """

    name: str
    label: str
    options: tuple
    default: object
    kind: str = "slider"
    labels: tuple | None = None

    def __post_init__(self):
        if self.default not in self.options:
            raise ValueError(f"{self.name}: default {self.default!r} is not an option")
        if self.kind not in ("slider", "choice"):
            raise ValueError(f"{self.name}: kind must be 'slider' or 'choice'")

    def spec(self):
        labels = self.labels or tuple(str(option) for option in self.options)
        return {"name": self.name, "label": self.label, "kind": self.kind,
                "labels": list(labels), "default": self.options.index(self.default)}


@dataclass(frozen=True)
class Heatmap:
    """A matrix drawn as coloured cells: rows top to bottom, columns left to right.

    ``cmap`` is ``"diverging"`` (blue, white, red; centred on 0) or ``"sequential"``.
    ``vrange`` fixes the colour range; otherwise each frame's own range is used (and
    made symmetric for a diverging map). ``symmetric=True`` stores only the upper
    triangle of a symmetric square matrix.
    """

    id: str
    title: str
    xlabel: str = ""
    ylabel: str = ""
    cmap: str = "diverging"
    vrange: tuple | None = None
    symmetric: bool = False
    x0: int = 0
    y0: int = 0
    bits: int = 6

    def spec(self):
        return {"id": self.id, "kind": "heatmap", "title": self.title, "xlabel": self.xlabel,
                "ylabel": self.ylabel, "cmap": self.cmap, "symmetric": self.symmetric,
                "x0": self.x0, "y0": self.y0}

    def encode(self, matrix):
        matrix = np.asarray(matrix, dtype=np.float64)
        if self.vrange is not None:
            lo, hi = self.vrange
        elif self.cmap == "diverging":
            hi = max(float(np.abs(matrix).max()), 1e-6)
            lo = -hi
        else:
            lo, hi = float(matrix.min()), float(matrix.max())
        if self.symmetric:
            rows, cols = np.triu_indices(matrix.shape[0])
            encoded = encode_array(matrix[rows, cols], self.bits, lo, hi)
            encoded["shape"] = list(matrix.shape)
            encoded["triangle"] = True
            return encoded
        return encode_array(matrix, self.bits, lo, hi)

    def decode(self, encoded):
        if not encoded.get("triangle"):
            return decode_array(encoded)
        size = encoded["shape"][0]
        rows, cols = np.triu_indices(size)
        flat = decode_array({**encoded, "shape": [len(rows)]})
        matrix = np.zeros((size, size))
        matrix[rows, cols] = flat
        matrix[cols, rows] = flat
        return matrix


@dataclass(frozen=True)
class Lines:
    """Line chart of one or more series over time steps ``x0, x0 + 1, ...``.

    ``series`` is a list of ``(label, colour)`` or ``(label, colour, style)`` with style
    ``"dashed"`` or ``"wide"`` (a thick, pale line, for a reference drawn under another);
    a frame gives a ``(len(series), T)`` array. With ``log=True`` the y axis is
    logarithmic: values are stored as log10, floored at ``floor``. ``ylim`` fixes the y
    range; ``include_zero=True`` stretches an automatic range to include 0. ``wide=True``
    gives the chart the widget's full width. A frame may also give
    ``vlines`` (x positions), ``bands`` (``(from, to, series index)``: an x interval
    shaded in that series' colour) and ``hline`` (a y value, e.g. a threshold), in data units.
    """

    id: str
    title: str
    series: tuple
    xlabel: str = "time step t"
    ylabel: str = ""
    log: bool = False
    floor: float = 1e-12
    ylim: tuple | None = None
    x0: int = 0
    include_zero: bool = False
    wide: bool = False
    bits: int = 12

    def spec(self):
        series = [{"label": s[0], "color": s[1], "style": s[2] if len(s) > 2 else "solid"} for s in self.series]
        return {"id": self.id, "kind": "lines", "title": self.title, "xlabel": self.xlabel,
                "ylabel": self.ylabel, "log": self.log, "x0": self.x0, "wide": self.wide,
                "ylim": list(self.ylim) if self.ylim else None, "series": series}

    def transform(self, values):
        values = np.asarray(values, dtype=np.float64)
        return np.log10(np.maximum(values, self.floor)) if self.log else values

    def encode(self, values, vlines=(), bands=(), hline=None):
        values = self.transform(values)
        if values.ndim == 1:
            values = values[None]
        if values.shape[0] != len(self.series):
            raise ValueError(f"{self.id}: expected {len(self.series)} series, got {values.shape[0]}")
        lo, hi = self.ylim if self.ylim else (None, None)
        if self.log and self.ylim:
            lo, hi = math.log10(lo), math.log10(hi)
        elif self.include_zero and not self.ylim:
            lo, hi = min(values.min(), 0.0), max(values.max(), 0.0)
        encoded = encode_array(values, self.bits, lo, hi)
        encoded["vlines"] = [_number(v) for v in vlines]
        encoded["bands"] = [[_number(a), _number(b), int(k)] for a, b, k in bands]
        if hline is not None:
            encoded["hline"] = _number(math.log10(hline) if self.log else hline)
        return encoded

    def decode(self, encoded):
        """The stored series (log10 of the values for a log chart)."""
        return decode_array(encoded)


@dataclass(frozen=True)
class Readout:
    """A number shown under the panels. ``format``: ``"int"``, ``"fixed:N"``, ``"exp:N"``, ``"pct:N"``.

    ``cap``: a value at or above it is shown as "≥ cap" (e.g. a count that filled the window).
    """

    name: str
    label: str
    format: str = "fixed:3"
    unit: str = ""
    cap: float | None = None

    def spec(self):
        return {"name": self.name, "label": self.label, "format": self.format, "unit": self.unit,
                "cap": self.cap}


def format_readout(value, fmt, unit="", cap=None):
    """The text a readout shows; mirrors ``formatReadout`` in static/demo.js."""
    if value is None:
        return "n/a"
    if cap is not None and value >= cap:
        return "≥ " + format_readout(cap, fmt, unit)
    kind, _, digits = fmt.partition(":")
    digits = int(digits or 0)
    if kind == "int":
        text = str(int(round(value)))
    elif kind == "pct":
        text = f"{100 * value:.{digits}f} %"
    elif kind == "exp":
        text = f"{value:.{digits}e}".replace("e+0", "e+").replace("e-0", "e-")
    else:
        text = f"{value:.{digits}f}"
    return f"{text} {unit}".strip()


class Demo:
    """Base class: subclasses set the class attributes and implement :meth:`compute`.

    ``compute(**choices)`` gets one option of every control (by name) and returns
    ``{"panels": {panel_id: data}, "readouts": {name: number}}``, where a heatmap's data
    is a matrix and a line chart's is the series array or a dict of the arguments of
    :meth:`Lines.encode`.
    """

    name = "demo"
    title = ""
    caption = ""
    controls = ()
    panels = ()
    readouts = ()

    def compute(self, **choices):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- indices, keys and frames

    def choices(self, indices):
        """Control name -> option, for a sequence of option indices (in control order)."""
        return {c.name: c.options[i] for c, i in zip(self.controls, indices, strict=True)}

    def indices(self, **choices):
        """Option indices (in control order) for the given options; others at their defaults."""
        unknown = set(choices) - {c.name for c in self.controls}
        if unknown:
            raise ValueError(f"unknown controls {sorted(unknown)}")
        return tuple(c.options.index(choices.get(c.name, c.default)) for c in self.controls)

    def default_indices(self):
        return tuple(c.options.index(c.default) for c in self.controls)

    @staticmethod
    def key(indices):
        return ",".join(str(i) for i in indices)

    def grid(self):
        return itertools.product(*(range(len(c.options)) for c in self.controls))

    def frame(self, indices):
        """The encoded frame for one position of the controls, computed now."""
        with single_thread():
            raw = self.compute(**self.choices(indices))
        panels = {}
        for panel in self.panels:
            data = raw["panels"][panel.id]
            panels[panel.id] = panel.encode(**data) if isinstance(data, dict) else panel.encode(data)
        readouts = {r.name: _number(raw["readouts"][r.name]) for r in self.readouts}
        return {"panels": panels, "readouts": readouts}

    def table(self):
        """Every frame of the control grid, by key."""
        with single_thread():
            return {self.key(indices): self.frame(indices) for indices in self.grid()}

    def spec(self):
        return {"name": self.name, "title": self.title, "caption": self.caption,
                "controls": [c.spec() for c in self.controls],
                "panels": [p.spec() for p in self.panels],
                "readouts": [r.spec() for r in self.readouts]}

    def widget(self):
        return DemoWidget(self)


# ------------------------------------------------------------------------ the widget


class DemoWidget(anywidget.AnyWidget):
    """The widget of one demo; see the module docstring for how it works with and without a kernel."""

    _esm = (STATIC / "demo.js").read_text(encoding="utf-8")
    _css = (STATIC / "demo.css").read_text(encoding="utf-8")

    spec = traitlets.Dict().tag(sync=True)
    frames = traitlets.Dict().tag(sync=True)
    values = traitlets.Dict().tag(sync=True)
    frame = traitlets.Dict().tag(sync=True)

    def __init__(self, demo, **kwargs):
        self.demo = demo
        self.compute_ms = []
        start = time.perf_counter()
        frames = demo.table()
        self.table_seconds = time.perf_counter() - start
        defaults = {c.name: i for c, i in zip(demo.controls, demo.default_indices(), strict=True)}
        super().__init__(spec=demo.spec(), frames=frames, values=defaults, **kwargs)
        self.observe(self._recompute, names="values")
        self.on_msg(self._on_message)

    def current_indices(self):
        return tuple(int(self.values[c.name]) for c in self.demo.controls)

    def select(self, **choices):
        """Move controls from Python by option value, e.g. ``widget.select(radius=1.5)``."""
        indices = self.demo.indices(**{**self.demo.choices(self.current_indices()), **choices})
        self.values = {c.name: i for c, i in zip(self.demo.controls, indices, strict=True)}

    def _recompute(self, change=None):
        indices = self.current_indices()
        start = time.perf_counter()
        data = self.demo.frame(indices)
        elapsed = 1000 * (time.perf_counter() - start)
        self.compute_ms.append(elapsed)
        self.frame = {"key": self.demo.key(indices), "data": data, "ms": round(elapsed, 2)}

    def _on_message(self, widget, content, buffers):
        # The page says hello when it renders: answering tells it a kernel is attached.
        if isinstance(content, dict) and content.get("kind") == "hello":
            self.send({"kind": "live"})
