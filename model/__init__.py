"""Everything that touches torch: text in, a trained character LSTM and its recordings out."""
import os

# On a busy 2-core machine OpenMP's default spin-wait made torch 4-15x slower (research/lstm-cpu-speed.md,
# and 2.2k vs 10k chars/s measured here); this must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
