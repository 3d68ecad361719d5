"""moto's server, with each request handled under one lock.

moto's backends keep no locks of their own: under concurrent requests two conditional
TransactWriteItems at the same version can both succeed, which DynamoDB never allows. The tests
race requests on purpose (concurrent previews and signs), so the emulator must be atomic per
request. Connections are still served by threads (keep-alive and slow clients do not block
others); only the backend work is serialised. Usage: python scripts/moto_server.py -H HOST -p PORT
"""

import argparse
import os
import threading

from werkzeug.serving import run_simple

from moto.moto_server.threaded_moto_server import MotoRequestHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

_LOCK = threading.Lock()


def serialised(app):
    def wrapped(environ, start_response):
        with _LOCK:
            # The body is read in full inside the lock: a lazy iterable would run backend code
            # after the lock is released.
            return list(app(environ, start_response))

    return wrapped


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()
    # moto builds some URLs (S3 redirects, presigned) from the port it serves on.
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host,
        args.port,
        serialised(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
