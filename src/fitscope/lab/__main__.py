"""``python -m fitscope.lab [--port ...]``: the ``fitscope lab`` command on its own, in a
process that allocates through glibc's malloc
(:func:`fitscope.lab.memory.with_system_malloc`)."""

import typer

from fitscope.lab.commands import lab
from fitscope.lab.memory import with_system_malloc

if __name__ == "__main__":
    with_system_malloc()
    typer.run(lab)
