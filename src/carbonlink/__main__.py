"""``python -m carbonlink``."""

from carbonlink.cli import main

main()
