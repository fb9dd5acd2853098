"""``python -m rnnkit``: the `rnnkit` command, also as torchrun starts it
(``torchrun --nproc_per_node N -m rnnkit train ...``)."""

import sys

from rnnkit.cli.entry import run

if __name__ == "__main__":
    sys.exit(run())
