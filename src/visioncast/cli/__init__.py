"""The command line: one module per command group; the only place (with server/) that prints."""
