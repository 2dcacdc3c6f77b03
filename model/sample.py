"""Sampling text from a checkpoint: temperature, prime text, seed, argmax; and its CLI."""
import argparse
import sys

import torch

from model.checkpoint import CheckpointError, load_model
from model.corpus import CorpusError
from model.lstm import pick_device


@torch.no_grad()
def sample(model, vocab, length=500, temperature=1.0, prime="", seed=0, argmax=False):
    """prime followed by `length` generated characters. Uses its own generator: training RNG is untouched."""
    if temperature <= 0 and not argmax:
        raise ValueError("--temperature must be > 0 (or use --argmax)")
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    prime = prime or ("\n" if "\n" in vocab.index else vocab.chars[0])
    ids = torch.as_tensor(vocab.encode(prime), device=device)
    was_training = model.training
    model.eval()
    logits, state = model(ids[:, None])
    out = []
    for _ in range(length):
        last = logits[-1, 0].float()
        if argmax:
            nxt = last.argmax()
        else:
            nxt = torch.multinomial(torch.softmax(last / temperature, -1), 1, generator=gen)[0]
        out.append(int(nxt))
        logits, state = model(nxt.view(1, 1), state)
    model.train(was_training)
    return prime + vocab.decode(out)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m model.sample", description="Sample text from a trained run.")
    p.add_argument("run", help="run directory, e.g. runs/wp")
    p.add_argument("--checkpoint", help="checkpoint name, e.g. iter-000500 (default: newest)")
    p.add_argument("--temperature", type=float, default=1.0, help="below 1: safer, above 1: wilder")
    p.add_argument("--prime", default="", help="text to start from")
    p.add_argument("--length", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--argmax", action="store_true", help="always take the most likely character")
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    try:
        model, vocab, _ = load_model(args.run, args.checkpoint, pick_device(args.device))
        text = sample(model, vocab, args.length, args.temperature, args.prime, args.seed, args.argmax)
    except (CheckpointError, CorpusError, ValueError) as e:
        sys.exit(f"error: {e}")
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
