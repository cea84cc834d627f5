import numpy as np
import pytest

from mobilevid.bench.stats import summarize


def test_summary_matches_numpy_and_minibench():
    xs = [12.0, 10.0, 11.0, 50.0, 10.5, 9.0, 10.2, 10.8, 11.5, 10.1, 30.0, 9.5]
    s = summarize(xs)
    assert s.n == 12
    assert s.median == pytest.approx(np.median(xs))
    assert s.p90 == pytest.approx(np.percentile(xs, 90))
    assert (s.min, s.max) == (9.0, 50.0)
    assert s.mean == pytest.approx(np.mean(xs))
    ys = sorted(xs)
    assert s.trimmean == pytest.approx(np.mean(ys[1:10]))  # Minibench: [n/10, 9n/10)
    assert s.stdev == pytest.approx(np.std(xs, ddof=1))
    assert s.median < s.mean  # the outliers move the mean, not the median


def test_summary_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        summarize([])
