"""`python -m webui`: the `webui` command."""
from .commands.cli import main

main()
