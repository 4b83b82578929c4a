"""WSGI entry point for gunicorn: ``gunicorn -c gunicorn.conf.py portal.wsgi:app``."""

from portal.app import create_app

app = create_app()
