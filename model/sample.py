"""Sampling text from a checkpoint: temperature, prime text, seed, argmax, cells held at a value; and its CLI.

    python -m model.sample runs/wp --temperature 0.8 --prime '"Well, Prince' --clamp 1:160=-1.0
"""
from model.lstm import pick_device  # first: it sets torch's environment before torch loads
import numpy as np  # noqa: E402
import torch  # noqa: E402

from model.checkpoint import load_model  # noqa: E402
from model.errors import ArgumentParser, CellscopeError, reported  # noqa: E402
from model.intervene import Layers, affine, parse_clamp, zero_state  # noqa: E402


class SampleError(CellscopeError):
    """Sampling cannot be done as asked."""


def fused(model):
    """ids [steps] -> logits [vocab] after the last one, carrying the state: the fused nn.LSTM (fast)."""
    state = None

    def forward(ids):
        nonlocal state
        logits, state = model(ids[:, None], state)
        return logits[-1, 0]
    return forward


def held(model, changes):
    """The same through the recording's loop (model.record.layer_loop), the changes made to c at every step."""
    layers, edit = Layers(model), affine(model, changes)
    h, c = zero_state(model)

    def forward(ids):
        layers.run(ids, h, c, edits=edit, active=np.ones(len(ids), bool), keep=None)
        return model.head(h[-1, 0])
    return forward


@torch.no_grad()
def sample(model, vocab, length=500, temperature=1.0, prime="", seed=0, argmax=False, changes=()):
    """prime followed by `length` generated characters. Uses its own generator: training RNG is untouched.
    changes (model.intervene.Change, e.g. from parse_clamp) are made to c at every step, the prime's included;
    both ways of running draw from the generator alike, so a change that changes nothing gives the same text."""
    if temperature <= 0 and not argmax:
        raise SampleError("--temperature must be > 0 (or use --argmax)")
    device = model.embed.weight.device
    gen = torch.Generator(device=device).manual_seed(seed)
    prime = prime or ("\n" if "\n" in vocab.index else vocab.chars[0])
    ids = torch.as_tensor(vocab.encode(prime), device=device)
    was_training = model.training
    model.eval()
    forward = held(model, changes) if changes else fused(model)
    logits = forward(ids)
    out = []
    for _ in range(length):
        last = logits.float()
        if argmax:
            nxt = last.argmax()
        else:
            nxt = torch.multinomial(torch.softmax(last / temperature, -1), 1, generator=gen)[0]
        out.append(int(nxt))
        logits = forward(nxt.view(1))
    model.train(was_training)
    return prime + vocab.decode(out)


def main(argv=None):
    p = ArgumentParser(prog="python -m model.sample", description="Sample text from a trained run.")
    p.add_argument("run", help="run directory, e.g. runs/wp")
    p.add_argument("--checkpoint", help="checkpoint name, e.g. iter-000500 (default: newest)")
    p.add_argument("--temperature", type=float, default=1.0, help="below 1: safer, above 1: wilder")
    p.add_argument("--prime", default="", help="text to start from")
    p.add_argument("--length", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--argmax", action="store_true", help="always take the most likely character")
    p.add_argument("--clamp", action="append", default=[], metavar="LAYER:CELL=V",
                   help="hold a cell's c at V at every step (repeatable)")
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    with reported():
        changes = [parse_clamp(spec) for spec in args.clamp]
        model, vocab, _ = load_model(args.run, args.checkpoint, pick_device(args.device))
        text = sample(model, vocab, args.length, args.temperature, args.prime, args.seed, args.argmax, changes)
    print(text)


if __name__ == "__main__":
    main()
