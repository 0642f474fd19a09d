"""``python -m fitscope.lab [--port ...]``: the ``fitscope lab`` command on its own."""

import typer

from fitscope.lab.commands import lab

if __name__ == "__main__":
    typer.run(lab)
