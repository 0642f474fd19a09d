"""The runs page's endpoints: the run store (:mod:`fitscope.study.store`), read only.

The store is the file given to ``fitscope lab --store``, opened through a read-only
connection at each request; a missing file is an empty store (the lab never creates
one), and a file that is not a store answers 409 with the reason.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from fitscope.jsontext import finite

SUMMARY_METRICS = ("train_loss", "val_loss", "test_loss", "train_acc", "val_acc", "test_acc",
                   "best_epoch", "epochs_run")
RunId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{1,16}$",
                                 description="a run id or a unique prefix of one")]


INIT_PARAMETER = {"normal": ("std", "std"), "constant": ("value", ""), "uniform": ("a", "a"),
                  "orthogonal": ("gain", "gain")}


def init_label(init: dict) -> str:
    """An init scheme with the parameter that sets its scale, if it has one:
    ``normal (std 0.01)``, ``constant (0.5)``, ``uniform (a 0.05)``, ``kaiming_normal``."""
    scheme = init["scheme"]
    if scheme not in INIT_PARAMETER:
        return scheme
    field, word = INIT_PARAMETER[scheme]
    return f"{scheme} ({word} {init[field]:g})".replace("( ", "(")


def _summary(record: dict, studies: list[str]) -> dict:
    cfg = record["config"]
    return {"run_id": record["run_id"], "status": record["status"], "name": cfg.get("name", ""),
            "data": cfg["data"]["name"], "depth": cfg["model"]["depth"],
            "width": cfg["model"]["width"], "init": init_label(cfg["init"]),
            "optimizer": cfg["optimizer"]["name"], "studies": studies,
            "metrics": {k: record["metrics"].get(k) for k in SUMMARY_METRICS}}


def list_runs(path: Path | None) -> dict:
    """Every stored run (summary) and every study's run ids."""
    if path is None or not path.exists():
        return {"store": str(path) if path else None, "runs": [], "studies": {}}
    from fitscope.study.store import Store

    with Store(path, readonly=True) as store:
        membership = store.membership()
        runs = [_summary(s.record, membership.get(s.run_id, [])) for s in store.runs()]
        studies = {name: [m.run_id for m in store.members(name)] for name in store.studies()}
    return {"store": str(path), "runs": runs, "studies": studies}


def get_run(path: Path | None, prefix: str) -> dict:
    """One stored run's whole record and its diagnosis (:func:`fitscope.probe.diagnose`
    on what the store kept); KeyError when no single run matches."""
    if path is None or not path.exists():
        raise KeyError("no run store is open (start the lab with --store PATH)")
    from fitscope.probe import diagnose
    from fitscope.study.store import Store

    with Store(path, readonly=True) as store:
        stored = store.get(prefix)
    return {**stored.record, "findings": [asdict(f) for f in diagnose(stored.run())]}


def add_runs_routes(app: FastAPI) -> None:
    from fitscope.study.store import StoreError

    @app.get("/api/runs")
    async def runs() -> JSONResponse:
        try:
            return JSONResponse(finite(await app.state.work.run(list_runs, app.state.store)))
        except StoreError as exc:
            raise HTTPException(409, str(exc)) from None

    @app.get("/api/runs/{run_id}")
    async def run(run_id: RunId) -> JSONResponse:
        try:
            record = await app.state.work.run(get_run, app.state.store, run_id)
        except KeyError as exc:
            raise HTTPException(404, str(exc).strip("'\"")) from None
        except StoreError as exc:
            raise HTTPException(409, str(exc)) from None
        return JSONResponse(finite(record))
