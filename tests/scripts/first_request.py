#!/usr/bin/env python3
"""Process start → first request bytes on the wire, for `rota ask`.

Usage: python3 tests/scripts/first_request.py PATH/TO/rota RUNS [memory|local]

A loopback listener plays a keyless OpenAI-compatible provider; each run spawns
`rota --config CFG ask --task fast hi` with a private HOME and measures from spawn until the
request's first byte arrives, then answers with a one-chunk stream. Prints each run and the median.
"""
import os, socket, statistics, subprocess, sys, tempfile, time

rota, runs = sys.argv[1], int(sys.argv[2])
backend = sys.argv[3] if len(sys.argv) > 3 else "memory"
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(16)
port = srv.getsockname()[1]
home = tempfile.mkdtemp(prefix="rota-first-")
cfg = os.path.join(home, "config.toml")
with open(cfg, "w") as f:
    f.write(f"""
[[providers.custom]]
name = "t"
base_url = "http://127.0.0.1:{port}/v1"
keys = []
[[providers.custom.models]]
id = "m"
tasks = ["fast"]
tools = true
parallel_tools = true
context_window = 32768
[pools]
fast = ["custom:t/m"]
[state]
backend = "{backend}"
""")
env = {"HOME": home, "PATH": os.environ.get("PATH", ""), "XDG_DATA_HOME": os.path.join(home, "data"),
       "XDG_CONFIG_HOME": os.path.join(home, "cfg")}
body = (b'data: {"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":5,"completion_tokens":1}}\n\ndata: [DONE]\n\n')
reply = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: "
         + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)
times = []
for i in range(runs):
    t0 = time.perf_counter()
    p = subprocess.Popen([rota, "--config", cfg, "ask", "--task", "fast", "hi"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conn, _ = srv.accept()
    conn.recv(1)
    t1 = time.perf_counter()
    conn.recv(65536)
    conn.sendall(reply)
    conn.close()
    p.wait(timeout=30)
    times.append((t1 - t0) * 1000)
    print(f"run {i + 1}: {times[-1]:.1f} ms")
print(f"median {statistics.median(times):.1f} ms over {runs} runs ({backend})")
