"""Issue 17's ten findings, probed again: against a fresh Hub emulator (``python -m release hub serve``) and the CLI.

Each probe sends what the attack run sent and prints whether model-release held, with what was measured:
the emulator's resident memory growth (VmRSS from /proc), bytes the client got to send, seconds, exit codes.

    python benchmarks/probe_hostile.py [--idle-seconds 35]

Exits 1 when a probe did not hold. The idle-connection probe waits for the emulator's 30-second header
timeout (the default of ``hub serve``): the whole run takes about 40 seconds.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx

TOKEN = "hf_probe_alice_write"  # a throwaway token of a throwaway server
#: Shaped like a Hugging Face token, so the safety gate must find it (made up: it grants nothing).
LEAK = "hf_" + "QpRsTuVwXyZaBcDeFgHiJkLmNoPqRsTuVw"
SECRET = "s3cr3t-password-in-url"
MiB = 1 << 20
#: 7 levels of 9 aliases each: ~300 bytes that expand to 9**7 (4.8 million) strings.
ALIAS_BOMB = (
    "---\n"
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{name}: &{name} [{','.join(['*' + last] * 9)}]\n" for last, name in zip("abcdef", "bcdefg", strict=True)
    )
    + "---\n# A card\n"
)


@dataclass(frozen=True)
class Result:
    finding: str
    held: bool
    figure: str


@dataclass(frozen=True)
class Hub:
    url: str
    pid: int

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    @contextmanager
    def growth(self) -> Iterator[list[float]]:
        """How far the emulator's VmRSS rose above where it was, at its highest while the block ran (MB),
        sampled every 5 ms in a thread; the one item of the list it yields is set at the end."""
        before, peak, stop = self.rss_mb(), [0.0], threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], self.rss_mb())
                stop.wait(0.005)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        grown = [0.0]
        try:
            yield grown
        finally:
            stop.set()
            thread.join()
            grown[0] = max(peak[0], self.rss_mb()) - before

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def hub_server(storage: Path, env: Mapping[str, str]) -> Iterator[Hub]:
    port = free_port()
    command = [sys.executable, "-m", "release", "hub", "serve", "--port", str(port), "--storage", str(storage)]
    process = subprocess.Popen(
        [*command, "--token", f"alice:{TOKEN}", "--quiet"], stdout=subprocess.DEVNULL, env={**env}
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"The Hub emulator did not start on port {port}") from None
                time.sleep(0.05)
        yield Hub(f"http://127.0.0.1:{port}", process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


def cli(*args: str, cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "release", *args], cwd=cwd, env={**env}, capture_output=True, text=True, timeout=600
    )


def no_traceback(done: subprocess.CompletedProcess[str]) -> bool:
    return "Traceback" not in done.stderr


def said(done: subprocess.CompletedProcess[str]) -> str:
    """The error line the CLI printed, shortened: what it refused, in its own words."""
    line = next((line for line in done.stderr.splitlines() if line.startswith("ERROR: ")), "no error line")
    return line.removeprefix("ERROR: ")[:110]


def create_repo(hub: Hub, repo: str) -> None:
    httpx.post(
        f"{hub.url}/api/repos/create", json={"name": repo.split("/")[1], "organization": "alice"}, headers=hub.headers()
    ).raise_for_status()


def commit(hub: Hub, repo: str, files: Mapping[str, bytes]) -> httpx.Response:
    lines = [{"key": "header", "value": {"summary": "probe"}}] + [
        {"key": "file", "value": {"path": p, "content": base64.b64encode(c).decode(), "encoding": "base64"}}
        for p, c in files.items()
    ]
    return httpx.post(
        f"{hub.url}/api/models/{repo}/commit/main",
        content="\n".join(json.dumps(line) for line in lines),
        headers={**hub.headers(), "Content-Type": "application/x-ndjson"},
    )


# --- the probes against the emulator ------------------------------------------------------------


def probe_alias_bomb(hub: Hub, work: Path, env: Mapping[str, str]) -> Result:
    create_repo(hub, "alice/bomb")
    commit(hub, "alice/bomb", {"README.md": ALIAS_BOMB.encode()}).raise_for_status()
    start = time.perf_counter()
    with hub.growth() as grown:
        answer = httpx.get(f"{hub.url}/api/models/alice/bomb", timeout=120)
    seconds = time.perf_counter() - start
    held = answer.status_code == 200 and len(answer.content) < 64 * 1024 and grown[0] < 50
    figure = (
        f"{len(ALIAS_BOMB)}-byte card: answer {len(answer.content):,} B in {seconds:.2f} s, peak RSS +{grown[0]:.1f} MB"
    )
    return Result("1 YAML alias bomb", held, figure + " (was 33.6 MB, 13.7 s, 543 MB)")


def probe_big_body(hub: Hub, work: Path, env: Mapping[str, str]) -> Result:
    total, sent = 400 * MiB, 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        chunk = b" " * MiB
        while sent < total:
            sent += len(chunk)
            yield chunk

    start = time.perf_counter()
    with hub.growth() as grown:
        try:
            answer = httpx.post(
                f"{hub.url}/api/validate-yaml", content=body(), headers={"Content-Length": str(total)}, timeout=120
            )
            status = str(answer.status_code)
        except httpx.HTTPError as exc:  # the server closed the connection after answering
            status = type(exc).__name__
    seconds = time.perf_counter() - start
    held = status in ("413", "RemoteProtocolError", "WriteError", "ReadError") and grown[0] < 50
    figure = (
        f"anonymous 400 MiB POST: {status}, client sent {sent / MiB:.0f} MiB, {seconds:.2f} s, "
        f"peak RSS +{grown[0]:.1f} MB"
    )
    return Result("2 body before authentication", held, figure + " (was +821 MB)")


def probe_active_content(hub: Hub, work: Path, env: Mapping[str, str]) -> Result:
    create_repo(hub, "alice/pages")
    page = b"<html><script>fetch('/api/whoami-v2')</script></html>"
    commit(hub, "alice/pages", {"page.html": page, "image.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>"})
    answers = [httpx.get(f"{hub.url}/alice/pages/resolve/main/{name}") for name in ("page.html", "image.svg")]
    inert = all(
        a.headers.get("X-Content-Type-Options") == "nosniff"
        and "sandbox" in a.headers.get("Content-Security-Policy", "")
        for a in answers
    )
    types = ", ".join(a.headers.get("Content-Type", "?").split(";")[0] for a in answers)
    return Result("5a user files served as active content", inert, f"{types}: nosniff and CSP sandbox = {inert}")


def probe_host_header(hub: Hub, work: Path, env: Mapping[str, str]) -> Result:
    answer = httpx.get(f"{hub.url}/api/whoami-v2", headers={**hub.headers(), "Host": f"rebind.example:{hub.port}"})
    return Result(
        "5b any Host header accepted", answer.status_code == 421, f"Host rebind.example: HTTP {answer.status_code}"
    )


def probe_deep_json(hub: Hub, work: Path, env: Mapping[str, str]) -> Result:
    create_repo(hub, "alice/deep")
    deep = "[" * 100_000 + "]" * 100_000
    line = '{"key": "header", "value": {"summary": "deep", "x": ' + deep + "}}"
    answer = httpx.post(
        f"{hub.url}/api/models/alice/deep/commit/main",
        content=line,
        headers={**hub.headers(), "Content-Type": "application/x-ndjson"},
    )
    held = 400 <= answer.status_code < 500
    return Result("7c commit body nested 100k deep", held, f"HTTP {answer.status_code} (was 500, RecursionError)")


def probe_idle(hub: Hub, work: Path, env: Mapping[str, str], limit: float) -> Result:
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", hub.port), timeout=limit) as sock:
        try:
            closed = sock.recv(1) == b""
        except TimeoutError:
            closed = False
    seconds = time.perf_counter() - start
    return Result("10 idle connection", closed, f"a connection sending nothing closed after {seconds:.1f} s")


# --- the probes against the CLI -----------------------------------------------------------------


def project(root: Path, endpoint: str, files: Mapping[str, bytes], *, extra: str = "") -> Path:
    (root / "model").mkdir(parents=True)
    for name, content in files.items():
        (root / "model" / name).write_bytes(content)
    (root / "release.toml").write_text(
        f'repo_id = "alice/{root.name}"\nversion = "1.0"\nendpoint = "{endpoint}"\n\n'
        f'[model]\ndir = "model"\n\n[card]\nmetadata = {{ license = "mit" }}\n{extra}',
        encoding="utf-8",
    )
    return root


def probe_url_credentials(hub: Hub, work: Path, env: Mapping[str, str]) -> Result:
    root = project(work / "creds", hub.url, {"config.json": b"{}"})
    summary = work / "summary.md"
    endpoint = f"http://user:{SECRET}@127.0.0.1:{hub.port}"
    ci = {**env, "HF_TOKEN": "hf_wrong_token", "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    done = cli("release", "--endpoint", endpoint, cwd=root, env=ci)
    leaked = SECRET in done.stdout + done.stderr or (summary.is_file() and SECRET in summary.read_text())
    held = done.returncode != 0 and not leaked and no_traceback(done)
    return Result(
        "3 URL credentials", held, f"exit {done.returncode}; password in stderr or job summary: {leaked} ({said(done)})"
    )


def probe_secrets(hub: Hub, work: Path, env: Mapping[str, str]) -> Result:
    folder = work / "secrets"
    folder.mkdir()
    (folder / "notes-utf16.txt").write_bytes(f"export HF_TOKEN={LEAK}\n".encode("utf-16"))
    (folder / "notes-nul.txt").write_bytes(f"header\0\nexport HF_TOKEN={LEAK}\n".encode())
    meta = json.dumps(
        {
            "__metadata__": {"notes": f"uploaded with {LEAK}"},
            "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        }
    ).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(meta)) + meta + bytes(8))
    done = cli("--json", "check", str(folder), cwd=work, env=env)
    found = {f["path"] for f in json.loads(done.stdout).get("findings", []) if "MR401" in f.get("code", "")}
    expected = {"notes-utf16.txt", "notes-nul.txt", "model.safetensors"}
    named = {Path(p).name for p in found}
    held = done.returncode == 1 and expected <= named and LEAK not in done.stdout + done.stderr
    return Result("4 secrets in UTF-16, NUL text, safetensors metadata", held, f"found in {sorted(named)}")


def probe_newline_name(hub: Hub, work: Path, env: Mapping[str, str]) -> Result:
    extra = '\n[[datasets]]\nname = "d"\ndir = "data"\n[datasets.publish]\nrepo_id = "alice/newline-data"\n'
    extra += 'metadata = { license = "mit" }\n'
    root = project(work / "newline", hub.url, {"config.json": b"{}", "bad\nname.bin": b"x"}, extra=extra)
    (root / "data").mkdir()
    (root / "data" / "train.csv").write_text("x\n1\n")
    done = cli("release", cwd=root, env={**env, "HF_TOKEN": TOKEN})
    created = [
        r
        for r in ("alice/newline", "alice/newline-data")
        for kind in ("models", "datasets")
        if httpx.get(f"{hub.url}/api/{kind}/{r}", headers=hub.headers()).status_code == 200
    ]
    held = done.returncode != 0 and not created and no_traceback(done)
    return Result(
        "6 a name the Hub refuses found late",
        held,
        f"exit {done.returncode}; repositories created: {created} ({said(done)})",
    )


def probe_non_utf8(hub: Hub, work: Path, env: Mapping[str, str]) -> Result:
    root = project(work / "latin1", hub.url, {"config.json": b"{}"})
    (root / "release.toml").write_bytes((root / "release.toml").read_bytes() + b"# caf\xe9\n")
    config = cli("stage", cwd=root, env=env)
    names = work / "names"
    (names / "d").mkdir(parents=True)
    with open(os.fsencode(names / "d") + b"/bad\xff.bin", "wb") as handle:
        handle.write(b"x")
    checksum = cli("checksum", "d", "--manifest", "m.sha256", cwd=names, env=env)
    held = config.returncode == 2 and checksum.returncode == 2 and no_traceback(config) and no_traceback(checksum)
    figure = (
        f"release.toml with byte 0xe9: exit {config.returncode} ({said(config)}); "
        f"file named with byte 0xff: exit {checksum.returncode} ({said(checksum)})"
    )
    return Result("7a/b non-UTF-8 config and file name", held, figure)


def probe_huge_shape(hub: Hub, work: Path, env: Mapping[str, str]) -> Result:
    folder = work / "shape"
    folder.mkdir()
    header = json.dumps({"w": {"dtype": "F32", "shape": [10**30, 0], "data_offsets": [0, 0]}}).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    done = cli("--json", "check", str(folder), cwd=work, env=env)
    codes = sorted({f.get("code", "") for f in json.loads(done.stdout).get("findings", [])})
    held = done.returncode == 1 and no_traceback(done)
    return Result("8 safetensors shape [10**30, 0]", held, f"exit {done.returncode}, findings {codes}")


def probe_jinja(hub: Hub, work: Path, env: Mapping[str, str]) -> Result:
    root = project(work / "jinja", hub.url, {"config.json": b"{}"}, extra='template = "card.md.j2"\n')
    marker = root / "ran"
    reach = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    (root / "card.md.j2").write_text(
        f"# card\n{reach}\n{{{{ cycler.__init__.__globals__.os.system('touch {marker}') }}}}\n"
    )
    done = cli("card", cwd=root, env=env)
    held = done.returncode != 0 and not marker.exists() and no_traceback(done)
    return Result("9 unsandboxed Jinja", held, f"exit {done.returncode}; code ran: {marker.exists()} ({said(done)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-seconds", type=float, default=35.0, help="how long the idle probe waits at most")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="probe-hostile-") as tmp:
        work = Path(tmp)
        env = {
            **os.environ,
            "HOME": str(work / "home"),
            "XDG_CACHE_HOME": str(work / "cache"),
            "HF_HOME": str(work / "hf-home"),
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
        }
        for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "HF_TOKEN", "HF_ENDPOINT"):
            env.pop(name, None)
        probes: list[Callable[[Hub, Path, Mapping[str, str]], Result]] = [
            probe_alias_bomb,
            probe_big_body,
            probe_url_credentials,
            probe_secrets,
            probe_active_content,
            probe_host_header,
            probe_newline_name,
            probe_non_utf8,
            probe_deep_json,
            probe_huge_shape,
            probe_jinja,
        ]
        results = []
        with hub_server(work / "hub", env) as hub:
            for probe in probes:
                results.append(probe(hub, work, env))
                print(f"{'held' if results[-1].held else 'FAILED':>6}  {results[-1].finding}: {results[-1].figure}")
            results.append(probe_idle(hub, work, env, args.idle_seconds))
            print(f"{'held' if results[-1].held else 'FAILED':>6}  {results[-1].finding}: {results[-1].figure}")
    failed = [r for r in results if not r.held]
    print(f"\n{len(results) - len(failed)} of {len(results)} probes held")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
