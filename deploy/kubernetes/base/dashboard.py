"""optuna-dashboard on nas's database, without the password on argv or in the environment.

optuna-dashboard takes its storage URL, password included, as a command-line argument:
in /proc/PID/cmdline for every process in the pod to read, and in the pod spec for anyone
who may `kubectl get pod` if the manifest spells it (an env value is no better). This resolves
the URL the way every nas command does (NAS_DATABASE_URL, password read from the file
named by NAS_DATABASE_PASSWORD_FILE) and serves optuna-dashboard's WSGI app in-process
on a threaded stdlib server (what optuna-dashboard's own CLI uses without gunicorn).
"""
import os
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from nas.errors import NasError
from nas.store.url import explicit_url, mask, normalize


class ThreadedServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_request(self, code="-", size="-"):  # probes every few seconds: no access log
        pass


def main() -> None:
    try:
        url = explicit_url(None)
        if not url:
            raise NasError("set NAS_DATABASE_URL (and NAS_DATABASE_PASSWORD_FILE)")
        url = normalize(url)
    except NasError as exc:
        sys.exit(f"error: {exc}")
    import optuna_dashboard

    app = optuna_dashboard.wsgi(url)
    host = os.environ.get("NAS_DASHBOARD_HOST", "0.0.0.0")
    port = int(os.environ.get("NAS_DASHBOARD_PORT", "8080"))
    print(f"optuna-dashboard on http://{host}:{port}/ for {mask(url)}", file=sys.stderr, flush=True)
    make_server(host, port, app, server_class=ThreadedServer, handler_class=QuietHandler).serve_forever()


if __name__ == "__main__":
    main()
