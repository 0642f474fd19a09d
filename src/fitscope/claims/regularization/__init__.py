"""Claims from the notes on regularization (claims 9 to 20).

Sources: note 003, "Regularization for deep learning" (slides after Goodfellow et al.
2016, ch. 7) and note 002, "L2 Regularization" and "L1 Regularization". Every claim
trains all its configs in one ``ctx.train_many`` call and compares a config with its
regularized twin seed by seed (paired tests); where the data are re-drawn per seed
(``data.split_seed = budget.seed``) the twins share the data too.

- :mod:`.penalties`: 9 an L2 penalty is weight decay, 10 L1 sparse and L2 dense,
  11 an L1 penalty on activations, 12 L2 narrows the generalization gap;
- :mod:`.data`: 13 data augmentation, 15 label smoothing, 16 multi-task learning;
- :mod:`.noise`: 14 weight noise finds flatter minima, 20 FGSM and adversarial training;
- :mod:`.early_stopping`: 17 the best epoch beats the last, 18 early stopping as L2;
- :mod:`.dropout`: 19 dropout and test-time weight scaling;
- :mod:`.common`: what they share.
"""

from __future__ import annotations

from .data import AUGMENTATION, LABEL_SMOOTHING, MULTITASK
from .dropout import DROPOUT_CLAIM
from .early_stopping import EARLY_STOPPING, EARLY_STOPPING_L2
from .noise import FGSM, FLATNESS
from .penalties import ACTIVATION_L1, L2_GAP, SPARSITY, WEIGHT_DECAY

CLAIMS = [WEIGHT_DECAY, SPARSITY, ACTIVATION_L1, L2_GAP, AUGMENTATION, FLATNESS,
          LABEL_SMOOTHING, MULTITASK, EARLY_STOPPING, EARLY_STOPPING_L2, DROPOUT_CLAIM, FGSM]
