# @attack: send UDP datagrams to the host's UDP listener on 127.0.0.1 (and the loopback broadcast), and find a route for the limited broadcast
# @language: python
# @lanes: host
# @contained: 2
# Containment: the run's loopback is its own, so the judge's UDP listener
# on the host's loopback receives nothing (the judge reads it right after
# the run). The limited broadcast (255.255.255.255) would leave on every
# network the host is on, so the probe only connects to it, which looks the
# route up and sends nothing: the run, with only loopback, has no route.
import errno, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
for a in ["127.0.0.1", "127.255.255.255"]:
    try:
        s.sendto(b"atod-attack", (a, @@HOST_UDP_PORT@@))
    except OSError:
        pass
print("CONTAINED sent datagrams to 127.0.0.1; the host must not have them")
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
b.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
try:
    b.connect(("255.255.255.255", @@HOST_UDP_PORT@@))
    print("ESCAPED a route for the limited broadcast, via " + b.getsockname()[0])
except OSError as e:
    print("CONTAINED no route for the limited broadcast: " + errno.errorcode.get(e.errno, str(e.errno)))
