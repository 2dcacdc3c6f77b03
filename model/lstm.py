"""CharLSTM: Embedding -> nn.LSTM (or nn.GRU, nn.RNN: config.cell; fused, multi-layer) -> Linear. Time-major: x
is [steps, streams].

Every module of model/ that uses torch imports this one first: it sets OpenMP's wait policy before torch loads
(on a busy 2-core machine the default spin-wait made torch 4-15x slower: 2.2k vs 10k chars/s measured here).
"""
import os
from dataclasses import dataclass

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402  (after the environment is set)
from torch import nn  # noqa: E402

from model.errors import CellscopeError  # noqa: E402

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


@dataclass
class ModelConfig:
    """The model's shape, as run.json's "model" stores it."""
    vocab_size: int
    hidden: int = 128
    layers: int = 2
    dropout: float = 0.0
    cell: str = "lstm"


class CharLSTM(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        c = config
        self.embed = nn.Embedding(c.vocab_size, c.hidden)
        self.rnn = CELLS[c.cell](c.hidden, c.hidden, c.layers, dropout=c.dropout if c.layers > 1 else 0.0)
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.hidden, c.vocab_size)

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
