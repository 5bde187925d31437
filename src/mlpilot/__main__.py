"""``python -m mlpilot``: the command line, for when the ``mlpilot`` script is not on
the PATH (a virtual environment that is not activated)."""

from mlpilot.cli import main

main()
