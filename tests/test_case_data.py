"""The diagnosis benchmark's cases as data (fitscope/probe/case_data/*.toml): a frozen
fingerprint of every existing case, the names the files use, and the errors a bad file
gives."""

import ast
import hashlib
import json
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from fitscope.probe import cases as cases_module
from fitscope.probe.cases import BY_ID, CASES, HELDBACK, CaseDataError, load_cases

DATA = resources.files("fitscope.probe") / "case_data"

# sha256 of each case file's cases, as fingerprint() computes them. Any change to an
# existing case (its id, config, requires, allows, fix, kind, user model or split) fails
# the test below. To add a split on purpose: write its file (e.g. 08_split_eighth.toml,
# split = "heldback"), run `python -m pytest tests/test_case_data.py -q`, and paste the
# fingerprint the failure prints for the new file here; when an earlier held-back split
# moves to the development split, its fingerprint changes with its split: update that
# line too, and say so in the commit message. Notes and comments are not fingerprinted.
# These were computed from the Python declarations of probe/cases.py before the move
# to data (commit 97a1b2d) and match the files' cases; 01 to 07 changed once since, on
# purpose (the eighth round): the exploding label allows not_learning (presets.toml,
# every file with an exploding case), and the seventh split moved to the development
# split with five labels corrected by construction (07); 08 is the eighth held-back split,
# 09 the ninth (tools/draw_heldback.py's output, held back beside the eighth).
FINGERPRINTS = {
    "01_development_rounds.toml":
        "586556fbf303964b57bab579027b440fa2c1c26f54b709aeeb0fb7785f660a2d",
    "02_split_second.toml":
        "4f282757bc2b19fd5f0c105b56a803ca6dcaef8f9d00e2d1480dc6034d223534",
    "03_split_third.toml":
        "e6e0e0d4ac237846116a23abc45eee5ea9bd97713fb75170872d1aa2d421f4a8",
    "04_split_fourth.toml":
        "41f613013a5c2f20b611f3402a367dafde73d8fb737b163d4814e75507cd8837",
    "05_split_fifth.toml":
        "20c5385d8cc66d4cbef301e169fd55aa9c217e7be1628ed411c33273893ab705",
    "06_split_sixth.toml":
        "83c9a8d0d7aa1056332813cbf94275005a23de19f3cfcc70b7ce1fa9faa83f15",
    "07_split_seventh.toml":
        "3721030ac3be15ca7aa87b4521db823130556267d841a7485f674042a044a70e",
    "08_split_eighth.toml":
        "05814f9a0d607293837fb7885057cf8de476e187260037f94b21cee26ec524ea",
    "09_split_ninth.toml":
        "2ca715d0b2d236e9b5e2076627e93b8deb2abd8b5f7b664f922b0c0594af9dea",
}


def case_files() -> dict[str, list[str]]:
    """Each case file's name and its case ids, in file order."""
    return {e.name: [c["id"] for c in tomllib.loads(e.read_text("utf-8")).get("case", [])]
            for e in sorted(DATA.iterdir(), key=lambda e: e.name)
            if e.name.endswith(".toml") and e.name != "presets.toml"}


def fingerprint(ids: list[str]) -> str:
    """sha256 over the sorted (id, config, requires, allows, fix, kind, user model, split)
    rows of these cases, configs and fixes as JSON with sorted keys."""
    rows = sorted((c.id, json.dumps(c.config, sort_keys=True), sorted(c.requires),
                   sorted(c.allows), json.dumps(c.fix, sort_keys=True), c.kind,
                   json.dumps(c.model, sort_keys=True),
                   "heldback" if c.heldback else "development")
                  for c in (BY_ID[i] for i in ids))
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def test_every_existing_case_is_as_it_was_frozen():
    got = {name: fingerprint(ids) for name, ids in case_files().items()}
    changed = {name: fp for name, fp in got.items() if FINGERPRINTS.get(name) != fp}
    assert not changed, f"case files changed or new (see FINGERPRINTS' comment): {changed}"
    assert set(FINGERPRINTS) <= set(got), "a fingerprinted case file is gone"


def test_the_files_hold_every_case_once_in_the_order_the_benchmark_reads_them():
    ids = [i for file_ids in case_files().values() for i in file_ids]
    assert ids == [c.id for c in CASES] and len(set(ids)) == len(ids) == len(BY_ID)
    held = {i for e in DATA.iterdir() if e.name.endswith(".toml") and e.name != "presets.toml"
            for d in [tomllib.loads(e.read_text("utf-8"))] if d["split"] == "heldback"
            for i in (c["id"] for c in d["case"])}
    assert {c.id for c in CASES if c.heldback} == held == HELDBACK and held


def finding_codes() -> set[str]:
    """The codes fitscope.probe.findings can report: the string literals of findings.py
    (each Finding is made with its code as a literal, or a literal passed to a helper)."""
    import fitscope.probe.findings as findings

    tree = ast.parse(Path(findings.__file__).read_text())
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, str) and n.value.isidentifier()}


def test_every_name_a_case_requires_or_allows_is_a_finding_code():
    codes = finding_codes()
    named = {code for c in CASES for code in c.requires | c.allows}
    assert named <= codes, named - codes
    assert "vanishing_gradient" not in codes and "lr_high" not in codes  # typos fail


def test_every_case_builds_its_config_and_model():
    for case in CASES:
        cfg = case.run_config()
        if case.model is not None:
            assert case.build_model(64, 10) is not None, case.id
        assert cfg.budget.seed == case.config.get("budget", {}).get("seed", cfg.budget.seed)


def test_a_case_reads_as_its_base_merged_under_its_config_and_its_named_label_and_fix():
    case = BY_ID["moons_relu30_xavier_flat"]
    assert case.config["data"] == {"name": "moons", "n_samples": 400}
    assert case.config["init"] == {"scheme": "xavier_normal"}
    assert case.config["model"]["depth"] == 30 and case.config["model"]["width"] == 32
    assert case.requires == {"vanishing_gradients", "not_learning"}
    assert case.allows == {"underfitting"} and case.kind == "vanishing"
    assert case.fix == {"init.scheme": "kaiming_normal"}
    assert case.model is None and not case.heldback
    assert BY_ID["digits_residual_tanh"].model == (
        "residual", {"width": 32, "depth": 4, "activation": "tanh"})


def write_case_data(folder: Path, case: str, split: str = "development") -> Path:
    """A case data folder: the package's presets and one case file holding ``case``."""
    (folder / "presets.toml").write_text((DATA / "presets.toml").read_text("utf-8"))
    (folder / "01_a.toml").write_text(f'split = "{split}"\n\n{case}\n')
    return folder


GOOD = '[[case]]\nid = "a"\nbase = ["moons", "he"]\nconfig.model = {depth = 3}\n'


def test_a_small_file_loads_its_case(tmp_path):
    (case,) = load_cases(write_case_data(tmp_path, GOOD))
    assert case.id == "a" and case.config["model"] == {"depth": 3, "width": 32}
    assert case.config["init"] == {"scheme": "kaiming_normal"} and case.healthy
    assert case.kind == "healthy" and not case.heldback


@pytest.mark.parametrize("case, mentions", [
    (GOOD.replace('["moons", "he"]', '"moonz"'), ["01_a.toml", "'a'", "base", "moonz"]),
    (GOOD + 'label = "vanishin"\n', ["'a'", "label", "vanishin", "vanishing"]),
    (GOOD + 'fix = "hee"\n', ["'a'", "fix", "hee"]),
    (GOOD + 'fix = 3\n', ["'a'", "fix"]),
    (GOOD + 'label = "dead"\nrequires = ["dead_relu"]\n', ["'a'", "label", "requires"]),
    (GOOD + 'requires = "dead_relu"\n', ["'a'", "requires"]),
    (GOOD + 'user_model = {name = "resnet"}\n', ["'a'", "user_model", "resnet"]),
    (GOOD + 'fixx = "he"\n', ["'a'", "fixx"]),
    (GOOD + GOOD, ["01_a.toml", "'a'", "id", "already"]),
    ('[[case]]\nbase = "moons"\n', ["(no id)", "id"]),
    (GOOD + 'config = 3\n', ["01_a.toml", "not valid TOML"]),
])
def test_a_bad_case_names_the_file_the_case_and_the_field(tmp_path, case, mentions):
    with pytest.raises(CaseDataError) as err:
        load_cases(write_case_data(tmp_path, case))
    for m in mentions:
        assert m in str(err.value), (m, str(err.value))


def test_a_case_file_must_say_its_split(tmp_path):
    with pytest.raises(CaseDataError, match=r"01_a\.toml: field 'split'"):
        load_cases(write_case_data(tmp_path, GOOD, split="held"))
    (case,) = load_cases(write_case_data(tmp_path, GOOD, split="heldback"))
    assert case.heldback


def test_the_installed_package_ships_the_case_data():
    """pyproject's package-data names the files a non-editable install copies."""
    root = Path(cases_module.__file__).resolve().parents[3]
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    assert "probe/case_data/*.toml" in pyproject["tool"]["setuptools"]["package-data"][
        "fitscope"]
