"""Jinja2 templates with autoescaping; every page gets the caller and its CSRF token."""

from __future__ import annotations

from importlib import resources

from fastapi.templating import Jinja2Templates


def make_templates() -> Jinja2Templates:
    path = str(resources.files("whstudio.web") / "templates")
    templates = Jinja2Templates(directory=path)
    templates.env.autoescape = True
    return templates
