"""Every data file of the package is shipped by a non-editable install: each file under
src/fitscope that is not Python matches a glob of pyproject's package-data (a TOML of
claims or cases that is left out fails at import in an installed copy, not here)."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import fitscope

PACKAGE = Path(fitscope.__file__).resolve().parent
PYPROJECT = PACKAGE.parents[1] / "pyproject.toml"


def data_files() -> list[str]:
    return sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*")
                  if p.is_file() and p.suffix not in (".py", ".pyc")
                  and "__pycache__" not in p.parts)


def test_every_data_file_of_the_package_is_named_by_package_data():
    globs = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"][
        "fitscope"]
    files = data_files()
    assert any(f.startswith("claims/") for f in files)  # claims.toml
    assert any(f.startswith("probe/case_data/") for f in files)
    missing = [f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)]
    assert not missing, f"not in pyproject's package-data (a wheel would leave them out): {missing}"
