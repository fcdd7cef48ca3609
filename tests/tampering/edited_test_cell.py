"""A wrong recurrent_parameter_count (one direction counted) with its test cell edited to `pass`."""

from ._notebooks import answer, cell

CODE = '''def recurrent_parameter_count(input_size, hidden_size, num_layers=1, bias=True, mode="RNN", bidirectional=False,
                              proj_size=0):
    gates = {"RNN": 1, "LSTM": 4, "GRU": 3}[mode] * hidden_size
    total = 0
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else hidden_size
        total += gates * (layer_input + hidden_size + 2 * bias)
    return total
'''


def build(solution, release):
    nb = answer(solution, "recurrent_parameter_count", CODE)
    cell(nb, "test_recurrent_parameter_count")["source"] = "pass  # checked by hand, it works\n"
    return nb
