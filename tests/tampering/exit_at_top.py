"""A wrong tbptt_step (returns the loss tensor), and a cell that exits the kernel before the tests run."""

from ._notebooks import answer, insert_after

CODE = '''def tbptt_step(model, optimizer, inputs, targets, loss_fn, max_grad_norm=None):
    optimizer.zero_grad()
    loss = loss_fn(model(inputs), targets)
    loss.backward()
    optimizer.step()
    return loss
'''


def build(solution, release):
    nb = answer(solution, "tbptt_step", CODE)
    return insert_after(nb, "tbptt_step", "import os\nos._exit(0)\n", cell_id="bye")
