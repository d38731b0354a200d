"""Training and evaluating the book's networks (chapters 3-4 and 11).

``config`` (the run's settings and presets), ``schedule`` (which samples each step sees),
``loop`` (the model's input, the loss, the training loop), ``export`` (checkpoints and
provenance), ``evaluate`` (metrics against winner-take-all), ``single_view`` (the
single-image trainers of chapters 3-4); ``python -m mvdlib.training`` is the command line.
"""

__all__: list[str] = []  # the submodules hold the public names
