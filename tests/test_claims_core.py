"""Claims 1-8 and the claims machinery: verdicts come from the numbers, experiments run."""

import math

import pytest
from claims_seeds import measurement, widen

from fitscope.claims import REGISTRY, get, initialization
from fitscope.claims.base import Context, Measurement, Verdict, verdict_from
from fitscope.claims.demo import run_claim
from fitscope.claims.report import terminal_table, write_html
from fitscope.claims.tests import greater, mean_above


def test_registry_numbers_are_unique_and_complete_for_the_core():
    assert list(REGISTRY) == sorted(REGISTRY)
    for n in range(1, 9):
        assert n in REGISTRY, f"claim {n} missing"
    assert get("one-nn") is REGISTRY[1] and get("1") is REGISTRY[1]
    with pytest.raises(KeyError, match="no claim"):
        get("nope")


def test_one_sided_tests():
    assert greater([3, 4, 5, 6], [1, 2, 1, 2]).significant
    assert not greater([1, 2, 1, 2], [3, 4, 5, 6]).significant
    assert greater([1.0, 1.0], [0.0, 0.0]).p_value == 1.0  # identical replicates: no test
    assert greater([0.0, 0.0], [1.0, 1.0]).p_value == 1.0
    assert mean_above(widen([0.2, 0.3, 0.25]), 0.0).significant
    assert not mean_above([0.2, 0.3, 0.25], 0.0).significant  # 3 seeds: smallest p is 1/8
    assert "paired" in greater([1, 2, 3], [0, 1, 1], paired=True).test


def m(**values) -> Measurement:
    return measurement(**values)


def test_verdict_from_a_main_and_a_second_test():
    assert verdict_from("d", True) == Verdict("holds", "d.")
    assert verdict_from("d", False) == Verdict("does not hold", "d.")
    assert verdict_from("d", True, True, "c") == Verdict("holds", "d.")
    assert verdict_from("d", True, False, "c") == Verdict("holds only when", "d.", "c")
    assert verdict_from("d", True, False) == Verdict("does not hold", "d.")  # no condition
    assert verdict_from("d", False, True, "c") == Verdict("does not hold", "d.")


def test_decide_one_nn():
    d = REGISTRY[1].decide
    gap = {1: [0.2, 0.25, 0.22], 3: [0.1, 0.12, 0.11], 9: [0.05, 0.06, 0.04]}
    assert d(m(train_error_1nn=[0, 0, 0], test_error_1nn=[0.2, 0.25, 0.22], gap=gap)).outcome \
        == "holds"
    assert d(m(train_error_1nn=[0, 0.01, 0], test_error_1nn=[0.2, 0.25, 0.22],
               gap=gap)).outcome == "does not hold"
    assert d(m(train_error_1nn=[0, 0, 0], test_error_1nn=[0, 0, 0], gap=gap)).outcome == \
        "does not hold"
    narrow = d(m(train_error_1nn=[0, 0, 0], test_error_1nn=[0.2, 0.25, 0.22],
                 gap={**gap, 3: [0.21, 0.26, 0.24]}))
    assert narrow.outcome == "holds only when" and "'widest' is left out" in narrow.condition


def test_decide_capacity():
    d = REGISTRY[2].decide
    train = {1: [0.3] * 3, 2: [0.2] * 3, 5: [0.1] * 3, 10: [0.0] * 3}
    u = {1: [0.3, 0.31, 0.29], 2: [0.2, 0.21, 0.19], 5: [0.25, 0.26, 0.24], 10: [0.4, 0.43, 0.38]}
    flat = {1: [0.3, 0.31, 0.29], 2: [0.2, 0.21, 0.19], 5: [0.19, 0.2, 0.18],
            10: [0.18, 0.19, 0.17]}
    assert d(m(train=train, test=u)).outcome == "holds"
    assert d(m(train=train, test=flat)).outcome == "does not hold"  # no rise: the U is missing
    bumpy = {**train, 5: [0.3] * 3}
    assert d(m(train=bumpy, test=u)).outcome == "does not hold"


def test_decide_symmetry():
    d = REGISTRY[3].decide
    distance = {"zeros": [0.0] * 3, "constant 0.5": [1e-7] * 3, "xavier": [1.2] * 3}
    acc = {"xavier": [0.95, 0.96, 0.94], "zeros": [0.5, 0.52, 0.51],
           "constant 0.5": [0.6, 0.62, 0.61]}
    assert d(m(unit_distance=distance, test_acc=acc)).outcome == "holds"
    apart = {**distance, "zeros": [0.3] * 3}
    assert d(m(unit_distance=apart, test_acc=acc)).outcome == "does not hold"
    same = dict.fromkeys(acc, acc["xavier"])
    assert d(m(unit_distance=distance, test_acc=same)).outcome == "holds only when"


def test_decide_toy():
    d = REGISTRY[4].decide
    assert d(m(max_rel_error={1.5: 1e-15, 0.5: 0.0})).outcome == "holds"
    assert d(m(max_rel_error={1.5: 0.2, 0.5: 0.0})).outcome == "does not hold"


def scale_values(small: dict, large_diverged: int = 3) -> dict:
    """Claim 5's numbers: per too-small std, (first-layer gradient RMS, training accuracy,
    epochs to halve the loss) per seed; He learns in 2-3 epochs with gradient 0.1."""
    he, lg = initialization.HE, initialization.LARGE
    v = {"first_layer_grad_rms": {he: 0.1, lg: 1e6},
         "train_acc": {he: [0.97, 0.98, 0.99], lg: [math.nan] * 3},
         "epochs_to_half": {he: [2.0, 3.0, 2.0], lg: [21.0] * 3},
         "final_train_loss": {he: [0.1] * 3, lg: [math.inf] * 3},
         "diverged": {he: 0, lg: large_diverged},
         "last_layer_act_rms": {he: 1.0, lg: 1e7 if large_diverged else 2.0}}
    for std, (grad, acc, epochs) in small.items():
        init = initialization.Init("too small", std)
        for key, x in (("first_layer_grad_rms", grad), ("train_acc", acc),
                       ("epochs_to_half", epochs), ("final_train_loss", [0.2] * 3),
                       ("diverged", 0), ("last_layer_act_rms", 1e-3)):
            v[key][init] = x
    return v


def test_decide_scale():
    d = REGISTRY[5].decide
    slow = (1e-3, [0.95, 0.96, 0.97], [12.0, 14.0, 11.0])
    stuck = (1e-9, [0.5, 0.5, 0.5], [21.0, 21.0, 21.0])
    fast = (0.05, [0.97, 0.98, 0.99], [2.0, 3.0, 2.0])
    assert d(m(**scale_values({0.2: slow, 0.25: slow}))).outcome == "holds"
    mapped = d(m(**scale_values({0.01: stuck, 0.2: slow})))
    assert mapped.outcome == "holds only when"
    assert "std is 0.2 (vanishing gradients, learns slowly)" in mapped.condition
    assert "at std 0.01 it does not learn at all" in mapped.condition
    calm = d(m(**scale_values({0.2: slow}, large_diverged=0)))
    assert calm.outcome == "holds only when" and "too large did not explode" in calm.condition
    assert d(m(**scale_values({0.25: fast}, large_diverged=0))).outcome in (
        "does not hold", "not shown")


def test_decide_matmul():
    d = REGISTRY[6].decide
    assert d(m(log10_growth_per_layer={"N(0, 1)": [1.2, 1.2], "0.01 N(0, 1)": [-0.8, -0.8]})) \
        .outcome == "holds"
    assert d(m(log10_growth_per_layer={"N(0, 1)": [0.0, 0.01], "0.01 N(0, 1)": [-0.8, -0.8]})) \
        .outcome == "does not hold"


def test_kept_layers_reads_activations_and_gradients():
    from fitscope.claims.initialization import kept_layers

    flat = [1.0] * 5
    assert kept_layers(flat, [*flat, 1.0]) == 5
    # saturated N(0, 1): activations constant, gradient shrinking x4 per layer downwards
    assert kept_layers(flat, [4.0 ** -k for k in range(4, -1, -1)] + [1.0]) == 1
    # activations drifting by 1.2 in RMS per layer (variance x1.44): layer 3 is at 2.07
    assert kept_layers([1.2 ** k for k in range(5)], [*flat, 1.0]) == 2


def test_decide_xavier_tanh():
    d = REGISTRY[7].decide

    def meas(xavier_kept, n1_kept=1.0, small_kept=1.0):
        kept = {"xavier": [xavier_kept] * 3, "N(0, 1)": [n1_kept] * 3,
                "N(0, 0.01^2)": [small_kept] * 3}
        v = {"kept_layers": kept} | {f"{r}_var_ratio_10": {k: [1.0] * 3 for k in kept}
                                     for r in ("act", "grad")}
        return Measurement(values=v, series={"curves": {("activations", "xavier"): [1.0] * 20}})

    assert d(meas(20.0)).outcome == "holds"
    v = d(meas(3.0))
    assert v.outcome == "holds only when" and "at most 3 tanh layers" in v.condition
    # the criterion fails for a saturated N(0, 1) network as for any init no better than it
    assert d(meas(1.0)).outcome == "does not hold"
    assert d(meas(3.0, n1_kept=3.0)).outcome == "does not hold"


def relu_depths(fail: dict[int, str]) -> dict:
    """Numbers for claim 8 at depths 10..40: "fails" (Xavier at chance, loss above He's),
    "worse" (Xavier trains, loss above He's), "same" (no difference)."""
    x, h = "xavier_normal", "kaiming_normal"
    v: dict = {k: {x: {}, h: {}} for k in ("train_acc", "final_train_loss",
                                          "act_var_ratio_last_first")}
    for d in (10, 20, 30, 40):
        x_loss, x_acc = {"fails": ([0.69, 0.68, 0.69], [0.5, 0.52, 0.5]),
                         "worse": ([0.3, 0.35, 0.32], [0.9, 0.88, 0.91]),
                         "same": ([0.05, 0.07, 0.06], [0.97, 0.96, 0.97])}[fail[d]]
        for key, xavier, he in (("train_acc", x_acc, [0.97] * 3),
                                ("final_train_loss", x_loss, [0.05, 0.06, 0.07]),
                                ("act_var_ratio_last_first", 1e-6, 1.1)):
            v[key][x][d], v[key][h][d] = xavier, he
    return v


def test_decide_relu_depth():
    d = REGISTRY[8].decide
    assert d(m(**relu_depths(dict.fromkeys((10, 20, 30, 40), "fails")))).outcome == "holds"
    mixed = d(m(**relu_depths({10: "worse", 20: "worse", 30: "fails", 40: "fails"})))
    assert mixed.outcome == "holds only when"
    assert mixed.condition.startswith("depth >= 30")
    assert "at depth 10, 20 Xavier trains, only worse" in mixed.condition
    worse = d(m(**relu_depths(dict.fromkeys((10, 20, 30, 40), "worse"))))
    assert worse.outcome == "holds only when" and "trains worse" in worse.condition
    assert d(m(**relu_depths(dict.fromkeys((10, 20, 30, 40), "same")))).outcome == \
        "does not hold"


@pytest.mark.slow
@pytest.mark.parametrize("number", [1, 2, 3, 4, 5, 6, 7, 8])
def test_core_claims_run_at_reduced_size(number, tmp_path):
    ctx = Context(seeds=2, scale=0.3)
    result = run_claim(REGISTRY[number], ctx)
    assert not result.error, result.error
    assert result.verdict.outcome in ("holds", "does not hold", "not shown", "holds only when")
    assert result.verdict.reason and result.figure is not None
    path = write_html([result], tmp_path / "r.html", "test")
    text = path.read_text()
    assert REGISTRY[number].statement[:40] in text and "plotly" in text
    assert terminal_table([result]).row_count == 1


def tiny_fashion(directory, n_train=240, n_test=80, seed=0):
    """Tiny Fashion-MNIST-like IDX files: each class a bright square at its own place."""
    import numpy as np

    from fitscope.data import write_idx

    rng = np.random.default_rng(seed)
    for part, n in (("train", n_train), ("t10k", n_test)):
        y = rng.integers(0, 10, n).astype(np.uint8)
        x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(y):
            r, c = divmod(int(label), 5)
            x[i, 4 + 10 * r:12 + 10 * r, 2 + 5 * c:6 + 5 * c] = 250
        write_idx(directory / f"{part}-images-idx3-ubyte.gz", x)
        write_idx(directory / f"{part}-labels-idx1-ubyte.gz", y)
    return directory


@pytest.mark.slow
def test_fashion_mnist_chapter_on_tiny_idx_files(tmp_path):
    from typer.testing import CliRunner

    from fitscope.cli import app

    tiny_fashion(tmp_path)
    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["demo", "-c", "1", "--fashion-mnist", str(tmp_path),
                                      "--seeds", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "Fashion-MNIST" in text and "claim-50" in text


def test_decide_fashion():
    from fitscope.claims.fashion import FASHION

    plain = {"test_acc": [0.85, 0.86, 0.84], "gap": [0.1, 0.11, 0.09]}
    helped = {"test_acc": [0.87, 0.88, 0.86], "gap": [0.02, 0.03, 0.02]}

    def values(**by_variant):
        return {q: {k: x[q] for k, x in by_variant.items()} for q in ("test_acc", "gap")}

    others = ("early stopping", "L2 1e-4", "L1 1e-5", "Xavier")
    better = values(plain=plain, **dict.fromkeys(others, helped))
    assert FASHION.decide(m(**better)).outcome == "holds"
    mixed = values(plain=plain, **dict.fromkeys(others, helped) | {"Xavier": plain})
    assert FASHION.decide(m(**mixed)).outcome == "holds only when"
    none = values(plain=plain, **dict.fromkeys(others, plain))
    assert FASHION.decide(m(**none)).outcome == "does not hold"


def test_numbers_table_shows_settings_by_their_text_and_escapes_keys():
    from fitscope.claims.base import setting
    from fitscope.claims.report import summarize

    penalty = setting("Penalty", "kind lam", lambda kind, lam: f"{kind} {lam}")
    keep = setting("Keep", "p", lambda p: f"kept at {p:g}")
    assert summarize([penalty("L1", 0.01), penalty("L2", 0.1)]) == "L1 0.01, L2 0.1"
    assert summarize(keep(0.8)) == "kept at 0.8"  # one number, but a setting, not a sample
    assert summarize({keep(0.5): [1.0, 1.0]}).startswith("kept at 0.5: 1 [")
    assert summarize({"<b>": 1}) == "&lt;b&gt;: 1"
    assert summarize(["<i>", 2]) == "&lt;i&gt;, 2"
