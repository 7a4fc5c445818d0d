#!/usr/bin/env python3
# Sends IAMATs to one node at a fixed rate on one connection, waiting for
# each reply: a steady load for watching the dashboard (docs/dashboard.md).
#   scripts/iamat_load.py RATE SECONDS [CLIENT_PORT]   (default port 12003, Clark)
import socket, time, sys
rate=int(sys.argv[1]); secs=int(sys.argv[2]); port=int(sys.argv[3]) if len(sys.argv)>3 else 12003
s=socket.create_connection(("127.0.0.1",port)); f=s.makefile('rb')
start=time.time(); n=0
while time.time()-start < secs:
    target=int((time.time()-start)*rate)
    while n < target:
        s.sendall(b"IAMAT load-%d +34-118 %.9f\n" % (n % 500, time.time())); f.readline(); n+=1
    time.sleep(0.002)
print("sent", n)
