"""Diagnosis on the labelled cases the issue names, the scoring, the verified fixes, the
instruments against hand computations, and a user's own model and loop."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import fitscope
from fitscope import RunConfig, train
from fitscope.probe.cases import BY_ID, CASES, HELDBACK, UserCNN, run_case, score
from fitscope.probe.findings import UNDERFIT_LOSS_SHARE, confidence, diagnose, logit_excess
from fitscope.probe.fixes import Verification, recommended_change
from fitscope.probe.instruments import edge_of_stability, gradient_noise


def alarms(findings) -> set[str]:
    return {f.code for f in findings if f.severity in ("warning", "error")}


def test_the_benchmark_has_the_cases_the_issue_asks_for():
    assert len(CASES) >= 60 and len({c.id for c in CASES}) == len(CASES)
    assert sum(c.healthy for c in CASES) * 3 >= len(CASES)
    assert sum(c.heldback for c in CASES) >= 20 and set(BY_ID) >= HELDBACK
    kinds = {c.config.get("model", {}).get("kind", "mlp") for c in CASES if not c.model}
    assert kinds == {"mlp", "cnn"} and {c.model[0] for c in CASES if c.model} == {
        "residual", "user_cnn"}
    data = {c.config.get("data", {}).get("name", "moons") for c in CASES}
    assert {"moons", "spiral", "digits", "mnist1d"} <= data
    opts = {c.config.get("optimizer", {}).get("name", "adam") for c in CASES}
    assert {"sgd", "momentum", "adam"} <= opts


def test_score_is_micro_averaged_over_case_finding_pairs():
    a, b = CASES[0], BY_ID["moons_tanh_constant"]  # healthy; requires symmetric_units
    table = score([(a, {"lr_too_high"}), (b, {"symmetric_units", "underfitting", "dead_relu"})])
    # a: lr_too_high is a false alarm; b: symmetric found, underfitting allowed, dead_relu
    # allowed for symmetric cases
    assert table["symmetric_units"]["tp"] == 1 and table["lr_too_high"]["fp"] == 1
    assert table["overall"]["precision"] == 0.5 and table["overall"]["recall"] == 1.0


def test_the_unit_normal_cnn_on_digits_is_flagged():
    """The issue's miss: loss far above ln 10 at init, logits of RMS in the hundreds."""
    run = run_case(BY_ID["digits_cnn_unit_init"])
    assert run.history[0]["train_loss"] > 10 * math.log(10)
    found = fitscope.diagnose(run)
    f = next(f for f in found if f.code == "exploding_activations")
    assert f.severity == "error" and f.layer == "out" and f.confidence > 0.9
    assert f.evidence["logit_excess"] > 10 and f.change == {"init.scheme": "kaiming_normal"}
    # it ends with a loss near chance but a high accuracy: confident mistakes, which the
    # underfitting rule's loss criterion leaves alone
    assert run.metrics["train_loss"] > 0.7 * math.log(10) and run.metrics["train_acc"] > 0.8
    assert "underfitting" not in alarms(found)


def test_a_flat_deep_xavier_relu_net_is_not_learning_with_vanishing_gradients():
    run = run_case(BY_ID["moons_relu30_xavier_flat"])
    found = fitscope.diagnose(run)
    assert {"not_learning", "vanishing_gradients"} <= alarms(found)
    assert "lr_too_high" not in {f.code for f in found}
    nl = next(f for f in found if f.code == "not_learning")
    assert nl.evidence["causes"][0][0] == "vanishing_gradients"
    assert nl.change == {"init.scheme": "kaiming_normal"}


@pytest.mark.parametrize("case", ["lab_default_relu_he", "lab_tanh_xavier"])
def test_the_labs_default_runs_are_healthy(case):
    run = run_case(BY_ID[case])
    assert [f.code for f in fitscope.diagnose(run)] == ["healthy"]


def test_zero_init_is_symmetric_not_an_oscillating_learning_rate():
    found = fitscope.diagnose(run_case(BY_ID["digits_tanh_zeros"]))
    assert "symmetric_units" in alarms(found) and "lr_too_high" not in alarms(found)


def test_confidence_is_a_half_at_the_threshold_and_grows_with_the_margin():
    assert confidence(10.0, 10.0) == 0.5
    assert confidence(100.0, 10.0) == 1.0
    assert confidence(1e-4, 1e-2, above=False, span=100) == pytest.approx(1.0)
    assert 0.5 < confidence(30.0, 10.0) < 1.0 and confidence(5.0, 10.0) < 0.5
    # k = 10 logits of RMS 1: sqrt(2 ln 10) / ln 10
    assert logit_excess(1.0, 10) == pytest.approx(math.sqrt(2 * math.log(10)) / math.log(10))


def test_a_zero_init_run_is_fixed_and_verified():
    cfg = RunConfig.model_validate({
        "data": {"name": "moons", "n_samples": 300}, "model": {"depth": 2, "width": 16},
        "init": {"scheme": "zeros"}, "budget": {"epochs": 6, "batch_size": 32},
        "observe": {"probe_every": 10}})
    diagnosis = fitscope.diagnose(train(cfg))
    assert diagnosis.change() == {"init.scheme": "kaiming_normal"}
    v = diagnosis.verify(seeds=2)
    assert v.seeds == [0, 1] and len(v.before) == len(v.after) == 2
    assert v.after[0] < v.before[0] and v.gone["symmetric_units"] and v.succeeded
    assert "the fix worked" in str(v)


def test_a_fix_must_beat_the_seed_spread():
    v = Verification({"optimizer.lr": 0.1}, [0, 1, 2], [1.0, 1.2, 1.4], [0.9, 1.1, 1.3],
                     ["lr_too_high"], [], {"lr_too_high": True})
    assert v.improvement == pytest.approx(0.1) and v.spread == pytest.approx(0.2)
    assert not v.helped and not v.succeeded
    unstable = Verification({"optimizer.lr": 0.1}, [0, 1, 2], [0.76, 132.0, 0.70],
                            [0.49, 0.43, 0.50], ["lr_too_high"], [], {"lr_too_high": True})
    assert unstable.spread == pytest.approx(0.0379, abs=1e-3) and unstable.succeeded
    lucky = Verification({"optimizer.lr": 0.1}, [0, 1, 2], [1.0, 0.5, 1.0], [0.2, 0.6, 0.2],
                         ["lr_too_high"], [], {"lr_too_high": True})
    # the issue's rule is the mean against the spread; seed 1 got worse, which the
    # stricter count (every_seed) reports
    assert lucky.improvement > lucky.spread and lucky.helped and not lucky.every_seed
    diverged = Verification({"optimizer.lr": 0.1}, [0], [math.inf], [0.3], ["diverged"], [],
                            {"diverged": True})
    assert diverged.succeeded


def test_the_surest_finding_decides_a_field_two_findings_change():
    from fitscope.probe.findings import Finding

    found = [Finding("lr_too_high", "warning", None, confidence=0.7,
                     change={"optimizer.lr": 0.01}),
             Finding("dead_relu", "error", "h", confidence=0.9,
                     change={"optimizer.lr": 0.001, "init.bias": 0.0}),
             Finding("overfitting", "possible", None, confidence=0.55,
                     change={"regularization.l2": 1.0})]
    assert recommended_change(found) == {"optimizer.lr": 0.001, "init.bias": 0.0}


def test_gradient_noise_against_a_hand_computation():
    """A one-weight linear model y = w x with squared error: g_b = mean 2 x (w x - y)."""
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.5)
    xs = [torch.tensor([[1.0], [2.0]]), torch.tensor([[3.0], [-1.0]])]
    ys = [torch.tensor([[1.0], [0.0]]), torch.tensor([[1.0], [1.0]])]
    g = [float((2 * x * (0.5 * x - y)).mean()) for x, y in zip(xs, ys)]  # 1.5, 2.0
    mean = sum(g) / 2
    hand = sum((gi - mean) ** 2 for gi in g) / 2 / mean ** 2
    got = gradient_noise(model, F.mse_loss, zip(xs, ys))
    assert got["noise"] == pytest.approx(hand) and got["mean_norm"] == pytest.approx(mean)
    assert model.weight.grad is None


def test_the_top_hessian_eigenvalue_against_the_edge_of_stability():
    """Least squares: H = 2 X^T X / N exactly; 2 / lambda_max is the largest stable lr."""
    from fitscope.landscape import top_hessian_eigenvalue
    from fitscope.landscape.evaluate import Problem

    x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    y = torch.tensor([[1.0], [0.0], [2.0]])
    model = nn.Linear(2, 1, bias=False)
    lam = top_hessian_eigenvalue(Problem(model, F.mse_loss, x, y))["eigenvalue"]
    hand = float(torch.linalg.eigvalsh(2 * x.T @ x / 3).max())
    assert lam == pytest.approx(hand, rel=1e-4)
    assert edge_of_stability(lam, 2 / hand) == pytest.approx(1.0, rel=1e-4)


def test_measure_adds_the_instruments_to_the_probe_records():
    from fitscope.probe.instruments import measure

    run = train(RunConfig.model_validate({
        "data": {"name": "moons", "n_samples": 200}, "budget": {"epochs": 2},
        "observe": {"probe_every": 5}}))
    records = measure(run, batches=3)
    values = {r["quantity"]: r["value"] for r in records}
    assert set(values) == {"grad_noise", "hessian_top", "eos_ratio"}
    assert values["eos_ratio"] == pytest.approx(values["hessian_top"] * 0.01 / 2)
    assert records[0] in run.probes and values["grad_noise"] > 0


def test_a_users_cnn_gets_image_batches_and_a_bad_shape_names_the_first_layer():
    cfg = RunConfig.model_validate({"data": {"name": "digits"}, "budget": {"epochs": 1},
                                    "init": {"scheme": "default"}})
    run = train(cfg, model=UserCNN())
    assert run.metrics["train_acc"] > 0.3

    class Wrong(nn.Module):
        def __init__(self):
            super().__init__()
            self.first = nn.Conv1d(3, 4, 3)

        def forward(self, x):
            return self.first(x).flatten(1)

    with pytest.raises(ValueError, match=r"\(batch, 1, 8, 8\).*first \(Conv1d\(3, 4"):
        train(cfg, model=Wrong())


def test_a_probe_from_your_own_loop_is_diagnosed_and_exported(tmp_path):
    torch.manual_seed(0)
    model = UserCNN()
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(m.weight, std=1.0)
    x, y = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with fitscope.probe(model, every=1) as p:
        for _ in range(2):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
            p.step()
    found = fitscope.diagnose(p, n_classes=10)
    assert "exploding_activations" in alarms(found)
    with pytest.raises(ValueError, match="verify"):
        found.verify()
    pytest.importorskip("tensorboard")
    from fitscope.probe.tensorboard import export_tensorboard

    export_tensorboard(p, tmp_path / "tb")
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_dropout_gain_is_the_inverted_dropouts_rms_factor():
    """Two dropout layers of p = 0.9 in series: each multiplies E[x^2] by 1 / (1 - p) = 10
    in training mode, so the RMS by sqrt(10) each, 10 in all; measured on a batch."""
    from fitscope.probe.findings import dropout_gain

    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.9), nn.Linear(4, 4), nn.Dropout(0.9))
    assert dropout_gain(model) == pytest.approx(10.0)
    assert dropout_gain(nn.Linear(2, 2)) == 1.0 and dropout_gain(None) == 1.0
    torch.manual_seed(0)
    x = torch.randn(200_000)
    y = nn.Dropout(0.75).train()(x)
    assert y.pow(2).mean().sqrt() / x.pow(2).mean().sqrt() == pytest.approx(
        dropout_gain(nn.Dropout(0.75)), rel=0.02)


def test_heavy_dropout_is_underfitting_not_exploding_activations():
    """Dropout 0.9 multiplies the probed spread by 10 over two layers in training mode: not
    an init problem, and its stalled run's dead units are not the cause to fix. Dropout 0.8
    ends at 66% training accuracy with a training loss at 78% of chance: underfitting by
    the loss criterion."""
    codes = alarms(diagnose(run_case(BY_ID["digits_dropout_09"])))
    assert "exploding_activations" not in codes and "underfitting" in codes
    # stuck under heavy dropout: the ReLUs that are off at the end are its effect, and the
    # change the findings make is the dropout's
    assert "dead_relu" not in codes
    found = {f.code: f for f in diagnose(run_case(BY_ID["digits_dropout_08"]))}
    under = found["underfitting"]
    assert under.severity == "warning" and under.change == {"model.dropout": 0.1}
    assert under.evidence["train_loss"] > UNDERFIT_LOSS_SHARE * under.evidence["chance_loss"]


def split_ids(name: str) -> list[str]:
    """The ids of one case file of fitscope/probe/case_data, in file order."""
    import tomllib
    from importlib import resources

    text = (resources.files("fitscope.probe") / "case_data" / name).read_text("utf-8")
    return [c["id"] for c in tomllib.loads(text)["case"]]


def settings(case):
    """A case's run, its seed aside: the config (seed 0) and the user model."""
    cfg = case.run_config().with_overrides({"budget.seed": 0})
    return cfg.model_dump_json(), case.model and repr(case.model)


def test_the_held_back_split_is_large_enough_to_score_each_finding():
    """The eighth held-back split: each finding a label can require is required by 20 of
    its cases at least (one miss then leaves 0.95, two 0.90, the target), a third of the
    split is healthy, no held-back case shares a seed with a development case (the
    eighth split's seeds are 365 and up), and none is a development case with another
    seed (its settings differ too)."""
    held = [BY_ID[i] for i in split_ids("08_split_eighth.toml")]
    assert all(c.heldback for c in held)
    required = {code for c in CASES for code in c.requires}
    assert all(sum(code in c.requires for c in held) >= 20 for code in required)
    assert sum(c.healthy for c in held) * 3 >= len(held) >= 300
    assert min(c.run_config().budget.seed for c in held) >= 365
    seeds = {c.run_config().budget.seed for c in CASES if not c.heldback}
    assert not seeds & {c.run_config().budget.seed for c in held}

    dev = {settings(c) for c in CASES if not c.heldback}
    assert not [c.id for c in held if settings(c) in dev]


def _flat(case) -> dict:
    """A case's settings as dotted keys (the user model's as ``user_model.KEY``), its
    seed aside."""
    out = {}

    def walk(prefix, value):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}{k}.", v)
        else:
            out[prefix[:-1]] = value

    walk("", case.run_config().with_overrides({"budget.seed": 0}).model_dump(mode="json"))
    if case.model:
        walk("user_model.", {"name": case.model[0], **case.model[1]})
    return out


def test_the_ninth_held_back_split_is_drawn_from_the_development_cases_as_its_protocol_says():
    """The ninth held-back split (09_split_ninth.toml, tools/draw_heldback.py): every
    finding a label requires is required by 20 of its cases at least, a third healthy;
    seeds 700 and up, each its own, used by no other case; ids unique; none, seed aside,
    equals a development or an eighth-split case. Each case names its development parent
    first in its note, carries the parent's label (requires, allows, kind) and fix, and
    differs from it in one setting besides the seed."""
    ids = split_ids("09_split_ninth.toml")
    ninth = [BY_ID[i] for i in ids]
    assert len(set(ids)) == len(ids) >= 300 and all(c.heldback for c in ninth)
    dev = [c for c in CASES if not c.heldback]
    for code in {code for c in dev for code in c.requires}:
        assert sum(code in c.requires for c in ninth) >= 20, code
    assert sum(c.healthy for c in ninth) * 3 >= len(ninth)
    seeds = [c.run_config().budget.seed for c in ninth]
    assert min(seeds) >= 700 and len(set(seeds)) == len(seeds)
    others = {c.run_config().budget.seed for c in CASES if c.id not in set(ids)}
    assert not others & set(seeds)
    before = {settings(c) for c in CASES if c.id not in set(ids)}
    assert not [c.id for c in ninth if settings(c) in before]
    for case in ninth:
        parent = BY_ID[case.note.split()[1]]
        assert case.note.startswith(f"from {parent.id} (") and not parent.heldback
        assert (case.requires, case.allows, case.kind, case.fix) == (
            parent.requires, parent.allows, parent.kind, parent.fix), case.id
        a, b = _flat(case), _flat(parent)
        changed = {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
        assert len(changed) == 1, (case.id, changed)


def test_the_ninth_split_is_its_generators_output_unedited():
    """tools/draw_heldback.py, run again with its committed seed, writes the file as it
    is: no case of it was edited or picked by hand after the draw."""
    import importlib.util
    from pathlib import Path

    from fitscope.probe.cases import DATA_FOLDER

    path = Path(__file__).resolve().parents[1] / "tools" / "draw_heldback.py"
    spec = importlib.util.spec_from_file_location("draw_heldback", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    written = (tool.ROOT / "09_split_ninth.toml").read_text("utf-8")
    assert tool.ROOT.name == DATA_FOLDER and tool.render(tool.draw()) == written


def test_the_benchmarks_dev_option_never_selects_a_held_back_case():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "diagnosis.py"
    spec = importlib.util.spec_from_file_location("benchmark_diagnosis", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    held = sorted(HELDBACK)[:2]
    assert {c.id for c in bench.select()} == set(BY_ID)
    assert not any(c.heldback for c in bench.select(dev=True))
    assert len(bench.select(dev=True)) == len(CASES) - len(HELDBACK)
    assert not any(c.heldback for c in bench.select(quick=True, dev=True))
    assert bench.select(ids=",".join([*held, "lab_default_relu_he"]), dev=True) == [
        BY_ID["lab_default_relu_he"]]
    assert [c.id for c in bench.select(ids=",".join(held))] == held


def test_the_benchmarks_seed_offset_trains_each_case_on_its_own_seed_plus_k(monkeypatch):
    """``--seed-offset K`` (the tuning judges a rule at offsets 0, 1 and 2): the case is
    trained on its own seed plus K; without it, on its own seed."""
    import importlib.util
    from pathlib import Path

    import fitscope.probe.cases as cases_module

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "diagnosis.py"
    spec = importlib.util.spec_from_file_location("benchmark_diagnosis", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    seen = []

    def fake_run_case(case, seed=None, overrides=None):
        seen.append(seed)
        raise RuntimeError("stop")

    monkeypatch.setattr(cases_module, "run_case", fake_run_case)
    case = BY_ID["mnist1d_residual2_w56_momentum"]  # seed 39
    for offset in (0, 2):
        with pytest.raises(RuntimeError, match="stop"):
            bench._one((case.id, 1, offset))
    assert seen == [None, case.run_config().budget.seed + 2] and seen[1] == 41
