"""The hand loops' matmuls (model/record.py's layer loops, the intervention's input projection), which decide how
fast a CPU records: there they go to numpy's OpenBLAS, not torch's MKL. Measured on an AMD EPYC with AVX-512 (MKL
keeps off its AVX-512 kernels on AMD CPUs): one step of a 2x256 LSTM over 64 streams, [64, 256] x [256, 1024], at
162 vs 93 GFLOP/s, a whole block's input projection at 188 vs 167 (on the AVX2 EPYC of an earlier session both
reached that CPU's peak on big matmuls; its per-step shape was not compared). On a GPU, torch's."""
import numpy as np
import torch


def addmm(bias, a, b, out):
    """out = bias + a @ b, into out [M, N] (contiguous); bias broadcasts to it. a and b float32, any strides."""
    if out.device.type != "cpu":
        return torch.addmm(bias, a, b, out=out)
    np.matmul(a.detach().numpy(), b.detach().numpy(), out=out.numpy())
    return out.add_(bias)
