"""Muster's server package. ``__version__`` is the one place the version is
written: pyproject.toml reads it, and so do ``muster --version`` and the
OpenAPI document."""

__version__ = "0.1.0"
