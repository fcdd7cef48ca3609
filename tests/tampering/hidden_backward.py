"""lstm_cell_backward computed by autograd (a by-hand part): the forward rebuilt on leaf tensors, then the loss's
backward(), fetched with getattr and a name built at run time, and the leaves' .grad returned."""

from ._notebooks import answer

CODE = '''def lstm_cell_backward(grad_h_next, grad_c_next, x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    H = weight_hh.shape[1]
    if state is None:
        state = (x.new_zeros(x.shape[0], H), x.new_zeros(x.shape[0], H))
    leaves = [t.detach().clone().requires_grad_() for t in (x, state[0], state[1], weight_ih, weight_hh)]
    bias = x.new_zeros(4 * H).requires_grad_()
    x, h, c, w_ih, w_hh = leaves
    pre = x @ w_ih.T + h @ w_hh.T + bias
    for given in (bias_ih, bias_hh):
        if given is not None:
            pre = pre + given
    i, f, g, o = pre.chunk(4, dim=1)
    c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_next = torch.sigmoid(o) * torch.tanh(c_next)
    loss = (h_next * grad_h_next).sum()
    if grad_c_next is not None:
        loss = loss + (c_next * grad_c_next).sum()
    getattr(loss, "back" + "ward")()
    return x.grad, (h.grad, c.grad), w_ih.grad, w_hh.grad, bias.grad
'''


def build(solution, release):
    return answer(solution, "lstm_cell_backward", CODE)
