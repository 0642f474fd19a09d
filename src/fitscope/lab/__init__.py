"""The web lab: the lecture notes' interactive visualizations, live in the browser.

``fitscope lab`` serves five pages (initialization, regularization landscape,
optimizers, overfitting, runs) from a local FastAPI server; see ``docs/lab.md``.

Modules: :mod:`~fitscope.lab.messages` (what the browser may send, validated),
:mod:`~fitscope.lab.session` (live trainings in worker threads),
:mod:`~fitscope.lab.views` (what a live training shows), :mod:`~fitscope.lab.penalty`
(L1/L2 optima and regularization paths), :mod:`~fitscope.lab.app` (the routes) and
:mod:`~fitscope.lab.commands` (the ``fitscope lab`` command). This package imports
nothing heavy, so the CLI stays fast to start.
"""
