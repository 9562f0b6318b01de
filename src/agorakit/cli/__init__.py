"""The ``agora`` command line (typer + rich). No business logic here."""
