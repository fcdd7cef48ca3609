"""The widget demos of grader.demos: their frames hold grader.reference's numbers.

Each demo's frames are checked against a recomputation made here directly with
``grader.reference`` (only the demo's inputs and weights are reused), to within the
frame's quantization; the live path (a control change recomputed in Python) must give
the same frame as the table the static page uses; and the JavaScript decoder run under
Node must read the frames exactly as Python does. Timings are not asserted here: see
``python -m grader.demos.bench``.
"""

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from grader import reference as ref
from grader.demos import (
    DEMOS,
    DemoWidget,
    HiddenStateExplorer,
    InitializationExplorer,
    LSTMMemory,
    StatefulnessDemo,
    VanishingGradients,
)
from grader.demos._frames import decode_array, encode_array, quantization_error
from grader.demos._widget import (
    Heatmap,
    Lines,
    format_readout,
)

DEMO_JS = Path(__file__).resolve().parents[1] / "grader" / "demos" / "static" / "demo.js"
MAX_EMBEDDED_KB = 300


@pytest.fixture(scope="module")
def tables():
    """Every demo's table of frames, computed once for this module."""
    return {cls: cls().table() for cls in DEMOS.values()}


def sample_keys(demo, every=7):
    """Some grid positions: the defaults, the first and last, and every ``every``-th."""
    grid = list(demo.grid())
    picked = {demo.default_indices(), grid[0], grid[-1], *grid[::every]}
    return sorted(picked)


def assert_close_encoded(encoded, expected, decode=decode_array, what=""):
    """The decoded array equals ``expected`` to within the quantization (and clipping to the range)."""
    expected = np.asarray(expected, dtype=np.float64)
    decoded = decode(encoded)
    assert decoded.shape == expected.shape, what
    clipped = np.clip(expected, encoded["lo"], encoded["hi"])
    tolerance = quantization_error(encoded) * (1 + 1e-9) + 1e-12
    worst = np.abs(decoded - clipped).max()
    assert worst <= tolerance, f"{what}: off by {worst:g} > {tolerance:g}"


def assert_readout(value, expected, what=""):
    """Readouts keep six significant digits."""
    if isinstance(expected, int):
        assert value == expected, what
    else:
        assert value == pytest.approx(float(expected), rel=1e-5, abs=1e-300), what


# ------------------------------------------------------------------------------ the codec


@pytest.mark.parametrize("bits", [6, 12])
def test_codec_round_trip_is_within_half_a_step(bits):
    values = torch.randn(7, 9, generator=torch.Generator().manual_seed(bits)).numpy() * 3
    encoded = encode_array(values, bits)
    assert len(encoded["data"]) == values.size * bits // 6
    assert encoded["lo"] <= values.min() and encoded["hi"] >= values.max()
    assert np.abs(decode_array(encoded) - values).max() <= quantization_error(encoded) * (1 + 1e-9)


def test_codec_handles_constant_arrays_fixed_ranges_and_rejects_nan():
    constant = encode_array(np.full(5, 2.5), 12)
    assert np.allclose(decode_array(constant), 2.5, atol=quantization_error(constant))
    clipped = encode_array(np.array([-3.0, 0.0, 3.0]), 6, lo=-1, hi=1)
    assert decode_array(clipped).tolist() == [-1.0, pytest.approx(0.0, abs=0.02), 1.0]
    with pytest.raises(ValueError):
        encode_array(np.array([0.0, math.nan]))


def test_symmetric_heatmap_stores_the_upper_triangle_only():
    panel = Heatmap("d", "distances", cmap="sequential", symmetric=True)
    states = torch.randn(12, 3, dtype=torch.float64)
    matrix = ref.pairwise_distances(states).numpy()
    encoded = panel.encode(matrix)
    assert len(encoded["data"]) == 12 * 13 // 2
    assert_close_encoded(encoded, matrix, panel.decode)


def test_log_lines_store_log10_with_a_floor():
    panel = Lines("g", "gradients", (("a", "#000"),), log=True, floor=1e-20)
    values = np.array([1e-30, 1e-10, 1.0, 1e3])
    encoded = panel.encode(values)
    assert_close_encoded(encoded, np.log10(np.maximum(values, 1e-20))[None], panel.decode)


def test_readout_formats():
    assert format_readout(0.0973, "pct:1") == "9.7 %"
    assert format_readout(6.3e-2, "exp:1") == "6.3e-2"
    assert format_readout(2572080000.0, "exp:1") == "2.6e+9"
    assert format_readout(12, "int", "steps") == "12 steps"
    assert format_readout(56, "int", "steps", cap=56) == "≥ 56 steps"
    assert format_readout(2.40712, "fixed:3") == "2.407"
    assert format_readout(None, "fixed:3") == "n/a"


# --------------------------------------------------------------------- each demo's frames


def test_every_demo_has_a_full_table_of_reasonable_size(tables):
    for cls, table in tables.items():
        demo = cls()
        assert set(table) == {demo.key(i) for i in demo.grid()}, cls.name
        for frame in table.values():
            assert set(frame["panels"]) == {p.id for p in demo.panels}
            assert set(frame["readouts"]) == {r.name for r in demo.readouts}
        size_kb = len(json.dumps(table, separators=(",", ":"))) / 1024
        assert size_kb < MAX_EMBEDDED_KB, f"{cls.name}: {size_kb:.0f} KB of frames"


def test_hidden_state_explorer_frames_match_the_reference(tables):
    demo = HiddenStateExplorer()
    table = tables[HiddenStateExplorer]
    panels = {p.id: p for p in demo.panels}
    for indices in sample_keys(demo, every=5):
        choice = demo.choices(indices)
        frame = table[demo.key(indices)]
        weight_ih, base = demo.weights(choice["hidden_size"], 1.0)
        weight_hh = ref.scale_to_spectral_radius(base, choice["radius"])
        assert ref.spectral_radius(weight_hh).item() == pytest.approx(choice["radius"], rel=1e-9)
        states = ref.rnn_forward(demo.inputs(choice["pattern"]), None, weight_ih, weight_hh)[0][0]
        norms = states.norm(dim=1)
        assert_close_encoded(frame["panels"]["states"], states.T.numpy(), what=f"{choice} states")
        assert_close_encoded(frame["panels"]["norm"], norms[None].numpy(), what=f"{choice} norm")
        assert_close_encoded(frame["panels"]["distances"], ref.pairwise_distances(states).numpy(),
                             panels["distances"].decode, what=f"{choice} distances")
        readouts = frame["readouts"]
        assert_readout(readouts["final_norm"], norms[-1].item())
        assert_readout(readouts["max_norm"], norms.max().item())
        assert_readout(readouts["saturation"], ref.saturation_stats(states)["saturation_rate"])


def test_hidden_state_explorer_inputs_are_the_named_patterns():
    demo = HiddenStateExplorer()
    assert torch.all(demo.inputs("constant") == 0.5)
    impulse = demo.inputs("impulse").flatten()
    assert impulse[0] == 2.0 and torch.all(impulse[1:] == 0)
    assert demo.inputs("sine").flatten()[0] == 0.0
    assert demo.inputs("noise").std() > 0.5


def test_lstm_memory_frames_match_the_reference(tables):
    demo = LSTMMemory()
    table = tables[LSTMMemory]
    for indices in sample_keys(demo):
        choice = demo.choices(indices)
        frame = table[demo.key(indices)]
        x = demo.inputs(choice["impulse"])
        weight_ih, weight_hh, bias = demo.lstm_weights(choice["forget_bias"], choice["input_bias"])
        H = demo.hidden_size
        assert torch.all(bias[H:2 * H] == choice["forget_bias"]) and torch.all(bias[:H] == choice["input_bias"])
        # The trace equals a step-by-step run of lstm_cell, and torch.nn.LSTM with these weights.
        trace = ref.lstm_trace(x, None, weight_ih, weight_hh, bias)
        outputs, (h_n, c_n) = ref.lstm_forward(x, None, weight_ih, weight_hh, bias)
        torch.testing.assert_close(trace["h"], outputs)
        torch.testing.assert_close(trace["c"][:, -1], c_n)
        rnn = ref.rnn_forward(x, None, *demo.rnn_weights())[0][0]
        c, h = trace["c"][0], trace["h"][0]
        assert_close_encoded(frame["panels"]["cell"], c.T.numpy(), what=f"{choice} c")
        assert_close_encoded(frame["panels"]["hidden"], h.T.numpy(), what=f"{choice} h")
        norms = torch.stack([c.norm(dim=1), h.norm(dim=1), rnn.norm(dim=1)])
        trace_panel = demo.panels[2]
        assert_close_encoded(frame["panels"]["trace"], trace_panel.transform(norms.numpy()), what=f"{choice} trace")
        start = demo.impulse_step
        for name, series in zip(("survival_c", "survival_h", "survival_rnn"), norms):
            alive = [n > 0.01 for n in series[start:].tolist()] + [False]
            assert frame["readouts"][name] == alive.index(False), f"{choice} {name}"
        assert_readout(frame["readouts"]["mean_forget"], trace["f"][0, start:].mean().item())
        assert_readout(frame["readouts"]["peak_cell"], norms[0].max().item())


def test_lstm_memory_a_larger_forget_bias_keeps_the_impulse_longer(tables):
    demo = LSTMMemory()
    table = tables[LSTMMemory]
    survival = [table[demo.key(demo.indices(forget_bias=b))]["readouts"]["survival_c"]
                for b in demo.controls[0].options]
    assert survival == sorted(survival) and survival[-1] > 5 * survival[0]


def test_initialization_frames_match_the_reference(tables):
    demo = InitializationExplorer()
    table = tables[InitializationExplorer]
    for indices in sample_keys(demo, every=5):
        choice = demo.choices(indices)
        frame = table[demo.key(indices)]
        weight_ih, weight_hh = demo.weights(choice["weight_init"], choice["radius"])
        assert ref.spectral_radius(weight_hh).item() == pytest.approx(choice["radius"], rel=1e-6)
        h0 = demo.initial_state(choice["initial_state"], weight_ih, weight_hh)
        x = demo.inputs()
        with torch.no_grad():
            outputs = ref.rnn_forward(x, h0, weight_ih, weight_hh)[0]
            baseline = ref.rnn_forward(x, None, weight_ih, weight_hh)[0]
        states = torch.cat([h0[:, None], outputs], dim=1)
        base = torch.cat([torch.zeros_like(h0)[:, None], baseline], dim=1)
        norms = states.norm(dim=2).mean(dim=0)
        gap = (states - base).norm(dim=2).mean(dim=0)
        saturated = (states.abs() > 0.95).double().mean(dim=(0, 2))
        assert_close_encoded(frame["panels"]["norm"], torch.stack([norms, gap]).numpy(), what=f"{choice} norm")
        assert_close_encoded(frame["panels"]["saturation"], saturated[None].numpy(), what=f"{choice} saturation")
        assert_close_encoded(frame["panels"]["states"], states[0].T.numpy(), what=f"{choice} states")
        assert_readout(frame["readouts"]["initial_norm"], norms[0].item())
        assert_readout(frame["readouts"]["final_norm"], norms[-1].item())
        assert_readout(frame["readouts"]["saturation"],
                       ref.saturation_stats(outputs, threshold=0.95)["saturation_rate"])
        assert_readout(frame["readouts"]["radius"], ref.spectral_radius(weight_hh).item())


def test_initialization_initial_states_are_what_they_say():
    demo = InitializationExplorer()
    weight_ih, weight_hh = demo.weights("random", 0.9)
    assert torch.all(demo.initial_state("zero", weight_ih, weight_hh) == 0)
    learned = demo.initial_state("learned", weight_ih, weight_hh)
    assert torch.all(learned == learned[0]) and learned.norm() > 0  # one trained vector for every sequence
    # The encoder's state is the final state of an RNN with these weights over the source.
    encoder_state = demo.initial_state("encoder", weight_ih, weight_hh)
    source = torch.randn(demo.batch_size, demo.source_steps, 1,
                         generator=torch.Generator().manual_seed(demo.seed + 3), dtype=torch.float64)
    torch.testing.assert_close(encoder_state, ref.rnn_forward(source, None, weight_ih, weight_hh)[1])
    identity = demo.weights("identity", 0.8)[1]
    torch.testing.assert_close(identity, 0.8 * torch.eye(demo.hidden_size, dtype=torch.float64))
    orthogonal = demo.weights("orthogonal", 1.0)[1]
    torch.testing.assert_close(orthogonal @ orthogonal.T, torch.eye(demo.hidden_size, dtype=torch.float64))


def test_statefulness_frames_match_the_reference(tables):
    demo = StatefulnessDemo()
    table = tables[StatefulnessDemo]
    for indices in demo.grid():
        choice = demo.choices(indices)
        frame = table[demo.key(indices)]
        model, stream = demo.model(), demo.stream()
        with torch.no_grad():
            full = model.readout(ref.rnn_forward(stream, None, model.rnn.weight_ih_l0, model.rnn.weight_hh_l0,
                                                 model.rnn.bias_ih_l0, model.rnn.bias_hh_l0)[0])[0, :, 0]
            pieces, state = [], None
            for chunk in ref.chunk_sequence(stream, choice["chunk_length"]):
                if choice["mode"] == "stateless":
                    state = None
                out, state = ref.rnn_forward(chunk, state, model.rnn.weight_ih_l0, model.rnn.weight_hh_l0,
                                             model.rnn.bias_ih_l0, model.rnn.bias_hh_l0)
                pieces.append(model.readout(out))
        chunked = torch.cat(pieces, dim=1)[0, :, 0]
        assert_close_encoded(frame["panels"]["outputs"], torch.stack([full, chunked]).numpy(), what=str(choice))
        difference = (chunked - full).abs()
        if choice["mode"] == "stateful":
            assert frame["readouts"]["steps_differing"] == 0 and frame["readouts"]["max_difference"] < 1e-12
        else:
            assert frame["readouts"]["steps_differing"] > 0
            assert_readout(frame["readouts"]["max_difference"], difference.max().item())
        # Stateless chunks agree with the full pass on the first chunk, and differ after a boundary.
        first = choice["chunk_length"]
        assert difference[:first].max() < 1e-12
        assert frame["readouts"]["chunks"] == math.ceil(demo.length / first)


def test_vanishing_gradients_frames_match_the_reference(tables):
    demo = VanishingGradients()
    table = tables[VanishingGradients]
    panel = demo.panels[0]
    for indices in sample_keys(demo, every=11):
        choice = demo.choices(indices)
        frame = table[demo.key(indices)]
        rnn, lstm = demo.modules(choice["radius"], choice["forget_bias"])
        H = demo.hidden_size
        assert ref.spectral_radius(rnn.weight_hh_l0).item() == pytest.approx(choice["radius"], rel=1e-4)
        for block in lstm.weight_hh_l0.split(H):
            assert ref.spectral_radius(block).item() == pytest.approx(choice["radius"], rel=1e-4)
        assert torch.all(lstm.bias_ih_l0[H:2 * H] == choice["forget_bias"])
        x = demo.inputs(choice["length"])
        # The functional reference cells, with the modules' weights, give the same gradients.
        grad_rnn = ref.input_gradient_norms(
            lambda v: ref.rnn_forward(v, None, rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0), x)
        grad_lstm = ref.input_gradient_norms(
            lambda v: ref.lstm_forward(v, None, lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0,
                                       lstm.bias_hh_l0), x)
        expected = panel.transform(torch.stack([grad_rnn, grad_lstm]).detach().numpy())
        decoded = panel.decode(frame["panels"]["gradients"])
        # float32 recurrences: the two implementations agree to ~1e-5 relative, i.e. in log10.
        tolerance = quantization_error(frame["panels"]["gradients"]) + 1e-4
        visible = expected > frame["panels"]["gradients"]["lo"]
        assert np.abs(decoded - expected)[visible].max() <= tolerance, choice
        assert frame["readouts"]["memory_rnn"] == ref.effective_memory_length(grad_rnn.detach(), 0.01)
        assert frame["readouts"]["memory_lstm"] == ref.effective_memory_length(grad_lstm.detach(), 0.01)
        for name, gradient in (("first_rnn", grad_rnn), ("first_lstm", grad_lstm)):
            assert frame["readouts"][name] == pytest.approx(gradient[0].item(), rel=1e-4), f"{choice} {name}"


def test_vanishing_gradients_shrink_faster_in_the_rnn_with_a_small_radius(tables):
    demo = VanishingGradients()
    frame = tables[VanishingGradients][demo.key(demo.indices(radius=0.5, length=100, forget_bias=3.0))]
    assert frame["readouts"]["memory_rnn"] < 15 < frame["readouts"]["memory_lstm"]


# ------------------------------------------------------------------------------ the widget


def test_widget_live_recompute_equals_the_precomputed_frame():
    widget = StatefulnessDemo().widget()
    assert isinstance(widget, DemoWidget)
    assert widget.spec["name"] == "statefulness" and len(widget.frames) == 16
    assert widget.values == {"chunk_length": 4, "mode": 0}
    widget.values = {"chunk_length": 2, "mode": 1}  # what the page sends when a control moves
    assert widget.frame["key"] == "2,1"
    assert widget.frame["data"] == widget.frames["2,1"]
    assert widget.frame["ms"] >= 0 and widget.compute_ms
    widget.select(chunk_length=48, mode="stateless")
    assert widget.values == {"chunk_length": 7, "mode": 0}
    assert widget.frame["data"] == widget.frames["7,0"]
    with pytest.raises(ValueError):
        widget.select(chunk_length=5)


def test_widget_answers_the_pages_hello(monkeypatch):
    widget = StatefulnessDemo().widget()
    sent = []
    monkeypatch.setattr(widget, "send", lambda content, buffers=None: sent.append(content))
    widget._on_message(widget, {"kind": "hello"}, [])
    widget._on_message(widget, {"kind": "other"}, [])
    assert sent == [{"kind": "live"}]


def test_widget_state_is_json_and_names_anywidget():
    widget = StatefulnessDemo().widget()
    state = widget.get_state()
    assert state["_model_module"] == "anywidget" and state["_view_name"] == "AnyView"
    assert "export default" in state["_esm"] and ".hs-demo" in state["_css"]
    json.dumps({k: v for k, v in state.items() if k in ("spec", "frames", "values")})


FACTORIES = {"01_hidden_state": "hidden_state_explorer", "02_cell_state": "lstm_memory",
             "03_initialization": "initialization_explorer", "04_statefulness": "statefulness_demo",
             "05_vanishing_gradients": "vanishing_gradients_demo"}


@pytest.mark.parametrize("chapter", sorted(DEMOS))
def test_each_chapter_demo_is_made_by_one_call(chapter):
    import grader.demos

    widget = getattr(grader.demos, FACTORIES[chapter])()
    assert isinstance(widget, DemoWidget)
    assert widget.spec["name"] == DEMOS[chapter].name
    assert len(widget.frames) == len(list(DEMOS[chapter]().grid()))


# ---------------------------------------------------------- the JavaScript reads the same


NODE_CHECK = r"""
import { readFileSync } from "node:fs";
import { decode, decodeMatrix, formatReadout } from %(module)s;
const cases = JSON.parse(readFileSync(0, "utf8"));
const out = {
  arrays: cases.arrays.map((e) => Array.from(e.triangle ? decodeMatrix(e).values : decode(e))),
  texts: cases.readouts.map(([v, f, u, c]) => formatReadout(v, f, u, c)),
};
console.log(JSON.stringify(out));
"""


def test_javascript_decodes_and_formats_exactly_like_python(tables, tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    demo = HiddenStateExplorer()
    frame = tables[HiddenStateExplorer][demo.key(demo.default_indices())]
    vanishing = VanishingGradients()
    gradients = tables[VanishingGradients][vanishing.key(vanishing.default_indices())]
    arrays = [frame["panels"]["states"], frame["panels"]["norm"], frame["panels"]["distances"],
              gradients["panels"]["gradients"]]
    readouts = [[0.0973, "pct:1", "", None], [6.3e-2, "exp:1", "", None], [2572080000.0, "exp:1", "", None],
                [12, "int", "steps", None], [56, "int", "steps", 56], [2.40712, "fixed:3", "", None],
                [0.5, "fixed:2", "", None], [None, "fixed:3", "", None]]
    script = tmp_path / "check.mjs"
    script.write_text(NODE_CHECK % {"module": json.dumps(DEMO_JS.as_uri())}, encoding="utf-8")
    result = subprocess.run([node, str(script)], input=json.dumps({"arrays": arrays, "readouts": readouts}),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    heatmap = Heatmap("d", "", symmetric=True)
    expected = [decode_array(arrays[0]), decode_array(arrays[1]), heatmap.decode(arrays[2]), decode_array(arrays[3])]
    for got, want in zip(out["arrays"], expected):
        assert np.array_equal(np.asarray(got), want.ravel())  # bit for bit: same formula
    assert out["texts"] == [format_readout(*r) for r in readouts]
