"""The ``edgeship`` command line: one module per command, heavy imports inside each command."""
