"""The course's reference implementations: the single source of truth for the math.

The book, the exercise checks and the widget demos all import from here.
See each submodule for conventions (PyTorch's weight layout and gate order throughout).
"""

from .cells import (
    gru_cell,
    gru_forward,
    lstm_cell,
    lstm_forward,
    lstm_gates,
    lstm_trace,
    rnn_cell,
    rnn_forward,
)
from .diagnostics import (
    activity_regularization,
    clip_grad_norm_,
    effective_memory_length,
    forget_gate_retention,
    hidden_state_report,
    input_gradient_norms,
    pairwise_distances,
    rnn_parameter_count,
    rnn_step_jacobians,
    saturation_stats,
    temporal_activation_regularization,
)
from .initial_state import (
    EncoderDecoder,
    LearnedInitialStateRNN,
    recurrent_module,
    zero_initial_state,
)
from .stateful import StatefulRNN, batchify_stream, chunk_sequence, tbptt_step
from .tasks import LastStepRegressor, adding_problem, copy_task, train_adding_problem
from .weight_init import (
    forget_gate_bias_init_,
    identity_init_,
    irnn,
    orthogonal_init_,
    random_recurrent_weight,
    scale_to_spectral_radius,
    spectral_radius,
)
