"""Small network probes the mesh box runs inside its pods. Each prints one word of outcome and
exits 0 when the peer answered, 1 when it did not.

  probe.py postgres HOST:PORT
      Sends a PostgreSQL startup message: "answered" when the server replied (an authentication
      request or an error), "closed" when the connection was closed or reset first.
  probe.py mtls HOST:PORT CERT KEY CA ALPN [GET PATH | postgres]
      A raw mTLS client presenting CERT (an identity's certificate), as a workload that bypasses
      its own sidecar would: "handshake-failed: ...", "closed", "http STATUS FIRST-LINE-OF-BODY"
      or "answered" (postgres).
"""
import socket
import ssl
import struct
import sys

TIMEOUT = 4


def address(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


def postgres_startup(stream):
    parameters = b"user\x00box_probe\x00database\x00box_probe\x00\x00"
    stream.sendall(struct.pack("!ii", 8 + len(parameters), 196608) + parameters)
    first = stream.recv(1)
    return "answered" if first in (b"R", b"E") else "closed"


def http_get(stream, host, path):
    stream.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while True:
        chunk = stream.recv(65536)
        if not chunk:
            break
        data += chunk
    if not data:
        return "closed"
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode(errors="replace").split(" ")
    return f"http {status[1] if len(status) > 1 else '?'} {body.decode(errors='replace').strip().splitlines()[0] if body.strip() else ''}"


def main(argv):
    try:
        if argv[0] == "postgres":
            with socket.create_connection(address(argv[1]), timeout=TIMEOUT) as stream:
                outcome = postgres_startup(stream)
        elif argv[0] == "mtls":
            target, cert, key, ca, alpn = argv[1:6]
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False  # the server's identity is a SPIFFE URI, not a host name
            context.load_verify_locations(ca)
            context.load_cert_chain(cert, key)
            context.set_alpn_protocols(alpn.split(","))
            host, port = address(target)
            with socket.create_connection((host, port), timeout=TIMEOUT) as raw:
                try:
                    stream = context.wrap_socket(raw)
                    # TLS 1.3 reports a refused client certificate only on the first read.
                    if argv[6] == "postgres":
                        outcome = postgres_startup(stream)
                    else:
                        outcome = http_get(stream, host, argv[7])
                except ssl.SSLError as error:
                    outcome = f"handshake-failed: {error.reason or error}"
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (ConnectionError, socket.timeout, OSError) as error:
        outcome = f"closed ({type(error).__name__})"
    print(outcome)
    return 0 if outcome == "answered" or outcome.startswith("http ") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
