"""Forecasts from known inputs: a known growth gives the known date, to the second."""

from __future__ import annotations

import math

import pytest

from stackwatch.review.forecast import MIN_R2, Verdict, fit, forecast, t95

pytestmark = pytest.mark.unit

T0 = 1_700_000_000.0  # any fixed moment: nothing here depends on today
HOUR = 3600.0


def test_a_steady_consumption_runs_out_at_the_known_second() -> None:
    # 1,000 vCPUs free, 3 taken every hour: zero at hour 1000/3 = 333 h 20 min
    points = [(T0 + h * HOUR, 1000.0 - 3.0 * h) for h in range(200)]
    found = forecast(points)
    assert found.verdict is Verdict.RUNS_OUT
    assert found.date is not None
    assert round(found.date) == T0 + 1_200_000  # 1000 / (3 / 3600 s)
    assert found.r2 == pytest.approx(1.0)
    assert found.rate_per_day == pytest.approx(-72.0)
    assert round(found.earliest or 0) == round(found.latest or 0) == round(found.date)
    assert "runs out" in found.summary() and "R² 1.00" in found.summary()


def test_noise_widens_the_interval_around_the_date() -> None:
    wobble = [((h * 7919) % 13 - 6) * 2.0 for h in range(240)]  # fixed, zero-mean-ish
    points = [(T0 + h * HOUR, 5000.0 - 4.0 * h + w) for h, w in enumerate(wobble)]
    found = forecast(points)
    assert found.verdict is Verdict.RUNS_OUT
    assert found.earliest is not None and found.latest is not None and found.date is not None
    assert found.earliest < found.date < found.latest
    assert abs(found.date - (T0 + 1250 * HOUR)) < 12 * HOUR
    assert 0.9 < (found.r2 or 0) < 1.0


@pytest.mark.parametrize("values", [
    [500.0] * 50,                                  # flat
    [500.0 + h for h in range(50)],                # growing: never runs out
    [500.0 + (-1) ** h * 100 - 0.01 * h for h in range(50)],  # falls a little, poor fit
])
def test_no_trend(values: list[float]) -> None:
    found = forecast([(T0 + h * HOUR, v) for h, v in enumerate(values)])
    assert found.verdict is Verdict.NO_TREND
    assert found.date is None
    assert found.summary().startswith("no trend")


def test_poor_fit_is_no_trend_because_of_r2() -> None:
    values = [500.0 + (-1) ** h * 100 - 0.01 * h for h in range(50)]
    line = fit([(T0 + h * HOUR, v) for h, v in enumerate(values)])
    assert line is not None and line.slope < 0 and line.r2 < MIN_R2


def test_too_few_points_and_gaps() -> None:
    assert forecast([(T0, 10.0), (T0 + HOUR, 9.0)]).verdict is Verdict.TOO_FEW
    assert forecast([(T0, 10.0), (T0 + HOUR, None), (T0 + 2 * HOUR, math.nan)]
                    ).verdict is Verdict.TOO_FEW
    assert forecast([]).verdict is Verdict.TOO_FEW


def test_already_out() -> None:
    found = forecast([(T0 + h * HOUR, 10.0 - 5.0 * h) for h in range(10)])
    assert found.verdict is Verdict.ALREADY


def test_t_quantiles() -> None:
    assert t95(1) == pytest.approx(12.706)
    assert t95(30) == pytest.approx(2.042)
    assert t95(1000) == pytest.approx(1.962, abs=0.001)
    with pytest.raises(ValueError):
        t95(0)
