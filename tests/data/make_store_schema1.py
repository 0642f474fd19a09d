"""How store_schema1.db and store_schema1.json were made (kept for the record; the test
does not run it). Run with fitscope at commit c25108e (store schema 1: ``user_version``
1, no meta table, run records without ``schema``), in a folder holding
store_schema1.toml:

    PYTHONPATH=<that checkout>/src python make_store_schema1.py

It runs the study of store_schema1.toml (adam: completed; sgd at lr 100: diverged) with
the worker of one run killed twice (failed: "worker process died"), then dumps what that
fitscope reads back from the store (every run record, attempts, finish time, and the
study's membership) to store_schema1.json, the expected result of reading the store.
"""

import json
import os

from fitscope.study import Store, StudySpec, run_study
from fitscope.study.runner import TEST_EXIT_ENV

if __name__ == "__main__":
    spec = StudySpec.load("store_schema1.toml")
    os.environ[TEST_EXIT_ENV] = spec.expand()[1].run_id
    with Store("store_schema1.db") as store:
        run_study(spec, store, workers=1)
    with Store("store_schema1.db") as s:  # the fixture committed is the file before this
        out = {"studies": {n: {"spec": s.spec_text(n),
                               "members": [m.__dict__ for m in s.members(n)]}
                           for n in s.studies()},
               "runs": [{"record": r.record, "attempts": r.attempts,
                         "finished_at": r.finished_at} for r in s.runs()]}
    with open("store_schema1.json", "w") as f:
        f.write(json.dumps(out, indent=1, allow_nan=False) + "\n")
