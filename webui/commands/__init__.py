"""The `webui` command and its subcommands: serve, accounts, the database copy, secrets, run in a terminal app."""
