"""When capacity runs out at the current rate: a least-squares line over the window.

The method, stated with every answer: ordinary least squares of value against time
over the points of the window; the line's slope is the rate. The value reaches
``limit`` (0 for free capacity) at ``t = t̄ + (limit - ȳ) / slope``. The confidence is
the fit's R² and a 95 % interval on that date from the slope's (Student's t with n-2
degrees of freedom): the date at the steepest and the gentlest slope of the interval;
when the gentlest is not falling any more the late end is open (``None``).

"No trend" when the value is not falling towards the limit (the slope is not
negative: for free capacity, consumption is not positive) or the fit is poor (R² below
:data:`MIN_R2`); "not enough data" with fewer than :data:`MIN_POINTS` points.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel

METHOD = ("least-squares line of value against time over the window; date where it "
          "reaches the limit; 95% interval from the slope's t-interval; R² the fit")
#: below this R² the line explains too little to give a date
MIN_R2 = 0.5
#: fewer points than this give no forecast
MIN_POINTS = 3

#: two-sided 95 % quantiles of Student's t by degrees of freedom (1-30); beyond, the
#: normal's 1.96 with a 1/df correction (within 0.1 % of the exact value)
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201,
        2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074,
        2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t95(df: int) -> float:
    """The two-sided 95 % quantile of Student's t with ``df`` degrees of freedom."""
    if df < 1:
        raise ValueError(f"degrees of freedom: {df} < 1")
    return _T95[df - 1] if df <= len(_T95) else 1.95996 + 2.4 / df


class Verdict(StrEnum):
    RUNS_OUT = "runs out"
    NO_TREND = "no trend"
    ALREADY = "already out"
    TOO_FEW = "not enough data"


class Line(BaseModel):
    """A least-squares line: ``value = intercept + slope * (t - t_mean)``; ``slope`` per
    second, ``slope_error`` its standard error, ``r2`` the share of variance explained."""

    points: int
    t_mean: float
    v_mean: float
    slope: float
    slope_error: float
    r2: float

    def at(self, t: float) -> float:
        return self.v_mean + self.slope * (t - self.t_mean)

    def reaches(self, limit: float, slope: float | None = None) -> float | None:
        """When the line (or one through the same centre with ``slope``) meets ``limit``."""
        s = self.slope if slope is None else slope
        return None if s == 0 else self.t_mean + (limit - self.v_mean) / s


def fit(points: Sequence[tuple[float, float | None]]) -> Line | None:
    """The least-squares line through the finite points; None with fewer than two
    distinct times."""
    pts = [(t, v) for t, v in points if v is not None and math.isfinite(v)]
    n = len(pts)
    if n < 2:
        return None
    t_mean = math.fsum(t for t, _ in pts) / n
    v_mean = math.fsum(v for _, v in pts) / n
    stt = math.fsum((t - t_mean) ** 2 for t, _ in pts)
    if stt == 0:
        return None
    stv = math.fsum((t - t_mean) * (v - v_mean) for t, v in pts)
    svv = math.fsum((v - v_mean) ** 2 for _, v in pts)
    slope = stv / stt
    residual = max(0.0, svv - slope * stv)
    r2 = 1.0 if svv == 0 else max(0.0, 1.0 - residual / svv)
    error = math.sqrt(residual / (n - 2) / stt) if n > 2 else math.inf
    return Line(points=n, t_mean=t_mean, v_mean=v_mean, slope=slope, slope_error=error,
                r2=r2)


class Forecast(BaseModel):
    """When the value reaches ``limit`` at the current rate, and how sure that is.

    ``date`` the line's crossing, ``earliest``/``latest`` the 95 % interval (``latest``
    None: open-ended); ``rate_per_day`` the change per day (negative: falling)."""

    verdict: Verdict
    method: str = METHOD
    limit: float
    points: int
    rate_per_day: float | None = None
    r2: float | None = None
    date: float | None = None
    earliest: float | None = None
    latest: float | None = None
    current: float | None = None

    def summary(self) -> str:
        """One line: the verdict with its date, interval and R²."""
        from stackwatch.query.times import iso

        if self.verdict is not Verdict.RUNS_OUT or self.date is None:
            extra = f" (R² {self.r2:.2f})" if self.r2 is not None else ""
            return f"{self.verdict.value}{extra}"
        late = iso(self.latest) if self.latest is not None else "open"
        early = iso(self.earliest) if self.earliest is not None else "?"
        return (f"runs out {iso(self.date)} (95%: {early} .. {late}; R² {self.r2:.2f}, "
                f"{self.points} points)")


def forecast(points: Sequence[tuple[float, float | None]], limit: float = 0.0,
             min_r2: float = MIN_R2) -> Forecast:
    """When a falling value (free capacity) reaches ``limit`` at the rate of the window."""
    line = fit(points)
    n = line.points if line else sum(1 for _, v in points if v is not None)
    if line is None or line.points < MIN_POINTS:
        return Forecast(verdict=Verdict.TOO_FEW, limit=limit, points=n)
    last_t = max(t for t, v in points if v is not None and math.isfinite(v))
    current = line.at(last_t)
    base = Forecast(verdict=Verdict.NO_TREND, limit=limit, points=n,
                    rate_per_day=line.slope * 86400, r2=line.r2, current=current)
    if line.slope >= 0 or line.r2 < min_r2:
        return base
    date = line.reaches(limit)
    assert date is not None
    if date <= last_t:
        return base.model_copy(update={"verdict": Verdict.ALREADY, "date": date})
    half = t95(line.points - 2) * line.slope_error
    steep, gentle = line.slope - half, line.slope + half
    earliest = line.reaches(limit, steep)
    latest = line.reaches(limit, gentle) if gentle < 0 else None
    return base.model_copy(update={"verdict": Verdict.RUNS_OUT, "date": date,
                                   "earliest": earliest, "latest": latest})
