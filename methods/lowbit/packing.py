"""Bit packing of low-bit integer codes: 4 INT2 or 2 INT4 (or 1 INT8) values per byte.

A stored weight is its codes ``q ∈ [q_min, q_max]`` packed as unsigned offsets ``q − q_min`` into
``uint8`` (little end first: value ``k`` of a byte sits in bits ``[k·b, (k+1)·b)``), plus its
float32 step(s).  This is what the model size in bytes counts.
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["pack", "packed_nbytes", "unpack"]


def _check_bits(bits: int) -> None:
    if bits not in (2, 4, 8):
        raise ValueError(f"bits={bits!r} cannot be packed; choose one of 2, 4, 8")


def packed_nbytes(numel: int, bits: int) -> int:
    """Bytes that ``numel`` codes of ``bits`` bits take packed: ``⌈numel · bits / 8⌉``."""
    _check_bits(bits)
    return -(-numel * bits // 8)


def pack(q: Tensor, bits: int, qmin: int) -> Tensor:
    """Pack integer codes into bytes.

    Args:
        q: integer codes of any shape, every entry in ``[qmin, qmin + 2^bits − 1]``.
        bits: 2, 4 or 8.
        qmin: the grid's smallest code (``-2^(b-1)`` signed, 0 unsigned).

    Returns:
        ``[⌈numel · bits / 8⌉]`` uint8.

    Raises:
        ValueError: ``bits`` not in 2, 4, 8, or a code outside the grid (the message names it).
    """
    _check_bits(bits)
    u = q.reshape(-1).long() - qmin
    if u.numel() and (int(u.min()) < 0 or int(u.max()) >= 1 << bits):
        raise ValueError(f"codes span [{int(u.min()) + qmin}, {int(u.max()) + qmin}], outside the "
                         f"{bits}-bit grid [{qmin}, {qmin + (1 << bits) - 1}]; quantize them first")
    per = 8 // bits
    pad = (-u.numel()) % per
    u = torch.cat([u, u.new_zeros(pad)]).view(-1, per)
    shifts = torch.arange(per, device=u.device) * bits
    return (u << shifts).sum(dim=1).to(torch.uint8)


def unpack(packed: Tensor, bits: int, qmin: int, numel: int) -> Tensor:
    """Inverse of :func:`pack`: the first ``numel`` codes, int64 ``[numel]`` (reshape as needed)."""
    _check_bits(bits)
    per = 8 // bits
    shifts = torch.arange(per, device=packed.device) * bits
    u = (packed.long().unsqueeze(1) >> shifts) & ((1 << bits) - 1)
    return u.reshape(-1)[:numel] + qmin
