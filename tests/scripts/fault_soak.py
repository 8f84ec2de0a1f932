#!/usr/bin/env python3
"""Fault soak: three rota workloads at once against `rota sim` with every fault kind.

Not run in CI. For a person (or a session) who wants to see rota under sustained faults:

    cargo build && python3 tests/scripts/fault_soak.py --minutes 5

What it does, all on loopback, in a temporary HOME that no other rota sees:

- starts `rota sim` with a Groq fleet of two accounts (a chat model and two Whisper
  models) where every fault kind of docs/sim.md strikes 5 % of requests (`--fault-rate`),
  and whose limits are twice the load this script offers, per account: a correct rota,
  which is told those limits, never meets a 429;
- runs for `--minutes`, side by side:
  1. a loop of TUI-less `rota ask` (one at a time, at most one per 0.5 s);
  2. one `rota batch -o OUT` over enough lines to last about the run (concurrency 2);
     when the time is up and it still runs it gets SIGINT (it must exit 130), and the same
     command is run again until every id is answered or 3 resumes were tried;
  3. a loop of `rota transcribe` on a small generated WAV (at most one per second);
- reports: panics ("panicked" in any stderr or the log), lost or doubled batch ids,
  provider 429s (the sim's /sim/stats), exit codes per workload, and the RSS of the sim
  and of the batch at start and end (and the largest of the short-lived processes).

Exit code: 0 when no panic, no id lost or doubled and no 429; 1 otherwise.
"""

import argparse
import json
import math
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import wave

CHAT_MODEL = "openai/gpt-oss-20b"
WHISPER = ["whisper-large-v3-turbo", "whisper-large-v3"]
FAULT_KINDS = [
    "hang_before_headers",
    "hang_mid_stream",
    "cut_stream",
    "malformed_chunk",
    "http_500",
    "http_503",
    "slow_first_byte",
]

# The offered load, per minute, from the pacing below (an upper bound).
ASK_EVERY_S = 0.5
TRANSCRIBE_EVERY_S = 1.0
BATCH_CONCURRENCY = 2
ANSWER_TOKENS = 20
TOKENS_PER_SEC = 40
TTFT_MS = 50
MAX_TOKENS = 64
PROMPT_TOKENS = 40  # generous for the short prompts used here
AUDIO_BILLED_S = 10  # Groq bills at least 10 s


def load_per_min():
    answer_s = ANSWER_TOKENS / TOKENS_PER_SEC + TTFT_MS / 1000
    chat = 60 / ASK_EVERY_S + BATCH_CONCURRENCY * 60 / answer_s
    audio = 60 / TRANSCRIBE_EVERY_S
    return chat, audio


def scenario(minutes, fault_rate, seed):
    chat, audio = load_per_min()
    days = max(1.0, minutes)  # day windows hold the whole run
    rpm = math.ceil(2 * chat)
    tpm = math.ceil(2 * chat * (PROMPT_TOKENS + MAX_TOKENS))
    arpm = math.ceil(2 * audio)
    ash = math.ceil(2 * audio * AUDIO_BILLED_S * 60)
    lines = [
        f"seed = {seed}",
        "",
        "[defaults]",
        f"max_tokens = {MAX_TOKENS}",
        f"answer_tokens = {ANSWER_TOKENS}",
        f"tokens_per_sec = {TOKENS_PER_SEC}",
        f'ttft = "{TTFT_MS}ms"',
        "",
        "[[providers]]",
        'name = "groq"',
    ]
    for acct in ["a", "b"]:
        lines += ["", "[[providers.accounts]]", f'name = "{acct}"', f'keys = ["sim-groq-{acct}"]']
    lines += [
        "",
        "[[providers.models]]",
        f'id = "{CHAT_MODEL}"',
        f"rpm = {rpm}",
        f"tpm = {tpm}",
        f"rpd = {math.ceil(rpm * days * 2)}",
        f"tpd = {math.ceil(tpm * days * 2)}",
        'tasks = ["fast"]',
    ]
    for w in WHISPER:
        lines += [
            "",
            "[[providers.models]]",
            f'id = "{w}"',
            "transcription = true",
            f"rpm = {arpm}",
            f"rpd = {math.ceil(arpm * days * 2)}",
            f"ash = {ash}",
            f"asd = {math.ceil(ash * days)}",
        ]
    for kind in FAULT_KINDS:
        lines += ["", "[[faults]]", f'kind = "{kind}"', f"probability = {fault_rate}"]
        if kind.startswith("hang"):
            lines.append('delay = "4s"')
        if kind == "slow_first_byte":
            lines.append('delay = "1s"')
    limits = {"rpm": rpm, "tpm": tpm, "audio_rpm": arpm, "ash": ash}
    return "\n".join(lines) + "\n", limits


def config(groq_url, limits, minutes):
    days = max(1.0, minutes)
    models = [
        f"""[[models]]
provider = "groq"
id = "{CHAT_MODEL}"
rpm = {limits['rpm']}
tpm = {limits['tpm']}
rpd = {math.ceil(limits['rpm'] * days * 2)}
tpd = {math.ceil(limits['tpm'] * days * 2)}
"""
    ]
    for w in WHISPER:
        models.append(
            f"""[[models]]
provider = "groq"
id = "{w}"
rpm = {limits['audio_rpm']}
rpd = {math.ceil(limits['audio_rpm'] * days * 2)}
ash = {limits['ash']}
asd = {math.ceil(limits['ash'] * days)}
"""
        )
    return f"""[defaults]
safety_margin = 0.0
max_wait = "30s"
connect_timeout = "2s"
first_byte_timeout = "3s"
idle_timeout = "2s"

[providers.groq]
keys = [{{ key = "sim-groq-a", account = "a" }}, {{ key = "sim-groq-b", account = "b" }}]
base_url = "{groq_url}"

[providers.openai]
enabled = false

[providers.together]
enabled = false

{chr(10).join(models)}
[pools]
fast = ["groq/{CHAT_MODEL}"]

[transcription]
order = ["groq"]

[state]
backend = "local"
"""


def write_wav(path, seconds=2.0, rate=16000):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = bytearray()
        for i in range(int(seconds * rate)):
            frames += struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
        w.writeframes(bytes(frames))


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class Soak:
    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="rota-soak-")
        self.home = os.path.join(self.dir, "home")
        os.makedirs(self.home)
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": self.home,
            "XDG_DATA_HOME": os.path.join(self.home, "data"),
            "XDG_CONFIG_HOME": os.path.join(self.home, "config"),
            "ROTA_LOG_FILE": os.path.join(self.dir, "rota.log"),
        }
        self.stderr_files = []
        self.lock = threading.Lock()
        self.exits = {"ask": {}, "transcribe": {}, "batch": []}
        self.max_child_rss_kb = 0

    def log(self, msg):
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    def stderr_file(self, name):
        path = os.path.join(self.dir, f"{name}.stderr")
        self.stderr_files.append(path)
        return open(path, "ab")

    def rota(self, *args):
        return [self.args.rota, "--config", self.config_path, *args]

    def start_sim(self, minutes):
        text, self.limits = scenario(minutes, self.args.fault_rate, self.args.seed)
        path = os.path.join(self.dir, "scenario.toml")
        with open(path, "w") as f:
            f.write(text)
        self.sim = subprocess.Popen(
            [self.args.rota, "sim", "--listen", "127.0.0.1:0", "--scenario", path],
            stdout=subprocess.PIPE,
            stderr=self.stderr_file("sim"),
            env=self.env,
        )
        line = self.sim.stdout.readline().decode().split()
        if len(line) != 2 or line[0] != "groq":
            raise SystemExit(f"rota sim did not print its URL: {line}")
        self.groq_url = line[1]
        # http://127.0.0.1:PORT/groq/v1 → http://127.0.0.1:PORT/sim/stats
        self.stats_url = self.groq_url.rsplit("/groq/", 1)[0] + "/sim/stats"
        self.config_path = os.path.join(self.dir, "config.toml")
        with open(self.config_path, "w") as f:
            f.write(config(self.groq_url, self.limits, minutes))

    def stats(self):
        with urllib.request.urlopen(self.stats_url, timeout=5) as r:
            return json.load(r)

    def run_short(self, kind, args, timeout):
        """Runs one short-lived rota process; counts its exit code."""
        with self.stderr_file(kind) as err:
            try:
                p = subprocess.run(
                    self.rota(*args),
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    env=self.env,
                    timeout=timeout,
                )
                code = p.returncode
            except subprocess.TimeoutExpired:
                code = "timeout"
        with self.lock:
            self.exits[kind][code] = self.exits[kind].get(code, 0) + 1
            self.max_child_rss_kb = max(
                self.max_child_rss_kb, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            )

    def loop(self, kind, every, args, deadline):
        n = 0
        while time.monotonic() < deadline:
            started = time.monotonic()
            self.run_short(kind, args(n), timeout=90)
            n += 1
            time.sleep(max(0.0, every - (time.monotonic() - started)))

    def batch(self, deadline, minutes):
        chat, _ = load_per_min()
        answer_s = ANSWER_TOKENS / TOKENS_PER_SEC + TTFT_MS / 1000
        n = max(20, int(BATCH_CONCURRENCY * 60 / answer_s * minutes * 0.75))
        self.batch_n = n
        inp = os.path.join(self.dir, "batch.jsonl")
        with open(inp, "w") as f:
            for i in range(n):
                f.write(json.dumps({"id": f"b{i}", "prompt": f"soak question {i}: name a river", "max_tokens": 32}) + "\n")
        self.batch_out = os.path.join(self.dir, "batch.out.jsonl")
        cmd = self.rota("batch", "--concurrency", str(BATCH_CONCURRENCY), "-o", self.batch_out, inp)
        self.rss = {"sim_start_kb": rss_kb(self.sim.pid)}
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.stderr_file("batch"), env=self.env)
        time.sleep(2)
        self.rss["batch_start_kb"] = rss_kb(p.pid)
        last = self.rss["batch_start_kb"]
        while p.poll() is None and time.monotonic() < deadline:
            last = rss_kb(p.pid) or last
            time.sleep(0.5)
        self.rss["batch_end_kb"] = last
        if p.poll() is None:
            self.log("time is up: SIGINT to the batch")
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            self.interrupted_exit = p.returncode
        self.exits["batch"].append(p.returncode)
        for _ in range(3):
            if self.batch_missing() == 0:
                break
            self.log("resuming the batch")
            r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=self.stderr_file("batch"), env=self.env, timeout=600)
            self.exits["batch"].append(r.returncode)

    def batch_lines(self):
        ok, failed, torn = {}, {}, 0
        try:
            with open(self.batch_out, "rb") as f:
                data = f.read()
        except OSError:
            return ok, failed, torn
        for line in data.split(b"\n"):
            if not line:
                continue
            try:
                v = json.loads(line)
            except ValueError:
                torn += 1
                continue
            bucket = ok if v.get("ok") is True else failed
            bucket[v.get("id")] = bucket.get(v.get("id"), 0) + 1
        return ok, failed, torn

    def batch_missing(self):
        ok, _, _ = self.batch_lines()
        return self.batch_n - len(ok)

    def run(self):
        minutes = self.args.minutes
        self.start_sim(minutes)
        self.log(f"sim at {self.groq_url}; limits per account {self.limits}; work dir {self.dir}")
        wav = os.path.join(self.dir, "soak.wav")
        write_wav(wav)
        started = time.monotonic()
        deadline = started + minutes * 60
        threads = [
            threading.Thread(
                target=self.loop,
                args=("ask", ASK_EVERY_S, lambda n: ["ask", "--task", "fast", f"soak ask {n}: name a colour"], deadline),
            ),
            threading.Thread(
                target=self.loop, args=("transcribe", TRANSCRIBE_EVERY_S, lambda n: ["transcribe", wav], deadline)
            ),
        ]
        for t in threads:
            t.start()
        self.interrupted_exit = None
        self.batch(deadline, minutes)
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        self.rss["sim_end_kb"] = rss_kb(self.sim.pid)
        stats = self.stats()
        self.sim.send_signal(signal.SIGINT)
        try:
            self.sim.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.sim.kill()
        return self.report(elapsed, stats)

    def report(self, elapsed, stats):
        panics = []
        for path in self.stderr_files + [self.env["ROTA_LOG_FILE"]]:
            try:
                with open(path, "rb") as f:
                    for line in f:
                        if b"panicked" in line:
                            panics.append(f"{os.path.basename(path)}: {line.decode(errors='replace').strip()}")
            except OSError:
                pass
        ok, failed, torn = self.batch_lines()
        doubled = sorted(k for k, c in ok.items() if c > 1)
        ids = {f"b{i}" for i in range(self.batch_n)}
        lost = sorted(ids - set(ok) - set(failed))
        still_failed = sorted(set(failed) - set(ok))
        unknown = sorted(str(k) for k in set(ok) | set(failed) if k not in ids)
        totals = stats.get("totals", {})
        report = {
            "minutes": round(elapsed / 60, 2),
            "fault_rate": self.args.fault_rate,
            "limits_per_account": self.limits,
            "sim_totals": totals,
            "provider_429s": totals.get("429", 0),
            "exits": {k: v for k, v in self.exits.items()},
            "batch": {
                "ids": self.batch_n,
                "ok": len(ok),
                "doubled": doubled,
                "lost": lost,
                "failed_after_resumes": still_failed,
                "unknown_ids": unknown,
                "unparsable_lines": torn,
                "interrupted_exit": self.interrupted_exit,
            },
            "panics": panics,
            "rss_kb": {**self.rss, "largest_short_process_kb": self.max_child_rss_kb},
        }
        print(json.dumps(report, indent=2))
        bad = (
            panics
            or doubled
            or lost
            or unknown
            or torn
            or totals.get("429", 0)
            or self.interrupted_exit not in (None, 130)
        )
        if not self.args.keep and not bad:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            self.log(f"kept {self.dir}")
        return 1 if bad else 0


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_rota = os.path.join(here, "..", "..", "target", "debug", "rota")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=5.0, help="how long the workloads run (default 5)")
    ap.add_argument("--rota", default=os.environ.get("ROTA_BIN", default_rota), help="the rota binary (default: $ROTA_BIN, else target/debug/rota)")
    ap.add_argument("--fault-rate", type=float, default=0.05, help="probability of each fault kind (default 0.05)")
    ap.add_argument("--seed", type=int, default=7, help="the sim's dice")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (always kept when something is wrong)")
    args = ap.parse_args()
    if not os.path.exists(args.rota) and shutil.which(args.rota) is None:
        raise SystemExit(f"no rota binary at {args.rota}: build it (cargo build) or pass --rota")
    sys.exit(Soak(args).run())


if __name__ == "__main__":
    main()
