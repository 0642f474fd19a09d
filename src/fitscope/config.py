"""One run, one config.

A :class:`RunConfig` is validated when it is built, frozen, serializable to TOML and
JSON, and hashable: :attr:`RunConfig.run_id` is a stable hash of its canonical JSON, so
the same experiment always gets the same id. Every part has defaults that train well on
the default data (two moons), so ``RunConfig()`` is a complete, working run.

Errors are pydantic ``ValidationError`` s; they name the field (``model.depth``) and,
for choices, the allowed values.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, model_validator

TOY_2D = ("moons", "circles", "xor", "spiral", "gaussians")
IMAGE_SETS = ("digits", "mnist", "fashion_mnist")
DataName = Literal[
    "moons", "circles", "xor", "spiral", "gaussians",
    "digits", "breast_cancer", "mnist1d", "mnist", "fashion_mnist", "csv", "npz",
]
Activation = Literal["relu", "tanh", "sigmoid", "linear"]
InitScheme = Literal[
    "default", "zeros", "constant", "normal", "uniform",
    "xavier_normal", "xavier_uniform", "kaiming_normal", "kaiming_uniform",
    "lecun_normal", "orthogonal",
]


class _Part(BaseModel):
    """Base of every config part: frozen, and unknown fields are errors (typos fail loudly)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class DataConfig(_Part):
    """Which data, how it is split and preprocessed."""

    name: DataName = "moons"
    n_samples: int = Field(1000, ge=10, le=2_000_000, description="2-D sets and mnist1d")
    noise: float = Field(0.2, ge=0.0, le=10.0, description="2-D sets: noise level")
    path: str | None = Field(None, description="mnist/fashion_mnist: IDX directory; csv/npz: file")
    target: str | int = Field(-1, description="csv: label column (name or index)")
    val_fraction: float = Field(0.2, ge=0.0, lt=1.0)
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    split_seed: int = Field(0, ge=0, description="seed of the train/val/test split")
    train_size: int | None = Field(None, ge=2, description="keep only this many train examples")
    label_noise: float = Field(0.0, ge=0.0, le=1.0, description="share of train labels replaced")
    standardize: bool = Field(True, description="zero mean, unit variance, fitted on train only")
    poly_degree: int = Field(1, ge=1, le=10, description="polynomial feature expansion")

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        if self.val_fraction + self.test_fraction >= 0.9:
            raise ValueError(
                f"data.val_fraction + data.test_fraction must be below 0.9, "
                f"got {self.val_fraction} + {self.test_fraction}"
            )
        if self.name in ("mnist", "fashion_mnist", "csv", "npz") and not self.path:
            raise ValueError(f"data.path is required for data.name={self.name!r}")
        return self


class AuxTask(_Part):
    """An auxiliary binary task for multi-task learning: from the class label (``parity``,
    ``upper_half``) or from the input alone (``ink_left``, ``ink_top``; see
    :func:`fitscope.engine.aux_target`)."""

    kind: Literal["parity", "upper_half", "ink_left", "ink_top"] = "parity"
    weight: float = Field(1.0, ge=0.0, le=100.0)


class TaskConfig(_Part):
    """Classification (cross-entropy) or regression (mean squared error).

    ``aux`` adds heads on the shared trunk (multi-task learning); ``main_label_fraction``
    keeps the main task's labels on only that share of the train set, while the
    auxiliary tasks see every example (the setting where sharing helps).
    """

    kind: Literal["classification", "regression"] = "classification"
    aux: tuple[AuxTask, ...] = ()
    main_label_fraction: float = Field(1.0, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _check(self) -> TaskConfig:
        if self.aux and self.kind != "classification":
            raise ValueError("task.aux needs task.kind='classification'")
        if self.main_label_fraction < 1 and not self.aux:
            raise ValueError("task.main_label_fraction < 1 needs task.aux (it hides main labels "
                             "from a multi-task net); use data.train_size for a smaller set")
        return self


class ModelConfig(_Part):
    """An MLP (``depth`` hidden layers; 0 is a linear / logistic model) or a small CNN."""

    kind: Literal["mlp", "cnn"] = "mlp"
    depth: int = Field(2, ge=0, le=64, description="hidden layers")
    width: int | tuple[int, ...] = Field(32, description="units per hidden layer, or one per layer")
    activation: Activation = "relu"
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="drop probability after hidden layers")
    input_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="drop probability on inputs")
    batch_norm: bool = False
    bias: bool = True
    channels: tuple[int, ...] = Field((8, 16), description="cnn: channels per conv block")
    kernel_size: int = Field(3, ge=1, le=11)

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        widths = (self.width,) if isinstance(self.width, int) else self.width
        if any(w < 1 or w > 8192 for w in widths):
            raise ValueError(f"model.width must be in [1, 8192], got {self.width}")
        if not isinstance(self.width, int) and len(self.width) != self.depth:
            raise ValueError(
                f"model.width lists {len(self.width)} widths but model.depth={self.depth}"
            )
        if self.kind == "cnn" and not self.channels:
            raise ValueError("model.channels must name at least one conv block for kind='cnn'")
        return self

    @property
    def widths(self) -> tuple[int, ...]:
        """Hidden widths, one per layer."""
        return (self.width,) * self.depth if isinstance(self.width, int) else tuple(self.width)


class InitConfig(_Part):
    """Weight initialization; see :mod:`fitscope.init` for each scheme's formula.

    ``default`` keeps PyTorch's own initialization. ``xavier_mode`` chooses between the
    two Xavier-normal variants of the notes: ``avg`` (variance 2/(n_in+n_out), Glorot and
    Bengio 2010) and ``in`` (variance 1/n_in).
    """

    scheme: InitScheme = "kaiming_normal"
    value: float = Field(0.0, ge=-100.0, le=100.0, description="constant: the value")
    std: float = Field(0.01, gt=0.0, le=100.0, description="normal: standard deviation")
    a: float = Field(0.05, gt=0.0, le=100.0, description="uniform: bound a of U(-a, a)")
    xavier_mode: Literal["avg", "in"] = "avg"
    gain: float = Field(1.0, gt=0.0, le=100.0, description="orthogonal: gain")
    bias: float = Field(0.0, ge=-100.0, le=100.0, description="value of every bias")


class AugmentConfig(_Part):
    """Data augmentation applied to each training batch (images: digits, mnist)."""

    flip_h: bool = False
    flip_v: bool = False
    rotate_deg: float = Field(0.0, ge=0.0, le=180.0)
    scale: float = Field(0.0, ge=0.0, lt=1.0, description="zoom by a factor in [1-s, 1+s]")
    translate: float = Field(0.0, ge=0.0, lt=1.0, description="shift by up to this share")
    crop: float = Field(0.0, ge=0.0, lt=1.0, description="random crop of this share, resized")
    noise_std: float = Field(0.0, ge=0.0, le=10.0, description="Gaussian noise (any data)")

    @property
    def active(self) -> bool:
        return any((self.flip_h, self.flip_v, self.rotate_deg, self.scale, self.translate,
                    self.crop, self.noise_std))


class EarlyStoppingConfig(_Part):
    """Stop when the monitored validation metric stops improving (Goodfellow et al. alg. 7.1).

    ``after`` is one of the notes' two ways to use the validation data afterwards:
    ``retrain_all`` retrains from the same init on train+val for the best number of
    steps; ``continue_all`` continues on train+val until the validation loss falls below
    the training loss at the stop.
    """

    enabled: bool = False
    monitor: Literal["val_loss", "val_acc"] = "val_loss"
    patience: int = Field(10, ge=1, le=100_000)
    min_delta: float = Field(0.0, ge=0.0)
    restore_best: bool = True
    start_epoch: int = Field(0, ge=0)
    after: Literal["none", "retrain_all", "continue_all"] = "none"


class RegularizationConfig(_Part):
    """Penalties, noise, label smoothing, augmentation, adversarial training, early stopping.

    Dropout and batch norm live on :class:`ModelConfig`. Setting both ``l1`` and ``l2``
    is the elastic net.
    """

    l2: float = Field(0.0, ge=0.0, le=10.0, description="penalty lambda/2 ||w||^2")
    l2_on_bias: bool = False
    weight_decay: float = Field(0.0, ge=0.0, le=10.0, description="decoupled weight decay")
    l1: float = Field(0.0, ge=0.0, le=10.0, description="penalty lambda ||w||_1")
    activation_l1: float = Field(0.0, ge=0.0, le=10.0, description="lambda ||h||_1 on hidden")
    input_noise: float = Field(0.0, ge=0.0, le=10.0, description="std of noise on inputs")
    weight_noise: float = Field(0.0, ge=0.0, le=10.0, description="std of noise on weights")
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    augment: AugmentConfig = AugmentConfig()
    fgsm_epsilon: float = Field(0.0, ge=0.0, le=10.0, description="adversarial training")
    adversarial_fraction: float = Field(0.5, ge=0.0, le=1.0)
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()


class ScheduleConfig(_Part):
    """Learning-rate schedule over steps; see :func:`fitscope.optim.lr_at` for formulas."""

    kind: Literal["constant", "linear", "step", "cosine"] = "constant"
    final_fraction: float = Field(0.01, ge=0.0, le=1.0, description="eps_tau / eps_0")
    tau: int | None = Field(None, ge=1, description="linear/cosine: steps to decay (default all)")
    step_size: int = Field(1000, ge=1, description="step: steps between drops")
    gamma: float = Field(0.1, gt=0.0, le=1.0, description="step: factor of each drop")


class OptimizerConfig(_Part):
    """The optimizer, its schedule and gradient clipping."""

    name: Literal["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"] = "adam"
    lr: float = Field(0.01, gt=0.0, le=100.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="momentum / nesterov: alpha")
    beta1: float = Field(0.9, ge=0.0, lt=1.0)
    beta2: float = Field(0.999, ge=0.0, lt=1.0)
    rho: float = Field(0.9, ge=0.0, lt=1.0, description="rmsprop: decay rate")
    eps: float = Field(1e-8, gt=0.0, le=1.0)
    schedule: ScheduleConfig = ScheduleConfig()
    clip_norm: float | None = Field(None, gt=0.0)
    clip_value: float | None = Field(None, gt=0.0)

    @model_validator(mode="after")
    def _check(self) -> OptimizerConfig:
        if self.name == "nesterov" and self.momentum == 0:
            raise ValueError("optimizer.momentum must be above 0 for optimizer.name='nesterov' "
                             "(use name='sgd' for plain SGD)")
        return self


class BudgetConfig(_Part):
    """How long, in what batches, with which seed, on which device."""

    epochs: int = Field(30, ge=1, le=100_000)
    max_steps: int | None = Field(None, ge=1, description="stop after this many steps")
    batch_size: int = Field(64, ge=0, description="0 means full batch")
    seed: int = Field(0, ge=0)
    device: Literal["cpu", "cuda"] = "cpu"


class ObserveConfig(_Part):
    """What the engine records beyond the history."""

    probe_every: int = Field(0, ge=0, description="probe layers every N steps (0: off)")
    histogram_bins: int = Field(30, ge=2, le=200)
    snapshot_every: int = Field(0, ge=0, description="keep parameters every N steps (0: off)")


class RunConfig(_Part):
    """A whole experiment. ``run_id`` is a stable hash of everything but ``name``."""

    name: str = ""
    data: DataConfig = DataConfig()
    task: TaskConfig = TaskConfig()
    model: ModelConfig = ModelConfig()
    init: InitConfig = InitConfig()
    regularization: RegularizationConfig = RegularizationConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    budget: BudgetConfig = BudgetConfig()
    observe: ObserveConfig = ObserveConfig()

    @model_validator(mode="after")
    def _check(self) -> RunConfig:
        if self.model.kind == "cnn" and self.data.name not in (*IMAGE_SETS, "mnist1d"):
            raise ValueError(
                f"model.kind='cnn' needs image or signal data (digits, mnist, fashion_mnist, "
                f"mnist1d), got data.name={self.data.name!r}"
            )
        if self.task.kind == "regression" and self.regularization.label_smoothing:
            raise ValueError("regularization.label_smoothing needs task.kind='classification'")
        if self.regularization.early_stopping.enabled and self.data.val_fraction == 0:
            raise ValueError("regularization.early_stopping needs data.val_fraction > 0")
        return self

    # -- identity -------------------------------------------------------------------
    @property
    def run_id(self) -> str:
        """First 16 hex digits of the SHA-256 of the canonical JSON (``name`` excluded)."""
        body = self.model_dump(mode="json", exclude={"name"})
        text = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    # -- (de)serialization ----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def to_toml(self) -> str:
        return tomli_w.dumps(_drop_none(self.to_dict()))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        return cls.model_validate(data)

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        """Load from a ``.toml`` or ``.json`` file."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"config file not found: {path}")
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        return cls.model_validate(data)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_json() if path.suffix == ".json" else self.to_toml())
        return path

    def with_overrides(self, overrides: dict[str, Any]) -> RunConfig:
        """A copy with dotted-path values replaced: ``{"model.depth": 9}``."""
        data = self.to_dict()
        for dotted, value in overrides.items():
            set_dotted(data, dotted, value)
        return type(self).model_validate(data)


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``data["a"]["b"] = value`` for ``dotted == "a.b"``; unknown parts are errors."""
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        if not isinstance(node.get(key), dict):
            raise KeyError(f"unknown config field {dotted!r} (no section {key!r})")
        node = node[key]
    if keys[-1] not in node:
        raise KeyError(f"unknown config field {dotted!r}; fields here: {sorted(node)}")
    node[keys[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``model.depth=9`` into ``("model.depth", 9)``; the value is read as TOML."""
    if "=" not in text:
        raise ValueError(f"override must look like field.path=value, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # a bare word such as tanh
    return key.strip(), value


def _drop_none(obj: Any) -> Any:
    """TOML has no null: leave fields at None out (they load back as their default)."""
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_none(v) for v in obj]
    return obj
