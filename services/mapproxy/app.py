"""WSGI entry point of MapProxy for gunicorn."""
from mapproxy.wsgiapp import make_wsgi_app

application = make_wsgi_app("/mapproxy/config/mapproxy.yaml")
