// Draws one demo of grader.demos (see _widget.py): controls, panels (heatmaps and line
// charts as SVG) and readouts. It computes nothing: every frame of the control grid was
// computed in Python with grader.reference and is in the model ("frames"), so a static page
// with no kernel stays interactive. With a kernel, each change of the controls is also sent
// to Python ("values"), which recomputes the frame and sends it back ("frame").
// No dependencies and no network access.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const DIGIT = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DIGIT[ALPHABET.charCodeAt(i)] = i;

const SVG = "http://www.w3.org/2000/svg";

/** Numbers of an encoded array (see encode_array in _frames.py), as a Float64Array. */
export function decode(encoded) {
  const { data, bits, lo, hi } = encoded;
  const width = bits === 12 ? 2 : 1;
  const count = data.length / width;
  const step = (hi - lo) / ((1 << bits) - 1);
  const values = new Float64Array(count);
  for (let k = 0; k < count; k++) {
    const q = width === 2
      ? DIGIT[data.charCodeAt(2 * k)] * 64 + DIGIT[data.charCodeAt(2 * k + 1)]
      : DIGIT[data.charCodeAt(k)];
    values[k] = lo + q * step;
  }
  return values;
}

/** A heatmap's matrix: {rows, cols, values (row-major)}; rebuilds a stored upper triangle. */
export function decodeMatrix(encoded) {
  const [rows, cols] = encoded.shape;
  const flat = decode(encoded);
  if (!encoded.triangle) return { rows, cols, values: flat };
  const values = new Float64Array(rows * cols);
  let k = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = r; c < cols; c++, k++) {
      values[r * cols + c] = flat[k];
      values[c * cols + r] = flat[k];
    }
  }
  return { rows, cols, values };
}

/** The text of a readout; mirrors format_readout in _widget.py. */
export function formatReadout(value, format, unit = "", cap = null) {
  if (value === null || value === undefined) return "n/a";
  if (cap !== null && cap !== undefined && value >= cap) return "≥ " + formatReadout(cap, format, unit);
  const [kind, digitsText] = format.split(":");
  const digits = Number(digitsText || 0);
  let text;
  if (kind === "int") text = String(Math.round(value));
  else if (kind === "pct") text = (100 * value).toFixed(digits) + " %";
  else if (kind === "exp") text = value.toExponential(digits);
  else text = value.toFixed(digits);
  return unit ? `${text} ${unit}` : text;
}

// ------------------------------------------------------------------------- drawing helpers

function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function svgEl(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== null) node.textContent = text;
  return node;
}

function niceTicks(lo, hi, count = 5) {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const ratio = raw / magnitude;
  const step = (ratio >= 7.5 ? 10 : ratio >= 3.5 ? 5 : ratio >= 1.5 ? 2 : 1) * magnitude;
  const ticks = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    ticks.push(Number(v.toPrecision(12)));
  }
  return ticks;
}

function tickLabel(value) {
  if (value === 0) return "0";
  const size = Math.abs(value);
  if (size >= 1e4 || size < 1e-3) return value.toExponential(0);
  return String(Number(value.toPrecision(4)));
}

function logTickLabel(exponent) {
  const superscript = { "-": "⁻", 0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹" };
  if (exponent === 0) return "1";
  if (exponent === 1) return "10";
  return "10" + [...String(exponent)].map((ch) => superscript[ch]).join("");
}

const DIVERGING = [[33, 102, 172], [103, 169, 207], [209, 229, 240], [247, 247, 247],
  [253, 219, 199], [239, 138, 98], [178, 24, 43]];
const SEQUENTIAL = [[68, 1, 84], [70, 50, 127], [54, 92, 141], [39, 127, 142], [31, 161, 135],
  [74, 194, 109], [159, 218, 58], [253, 231, 37]];

function colour(stops, t) {
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  return stops[i].map((a, k) => Math.round(a + f * (stops[i + 1][k] - a)));
}

const WIDTH = 340; // a chart's viewBox; a wide chart is twice as wide
const WIDE = 2 * WIDTH + 14;
const HEIGHT = 220;
const MARGIN = { left: 50, right: 12, top: 10, bottom: 36 };

function widthOf(panel) { return panel.wide ? WIDE : WIDTH; }

function axes(svg, box, xTicks, yTicks, xScale, yScale, xlabel, ylabel, yLabelOf = tickLabel) {
  const g = svgEl("g", { class: "hs-axes" });
  for (const v of yTicks) {
    const y = yScale(v);
    g.append(svgEl("line", { x1: box.x0, x2: box.x1, y1: y, y2: y, class: "hs-grid" }));
    g.append(svgEl("text", { x: box.x0 - 5, y: y + 4, "text-anchor": "end" }, yLabelOf(v)));
  }
  for (const v of xTicks) {
    const x = xScale(v);
    g.append(svgEl("line", { x1: x, x2: x, y1: box.y1, y2: box.y1 + 4, class: "hs-tick" }));
    g.append(svgEl("text", { x, y: box.y1 + 16, "text-anchor": "middle" }, tickLabel(v)));
  }
  g.append(svgEl("rect", { x: box.x0, y: box.y0, width: box.x1 - box.x0, height: box.y1 - box.y0, class: "hs-frame" }));
  g.append(svgEl("text", { x: (box.x0 + box.x1) / 2, y: HEIGHT - 4, "text-anchor": "middle", class: "hs-label" }, xlabel));
  const my = (box.y0 + box.y1) / 2;
  g.append(svgEl("text", { x: 12, y: my, transform: `rotate(-90 12 ${my})`, "text-anchor": "middle", class: "hs-label" }, ylabel));
  svg.append(g);
}

function drawLines(svg, panel, data) {
  const values = decode(data);
  const [count, length] = data.shape.length === 2 ? data.shape : [1, data.shape[0]];
  let lo = data.lo;
  let hi = data.hi;
  if (panel.ylim) [lo, hi] = panel.log ? panel.ylim.map(Math.log10) : panel.ylim;
  if (panel.log) {
    lo = Math.floor(lo);
    hi = Math.max(Math.ceil(hi), lo + 1);
  }
  const box = { x0: MARGIN.left, x1: widthOf(panel) - MARGIN.right, y0: MARGIN.top, y1: HEIGHT - MARGIN.bottom };
  const xFirst = panel.x0;
  const xLast = panel.x0 + Math.max(1, length - 1);
  const xScale = (v) => box.x0 + ((v - xFirst) / (xLast - xFirst)) * (box.x1 - box.x0);
  const yScale = (v) => box.y1 - ((v - lo) / (hi - lo)) * (box.y1 - box.y0);
  let yTicks;
  if (panel.log) {
    const stride = Math.max(1, Math.ceil((hi - lo) / 6));
    yTicks = [];
    for (let e = Math.ceil(lo / stride) * stride; e <= hi; e += stride) yTicks.push(e);
  } else {
    yTicks = niceTicks(lo, hi, 4).filter((v) => v >= lo - 1e-12 && v <= hi + 1e-12);
  }
  const xTicks = niceTicks(xFirst, xLast, panel.wide ? 10 : 5).filter((v) => Number.isInteger(v));
  axes(svg, box, xTicks, yTicks, xScale, yScale, panel.xlabel, panel.ylabel, panel.log ? logTickLabel : tickLabel);
  // Bands: an x interval per series, drawn as a bar along the top and a dashed line where it starts.
  (data.bands || []).forEach(([from, to, k], j) => {
    const [a, b] = [from, to].map((v) => Math.min(Math.max(v, xFirst), xLast));
    const color = panel.series[k].color;
    svg.append(svgEl("rect", { x: xScale(a), y: box.y0 + 2 + 7 * j, width: Math.max(0, xScale(b) - xScale(a)), height: 5, fill: color, class: "hs-band" }));
    svg.append(svgEl("line", { x1: xScale(a), x2: xScale(a), y1: box.y0, y2: box.y1, stroke: color, class: "hs-band-edge" }));
  });
  for (const v of data.vlines || []) {
    if (v < xFirst || v > xLast) continue;
    svg.append(svgEl("line", { x1: xScale(v), x2: xScale(v), y1: box.y0, y2: box.y1, class: "hs-vline" }));
  }
  if (data.hline !== undefined && data.hline !== null && data.hline >= lo && data.hline <= hi) {
    const y = yScale(data.hline);
    svg.append(svgEl("line", { x1: box.x0, x2: box.x1, y1: y, y2: y, class: "hs-hline" }));
  }
  const clip = `hs-clip-${Math.random().toString(36).slice(2)}`;
  const defs = svgEl("defs");
  const clipPath = svgEl("clipPath", { id: clip });
  clipPath.append(svgEl("rect", { x: box.x0, y: box.y0, width: box.x1 - box.x0, height: box.y1 - box.y0 }));
  defs.append(clipPath);
  svg.append(defs);
  for (let s = 0; s < count; s++) {
    const points = [];
    for (let t = 0; t < length; t++) {
      points.push(`${xScale(xFirst + t).toFixed(1)},${yScale(values[s * length + t]).toFixed(1)}`);
    }
    const series = panel.series[s];
    const line = length === 1
      ? svgEl("circle", { cx: xScale(xFirst), cy: yScale(values[s * length]), r: 3, fill: series.color })
      : svgEl("polyline", { points: points.join(" "), stroke: series.color, class: `hs-series hs-${series.style}` });
    line.setAttribute("clip-path", `url(#${clip})`);
    line.setAttribute("data-series", series.label);
    svg.append(line);
  }
}

function drawHeatmap(svg, panel, data) {
  const { rows, cols, values } = decodeMatrix(data);
  const canvas = document.createElement("canvas");
  canvas.width = cols;
  canvas.height = rows;
  const context = canvas.getContext("2d");
  const image = context.createImageData(cols, rows);
  const stops = panel.cmap === "diverging" ? DIVERGING : SEQUENTIAL;
  const span = data.hi - data.lo;
  for (let k = 0; k < rows * cols; k++) {
    const [r, g, b] = colour(stops, (values[k] - data.lo) / span);
    image.data.set([r, g, b, 255], 4 * k);
  }
  context.putImageData(image, 0, 0);
  const bar = 14;
  const box = { x0: MARGIN.left, x1: WIDTH - MARGIN.right - bar - 34, y0: MARGIN.top, y1: HEIGHT - MARGIN.bottom };
  svg.append(svgEl("image", {
    href: canvas.toDataURL(), x: box.x0, y: box.y0, width: box.x1 - box.x0, height: box.y1 - box.y0,
    preserveAspectRatio: "none", class: "hs-pixels",
  }));
  // Cell k of an axis spans [k, k + 1] in plot units; ticks sit at cell centres.
  const xScale = (v) => box.x0 + ((v - panel.x0 + 0.5) / cols) * (box.x1 - box.x0);
  const yScale = (v) => box.y0 + ((v - panel.y0 + 0.5) / rows) * (box.y1 - box.y0);
  const xTicks = niceTicks(panel.x0, panel.x0 + cols - 1, 5).filter((v) => Number.isInteger(v) && v >= panel.x0);
  const yTicks = niceTicks(panel.y0, panel.y0 + rows - 1, 4).filter((v) => Number.isInteger(v) && v >= panel.y0);
  const g = svgEl("g", { class: "hs-axes" });
  for (const v of yTicks) g.append(svgEl("text", { x: box.x0 - 5, y: yScale(v) + 4, "text-anchor": "end" }, String(v)));
  for (const v of xTicks) {
    g.append(svgEl("line", { x1: xScale(v), x2: xScale(v), y1: box.y1, y2: box.y1 + 4, class: "hs-tick" }));
    g.append(svgEl("text", { x: xScale(v), y: box.y1 + 16, "text-anchor": "middle" }, String(v)));
  }
  g.append(svgEl("rect", { x: box.x0, y: box.y0, width: box.x1 - box.x0, height: box.y1 - box.y0, class: "hs-frame" }));
  g.append(svgEl("text", { x: (box.x0 + box.x1) / 2, y: HEIGHT - 4, "text-anchor": "middle", class: "hs-label" }, panel.xlabel));
  const my = (box.y0 + box.y1) / 2;
  g.append(svgEl("text", { x: 12, y: my, transform: `rotate(-90 12 ${my})`, "text-anchor": "middle", class: "hs-label" }, panel.ylabel));
  // Colour bar with its range.
  const bx = box.x1 + 8;
  const steps = 32;
  for (let k = 0; k < steps; k++) {
    const [r, gg, b] = colour(stops, 1 - (k + 0.5) / steps);
    const h = (box.y1 - box.y0) / steps;
    g.append(svgEl("rect", { x: bx, y: box.y0 + k * h, width: bar, height: h + 0.5, fill: `rgb(${r},${gg},${b})` }));
  }
  g.append(svgEl("rect", { x: bx, y: box.y0, width: bar, height: box.y1 - box.y0, class: "hs-frame" }));
  g.append(svgEl("text", { x: bx + bar + 3, y: box.y0 + 9 }, tickLabel(data.hi)));
  g.append(svgEl("text", { x: bx + bar + 3, y: box.y1 }, tickLabel(data.lo)));
  svg.append(g);
}

// ------------------------------------------------------------------------------ the view

function render({ model, el: host }) {
  const spec = model.get("spec");
  const frames = model.get("frames");
  const controls = spec.controls;
  const indexOf = () => {
    const values = model.get("values") || {};
    return controls.map((c) => (Number.isInteger(values[c.name]) ? values[c.name] : c.default));
  };
  let indices = indexOf();
  let live = false;
  let drawn = null;

  const root = el("div", { class: "hs-demo", "data-demo": spec.name });
  root.append(el("div", { class: "hs-title", text: spec.title }));
  if (spec.caption) root.append(el("div", { class: "hs-caption", text: spec.caption }));

  const controlRow = el("div", { class: "hs-controls" });
  root.append(controlRow);
  // Keys pressed on a control are the control's: JupyterLab would otherwise take them as notebook
  // shortcuts and cancel them (arrow keys would not move a focused slider).
  controlRow.addEventListener("keydown", (event) => event.stopPropagation());
  const widgets = controls.map((control, c) => {
    const box = el("div", { class: "hs-control", "data-control": control.name });
    box.append(el("span", { class: "hs-control-label", text: control.label }));
    controlRow.append(box);
    if (control.kind === "slider") {
      const input = el("input", {
        type: "range", min: 0, max: control.labels.length - 1, step: 1, value: indices[c],
        "aria-label": control.label,
      });
      const output = el("output", { class: "hs-control-value" });
      input.addEventListener("input", () => choose(c, Number(input.value)));
      box.append(input, output);
      return {
        sync(i) {
          input.value = i;
          output.textContent = control.labels[i];
          input.setAttribute("aria-valuetext", control.labels[i]);
        },
      };
    }
    const group = el("div", { class: "hs-choice", role: "group", "aria-label": control.label });
    const buttons = control.labels.map((text, i) => {
      const button = el("button", { type: "button", class: "hs-option", "data-option": i, text });
      button.addEventListener("click", () => choose(c, i));
      group.append(button);
      return button;
    });
    box.append(group);
    return { sync(i) { buttons.forEach((b, k) => b.setAttribute("aria-pressed", String(k === i))); } };
  });

  const panelRow = el("div", { class: "hs-panels" });
  const panels = spec.panels.map((panel) => {
    const figure = el("figure", { class: panel.wide ? "hs-panel hs-wide" : "hs-panel", "data-panel": panel.id });
    const caption = el("figcaption", { text: panel.title });
    if (panel.kind === "lines" && panel.series.length > 1) {
      const legend = el("span", { class: "hs-legend" });
      for (const series of panel.series) {
        const swatch = el("span", { class: `hs-swatch hs-${series.style}` });
        swatch.style.color = series.color;
        legend.append(el("span", { class: "hs-key" }, [swatch, series.label]));
      }
      caption.append(legend);
    }
    const svg = svgEl("svg", { viewBox: `0 0 ${widthOf(panel)} ${HEIGHT}`, role: "img", "aria-label": panel.title });
    figure.append(caption, svg);
    panelRow.append(figure);
    return { panel, svg };
  });
  root.append(panelRow);

  const readoutRow = el("div", { class: "hs-readouts" });
  const readouts = spec.readouts.map((readout) => {
    const value = el("b", { class: "hs-value" });
    const item = el("span", { class: "hs-readout", "data-readout": readout.name }, [readout.label + ": ", value]);
    readoutRow.append(item);
    return { readout, item, value };
  });
  root.append(readoutRow);
  const status = el("div", { class: "hs-status" });
  root.append(status);

  function key() { return indices.join(","); }

  function describe(source, ms) {
    if (source === "kernel") return `Live: recomputed in Python (grader.reference) in ${ms.toFixed(1)} ms.`;
    if (live) return "Live: connected to the Python kernel; showing the precomputed frame.";
    return "No kernel: showing frames precomputed in Python (grader.reference) when the page was built.";
  }

  function show(data, source, ms = 0) {
    const start = performance.now();
    for (const { panel, svg } of panels) {
      svg.replaceChildren();
      const encoded = data.panels[panel.id];
      if (panel.kind === "heatmap") drawHeatmap(svg, panel, encoded);
      else drawLines(svg, panel, encoded);
    }
    for (const { readout, item, value } of readouts) {
      const number = data.readouts[readout.name];
      value.textContent = formatReadout(number, readout.format, readout.unit, readout.cap);
      item.setAttribute("data-value", number === null ? "" : String(number));
    }
    root.dataset.key = key();
    root.dataset.source = source;
    root.dataset.renderMs = (performance.now() - start).toFixed(2);
    status.textContent = describe(source, ms);
    drawn = source;
  }

  function update() {
    indices.forEach((i, c) => widgets[c].sync(i));
    const data = frames[key()];
    if (data) show(data, "table");
    else status.textContent = "This combination of controls has no precomputed frame.";
  }

  function choose(c, i) {
    if (indices[c] === i) return;
    indices = indices.map((old, k) => (k === c ? i : old));
    update();
    model.set("values", Object.fromEntries(controls.map((control, k) => [control.name, indices[k]])));
    model.save_changes(); // reaches Python only when a kernel is attached
  }

  const onValues = () => {
    const next = indexOf();
    if (next.join(",") !== key()) {
      indices = next;
      update();
    }
  };
  const onFrame = () => {
    const frame = model.get("frame");
    if (frame && frame.key === key() && frame.data) show(frame.data, "kernel", frame.ms || 0);
  };
  const onMessage = (message) => {
    if (message && message.kind === "live") {
      live = true;
      root.dataset.live = "true";
      if (drawn !== "kernel") status.textContent = describe(drawn, 0);
    }
  };
  model.on("change:values", onValues);
  model.on("change:frame", onFrame);
  model.on("msg:custom", onMessage);

  host.replaceChildren(root);
  update();
  root.dataset.readyMs = performance.now().toFixed(1);
  model.send({ kind: "hello" }); // answered only by a live kernel; a no-op on a static page
  return () => {
    model.off("change:values", onValues);
    model.off("change:frame", onFrame);
    model.off("msg:custom", onMessage);
  };
}

export default { render };
