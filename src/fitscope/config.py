"""One run, one config.

A :class:`RunConfig` is validated when it is built, frozen, serializable to TOML and
JSON, and hashable: :attr:`RunConfig.run_id` is a stable hash of its canonical JSON and of
its data file's content (:meth:`RunConfig.identity`), so the same experiment always gets
the same id and a changed data file a new one. Every part has defaults that train well on
the default data (two moons), so ``RunConfig()`` is a complete, working run.

Errors are pydantic ``ValidationError`` s; they name the field (``model.depth``) and,
for choices, the allowed values. Types are strict where a wrong one would change the
meaning: a count takes an integer only (not ``true``, ``2.5`` or ``"3"``), a number takes
an integer or a finite float (not NaN or infinity), a switch takes ``true`` or ``false``.
Seeds are in [0, :data:`SEED_MAX`]; counts without a natural bound stop at
:data:`COUNT_MAX`. A config file that cannot be read, is not UTF-8 text, or is not valid
TOML / JSON raises :class:`ConfigFileError` naming the file (and the line).
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import tomli_w
from pydantic import (
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    field_validator,
    model_validator,
)

Int = Annotated[int, Strict()]  # an integer: no bool, float or text
Float = Annotated[float, Strict(), AllowInfNan(False)]  # an int or a finite float
Bool = Annotated[bool, Strict()]  # true or false, not 1 or "yes"
SEED_MAX = 2**31 - 1  # seeds (a seed + a small offset still fits numpy's 32-bit seeds)
COUNT_MAX = 2**31 - 1  # steps, sizes and periods that have no smaller natural bound
CHANNELS_MAX = 4096  # model.channels: units per conv block
DEFAULT_SAMPLES = 1000
MNIST1D_SAMPLES = 5000
"""mnist1d's own size (``get_dataset_args().num_samples``): 4000 train and 1000 test."""
MNIST1D_SEED = 42
"""mnist1d's own generation seed (``get_dataset_args().seed``)."""
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
    n_samples: Int | None = Field(None, ge=10, le=2_000_000,
                                  description="2-D sets and mnist1d; None: the set's own size "
                                              "(1000; mnist1d: 5000, the paper's)")
    noise: Float = Field(0.2, ge=0.0, le=10.0, description="2-D sets: noise level")
    path: str | None = Field(None, description="mnist/fashion_mnist: IDX directory; csv/npz: "
                                               "file; relative to the config file's folder")
    target: str | Annotated[Int, Field(ge=-COUNT_MAX, le=COUNT_MAX)] = Field(
        -1, description="csv: label column (name or index)")
    val_fraction: Float = Field(0.2, ge=0.0, lt=1.0)
    test_fraction: Float = Field(0.2, gt=0.0, lt=1.0)
    split_seed: Int = Field(0, ge=0, le=SEED_MAX, description="seed of the train/val/test split")
    train_size: Int | None = Field(None, ge=2, le=COUNT_MAX,
                                   description="keep only this many train examples")
    label_noise: Float = Field(0.0, ge=0.0, le=1.0, description="share of train labels replaced")
    standardize: Bool = Field(True, description="zero mean, unit variance, fitted on train only")
    poly_degree: Int = Field(1, ge=1, le=10, description="polynomial feature expansion")
    standardize_targets: Bool = Field(False, description="regression: targets to zero mean and "
                                                         "unit variance (train statistics)")
    input_shape: tuple[Annotated[Int, Field(ge=1, le=COUNT_MAX)], ...] | None = Field(
        None, description="csv/npz: the shape of one example, its features in row-major "
                          "order: [C, H, W] images, [C, L] signals, [F] vectors")

    @field_validator("path")
    @classmethod
    def _resolve_path(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A relative path read from a file resolves against that file's folder: the
        validation context's ``base_dir`` (:meth:`RunConfig.load`, study files). Without
        one (``--set``, configs built in Python) it stays as written: relative to the
        working directory."""
        base = (info.context or {}).get("base_dir")
        if value and base is not None and not Path(value).expanduser().is_absolute():
            return os.path.abspath(Path(base) / value)
        return value

    @property
    def samples(self) -> int:
        """``n_samples``, or the set's own size when it is None: 1000 for the 2-D sets,
        :data:`MNIST1D_SAMPLES` for mnist1d (other sets do not use it)."""
        if self.n_samples is not None:
            return self.n_samples
        return MNIST1D_SAMPLES if self.name == "mnist1d" else DEFAULT_SAMPLES

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        if self.val_fraction + self.test_fraction >= 0.9:
            raise ValueError(
                f"data.val_fraction + data.test_fraction must be below 0.9, "
                f"got {self.val_fraction} + {self.test_fraction}"
            )
        if self.name in ("mnist", "fashion_mnist", "csv", "npz") and not self.path:
            raise ValueError(f"data.path is required for data.name={self.name!r}")
        if self.input_shape is not None:
            shape = list(self.input_shape)
            if self.name not in ("csv", "npz"):
                raise ValueError(f"data.input_shape={shape} is for csv and npz files; "
                                 f"data {self.name!r} has its own shape")
            if not 1 <= len(shape) <= 3:
                raise ValueError(f"data.input_shape={shape} must have 1 to 3 entries: [C, H, W] "
                                 f"images, [C, L] signals or [F] vectors")
            if len(shape) > 1 and self.poly_degree > 1:
                raise ValueError(f"data.poly_degree={self.poly_degree} needs vector data; "
                                 f"data.input_shape={shape} declares "
                                 f"{'images' if len(shape) == 3 else 'signals'}")
        return self


class AuxTask(_Part):
    """An auxiliary binary task for multi-task learning: from the class label (``parity``,
    ``upper_half``) or from the input alone (``ink_left``, ``ink_top``; see
    :func:`fitscope.engine.aux_target`)."""

    kind: Literal["parity", "upper_half", "ink_left", "ink_top"] = "parity"
    weight: Float = Field(1.0, ge=0.0, le=100.0)


class TaskConfig(_Part):
    """Classification (cross-entropy) or regression (mean squared error).

    ``aux`` adds heads on the shared trunk (multi-task learning); ``main_label_fraction``
    keeps the main task's labels on only that share of the train set, while the
    auxiliary tasks see every example (the setting where sharing helps).
    """

    kind: Literal["classification", "regression"] = "classification"
    aux: tuple[AuxTask, ...] = ()
    main_label_fraction: Float = Field(1.0, gt=0.0, le=1.0)

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
    depth: Int = Field(2, ge=0, le=64, description="hidden layers")
    width: Int | tuple[Int, ...] = Field(32, description="units per hidden layer, or one per layer")
    activation: Activation = "relu"
    dropout: Float = Field(0.0, ge=0.0, lt=1.0, description="drop probability after hidden layers")
    input_dropout: Float = Field(0.0, ge=0.0, lt=1.0, description="drop probability on inputs")
    batch_norm: Bool = False
    bias: Bool = True
    channels: tuple[Int, ...] = Field((8, 16), description="cnn: channels per conv block")
    kernel_size: Int = Field(3, ge=1, le=11)

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
        if any(c < 1 or c > CHANNELS_MAX for c in self.channels) or len(self.channels) > 16:
            raise ValueError(f"model.channels must be at most 16 blocks of 1 to "
                             f"{CHANNELS_MAX} channels, got {self.channels}")
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
    value: Float = Field(0.0, ge=-100.0, le=100.0, description="constant: the value")
    std: Float = Field(0.01, gt=0.0, le=100.0, description="normal: standard deviation")
    a: Float = Field(0.05, gt=0.0, le=100.0, description="uniform: bound a of U(-a, a)")
    xavier_mode: Literal["avg", "in"] = "avg"
    gain: Float = Field(1.0, gt=0.0, le=100.0, description="orthogonal: gain")
    bias: Float = Field(0.0, ge=-100.0, le=100.0, description="value of every bias")


class AugmentConfig(_Part):
    """Data augmentation applied to each training batch (images: digits, mnist)."""

    flip_h: Bool = False
    flip_v: Bool = False
    rotate_deg: Float = Field(0.0, ge=0.0, le=180.0)
    scale: Float = Field(0.0, ge=0.0, lt=1.0, description="zoom by a factor in [1-s, 1+s]")
    translate: Float = Field(0.0, ge=0.0, lt=1.0, description="shift by up to this share")
    crop: Float = Field(0.0, ge=0.0, lt=1.0, description="random crop of this share, resized")
    noise_std: Float = Field(0.0, ge=0.0, le=10.0, description="Gaussian noise (any data)")

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

    enabled: Bool = False
    monitor: Literal["val_loss", "val_acc"] = "val_loss"
    patience: Int = Field(10, ge=1, le=100_000)
    min_delta: Float = Field(0.0, ge=0.0, le=1e6)
    restore_best: Bool = True
    start_epoch: Int = Field(0, ge=0, le=COUNT_MAX)
    after: Literal["none", "retrain_all", "continue_all"] = "none"


class RegularizationConfig(_Part):
    """Penalties, noise, label smoothing, augmentation, adversarial training, early stopping.

    Dropout and batch norm live on :class:`ModelConfig`. Setting both ``l1`` and ``l2``
    is the elastic net.
    """

    l2: Float = Field(0.0, ge=0.0, le=10.0, description="penalty lambda/2 ||w||^2")
    l2_on_bias: Bool = False
    weight_decay: Float = Field(0.0, ge=0.0, le=10.0, description="decoupled weight decay")
    l1: Float = Field(0.0, ge=0.0, le=10.0, description="penalty lambda ||w||_1")
    activation_l1: Float = Field(0.0, ge=0.0, le=10.0, description="lambda ||h||_1 on hidden")
    input_noise: Float = Field(0.0, ge=0.0, le=10.0, description="std of noise on inputs")
    weight_noise: Float = Field(0.0, ge=0.0, le=10.0, description="std of noise on weights")
    label_smoothing: Float = Field(0.0, ge=0.0, lt=1.0)
    augment: AugmentConfig = AugmentConfig()
    fgsm_epsilon: Float = Field(0.0, ge=0.0, le=10.0, description="adversarial training")
    adversarial_fraction: Float = Field(0.5, ge=0.0, le=1.0)
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()


class ScheduleConfig(_Part):
    """Learning-rate schedule over steps (formulas: :func:`fitscope.core.transforms.lr_at`)."""

    kind: Literal["constant", "linear", "step", "cosine"] = "constant"
    final_fraction: Float = Field(0.01, ge=0.0, le=1.0, description="eps_tau / eps_0")
    tau: Int | None = Field(None, ge=1, le=COUNT_MAX,
                            description="linear/cosine: steps to decay (default all)")
    step_size: Int = Field(1000, ge=1, le=COUNT_MAX, description="step: steps between drops")
    gamma: Float = Field(0.1, gt=0.0, le=1.0, description="step: factor of each drop")


class OptimizerConfig(_Part):
    """The optimizer, its schedule and gradient clipping."""

    name: Literal["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"] = "adam"
    lr: Float = Field(0.01, gt=0.0, le=100.0)
    momentum: Float = Field(0.9, ge=0.0, lt=1.0, description="momentum / nesterov: alpha")
    beta1: Float = Field(0.9, ge=0.0, lt=1.0)
    beta2: Float = Field(0.999, ge=0.0, lt=1.0)
    rho: Float = Field(0.9, ge=0.0, lt=1.0, description="rmsprop: decay rate")
    eps: Float = Field(1e-8, gt=0.0, le=1.0)
    schedule: ScheduleConfig = ScheduleConfig()
    clip_norm: Float | None = Field(None, gt=0.0)
    clip_value: Float | None = Field(None, gt=0.0)

    @model_validator(mode="after")
    def _check(self) -> OptimizerConfig:
        if self.name == "nesterov" and self.momentum == 0:
            raise ValueError("optimizer.momentum must be above 0 for optimizer.name='nesterov' "
                             "(use name='sgd' for plain SGD)")
        return self


class BudgetConfig(_Part):
    """How long, in what batches, with which seed, on which device."""

    epochs: Int = Field(30, ge=1, le=100_000)
    max_steps: Int | None = Field(None, ge=1, le=COUNT_MAX,
                                  description="stop after this many steps")
    batch_size: Int = Field(64, ge=0, le=COUNT_MAX, description="0 means full batch")
    seed: Int = Field(0, ge=0, le=SEED_MAX)
    device: Literal["cpu", "cuda"] = "cpu"


class ObserveConfig(_Part):
    """What the engine records beyond the history."""

    probe_every: Int = Field(0, ge=0, le=COUNT_MAX,
                             description="probe layers every N steps (0: off)")
    histogram_bins: Int = Field(30, ge=2, le=200)
    snapshot_every: Int = Field(0, ge=0, le=COUNT_MAX,
                                description="keep parameters every N steps (0: off)")


ID_OMITTED_AT_DEFAULT: dict[str, Any] = {"data.standardize_targets": False,
                                          "data.input_shape": None}
"""Fields added after run ids were first stored, left out of the id at their default."""


class RunConfig(_Part):
    """A whole experiment. ``run_id`` is a stable hash of everything but ``name``, with the
    data file's content in place of its path (:meth:`identity`)."""

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
        shaped = self.data.input_shape is not None and len(self.data.input_shape) > 1
        if self.model.kind == "cnn" and self.data.name not in (*IMAGE_SETS, "mnist1d") \
                and not shaped:
            raise ValueError(
                f"model.kind='cnn' needs image or signal data (digits, mnist, fashion_mnist, "
                f"mnist1d, or a csv/npz file with data.input_shape = [C, H, W] or [C, L]), "
                f"got data.name={self.data.name!r}"
                + (f" with data.input_shape={list(self.data.input_shape)}"
                   if self.data.input_shape else ""))
        if self.data.standardize_targets and self.task.kind != "regression":
            raise ValueError("data.standardize_targets needs task.kind='regression'")
        if self.task.kind == "regression" and self.regularization.label_smoothing:
            raise ValueError("regularization.label_smoothing needs task.kind='classification'")
        if self.regularization.early_stopping.enabled and self.data.val_fraction == 0:
            raise ValueError("regularization.early_stopping needs data.val_fraction > 0")
        return self

    # -- identity -------------------------------------------------------------------
    @property
    def run_id(self) -> str:
        """The id of this config on the data as it is now: :meth:`run_id_for` of the data
        file's content hash (:func:`fitscope.data.fingerprint.data_hash`; None for
        built-in sets and missing files)."""
        from fitscope.data.fingerprint import data_hash

        return self.run_id_for(data_hash(self.data))

    def run_id_for(self, data_hash: str | None) -> str:
        """First 16 hex digits of the SHA-256 of :meth:`identity`'s canonical JSON."""
        text = json.dumps(self.identity(data_hash), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def identity(self, data_hash: str | None) -> dict[str, Any]:
        """What the run id hashes: the config as JSON, ``name`` excluded, with

        * ``data.path`` replaced by ``data.content_sha256 = data_hash`` when the data is a
          file that exists (same content, same id, wherever the file is; a changed file,
          a new id);
        * ``data.n_samples`` at None written as the size it means (:attr:`DataConfig.samples`);
        * for mnist1d, its generation seed :data:`MNIST1D_SEED` and split
          (``data.mnist1d = "package-split-seed-42"``);
        * fields of :data:`ID_OMITTED_AT_DEFAULT` left out while at their default,

        so the ids of runs stored before those fields existed stay the same.
        """
        body = self.model_dump(mode="json", exclude={"name"})
        data = body["data"]
        data["n_samples"] = self.data.samples
        for dotted, default in ID_OMITTED_AT_DEFAULT.items():
            part, key = dotted.split(".")
            if body[part].get(key) == default:
                del body[part][key]
        if data_hash is not None:
            data["path"] = None
            data["content_sha256"] = data_hash
        if self.data.name == "mnist1d":
            data["mnist1d"] = f"package-split-seed-{MNIST1D_SEED}"
        return body

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
        """Load from a ``.json`` file, or TOML (any other suffix); see :func:`read_table`.
        A relative ``data.path`` in it resolves against the file's folder."""
        return cls.model_validate(read_table(path, "config"),
                                  context={"base_dir": Path(path).parent})

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_json() if path.suffix == ".json" else self.to_toml())
        return path

    def with_overrides(self, overrides: dict[str, Any],
                       base_dir: str | Path | None = None) -> RunConfig:
        """A copy with dotted-path values replaced: ``{"model.depth": 9}``. A relative
        ``data.path`` among them resolves against ``base_dir`` when given (a study file's
        folder), else stays relative to the working directory."""
        data = self.to_dict()
        for dotted, value in overrides.items():
            set_dotted(data, dotted, value)
        context = None if base_dir is None else {"base_dir": Path(base_dir)}
        return type(self).model_validate(data, context=context)


class ConfigFileError(ValueError):
    """A config or study file that cannot be read as TOML / JSON; the message names it."""


def read_text(path: str | Path, what: str = "config") -> str:
    """The text of a TOML / JSON file, a UTF-8 byte order mark skipped.

    Raises :class:`FileNotFoundError` for a missing file and :class:`ConfigFileError` for
    a directory, an unreadable file or a binary one (a NUL byte, or not UTF-8); ``what``
    names the kind of file in the messages.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} file not found: {path}")
    if path.is_dir():
        raise ConfigFileError(f"{what} file is a directory, not a TOML/JSON file: {path}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigFileError(f"cannot read {what} file {path}: {exc.strerror or exc}") from None
    nul = raw.find(b"\0")
    try:
        if nul >= 0:
            raise UnicodeDecodeError("utf-8", raw, nul, nul + 1, "NUL byte")
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(f"not a TOML/JSON file: {path} (binary content at byte "
                              f"{exc.start})") from None


def read_table(path: str | Path, what: str = "config") -> dict[str, Any]:
    """The table in a TOML file (JSON for a ``.json`` suffix), as a dict, read by
    :func:`read_text`. Invalid TOML / JSON (named with its line), or JSON that is not an
    object, raises :class:`ConfigFileError` naming the file."""
    path = Path(path)
    text = read_text(path, what)
    kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
    try:
        data = json.loads(text) if kind == "JSON" else tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigFileError(f"{path}: invalid JSON at line {exc.lineno}, column "
                              f"{exc.colno}: {exc.msg}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"{path}: invalid TOML: {exc}") from None
    except RecursionError:
        raise ConfigFileError(f"{path}: invalid {kind}: nested too deeply") from None
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: a {what} file holds a table (a JSON object), "
                              f"got a JSON {type(data).__name__}")
    return data


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
