# @attack: connect to the host's unix sockets: an abstract one (named @@HOST_ABSTRACT@@) and one on the host's filesystem
# @language: python
# @lanes: host
# @contained: 2
import socket
for addr, what in [("\0@@HOST_ABSTRACT@@", "the host's abstract socket"), ("@@HOST_UNIX@@", "the host's socket file")]:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(addr)
        print("ESCAPED connected to", what, flush=True)
    except OSError as e:
        print("CONTAINED", what, "unreachable:", e.strerror, flush=True)
