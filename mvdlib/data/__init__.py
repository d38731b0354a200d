"""Data for the book: procedural synthetic multi-view scenes and real image pairs."""

__all__: list[str] = []  # the submodules hold the public names
