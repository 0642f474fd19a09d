"""Claims from the optimization slides of note 003 ("Optimization for training deep models"
and "Batch normalization"; Goodfellow et al. 2016, ch. 8), claims 21 to 28 and the
later 38 (momentum averages out noisy gradients) and 39 (eps_tau about 1% of eps_0).

Real networks train through ``ctx.train_many``; the toy surfaces (saddle, cliff, ravine)
are :mod:`fitscope.landscape.toy`'s, where each seed jitters the start point.

- :mod:`.minibatch`: 21 the minibatch gradient's standard error, 22 small batches
  regularize;
- :mod:`.surfaces`: 23 gradient descent slows near a saddle point, 24 clipping on a cliff;
- :mod:`.lr_decay`: 25 linear learning-rate decay, 39 its final rate eps_tau;
- :mod:`.momentum`: 26 momentum on an ill-conditioned ravine, 38 it averages out noisy
  gradients;
- :mod:`.adaptive`: 27 AdaGrad, RMSProp and Adam's bias correction;
- :mod:`.batch_norm`: 28 batch normalization, learning rates and the init;
- :mod:`.common`: what they share.
"""

from __future__ import annotations

from .adaptive import ADAPTIVE_RATES
from .batch_norm import BATCH_NORM
from .lr_decay import DECAY, FINAL_FRACTION
from .minibatch import BATCH_REGULARIZER, GRADIENT_NOISE
from .momentum import MOMENTUM, MOMENTUM_NOISE
from .surfaces import CLIFF, SADDLE

CLAIMS = [GRADIENT_NOISE, BATCH_REGULARIZER, SADDLE, CLIFF, DECAY, MOMENTUM, ADAPTIVE_RATES,
          BATCH_NORM, MOMENTUM_NOISE, FINAL_FRACTION]
