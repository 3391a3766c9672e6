import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arcadia_cloud.settings")

# Django's handler with the request of arcadia_cloud.wsgi_handler (charsets,
# chunked bodies); gunicorn and runserver (WSGI_APPLICATION) both load this.
from arcadia_cloud.wsgi_handler import get_wsgi_application

application = get_wsgi_application()
