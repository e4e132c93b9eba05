"""The README is a tested path: every `$ ` command in README.md runs, in order, in a fresh
workspace, and the output shown under it is real output.

Like sqlite-utils' documentation tests. Ids, hashes, timings, ports, dates and the
emulator's speed figures are normalised: a long hex/decimal token in the README matches
any such token, and what it matched is substituted into later commands (so
`flash BUILD_ID` uses the real build id).
A command ending in `&` runs in the background and is stopped at the end. A line
`# exit code N` under a command says it exits with N (0 otherwise). A column in
TIMING_COLUMNS (how many windows a device's timer cut) is not compared.

Regenerate the README's output blocks from a real run:
    python tests/e2e/test_readme.py --update
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
# TensorFlow's C++ start-up chatter and progress bars are not output we document.
NOISE = re.compile(r"^(WARNING: All log messages|[IWE]\d{4} [\d:. ]+\d+ [a-z_]+\.cc:|INFO: Created TensorFlow Lite"
                   r"|Saved artifact at|\* Endpoint|  args_0|Output Type:|Captures:|  \d+: TensorSpec|  TensorSpec"
                   r"|fully_quantize:|.*UserWarning|  warnings.warn|W\d{4})")
TOKEN = re.compile(r"127\.0\.0\.1:\d+|\b\d{4}-\d\d-\d\dT[\d:.]+Z?\b|\b[0-9a-f]{8,64}\b|\b\d+\.\d+(?= ?s\b)"
                   r"|(?<=pid )\d+|\bqemu-[0-9a-f]{6}\b|/tmp/\S+|\b\d+(?= \((?:devices|host)\))"
                   # the emulator's figures move by a few instructions when a timer interrupt lands mid-inference
                   r"|\b[\d,.]+(?= (?:instructions/inference|inferences per emulated second|us/inference))")
# Lines that depend on the machine (is a TFLite Micro source tree configured?), not on tinyops.
ENVIRONMENT = re.compile(r"TFLM is not available|^\s*note: |^\s*\*? ?tflm(-cmsis-nn)?\s+flash")
LEARN = re.compile(r"[0-9a-f]{8,64}|127\.0\.0\.1:\d+|qemu-[0-9a-f]{6}")
# Table columns whose values depend on when a device's timer fired, not on what it was sent:
# an agent publishes a window every period, and the inferences fed to it may straddle two.
TIMING_COLUMNS = ("WINDOWS",)


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)
    line: int = 0


def steps(text: str) -> list[Step]:
    """The `$ ` lines of the README's code blocks with the output under each; a block's
    output ends at its fence, and a block without `$ ` lines is not a step."""
    out: list[Step] = []
    in_code = False
    current: Step | None = None
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            in_code, current = not in_code, None
        elif in_code and line.startswith("$ "):
            current = Step(line[2:], [], n)
            out.append(current)
        elif in_code and current is not None and line.strip():
            current.expected.append(line)
    return out


def _pattern(line: str, columns: set[int] | None = None) -> tuple[re.Pattern[str], list[str]]:
    """A README output line as a pattern; so is any value starting at one of ``columns`` (offsets)."""
    line = re.sub(r"\s+#[^#]*$", "", line).rstrip()  # a trailing comment is not output
    spans = [m.span() for m in TOKEN.finditer(line)]
    spans += [m.span() for m in re.finditer(r"\S+", line) if m.start() in (columns or set())]
    parts, tokens, pos = [], [], 0
    for start, end in sorted(spans):
        if start < pos:
            continue
        parts.append(re.escape(line[pos:start]))
        parts.append(r"(\S+?)")
        tokens.append(line[start:end])
        pos = end
    parts.append(re.escape(line[pos:]))
    body = "".join(parts)
    body = re.sub(r"(\\ )+", r"\\s+", body)  # table alignment moves with the widths of ids
    return re.compile(r"^\s*" + body + r"\s*$"), tokens


def _exit_code(step: Step) -> int:
    for line in step.expected:
        m = re.search(r"#\s*exit code (\d+)", line)
        if m:
            return int(m.group(1))
    return 0


class Session:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.subs: dict[str, str] = {}
        self.background: list[subprocess.Popen[bytes]] = []
        self.env = {k: v for k, v in os.environ.items() if k not in ("TINYOPS_HOME", "PYTHONPATH")}
        # The README's commands run this checkout's code, whatever tinyops is installed.
        self.env.update(TF_CPP_MIN_LOG_LEVEL="3", TINYOPS_HOME=str(root), COLUMNS="120", PYTHONPATH=str(REPO / "src"))

    def command(self, step: Step) -> str:
        cmd = step.command
        for old, new in sorted(self.subs.items(), key=lambda kv: -len(kv[0])):
            cmd = cmd.replace(old, new)
        return cmd

    def run(self, step: Step) -> tuple[int, str]:
        cmd = re.sub(r"\s+#[^'\"]*$", "", self.command(step))
        if cmd.rstrip().endswith("&"):
            log = open(self.root / f"background-{len(self.background)}.log", "wb")
            self.background.append(subprocess.Popen(["bash", "-c", f"exec {cmd.rstrip()[:-1]}"], cwd=self.root,
                                                    env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                                    start_new_session=True))
            return 0, ""
        p = subprocess.run(["bash", "-c", cmd], cwd=self.root, env=self.env, capture_output=True, text=True,
                           timeout=600)
        text = "\n".join(line for line in (p.stdout + p.stderr).splitlines() if not NOISE.match(line))
        return p.returncode, text

    def check(self, step: Step, code: int, text: str) -> None:
        want = _exit_code(step)
        assert code == want, f"README line {step.line}: `{step.command}` exited {code}, not {want}:\n{text}"
        lines = text.splitlines()
        at, columns = 0, set()
        for exp in step.expected:
            if re.fullmatch(r"\s*#.*", exp) or ENVIRONMENT.search(exp):
                continue
            heads = {m.start() for m in re.finditer(r"\S+", exp) if m.group(0) in TIMING_COLUMNS}
            columns = heads or columns  # a table's header, then its rows
            pattern, tokens = _pattern(exp, set() if heads else columns)
            for i in range(at, len(lines)):
                m = pattern.match(lines[i])
                if m:
                    for tok, got in zip(tokens, m.groups()):
                        if LEARN.fullmatch(tok):
                            self.subs.setdefault(tok, got)
                    at = i + 1
                    break
            else:
                raise AssertionError(f"README line {step.line}: `{step.command}` did not print\n  {exp}\n"
                                     f"actual output:\n{text}")

    def close(self) -> None:
        for p in reversed(self.background):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
        subprocess.run(["bash", "-c", "tinyops sim list --json >/dev/null 2>&1; for id in $(tinyops sim list --json"
                        " 2>/dev/null | python -c 'import json,sys; [print(s[\"id\"]) for s in json.load(sys.stdin)]'"
                        " 2>/dev/null); do tinyops sim stop $id; done; tinyops broker stop"],
                       cwd=self.root, env=self.env, capture_output=True)


def _fresh(tmp: Path) -> Path:
    root = tmp / "project"
    root.mkdir()
    shutil.copytree(REPO / "examples", root / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.mark.timeout(1800)
def test_every_readme_command_runs_and_prints_what_the_readme_shows(tmp_path: Path) -> None:
    session = Session(_fresh(tmp_path))
    try:
        all_steps = steps(README.read_text())
        assert len(all_steps) > 20
        for step in all_steps:
            code, text = session.run(step)
            session.check(step, code, text)
    finally:
        session.close()


def update() -> None:
    """Run every command and write its real output under it in README.md."""
    import tempfile

    text = README.read_text().splitlines()
    with tempfile.TemporaryDirectory() as d:
        session = Session(_fresh(Path(d)))
        try:
            out: list[str] = []
            in_code, i = False, 0
            while i < len(text):
                line = text[i]
                if line.startswith("```"):
                    in_code = not in_code
                    out.append(line)
                    i += 1
                    continue
                if in_code and line.startswith("$ "):
                    step = Step(line[2:], [], i + 1)
                    i += 1
                    old: list[str] = []
                    while i < len(text) and not text[i].startswith("$ ") and not text[i].startswith("```"):
                        old.append(text[i])
                        i += 1
                    step.expected = old
                    code, got = session.run(step)
                    print(f"$ {step.command}  -> {code}", file=sys.stderr)
                    out.append("$ " + session.command(step))  # with the ids this run printed
                    out.extend([*got.splitlines(), *([f"# exit code {code}"] if code else [])])
                    try:  # learn the ids the old text shows, so later commands get the real ones
                        session.check(step, _exit_code(step), got)
                    except AssertionError as e:
                        print(str(e).splitlines()[0], file=sys.stderr)
                    continue
                out.append(line)
                i += 1
        finally:
            session.close()
    README.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    if "--update" in sys.argv:
        update()
