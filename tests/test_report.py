"""Study statistics (against published numbers) and the report built from stored runs."""

import math
import re
import warnings

import pytest
from plotly.offline import get_plotlyjs

from fitscope import RunConfig
from fitscope.study.report import band, build_report, compare_axis, fmt
from fitscope.study.stats import Estimate, holm, mean_ci, paired_t, welch_t
from fitscope.study.store import Member, StoredRun

# Cushny and Peebles' sleep data (Student 1908): extra hours of sleep under two drugs,
# the same ten patients. Expected values are R's t.test output on R's `sleep` data set.
DRUG1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
DRUG2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def test_mean_ci_matches_r():
    est = mean_ci(DRUG1)  # t.test(sleep$extra[1:10]): 95% CI -0.5297804 2.0297804
    assert est.mean == pytest.approx(0.75)
    assert (est.low, est.high) == pytest.approx((-0.5297804, 2.0297804), abs=1e-7)
    assert est.n == 10
    est5 = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])  # t_{0.975,4} = 2.776445, s = sqrt(2.5)
    assert est5.half_width == pytest.approx(2.776445 * math.sqrt(2.5) / math.sqrt(5), rel=1e-6)


def test_mean_ci_small_and_missing_samples():
    assert mean_ci([]).n == 0 and math.isnan(mean_ci([]).mean)
    one = mean_ci([0.3])
    assert one.mean == 0.3 and math.isnan(one.low) and one.n == 1
    assert mean_ci([1.0, float("nan"), 3.0, None]).mean == 2.0


def test_mean_ci_of_an_infinite_value_is_infinite_without_an_interval():
    """A diverged run's loss is inf: the mean is inf, the interval NaN, and numpy is not
    asked for inf - inf (which warned in every demo report)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = mean_ci([0.2, float("inf"), 0.3])
        both = mean_ci([float("inf"), -float("inf"), 1.0])
    assert est.mean == math.inf and math.isnan(est.low) and math.isnan(est.high) and est.n == 3
    assert math.isnan(both.mean) and both.n == 3


def test_paired_t_matches_r():
    res = paired_t(DRUG1, DRUG2)  # t = -4.0621, df = 9, p-value = 0.002833
    assert res.test == "paired t-test"
    assert (res.t, res.df, res.p) == pytest.approx((-4.062128, 9, 0.002832890), rel=1e-6)
    assert res.diff == pytest.approx(-1.58) and res.significant


def test_welch_matches_r():
    res = welch_t(DRUG1, DRUG2)  # t = -1.8608, df = 17.776, p-value = 0.07939
    assert res.test == "Welch t-test"
    assert (res.t, res.df, res.p) == pytest.approx((-1.860813, 17.77647, 0.07939414),
                                                   rel=1e-6)
    assert not res.significant


def test_degenerate_tests():
    assert math.isnan(paired_t([1.0], [2.0]).p)
    assert math.isnan(welch_t([1.0, 2.0], [3.0]).p)
    assert math.isnan(paired_t([1.0, 2.0], [1.0, 2.0]).p)  # no difference, no spread
    assert paired_t([2.0, 3.0, 4.0], [1.0, 2.0, 3.0]).p == 0.0  # a constant shift
    with pytest.raises(ValueError, match="one length, got 2 and 3"):
        paired_t([1.0, 2.0], [1.0, 2.0, 3.0])


def test_holm_by_hand():
    # sorted 0.005 0.01 0.03 0.04 -> x4, x3, x2, x1 = 0.02 0.03 0.06 0.04 -> running max
    assert holm([0.01, 0.04, 0.03, float("nan"), 0.005]) == pytest.approx(
        [0.03, 0.06, 0.06, float("nan"), 0.02], nan_ok=True)
    assert holm([0.5, 0.9]) == [1.0, 1.0] and holm([0.01, 0.9]) == [0.02, 0.9]


# -- the report --------------------------------------------------------------------------
def stored(rid: str, status: str = "completed", acc: float = 0.9, loss: float = 0.3,
           val=(0.6, 0.4, 0.3)) -> StoredRun:
    metrics = {"best_epoch": len(val), "epochs_run": len(val)}
    if status in ("completed", "early_stopped"):
        metrics.update(train_acc=acc + 0.05, test_acc=acc, train_loss=loss - 0.1,
                       test_loss=loss, val_acc=acc, val_loss=loss)
    history = [{"epoch": i + 1, "val_loss": v} for i, v in enumerate(val)]
    record = {"run_id": rid, "status": status, "metrics": metrics, "history": history,
              "config": RunConfig().to_dict(), "reason": "", "engine": "sequential"}
    return StoredRun(record, 1, 0.0)


def members(accs: dict[tuple[str, str], list[float]]):
    """Members and stored runs for axes init x l2 with one accuracy per seed."""
    ms, runs = [], []
    for (init, l2), values in accs.items():
        for seed, acc in enumerate(values):
            rid = f"{init}-{l2}-{seed}"
            ms.append(Member(rid, f"init={init}, l2={l2}", {"init": init, "l2": l2}, seed))
            runs.append(stored(rid, acc=acc))
    return ms, runs


def test_summaries_rank_and_estimate():
    ms, runs = members({("he", "0"): [0.9, 0.92, 0.94], ("zeros", "0"): [0.5, 0.5, 0.53]})
    runs[4] = stored(runs[4].run_id, status="diverged")
    report = build_report("s", ms, runs)
    best, worst = report.configs
    assert best.label == "init=he, l2=0" and worst.label == "init=zeros, l2=0"
    assert best.estimates["test_acc"].mean == pytest.approx(0.92)
    assert best.estimates["test_acc"].half_width == pytest.approx(
        mean_ci([0.9, 0.92, 0.94]).half_width)
    assert best.estimates["gap_acc"].mean == pytest.approx(0.05)
    assert best.estimates["gap_loss"].mean == pytest.approx(0.1)
    assert best.estimates["best_epoch"].mean == 3
    assert (worst.runs, worst.finished, worst.diverged, worst.failed) == (3, 2, 1, 0)
    assert worst.estimates["test_acc"].mean == pytest.approx(0.515)
    loss_ranked = build_report("s", ms, runs, metric="test_loss")
    assert loss_ranked.configs[0].estimates["test_loss"].mean <= \
        loss_ranked.configs[1].estimates["test_loss"].mean
    regression = [StoredRun({**r.record, "metrics": {**r.record["metrics"], "test_acc": None}},
                            1, 0.0) for r in runs]
    assert build_report("s", ms, runs).metric == "test_acc"
    assert build_report("s", ms, regression).metric == "test_loss"
    with pytest.raises(ValueError, match=r"metric must be one of .* got 'accuracy'"):
        build_report("s", ms, runs, metric="accuracy")


def test_curves_band_over_the_seeds_that_reach_each_epoch():
    curves = [[1.0, 0.5, 0.2], [3.0, 0.7], [2.0, float("nan"), 0.4]]
    out = band(curves)
    assert [e for e, *_ in out] == [1, 2, 3]
    assert out[0][1:] == pytest.approx((2.0, *_bounds(mean_ci([1.0, 3.0, 2.0]))))
    assert out[1][1] == pytest.approx(0.6) and out[2][1] == pytest.approx(0.3)


def _bounds(est: Estimate):
    return est.low, est.high


def test_comparisons_pair_matched_runs_and_fall_back_to_welch():
    accs = {("he", "0"): [0.90, 0.91, 0.93], ("xavier", "0"): [0.85, 0.87, 0.88],
            ("he", "1"): [0.80, 0.82, 0.81], ("xavier", "1"): [0.79, 0.80, 0.80]}
    ms, runs = members(accs)
    by_id = {r.run_id: r for r in runs}
    ((a, b, res),) = compare_axis("init", ms, by_id, "test_acc")
    assert (a, b, res.test, res.n_a) == ("he", "xavier", "paired t-test", 6)
    # paired on (l2, seed): he minus xavier
    he = accs["he", "0"] + accs["he", "1"]
    xa = accs["xavier", "0"] + accs["xavier", "1"]
    expected = paired_t(he, xa)
    assert res.p == pytest.approx(expected.p) and res.diff == pytest.approx(expected.diff)
    del by_id["xavier-1-2"]  # a missing partner breaks the pairing
    ((_, _, res),) = compare_axis("init", ms, by_id, "test_acc")
    assert res.test == "Welch t-test" and (res.n_a, res.n_b) == (6, 5)
    assert res.p == pytest.approx(welch_t(he, xa[:-1]).p)


def test_report_names_tests_and_adjusts_for_many():
    accs = {("he", "0"): [0.90, 0.91, 0.93], ("xavier", "0"): [0.85, 0.87, 0.88],
            ("zeros", "0"): [0.50, 0.51, 0.49]}
    ms, runs = members(accs)
    report = build_report("s", ms, runs, spec_text="seeds = 3")
    assert [(c.a, c.b) for c in report.comparisons] == [("he", "xavier"), ("he", "zeros"),
                                                        ("xavier", "zeros")]
    assert all(c.result.test == "paired t-test" for c in report.comparisons)
    ps = [c.result.p for c in report.comparisons]
    assert [c.p_holm for c in report.comparisons] == pytest.approx(holm(ps))
    assert report.comparisons[1].result.significant  # he vs zeros: 0.4 apart, tiny noise
    text = report.html()
    assert "paired t-test" in text and "Holm" in text and "seeds = 3" in text
    assert "init=he, l2=0" in text and "0.913±" in text


def test_html_is_self_contained():
    ms, runs = members({("he", "0"): [0.9, 0.92], ("zeros", "0"): [0.5, 0.52]})
    text = build_report("s", ms, runs).html()
    # no script, style sheet or font is fetched: plotly.js itself is inlined
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", text)
    assert get_plotlyjs() in text and "Plotly.newPlot" in text
    assert text.count("<table>") == 2


def test_fmt():
    assert fmt(mean_ci([])) == "-"
    assert fmt(mean_ci([0.5])) == "0.500"
    assert fmt(mean_ci([1.0, 2.0, 3.0, 4.0, 5.0]), 2) == "3.00±1.96"
