"""``python -m fillcapture`` runs the command line."""

from fillcapture.cli import main

main()
