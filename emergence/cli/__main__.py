"""`python -m emergence.cli`."""

from emergence.cli import main

main()
