"""Interactive demos of the book, one per chapter, each made by one call, e.g.

    from grader.demos import hidden_state_explorer; hidden_state_explorer()

Every number comes from ``grader.reference``. Each demo is an anywidget that carries the
frames of its whole control grid (computed in Python when it is made), so it stays
interactive on a static page with no kernel; with a kernel, every control change is also
recomputed in Python. ``_widget.py`` has the plumbing (``_frames.py`` the frame codec),
``static/demo.js`` the drawing, and ``python -m grader.demos.bench`` prints timings and sizes.
"""

from ._widget import DemoWidget
from .hidden_state import HiddenStateExplorer, hidden_state_explorer
from .initialization import InitializationExplorer, initialization_explorer
from .lstm_memory import LSTMMemory, lstm_memory
from .statefulness import StatefulnessDemo, statefulness_demo
from .vanishing_gradients import VanishingGradients, vanishing_gradients_demo

#: The demo of each chapter, by chapter file name.
DEMOS = {
    "01_hidden_state": HiddenStateExplorer,
    "02_cell_state": LSTMMemory,
    "03_initialization": InitializationExplorer,
    "04_statefulness": StatefulnessDemo,
    "05_vanishing_gradients": VanishingGradients,
}

__all__ = [
    "DEMOS", "DemoWidget",
    "HiddenStateExplorer", "hidden_state_explorer",
    "LSTMMemory", "lstm_memory",
    "InitializationExplorer", "initialization_explorer",
    "StatefulnessDemo", "statefulness_demo",
    "VanishingGradients", "vanishing_gradients_demo",
]
