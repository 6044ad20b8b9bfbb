"""The ``hwnas`` command: one module per subcommand."""
