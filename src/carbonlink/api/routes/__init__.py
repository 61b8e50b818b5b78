"""Routers of the web app: one module per resource of the JSON API, and the pages."""
