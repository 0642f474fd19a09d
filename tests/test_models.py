"""fitscope.models: clone_module gives an independent copy of a built model."""

import pytest
import torch

from fitscope import RunConfig
from fitscope.models import build_model, clone_module

MODELS = {
    "mlp with batch norm and dropout": ({"model": {"depth": 3, "width": 8, "batch_norm": True,
                                                   "dropout": 0.2, "input_dropout": 0.1}},
                                        (4,)),
    "cnn": ({"data": {"name": "digits"}, "model": {"kind": "cnn"}}, (1, 8, 8)),
    "multi-task": ({"task": {"aux": [{"kind": "parity"}]}}, (4,)),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_a_clone_equals_the_model_and_shares_nothing_that_changes(name):
    body, shape = MODELS[name]
    cfg = RunConfig.model_validate(body)
    features = shape[0] if len(shape) == 1 else int(torch.tensor(shape).prod())
    model = build_model(cfg, features, 3, shape)
    model.eval()
    clone = clone_module(model)
    assert type(clone) is type(model) and repr(clone) == repr(model)
    a, b = model.state_dict(), clone.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]) and a[key].data_ptr() != b[key].data_ptr(), key
    assert [p.requires_grad for p in clone.parameters()] == \
        [p.requires_grad for p in model.parameters()]
    x = torch.randn(5, *shape)
    assert torch.equal(clone(x), model(x))
    with torch.no_grad():  # changing the clone leaves the model alone
        for p in clone.parameters():
            p.add_(1.0)
    assert all(torch.equal(a[k], model.state_dict()[k]) for k in a)
    clone.train()
    assert not model.training and all(not m.training for m in model.modules())
    calls = []
    clone.register_forward_hook(lambda *args: calls.append(1))
    model(x)
    assert calls == []
    clone(x)
    assert calls == [1]
