"""Study files: expansion into runs (grid x zip x seeds), stable ids, errors naming the axis."""

import re
import tomllib

import pytest

from fitscope import RunConfig
from fitscope.study import StudySpec, StudySpecError
from fitscope.study.spec import config_label

BASE = """
seeds = 3
[base]
data.name = "moons"
data.n_samples = 200
model.depth = 1
budget.epochs = 2
"""


def spec(text: str) -> StudySpec:
    return StudySpec.from_dict(tomllib.loads(BASE + text), text=BASE + text)


def test_grid_times_zip_times_seeds():
    s = spec("""
[grid]
"init.scheme" = ["xavier_normal", "kaiming_normal"]
"regularization.l2" = [0, 1e-4, 1e-3]
[zip]
"optimizer.name" = ["sgd", "adam"]
"optimizer.lr" = [0.1, 0.001]
""")
    runs = s.expand()
    assert len(runs) == 2 * 3 * 2 * 3
    assert list(s.points()[0]) == ["init.scheme", "regularization.l2",
                                   "optimizer.name + optimizer.lr"]
    assert len({r.run_id for r in runs}) == len(runs)
    first = runs[0].config
    assert (first.init.scheme, first.regularization.l2, first.optimizer.name,
            first.optimizer.lr, first.budget.seed) == ("xavier_normal", 0.0, "sgd", 0.1, 0)
    assert [r.seed for r in runs[:4]] == [0, 1, 2, 0]
    # zip pairs values, it does not cross them
    assert {(r.config.optimizer.name, r.config.optimizer.lr) for r in runs} == {
        ("sgd", 0.1), ("adam", 0.001)}
    # every seed of one configuration shares its label; labels name each zip key
    assert runs[0].label == runs[2].label != runs[3].label
    assert runs[3].label == ("init.scheme=xavier_normal, regularization.l2=0, "
                             "optimizer.name=adam, optimizer.lr=0.001")


def test_run_ids_are_config_hashes_and_stable():
    text = '[grid]\n"model.width" = [8, 16]\n'
    a, b = spec(text).expand(), spec(text).expand()
    assert [r.run_id for r in a] == [r.run_id for r in b]
    expected = RunConfig.model_validate(tomllib.loads(BASE)["base"]).with_overrides(
        {"model.width": 16, "budget.seed": 2})
    assert a[-1].config == expected and a[-1].run_id == expected.run_id


def test_dotted_toml_keys_and_table_values():
    quoted = spec('[grid]\n"init.scheme" = ["zeros", "xavier_normal"]\n').expand()
    dotted = spec('[grid]\ninit.scheme = ["zeros", "xavier_normal"]\n').expand()
    assert [r.run_id for r in quoted] == [r.run_id for r in dotted]
    tables = spec('[grid]\ninit = [{scheme = "normal", std = 1.0}, {scheme = "zeros"}]\n')
    runs = tables.expand()
    assert (runs[0].config.init.scheme, runs[0].config.init.std) == ("normal", 1.0)
    assert runs[0].label == "init={scheme=normal std=1.0}"


def test_no_axes_is_one_configuration():
    runs = spec("").expand()
    assert len(runs) == 3 and {r.label for r in runs} == {"base"}
    assert config_label({}) == "base"


@pytest.mark.parametrize("text, words", [
    ('[grid]\n"init.scheme" = ["xavier", "zeros"]\n',
     ["grid axis 'init.scheme'", "'xavier'", "init.scheme", "kaiming_normal"]),
    ('[grid]\n"model.dept" = [1, 2]\n', ["grid axis 'model.dept'", "unknown config field"]),
    ('[zip]\n"optimizer.lr" = [-1.0, 0.1]\n"optimizer.name" = ["sgd", "adam"]\n',
     ["zip axis 'optimizer.lr'", "-1.0", "greater than 0"]),
    ('[zip]\n"optimizer.lr" = [0.1]\n"optimizer.name" = ["sgd", "adam"]\n',
     ["one length", "'optimizer.lr': 1", "'optimizer.name': 2"]),
    ('[grid]\n"model.width" = []\n', ["grid axis 'model.width'", "non-empty list"]),
    ('[grid]\n"model.width" = 8\n', ["grid axis 'model.width'", "got 8"]),
    ('[grid]\n"budget.seed" = [1, 2]\n', ["budget.seed", "seeds = N"]),
    ('[grid]\n"model.width" = [8]\n[zip]\n"model.width" = [16]\n',
     ["'model.width'", "both [grid] and [zip]"]),
    ('[grid]\n"regularization.l2" = [0, 0.0]\n', ["same run", "regularization.l2=0.0"]),
    # each value is valid alone; one combination is not
    (('[grid]\n"task.kind" = ["classification", "regression"]\n'
     '"regularization.label_smoothing" = [0.0, 0.1]\n'),
     ["configuration 'task.kind=regression, regularization.label_smoothing=0.1' with seed 0",
      "label_smoothing needs task.kind='classification'"]),
])
def test_errors_name_the_axis_and_the_value(text, words):
    with pytest.raises(StudySpecError) as info:
        spec(text).expand()
    for word in words:
        assert word in str(info.value), (word, str(info.value))


@pytest.mark.parametrize("data, words", [
    ({"seeds": 0}, ["seeds", "got 0"]),
    ({"seeds": "5"}, ["seeds", "'5'"]),
    ({"axes": {}}, ["unknown study key", "axes"]),
    ({"base": {"model": {"depth": -1}}}, ["[base]", "model.depth"]),
])
def test_top_level_errors(data, words):
    with pytest.raises(StudySpecError) as info:
        StudySpec.from_dict(data)
    for word in words:
        assert word in str(info.value)


def test_load_names_the_study_after_the_file(tmp_path):
    path = tmp_path / "inits.toml"
    path.write_text(BASE)
    s = StudySpec.load(path)
    assert s.name == "inits" and s.seeds == 3 and s.text == BASE
    path.write_text('name = "mine"\n' + BASE)
    assert StudySpec.load(path).name == "mine"
    path.write_text("seeds = = 3")
    with pytest.raises(StudySpecError, match="not valid TOML"):
        StudySpec.load(path)
    with pytest.raises(FileNotFoundError, match=re.escape("nope.toml")):
        StudySpec.load(tmp_path / "nope.toml")
