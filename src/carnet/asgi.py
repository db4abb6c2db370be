"""ASGI entry point for servers: ``granian --interface asgi carnet.asgi:app``."""

from carnet.main import create_app

app = create_app()
