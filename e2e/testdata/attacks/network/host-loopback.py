# @attack: connect to the host's listener on 127.0.0.1 and ::1, and to the daemon's own port
# @language: python
# @lanes: host
# @contained: 3
# Containment: the run's loopback is its own (the judge also checks that the
# host's listener saw no connection).
import socket
for host, port, what in [("127.0.0.1", @@HOST_PORT@@, "the host's listener"), ("::1", @@HOST_PORT@@, "the host's port on ::1"), ("127.0.0.1", @@DAEMON_PORT@@, "the daemon's port")]:
    try:
        socket.create_connection((host, port), timeout=2).close()
        print("ESCAPED connected to", what, flush=True)
    except OSError as e:
        print("CONTAINED", what, "unreachable:", e.strerror or e, flush=True)
