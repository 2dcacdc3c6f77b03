"""CharLSTM: Embedding -> nn.LSTM (fused, multi-layer) -> Linear. Time-major: x is [steps, streams].

Every module of model/ that uses torch imports this one first: it sets OpenMP's wait policy before torch loads
(on a busy 2-core machine the default spin-wait made torch 4-15x slower: 2.2k vs 10k chars/s measured here).
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402  (after the environment is set)
from torch import nn  # noqa: E402

from model.errors import CellscopeError  # noqa: E402

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class CharLSTM(nn.Module):
    def __init__(self, vocab_size, hidden=128, layers=2, dropout=0.0, cell="lstm"):
        super().__init__()
        self.config = dict(vocab_size=vocab_size, hidden=hidden, layers=layers, dropout=dropout, cell=cell)
        self.embed = nn.Embedding(vocab_size, hidden)
        self.rnn = CELLS[cell](hidden, hidden, layers, dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, x, state=None):
        """logits [steps, streams, vocab] and the state to carry into the next call."""
        out, state = self.rnn(self.embed(x), state)
        return self.head(self.drop(out)), state


def pick_device(name="auto"):
    """'auto' means the GPU when there is one."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise CellscopeError("--device cuda asked for, but torch sees no CUDA device")
    return torch.device(name)
