"""`python -m webui`."""
from .cli import main

main()
