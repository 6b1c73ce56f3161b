"""Backbone capabilities: what a backbone's layers provide to the methods that drive them.

A backbone plugin class declares ``capabilities: ClassVar[frozenset[str]]``; a method declares
``backbone_capabilities: ClassVar[frozenset[str]]``, the capabilities of which the backbone must
provide at least one (empty: any backbone).  :func:`check_capabilities` compares the two when a
trial is planned, before any data is loaded.  The vocabulary (Ding et al. 2021, Eq. (1), Table 1):

``fixed_convolution``
    every layer is ``Σ_s C⁽ˢ⁾ X W⁽ˢ⁾ + b`` with fixed matrices: the layers implement
    :class:`gnnbench.backbones.base.FixedConvolution` (``conv_matrices``, ``conv_weights``,
    ``conv_bias``), and the stack's ``weighted_layer`` runs a layer with given aggregation weights.
``attention``
    a learnable convolution (GAT): the layers expose ``attention()`` parameters
    (:class:`gnnbench.backbones.gat_conv.Attention`) and ``attention_support``.
``bipartite``
    a layer runs on a sampled block, ``layer(i, (x_src, x_dst), edge_index)``.

A method that uses no backbone's convolutions at all (SGC, SIGN: a classifier on precomputed
features) declares ``supported_backbones = frozenset()``: :func:`needs_backbone` is then false, a
trial of it names no backbone (``TrialConfig.backbone = None``, no ``backbone_config``), its model's
width and dropout are its own options, and naming a backbone for it is refused
(:func:`check_backbone_choice`) rather than ignored, so the stored configuration and its identity
hash hold only what the trial used.

Nothing here imports torch (``gnnbench list`` and planning stay light).
"""
from __future__ import annotations

from .errors import UnsupportedError

__all__ = ["FIXED_CONVOLUTION", "ATTENTION", "BIPARTITE", "CAPABILITIES", "NO_BACKBONE", "backbone_capabilities",
           "check_capabilities", "needs_backbone", "check_backbone_choice"]

FIXED_CONVOLUTION = "fixed_convolution"
ATTENTION = "attention"
BIPARTITE = "bipartite"
#: every capability a backbone may declare
CAPABILITIES = frozenset({FIXED_CONVOLUTION, ATTENTION, BIPARTITE})
#: how ``gnnbench list`` / ``show`` and the reports name the backbone of a method that needs none
NO_BACKBONE = "no backbone"


def backbone_capabilities(backbone_cls) -> frozenset[str]:
    """The capabilities a backbone plugin class declares (none when it declares nothing)."""
    return frozenset(getattr(backbone_cls, "capabilities", frozenset()))


def check_capabilities(method: str, method_cls, backbone: str, backbone_cls) -> None:
    """Refuse a backbone that provides none of the capabilities the method needs (with the
    method's ``unsupported_reasons[backbone]`` first, when it gives one).

    Raises:
        UnsupportedError: naming what the method needs, what the backbone provides, and the fix.
    """
    needs = frozenset(getattr(method_cls, "backbone_capabilities", frozenset()))
    if not needs:
        return
    has = backbone_capabilities(backbone_cls)
    if needs & has:
        return
    reason = getattr(method_cls, "unsupported_reasons", {}).get(backbone, "")
    raise UnsupportedError(
        f"{reason + ': ' if reason else ''}"
        f"method '{method}' needs a backbone providing {' or '.join(sorted(needs))}; backbone "
        f"'{backbone}' provides {', '.join(sorted(has)) or 'none'}; choose a backbone with one of "
        f"them (its class attribute `capabilities`)")


def needs_backbone(method_cls) -> bool:
    """Whether a method drives a backbone: false for ``supported_backbones = frozenset()`` (a method
    that needs none, e.g. SGC's linear classifier on precomputed ``S^K X``)."""
    declared = getattr(method_cls, "supported_backbones", None)
    return declared is None or bool(declared)


def check_backbone_choice(method: str, method_cls, backbone: str | None, backbone_config: dict | None) -> None:
    """Refuse a backbone given to a method that needs none, and a missing one for a method that needs one.

    Raises:
        UnsupportedError: a backbone (or ``backbone_config``) named for a method that needs none.
        ConfigError: no backbone named for a method that needs one.
    """
    from .errors import ConfigError

    if needs_backbone(method_cls):
        if backbone is None:
            raise ConfigError(f"no backbone given for method '{method}'; pass --backbone NAME "
                              f"(see `gnnbench list backbones`)")
        return
    if backbone is not None:
        raise UnsupportedError(f"method '{method}' needs no backbone (it uses no backbone's convolutions); "
                               f"drop --backbone {backbone} (or `backbone = ...`); its own width and dropout "
                               f"are method options (gnnbench show method {method})")
    if backbone_config:
        raise UnsupportedError(f"method '{method}' needs no backbone, but backbone_config sets "
                               f"{', '.join(sorted(backbone_config))}; drop them or set them as method "
                               f"options (gnnbench show method {method})")
