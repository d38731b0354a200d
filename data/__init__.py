"""The committed artefacts, installed as the package data ``mvdlib._data`` (see ``mvdlib/resources.py``)."""
