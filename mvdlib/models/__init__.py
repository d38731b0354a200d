"""The networks of the book: Eigen's coarse/fine network, FCRN and MVDepthNet."""
