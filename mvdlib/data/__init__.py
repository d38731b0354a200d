"""Data for the book: procedural synthetic multi-view scenes and real image pairs (chapter 2).

One module per concern, each importing only the ones above it in this list:

* :mod:`~mvdlib.data.textures`: the texture atlas and its mipmapped lookup;
* :mod:`~mvdlib.data.camera`: the synthetic cameras' intrinsics and per-pixel rays;
* :mod:`~mvdlib.data.trajectory`: reference and source cameras placed in a room;
* :mod:`~mvdlib.data.scene`: the procedural rooms (:class:`~mvdlib.data.scene.SyntheticScene`);
* :mod:`~mvdlib.data.render`: exact z-depth and shaded images by ray casting;
* :mod:`~mvdlib.data.synthetic`: the cached multi-view data set and its warp check;
* :mod:`~mvdlib.data.real`: the real Middlebury stereo pair bundled with scikit-image.
"""

__all__: list[str] = []  # the submodules hold the public names
