"""The spread of a report's figures, the threshold below which a ratio means nothing, and the test of
a difference against the baseline.

* Metrics: mean ± sample standard deviation (``ddof=1``) and the number of seeds ``n``.
* Times: median and interquartile range (first–third quartile, linear interpolation) over seeds,
  because a few slow runs on a shared machine pull a mean but not a median.
* Ratios to the baseline: shown only where both sides are at least :data:`RATIO_MIN_S` seconds or
  :data:`RATIO_MIN_BYTES` bytes.  Below that a figure is timer or allocator noise (a full-graph
  "sampling" time of 0.1 ms is the cost of one ``next()``), and dividing by it gives ratios such
  as 525× that say nothing about the methods.
* Differences of the test metric from the baseline: Welch's unequal-variance t-test
  (``scipy.stats.ttest_ind(equal_var=False)``) of the per-seed values; a difference with
  ``p ≥`` :data:`ALPHA` is marked *n.s.* (not significant).  With 3 seeds a side the test has
  little power: *n.s.* means "not shown to differ", not "equal".
"""
from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["RATIO_MIN_S", "RATIO_MIN_BYTES", "ALPHA", "Comparison", "welch", "ratio", "format_median_iqr",
           "format_mean_std"]

#: a time below this (seconds) is not divided: under 1 ms a span is dominated by timer and scheduler noise
RATIO_MIN_S = 1e-3
#: a memory figure below this (bytes) is not divided: under 1 MiB it is allocator and page granularity
RATIO_MIN_BYTES = 2**20
#: significance level of the Welch test
ALPHA = 0.05


def _ok(x) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def ratio(value, base, floor: float) -> float | None:
    """``value / base`` when both are at least ``floor`` (:data:`RATIO_MIN_S` or :data:`RATIO_MIN_BYTES`),
    else ``None`` (nothing worth dividing)."""
    if not (_ok(value) and _ok(base)) or value < floor or base < floor:
        return None
    return float(value) / float(base)


@dataclass(frozen=True)
class Comparison:
    """A method's per-seed metric against the baseline's.

    Attributes:
        diff: mean difference (method − baseline), in the metric's unit ([0, 1]).
        p: two-sided p-value of Welch's t-test; ``None`` where it cannot be computed (fewer than
            2 seeds on a side, or no variance on either side).
        significant: ``p < ALPHA``; ``None`` where ``p`` is ``None``.
    """

    diff: float
    p: float | None
    significant: bool | None

    def text(self) -> str:
        """``"+1.20 pp (p=0.03)"``, ``"−0.40 pp (p=0.61, n.s.)"`` or ``"+0.10 pp (untested)"``."""
        pp = 100 * self.diff
        head = f"{'+' if pp >= 0 else '−'}{abs(pp):.2f} pp"
        if self.p is None:
            return f"{head} (untested)"
        return f"{head} (p={self.p:.2g}{'' if self.significant else ', n.s.'})"


def welch(values: list[float], base: list[float]) -> Comparison | None:
    """Welch's t-test of ``values`` against ``base`` (per-seed metrics); ``None`` when a side is empty."""
    if not values or not base:
        return None
    diff = sum(values) / len(values) - sum(base) / len(base)
    if len(values) < 2 or len(base) < 2:
        return Comparison(diff, None, None)
    from scipy import stats

    if all(max(v) - min(v) <= 1e-12 for v in (values, base)):  # no spread on either side: t is undefined
        return Comparison(diff, None, None)
    import warnings

    with warnings.catch_warnings():  # one side without spread: scipy warns, its variance 0 is still exact
        warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
        p = float(stats.ttest_ind(values, base, equal_var=False).pvalue)
    return Comparison(diff, p, p < ALPHA)


def format_mean_std(mean, std, n: int, scale: float = 100.0, digits: int = 2) -> str:
    """``"82.00 ± 2.00 (n=3)"``; ``"82.00 (n=1)"`` with one seed; ``"—"`` without a value."""
    if not _ok(mean):
        return "—"
    text = f"{scale * mean:.{digits}f}"
    if _ok(std):
        text += f" ± {scale * std:.{digits}f}"
    return f"{text} (n={n})"


def format_median_iqr(median, q1, q3, fmt: str = "{:.3g}", iqr_fmt: str = "{:.2g}") -> str:
    """``"0.094 [0.091–0.1]"``: median (``fmt``) and interquartile range (``iqr_fmt``; left out for one
    seed or no spread)."""
    if not _ok(median):
        return "—"
    text = fmt.format(median)
    if _ok(q1) and _ok(q3) and q3 > q1:
        text += f" [{iqr_fmt.format(q1)}–{iqr_fmt.format(q3)}]"
    return text
