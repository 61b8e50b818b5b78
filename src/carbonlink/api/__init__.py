"""carbonlink over HTTP: a JSON API under ``/api`` and server-rendered pages.

>>> from carbonlink.api import create_app
>>> app = create_app("sqlite:///registry.db")   # doctest: +SKIP

``carbonlink serve`` runs it with uvicorn. The API only presents what the engines return
(``carbonlink.simulate``, ``carbonlink.check``, the reference data, the registry's queries); the
registry is read-only over HTTP (there is no authentication). See docs/api.md.
"""

from __future__ import annotations

from carbonlink.api.app import create_app

__all__ = ["create_app"]
