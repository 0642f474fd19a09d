"""The web lab: the lecture notes' interactive visualizations, live in the browser.

``fitscope lab`` serves six pages (initialization, regularization landscape,
optimizers, overfitting, runs) from a local FastAPI server; see ``docs/lab.md``.

Modules: :mod:`~fitscope.lab.messages` (what the browser may send, validated),
:mod:`~fitscope.lab.session` (live trainings in worker threads),
:mod:`~fitscope.lab.views` (what a live training shows), :mod:`~fitscope.lab.app` (the
app, assembled from each page's or area's ``add_*_routes``: :mod:`~fitscope.lab.pages`,
the ``*_api`` modules, :mod:`~fitscope.lab.channel`) and :mod:`~fitscope.lab.commands`
(the ``fitscope lab`` command). What the pages
compute lives outside the web package (:mod:`fitscope.regularization_paths`,
:mod:`fitscope.landscape.trajectory_records`, :mod:`fitscope.baselines`). This package
imports nothing heavy, so the CLI stays fast to start.
"""
