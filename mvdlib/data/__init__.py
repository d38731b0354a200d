"""Data for the book: procedural synthetic multi-view scenes and real image pairs."""
