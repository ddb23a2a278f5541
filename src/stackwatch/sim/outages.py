"""What the simulated APIs answer while a service they need is down (the cascades).

:data:`OUTAGES` names what can be down; :func:`answer` is the answer a request gets
then, or None when it is served as usual. As the real services answer:

* ``keystone`` down: keystone itself, behind HAProxy, answers HAProxy's 503 "No server
  is available"; every other service's authenticated call gets keystonemiddleware's
  503 (it cannot validate the token: ``HTTPServiceUnavailable``, "The Keystone
  service is temporarily unavailable", webob's JSON body); version documents, which
  need no token, still answer.
* ``database`` down: every authenticated call answers 500 in the service's own format
  (``oslo_db.exception.DBConnectionError``), and so does keystone's token request.
* ``neutron-server`` down: the networking API answers HAProxy's 503; nova's server
  list (``GET /v2.1/servers`` and ``/servers/detail``) answers 500 with
  ``keystoneauth1.exceptions.connection.ConnectFailure``, as recorded on the real
  control plane (``compute/GET___v2.1__servers__detail@latest.500-neutron-down.json``
  in the reference recordings: nova asks neutron for the servers' ports).
"""

from __future__ import annotations

from collections.abc import Collection

from aiohttp import web

from stackwatch.sim.routing import ServiceSpec, json_response

KEYSTONE = "keystone"
DATABASE = "database"
NEUTRON_SERVER = "neutron-server"
OUTAGES = (KEYSTONE, DATABASE, NEUTRON_SERVER)

_HAPROXY_503 = ("<html><body><h1>503 Service Unavailable</h1>\n"
                "No server is available to handle this request.\n</body></html>\n")
_DB_ERROR = "<class 'oslo_db.exception.DBConnectionError'>"
_CONNECT_FAILURE = "<class 'keystoneauth1.exceptions.connection.ConnectFailure'>"
_NOVA_500 = ("Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ "
             "and attach the Nova API log if possible.\n")


_HAPROXY_502 = ("<html><body><h1>502 Bad Gateway</h1>\n"
                "The server returned an invalid or incomplete response.\n</body></html>\n")


def haproxy_bad_gateway() -> web.Response:
    """HAProxy's own 502 when its backend died in the middle of an answer."""
    return web.Response(status=502, text=_HAPROXY_502, content_type="text/html",
                        headers={"Cache-Control": "no-cache"})


def haproxy_unavailable() -> web.Response:
    """HAProxy's own 503 when a backend has no server up."""
    return web.Response(status=503, text=_HAPROXY_503, content_type="text/html",
                        headers={"Cache-Control": "no-cache"})


def keystone_unavailable() -> web.Response:
    """keystonemiddleware's 503 when it cannot reach keystone to validate a token."""
    return json_response({
        "message": "The server is currently unavailable. Please try again at a later "
                   "time.<br /><br />\nThe Keystone service is temporarily unavailable.\n\n",
        "code": "503 Service Unavailable", "title": "Service Unavailable"}, 503)


def server_error(spec: ServiceSpec, cause: str) -> web.Response:
    """A 500 in the service's own format, naming the exception behind it where the real
    service does (nova)."""
    if spec.service_type == "compute":
        return json_response({"computeFault": {"code": 500, "message": _NOVA_500 + cause}},
                             500)
    if spec.service_type == "block-storage":
        return json_response({"computeFault": {
            "code": 500, "message": "The server has either erred or is incapable of "
            "performing the requested operation."}}, 500)
    if spec.service_type == "network":
        return json_response({"NeutronError": {
            "type": "HTTPInternalServerError", "detail": "",
            "message": "Request Failed: internal server error while processing your "
                       "request."}}, 500)
    if spec.service_type == "placement":
        return json_response({"errors": [{
            "status": 500, "title": "Internal Server Error", "code": "placement.undefined_code",
            "detail": "The server has either erred or is incapable of performing the "
                      "requested operation."}]}, 500)
    return json_response({"error": {
        "code": 500, "title": "Internal Server Error",
        "message": "An unexpected error prevented the server from fulfilling your request."}},
        500)


def answer(outages: Collection[str], spec: ServiceSpec, method: str, path: str,
           needs_auth: bool) -> web.StreamResponse | None:
    """The answer while ``outages`` are down, or None: served as usual. ``path``: the
    request's path under the service's prefix (``/v2.1/servers/detail``)."""
    kind = spec.service_type
    if NEUTRON_SERVER in outages:
        if kind == "network":
            return haproxy_unavailable()
        if kind == "compute" and method == "GET" and path.rstrip("/").endswith(
                ("/servers", "/servers/detail")):
            return server_error(spec, _CONNECT_FAILURE)
    if KEYSTONE in outages:
        if kind == "identity":
            return haproxy_unavailable()
        if needs_auth:
            return keystone_unavailable()
    if DATABASE in outages and (needs_auth or (kind == "identity" and method != "GET")):
        return server_error(spec, _DB_ERROR)
    return None
