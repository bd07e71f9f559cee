"""`python -m webui`: the `webui` command."""
from .cli import main

main()
