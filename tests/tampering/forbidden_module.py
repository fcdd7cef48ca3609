"""projected_lstm_forward computed by torch.nn.LSTM(proj_size=P) with the given weights copied in (a from-scratch part)."""

from ._notebooks import answer

CODE = '''def projected_lstm_forward(x, state, weight_ih, weight_hh, weight_hr, bias_ih=None, bias_hh=None):
    P, H = weight_hr.shape
    layer = nn.LSTM(x.shape[2], H, proj_size=P, batch_first=True, bias=bias_ih is not None).to(x.dtype)
    with torch.no_grad():
        layer.weight_ih_l0.copy_(weight_ih)
        layer.weight_hh_l0.copy_(weight_hh)
        layer.weight_hr_l0.copy_(weight_hr)
        if bias_ih is not None:
            layer.bias_ih_l0.copy_(bias_ih)
            layer.bias_hh_l0.copy_(bias_hh if bias_hh is not None else torch.zeros_like(bias_ih))
    outputs, (h_n, c_n) = layer(x, None if state is None else (state[0][None], state[1][None]))
    return outputs, (h_n[0], c_n[0])
'''


def build(solution, release):
    return answer(solution, "projected_lstm_forward", CODE)
