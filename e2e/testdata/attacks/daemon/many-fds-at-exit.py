# @attack: exit holding 1000 descriptors of every kind: sockets, pipes, eventfds, epolls, a listening socket with pending connections
# @language: python
# @lanes: host
# @contained: 1
import os, socket, select
keep = []
srv = socket.create_server(("127.0.0.1", 0)); srv.listen(1024)
try:
    for i in range(200):
        keep += list(os.pipe()); keep.append(os.eventfd(0)); keep.append(select.epoll())
        keep.append(socket.create_connection(srv.getsockname()))
except OSError as e:
    print("stopped:", e)
print("CONTAINED exiting with", len(keep), "objects open", flush=True)
os._exit(0)
