"""``python -m randread``: the command-line interface."""

from randread.cli import main

main()
