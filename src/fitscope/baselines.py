"""Reference classifiers that need no training loop, to read a network's numbers against.

:func:`nearest_neighbour_accuracy`: a k-nearest-neighbour classifier fit on a data set's
training split; with k = 1 the lab's overfitting page's reference (formerly inside
``fitscope.lab.app``).
"""

from __future__ import annotations

from fitscope.config import DataConfig
from fitscope.data import load_data


def nearest_neighbour_accuracy(data: DataConfig, k: int = 1) -> dict[str, float | None]:
    """``{"train_acc", "val_acc", "test_acc"}`` of a ``k``-nearest-neighbour classifier
    (majority vote) fit on ``data``'s training split, on each split (None for an empty
    one). With k = 1 it is 1.0 on its own training points (each is its own neighbour,
    unless duplicates disagree), less elsewhere. ``ValueError`` for a data set that
    cannot be made (e.g. ``train_size`` above the training rows left after the split)."""
    from sklearn.neighbors import KNeighborsClassifier  # imported when first used

    s = load_data(data)
    clf = KNeighborsClassifier(n_neighbors=k).fit(s.x_train.numpy(), s.y_train.numpy())
    return {f"{split}_acc": float(clf.score(x.numpy(), y.numpy())) if len(x) else None
            for split, x, y in (("train", s.x_train, s.y_train), ("val", s.x_val, s.y_val),
                                ("test", s.x_test, s.y_test))}
