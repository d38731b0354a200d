"""The networks of the book: Eigen's coarse/fine network, FCRN and MVDepthNet."""

__all__: list[str] = []  # the submodules hold the public names
