"""Draw the ninth held-back split (case_data/09_split_ninth.toml) from the development
cases, by a protocol fixed and committed before any case of it existed.

    python tools/draw_heldback.py [--out PATH]

Why: the eighth split's parents were the development constructions whose labels the
rules already met on five seeds, and each was made stronger; both choices condition on
the tool or push away from its thresholds. This split conditions on neither.

Protocol (written before the draw; the draw is this script run once, its output
committed as is):

1. Parents: every development case (case_data 01-07 as they stood at commit f834de4,
   530 cases, 186 healthy), with no filter on whether the diagnosis got them right.
   One random.Random(SEED), SEED = 20261208, drives every draw below, in this order.
2. Strata: the findings a development label requires, taken in the order of how many
   development parents require each (most first, ties by name). For each, parents that
   require it are drawn uniformly without replacement (with replacement only where the
   stratum has fewer than 20 parents) until 20 children require it, counting children
   drawn for earlier strata (a vanishing parent also requires not_learning). Then
   ceil(P / 2) healthy parents, P the number of problem children, are drawn uniformly
   without replacement from the healthy development cases, so that at least a third of
   the split is healthy. No parent is picked by hand.
3. Variation: child i (in draw order) gets seed 700 + i (no development or eighth-split
   case uses a seed of 700 or more) and ONE other setting changed, the setting drawn
   uniformly from those its parent has, then a factor drawn uniformly from a set
   symmetric about 1 (in either direction):
     width (an MLP of depth >= 1, or a residual net) x {0.75, 0.8, 0.9, 1.11, 1.25, 1.33};
     channels (a CNN's conv channels) x the same set;
     init std (scheme normal) or constant value (scheme constant) x {0.8, 0.9, 1.1, 1.25};
     init bias (where nonzero) + or - 0.5;
     learning rate x {0.8, 1.25};
     penalty (l2 or l1, where nonzero) x {0.8, 1.25};
     batch size x {0.5, 2}.
   Integers are rounded and must change. The child keeps its parent's label (requires,
   allows, kind) and fix, since the construction is unchanged in kind, unless the
   arithmetic of its premise says the change crosses it; then the setting and factor
   are drawn again (and so where the child, seed aside, equals a development or
   eighth-split case, or where RunConfig refuses the child's config, e.g. a rate above
   its limit of 100). The premise checks, by label kind, with n a layer's fan-in, s its
   weights' std (kaiming s = sqrt(2/n), xavier s = sqrt(2/(n + n_out))), and the gain
   per layer g = s sqrt(n) c (c = sqrt(1/2) for ReLU, 1 for tanh, 1/4 for sigmoid at 0):
     vanishing: the product G of g over the hidden layers <= 0.1;
     exploding: G over the hidden layers and the output layer (c = 1) >= 10 (a residual
       block multiplies the RMS by sqrt(1 + g^2));
     saturated: the pre-activation spread s sqrt(n) of the widest hidden layer >= 2 for
       tanh, >= 4 for sigmoid;
     dead: the share of first-layer ReLU inputs above the bias b, P(N(0, sigma^2) > |b|)
       with sigma = s sqrt(n_in), <= 0.1;
     lr_high: the rate above the largest rate of a healthy development case on the same
       data set with the same optimizer (the same optimizer on any data set where none);
     diverged: the rate >= 10 x that largest healthy rate;
     lr_low: rate x steps (steps = epochs x ceil(training examples / batch)) below the
       smallest of the healthy development cases on the same data set and optimizer;
     overfitting: parameters >= 10 x training examples;
     underfitting: a capacity-limited net (depth 1) keeps width <= 4; a penalized one
       keeps its l2 (l1) at least the smallest that a development case is labelled
       underfitting for;
     symmetric: every change keeps each layer's units identical (no check);
     healthy: the rate within [smallest, largest] healthy development rate of its data
       set and optimizer, rate x steps at least the smallest there, and, for an init by
       std, each hidden layer's g within [0.5, 2].
   A parent already past its bound (a borderline construction) keeps its label and
   allows as they are; its child may then not move further past the bound than the
   parent. Where no redraw in 50 satisfies the checks, another parent is drawn from the
   same stratum. Each note names the parent, the change and the premise's arithmetic.
4. Output: 09_split_ninth.toml, split = "heldback", in the format of 08_split_eighth.toml
   (the parent's bases, its config tables with the change, its label or spelled-out
   requires / allows / kind, its fix, its user model). It is committed before any of its
   cases is run, then run once with `benchmarks/diagnosis.py --ids <its ids>`; no rule,
   threshold, fix or label changes after its results are seen.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import re
import sys
import tomllib
from pathlib import Path

from torch import nn

from fitscope.config import RunConfig
from fitscope.data import load_data
from fitscope.models import build_model
from fitscope.probe import cases as cases_module
from fitscope.probe.cases import CASES, DATA_FOLDER, PRESETS_FILE, Case, case_from_table

SEED = 20261208
FIRST_SEED = 700
PER_FINDING = 20
REDRAWS = 50
ROOT = Path(cases_module.__file__).resolve().parent / DATA_FOLDER
OUT = ROOT / "09_split_ninth.toml"

WIDTHS = (0.75, 0.8, 0.9, 1.11, 1.25, 1.33)
STDS = (0.8, 0.9, 1.1, 1.25)
RATES = (0.8, 1.25)
PENALTIES = (0.8, 1.25)
BATCHES = (0.5, 2.0)
BIASES = (-0.5, 0.5)
ACT_GAIN = {"relu": math.sqrt(0.5), "tanh": 1.0, "sigmoid": 0.25}
SATURATION = {"tanh": 2.0, "sigmoid": 4.0}
VANISHING_G, EXPLODING_G, DEAD_SHARE = 0.1, 10.0, 0.1
DIVERGED_X, OVERFIT_PARAMS, TINY_WIDTH = 10.0, 10.0, 4


def sig(x: float) -> float:
    """``x`` to 6 significant digits (no 0.08000000000000002 in a case file)."""
    return float(f"{x:.6g}")


# -- the cases as they stand: raw TOML entries, presets, Case objects ---------------------
def raw_entries() -> dict[str, dict]:
    out = {}
    for path in sorted(ROOT.glob("0*.toml")):
        if path.name == OUT.name:
            continue
        for raw in tomllib.loads(path.read_text("utf-8")).get("case", []):
            out[raw["id"]] = raw
    return out


def presets() -> dict:
    data = tomllib.loads((ROOT / PRESETS_FILE).read_text("utf-8"))
    return {part: data.get(part, {}) for part in ("base", "label", "fix")}


def make_case(raw: dict, preset: dict) -> Case:
    return case_from_table(raw, "heldback", preset, OUT.name)


def settings(case: Case) -> tuple:
    """What makes two cases the same run but for the seed."""
    cfg = case.run_config().with_overrides({"budget.seed": 0})
    return cfg.model_dump_json(), case.model and repr(case.model)


_DATA: dict[str, object] = {}


def data_of(cfg: RunConfig):
    key = cfg.data.model_dump_json() + cfg.task.kind
    if key not in _DATA:
        _DATA[key] = load_data(cfg.data, cfg.task.kind)
    return _DATA[key]


def net(case: Case) -> nn.Module:
    cfg = case.run_config()
    s = data_of(cfg)
    return case.build_model(s.n_features, s.n_classes) or build_model(
        cfg, s.n_features, s.n_classes, s.input_shape)


def activation(case: Case) -> str:
    if case.model is not None:
        return case.model[1].get("activation", "relu")
    return case.run_config().model.activation


def rate_steps(case: Case) -> float:
    """rate x steps, steps = epochs x ceil(training examples / batch)."""
    cfg = case.run_config()
    n = data_of(cfg).x_train.shape[0]
    return cfg.optimizer.lr * cfg.budget.epochs * math.ceil(n / cfg.budget.batch_size)


# -- the premise's arithmetic ---------------------------------------------------------------
def init_std(cfg: RunConfig, fan_in: int, fan_out: int) -> float | None:
    """The weights' std at init: normal s; kaiming sqrt(2 / n); xavier sqrt(2 / (n +
    n_out)); lecun sqrt(1 / n); None for an init with no spread (zeros, constant)."""
    scheme = cfg.init.scheme
    if scheme == "normal":
        return cfg.init.std
    if scheme == "kaiming_normal":
        return math.sqrt(2 / fan_in)
    if scheme == "xavier_normal":
        return cfg.init.gain * math.sqrt(2 / (fan_in + fan_out))
    if scheme == "lecun_normal":
        return math.sqrt(1 / fan_in)
    return None


def layers(case: Case) -> list[tuple[str, int, float, str]]:
    """(role, fan-in n, std s, name) of each weight layer in order: role 'hidden' (an
    activation follows), 'block' (a residual block), 'input' (a residual net's first,
    linear layer) or 'output'."""
    cfg = case.run_config()
    mods = [(name, m) for name, m in net(case).named_modules()
            if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]
    out = []
    for i, (name, m) in enumerate(mods):
        w = m.weight
        fan_in = w[0].numel()
        fan_out = w.shape[0] * (w[0, 0].numel() if w.dim() > 2 else 1)
        role = ("output" if i == len(mods) - 1 else
                "block" if ".blocks." in f".{name}" or name.startswith("blocks") else
                "input" if case.model and case.model[0] == "residual" and i == 0 else "hidden")
        out.append((role, fan_in, init_std(cfg, fan_in, fan_out), name))
    return out


def gain_product(case: Case, with_output: bool) -> float | None:
    """G: the product of g = s sqrt(n) c over the hidden layers (c of the activation),
    a residual block counting sqrt(1 + g^2), the input and output layers g = s sqrt(n)
    (c = 1) where ``with_output`` (a residual net's input layer always)."""
    c = ACT_GAIN[activation(case)]
    total = 1.0
    for role, n, s, _ in layers(case):
        if s is None:
            return None
        if role == "hidden":
            total *= s * math.sqrt(n) * c
        elif role == "block":
            total *= math.sqrt(1 + (s * math.sqrt(n) * c) ** 2)
        elif role == "input" or with_output:
            total *= s * math.sqrt(n)
    return total


def spread(case: Case) -> float | None:
    """s sqrt(n) of the widest hidden layer: the pre-activations' spread for inputs of
    RMS 1."""
    vals = [s * math.sqrt(n) for role, n, s, _ in layers(case)
            if role in ("hidden", "block") and s is not None]
    return max(vals) if vals else None


def live_share(case: Case) -> float | None:
    """P(N(0, sigma^2) > |b|), sigma = s sqrt(n_in) of the first layer: the share of its
    ReLU inputs above a bias b < 0."""
    bias = case.run_config().init.bias
    if bias >= 0:
        return None
    _, n, s, _ = layers(case)[0]
    sigma = s * math.sqrt(n)
    return 0.5 * math.erfc(abs(bias) / (sigma * math.sqrt(2)))


class Healthy:
    """The healthy development cases' rates and rate x steps, by data set and optimizer,
    and the smallest penalties of the underfitting ones."""

    def __init__(self, dev: list[Case]):
        self.groups: dict[tuple, list[tuple[float, float]]] = {}
        self.penalty = {key: min(getattr(c.run_config().regularization, key) for c in dev
                                 if c.kind == "underfitting"
                                 and getattr(c.run_config().regularization, key))
                        for key in ("l2", "l1")}
        for case in dev:
            if case.healthy:
                cfg = case.run_config()
                for key in ((cfg.data.name, cfg.optimizer.name), (None, cfg.optimizer.name)):
                    self.groups.setdefault(key, []).append(
                        (cfg.optimizer.lr, rate_steps(case)))

    def of(self, case: Case) -> tuple[str, list[tuple[float, float]]]:
        cfg = case.run_config()
        key = (cfg.data.name, cfg.optimizer.name)
        if key in self.groups:
            return f"healthy {cfg.data.name} {cfg.optimizer.name} runs", self.groups[key]
        return f"healthy {cfg.optimizer.name} runs", self.groups[(None, cfg.optimizer.name)]


def checks(case: Case, healthy: Healthy) -> list[tuple[str, float, str, float]]:
    """(quantity's name, its value, '<=' or '>=', bound) for the premise of the case's
    label kind; see the module docstring."""
    kind, cfg = case.kind, case.run_config()
    out = []
    if kind == "vanishing":
        g = gain_product(case, with_output=False)
        if g is not None:
            out.append(("G over the hidden layers", g, "<=", VANISHING_G))
    elif kind == "exploding":
        g = gain_product(case, with_output=True)
        if g is not None:
            out.append(("G over the layers", g, ">=", EXPLODING_G))
    elif kind == "saturated":
        act = activation(case)
        s = spread(case)
        if s is not None and act in SATURATION:
            out.append((f"{act} pre-activation spread s sqrt(n)", s, ">=", SATURATION[act]))
    elif kind == "dead":
        p = live_share(case)
        if p is not None:
            out.append(("share of ReLU inputs above the bias", p, "<=", DEAD_SHARE))
    elif kind in ("lr_high", "diverged", "lr_low"):
        what, group = healthy.of(case)
        if kind == "lr_low":
            out.append((f"rate x steps (smallest of the {what})", rate_steps(case), "<=",
                        min(r for _, r in group)))
        else:
            x = DIVERGED_X if kind == "diverged" else 1.0
            bound = x * max(lr for lr, _ in group)
            out.append((f"rate ({x:g} x the largest of the {what})", cfg.optimizer.lr, ">=",
                        bound))
    elif kind == "overfitting":
        params = sum(p.numel() for p in net(case).parameters())
        n = data_of(cfg).x_train.shape[0]
        out.append((f"parameters per training example ({params} / {n})", params / n, ">=",
                    OVERFIT_PARAMS))
    elif kind == "underfitting":
        if case.model is None and cfg.model.kind == "mlp" and cfg.model.depth == 1:
            out.append(("width of the one hidden layer", cfg.model.width, "<=", TINY_WIDTH))
        out.extend((f"{key} penalty (smallest of an underfitting development case)",
                    getattr(cfg.regularization, key), ">=", healthy.penalty[key])
                   for key in ("l2", "l1") if getattr(cfg.regularization, key))
    elif kind == "healthy":
        what, group = healthy.of(case)
        out.append((f"rate (smallest of the {what})", cfg.optimizer.lr, ">=",
                    min(lr for lr, _ in group)))
        out.append((f"rate (largest of the {what})", cfg.optimizer.lr, "<=",
                    max(lr for lr, _ in group)))
        out.append((f"rate x steps (smallest of the {what})", rate_steps(case), ">=",
                    min(r for _, r in group)))
        if cfg.init.scheme == "normal":
            c = ACT_GAIN[activation(case)]
            gs = [s * math.sqrt(n) * c for role, n, s, _ in layers(case) if role == "hidden"]
            if gs:
                out.append(("smallest hidden g", min(gs), ">=", 0.5))
                out.append(("largest hidden g", max(gs), "<=", 2.0))
    return out


def premise_holds(parent: list, child: list) -> tuple[bool, list[str]]:
    """Each check of the child on the premise's side of its bound or, where its parent
    is already past the bound (borderline), no further past it than the parent."""
    ok, text = True, []
    for (name, pv, op, bound), (_, cv, _, _) in zip(parent, child):
        def inside(v: float, op: str = op, bound: float = bound) -> bool:
            return v <= bound if op == "<=" else v >= bound

        if inside(pv):
            good = inside(cv)
            text.append(f"{name}: {cv:.3g} {op} {bound:.3g} (parent {pv:.3g})")
        else:
            good = cv <= pv if op == "<=" else cv >= pv
            text.append(f"{name}: {cv:.3g}, parent {pv:.3g} already past the bound "
                        f"{bound:.3g} (borderline, label carried as is; the child no "
                        "further past it)")
        ok = ok and good
    return ok, text


# -- the variation --------------------------------------------------------------------------
def knobs(case: Case, raw: dict) -> list[str]:
    """The settings this case has that a child may change."""
    cfg = case.run_config()
    out = []
    if case.model is None and cfg.model.kind == "mlp" and cfg.model.depth >= 1:
        out.append("width")
    if case.model is not None and case.model[0] == "residual":
        out.append("width")
    if case.model is None and cfg.model.kind == "cnn":
        out.append("channels")
    if cfg.init.scheme == "normal":
        out.append("std")
    if cfg.init.scheme == "constant" and cfg.init.value != 0:
        out.append("value")
    if cfg.init.bias != 0:
        out.append("bias")
    out.append("rate")
    if cfg.regularization.l2 or cfg.regularization.l1:
        out.append("penalty")
    out.append("batch")
    return out


def vary(case: Case, raw: dict, rng: random.Random) -> tuple[dict, str, str] | None:
    """A copy of ``raw`` with one setting changed; (raw, tag for the id, text)."""
    cfg = case.run_config()
    knob = rng.choice(knobs(case, raw))
    child = copy.deepcopy(raw)
    conf = child.setdefault("config", {})

    def put(table: str, key: str, value) -> None:
        conf[table] = dict(conf.get(table, {}))
        conf[table][key] = value

    if knob == "width":
        f = rng.choice(WIDTHS)
        if case.model is not None:
            old = case.model[1].get("width", 32)
            new = max(1, round(old * f))
            child["user_model"] = {**raw["user_model"], "width": new}
        else:
            old = cfg.model.width
            new = max(1, round(old * f))
            put("model", "width", new)
        return (child, f"w{old}to{new}", f"width {old} -> {new} (x {f})") if new != old else None
    if knob == "channels":
        f = rng.choice(WIDTHS)
        old = list(cfg.model.channels)
        new = [max(1, round(c * f)) for c in old]
        put("model", "channels", new)
        tag = f"c{'_'.join(map(str, old))}to{'_'.join(map(str, new))}"
        return (child, tag, f"channels {old} -> {new} (x {f})") if new != old else None
    if knob in ("std", "value"):
        f = rng.choice(STDS)
        old = getattr(cfg.init, knob)
        put("init", knob, sig(old * f))
        return (child, f"{knob}x{str(f).replace('.', '')}",
                f"init {knob} {old:g} -> {sig(old * f):g} (x {f})")
    if knob == "bias":
        d = rng.choice(BIASES)
        old = cfg.init.bias
        put("init", "bias", sig(old + d))
        return (child, f"bias{'p' if d > 0 else 'm'}05",
                f"init bias {old:g} -> {sig(old + d):g} ({d:+g})")
    if knob == "rate":
        f = rng.choice(RATES)
        old = cfg.optimizer.lr
        conf["optimizer"] = {**conf.get("optimizer", {}), "name": cfg.optimizer.name,
                             "lr": sig(old * f)}
        return (child, f"lrx{str(f).replace('.', '')}",
                f"{cfg.optimizer.name} rate {old:g} -> {sig(old * f):g} (x {f})")
    if knob == "penalty":
        f = rng.choice(PENALTIES)
        key = "l2" if cfg.regularization.l2 else "l1"
        old = getattr(cfg.regularization, key)
        put("regularization", key, sig(old * f))
        return (child, f"{key}x{str(f).replace('.', '')}",
                f"{key} penalty {old:g} -> {sig(old * f):g} (x {f})")
    f = rng.choice(BATCHES)
    old = cfg.budget.batch_size
    new = max(1, round(old * f))
    put("budget", "batch_size", new)
    if new == old:
        return None
    return child, f"batch{old}to{new}", f"batch size {old} -> {new} (x {f})"


# -- the draw ---------------------------------------------------------------------------------
def draw() -> list[tuple[dict, Case]]:
    rng = random.Random(SEED)
    raws, preset = raw_entries(), presets()  # 01 to 08, never this split's own file
    before = [c for c in CASES if c.id in raws]
    dev = [c for c in before if not c.heldback]
    assert len(dev) == 530 and sum(c.healthy for c in dev) == 186, "not the f834de4 cases"
    eighth = [c for c in before if c.heldback]
    taken = {settings(c) for c in dev + eighth}
    healthy = Healthy(dev)
    used_seeds = {c.run_config().budget.seed for c in before}
    assert max(used_seeds) < FIRST_SEED

    counts = {}
    for c in dev:
        for code in c.requires:
            counts[code] = counts.get(code, 0) + 1
    order = sorted(counts, key=lambda code: (-counts[code], code))
    plan: list[tuple[str, Case]] = []  # (stratum, parent)
    required = dict.fromkeys(order, 0)
    for code in order:
        pool = [c for c in dev if code in c.requires]
        need = PER_FINDING - required[code]
        if need <= 0:
            continue
        picks = (rng.sample(pool, need) if len(pool) >= PER_FINDING
                 else [rng.choice(pool) for _ in range(need)])
        for p in picks:
            plan.append((code, p))
            for r in p.requires:
                required[r] += 1
    n_problem = len(plan)
    plan += [("healthy", p) for p in rng.sample([c for c in dev if c.healthy],
                                                 math.ceil(n_problem / 2))]

    children: list[tuple[dict, Case]] = []
    for stratum, first in plan:
        parent = first
        while True:
            made = make_child(parent, raws, preset, healthy, taken, rng,
                              FIRST_SEED + len(children))
            if made is not None:
                break
            pool = [c for c in dev if (c.healthy if stratum == "healthy"
                                       else stratum in c.requires)]
            parent = rng.choice(pool)
        taken.add(settings(made[1]))
        children.append(made)
    return children


def make_child(parent: Case, raws: dict, preset: dict, healthy: Healthy, taken: set,
               rng: random.Random, seed: int) -> tuple[dict, Case] | None:
    parent_checks = checks(parent, healthy)
    stem = re.sub(r"_seed\d+$", "", parent.id)
    for _ in range(REDRAWS):
        varied = vary(parent, raws[parent.id], rng)
        if varied is None:
            continue
        raw, tag, change = varied
        raw["config"]["budget"] = {**raw["config"].get("budget", {}), "seed": seed}
        raw["id"] = f"{stem}_{tag}_seed{seed}"
        raw.pop("note", None)
        try:
            child = make_case(raw, preset)
            child.run_config()
        except ValueError:  # a config RunConfig refuses (a rate above its limit of 100)
            continue
        if settings(child) in taken:
            continue
        ok, text = premise_holds(parent_checks, checks(child, healthy))
        if not ok:
            continue
        premise = "; ".join(text) if text else "no arithmetic bound for this kind (" + (
            "every unit of a layer starts alike whatever the change" if parent.kind == "symmetric"
            else "the change leaves the construction's cause as it was") + ")"
        raw["note"] = (f"from {parent.id} ({parent.kind}, label carried over): {change}; "
                       f"seed {seed}; premise: {premise}")
        return raw, child
    return None


# -- the file ---------------------------------------------------------------------------------
BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k if BARE.match(k) else json.dumps(k)} = {toml_value(x)}"
                               for k, x in v.items()) + "}"
    raise TypeError(v)


def wrap(text: str, width: int = 84) -> list[str]:
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}" if line else w
    return [*lines, line] if line else lines


HEADER = """\
split = "heldback"

# ---- the ninth held-back split (HELDBACK, beside the eighth): drawn by
# tools/draw_heldback.py, whose docstring holds the protocol, committed before the draw;
# this file is that script's output, unedited, committed before any of its cases was
# run. Parents: every development case (01-07), with no filter on whether the diagnosis
# got them right, drawn at random (random.Random(20261208)) by stratum: 20 children at
# least for each finding a label requires, and a third of the split healthy. Each child
# has a seed of its own (700 and up) and ONE other setting changed by a factor drawn at
# random in either direction; its label is its parent's, unless the premise's
# arithmetic (in its note) said the change crossed it, in which case the change was
# drawn again. ----
"""


def render(children: list[tuple[dict, Case]]) -> str:
    parts = [HEADER]
    order = ("id", "base", "config", "user_model", "label", "requires", "allows", "kind",
             "fix", "note")
    for raw, _ in children:
        lines = ["[[case]]"]
        for key in order:
            if key not in raw:
                continue
            v = raw[key]
            if key == "config":
                lines += [f"config.{t} = {toml_value(val)}" for t, val in v.items()]
            elif key == "note":
                lines.append('note = """\\')
                body = wrap(v)
                lines += [f"    {ln} \\" for ln in body[:-1]] + [f'    {body[-1]}"""']
            else:
                lines.append(f"{key} = {toml_value(v)}")
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    children = draw()
    args.out.write_text(render(children), encoding="utf-8")
    cases = [c for _, c in children]
    print(f"{args.out}: {len(cases)} cases, {sum(c.healthy for c in cases)} healthy")
    for code in sorted({r for c in cases for r in c.requires}):
        print(f"  {code}: required by {sum(code in c.requires for c in cases)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
