"""``run_study`` from a plain script, without an ``if __name__ == "__main__":`` guard,
run as a real process: its workers must not run the script again (they used to, and
every run was stored as failed with "worker process died")."""

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent("""
    from fitscope.study import Store, StudySpec, run_study

    spec = StudySpec.from_dict({"seeds": 3, "base": {
        "data": {"name": "moons", "n_samples": 200}, "model": {"depth": 1, "width": 4},
        "budget": {"epochs": 1, "batch_size": 64}}}, default_name="plain")
    print("script body ran")
    with Store("plain.db") as store:
        result = run_study(spec, store, workers=2)
    print(result.statuses)
""")


def run_script(tmp_path: Path, *how: str) -> subprocess.CompletedProcess:
    (tmp_path / "plain.py").write_text(SCRIPT)
    src = str(Path(__file__).parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, str(tmp_path)])}
    return subprocess.run([sys.executable, *how], cwd=tmp_path, env=env, text=True,
                          capture_output=True, timeout=300, check=False)


def test_a_script_without_a_main_guard_trains_every_run(tmp_path):
    done = run_script(tmp_path, "plain.py")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["script body ran", "{'completed': 3}"], done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    db = sqlite3.connect(f"file:{tmp_path / 'plain.db'}?mode=ro", uri=True)
    assert db.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall() == [
        ("completed", 3)]


def test_a_module_run_with_dash_m_trains_every_run(tmp_path):
    done = run_script(tmp_path, "-m", "plain")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["script body ran", "{'completed': 3}"], done.stdout
