# @attack: bind and listen on many ports, including the host's listener's and the daemon's
# @language: python
# @lanes: host
# @contained: 1
# Containment: the ports are the run's own netns's (the judge's host
# listener and the daemon keep theirs).
import socket
keep = []
for port in [@@HOST_PORT@@, @@DAEMON_PORT@@] + list(range(20000, 20200)):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(); keep.append(s)
print("CONTAINED bound", len(keep), "ports in the run's own network")
