"""The modern SOAP service (spyne) at ``/soap/v1``, its WSDL, and its WSGI application.

``compat`` is imported first, always: spyne cannot be imported on Python 3.12+ without it.
"""

from gateway.soap import compat  # noqa: F401  (first: spyne must not be imported before it)
