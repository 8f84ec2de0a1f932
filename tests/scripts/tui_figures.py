#!/usr/bin/env python3
"""Figures for the chat TUI on a real pty (100x30), against `rota --demo`.

usage: tui_figures.py BIN [RUNS] [IDLE_SECONDS]

- time to first frame: from spawn until the end of the first synchronized update
  (ESC [ ? 2026 l) arrives on the pty; median of RUNS.
- idle: after the first frame settles (3 s), bytes written to the terminal and CPU time
  (utime+stime from /proc/PID/stat) over IDLE_SECONDS with the gauges live.
Quits every run with Ctrl+Q. HOME/XDG dirs point at a temporary directory.
"""
import fcntl, os, pty, select, statistics, struct, sys, tempfile, termios, time

END_SYNC = b"\x1b[?2026l"

def spawn(binary, home):
    pid, fd = pty.fork()
    if pid == 0:
        env = {"PATH": "/usr/bin:/bin", "HOME": home, "TERM": "xterm-256color",
               "XDG_CONFIG_HOME": home + "/config", "XDG_DATA_HOME": home + "/data",
               "ROTA_LOG_FILE": home + "/rota.log"}
        os.execve(binary, [binary, "--demo"], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    return pid, fd

def read_for(fd, seconds):
    n, end = 0, time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return n
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                n += len(os.read(fd, 65536))
            except OSError:
                return n

def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return int(parts[11]) + int(parts[12])  # utime + stime (fields 14, 15)

def quit(pid, fd):
    os.write(fd, b"\x11")  # Ctrl+Q
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        read_for(fd, 0.05)
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return
    os.kill(pid, 9)
    os.waitpid(pid, 0)

def first_frame(binary):
    with tempfile.TemporaryDirectory() as home:
        t0 = time.monotonic()
        pid, fd = spawn(binary, home)
        buf = b""
        while END_SYNC not in buf:
            r, _, _ = select.select([fd], [], [], 30)
            if not r:
                raise SystemExit("no frame in 30 s")
            buf += os.read(fd, 65536)
        t = time.monotonic() - t0
        quit(pid, fd)
        return t

def idle(binary, seconds, ask_first):
    with tempfile.TemporaryDirectory() as home:
        pid, fd = spawn(binary, home)
        read_for(fd, 3.0)  # first frame, key checks, first ticks
        if ask_first:  # usage in the windows, so the gauges have something to show
            for prompt in (b"hello there", b"tell me more"):
                os.write(fd, prompt)
                read_for(fd, 0.3)
                os.write(fd, b"\r")
                read_for(fd, 4.0)
        c0 = cpu_ticks(pid)
        t0 = time.monotonic()
        n = read_for(fd, seconds)
        dt = time.monotonic() - t0
        c1 = cpu_ticks(pid)
        quit(pid, fd)
        hz = os.sysconf("SC_CLK_TCK")
        return n / dt, (c1 - c0) / hz / dt * 100

def main():
    binary = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    secs = float(sys.argv[3]) if len(sys.argv) > 3 else 30
    ff = [first_frame(binary) for _ in range(runs)]
    print("first frame ms: " + " ".join(f"{x*1000:.0f}" for x in ff)
          + f"  median {statistics.median(ff)*1000:.0f}")
    for ask_first in (False, True):
        bps, cpu = idle(binary, secs, ask_first)
        what = "after two answers (windows filled)" if ask_first else "fresh"
        print(f"idle {what}, over {secs:.0f} s: {bps:.0f} bytes/s to the terminal, CPU {cpu:.2f}%")

main()
