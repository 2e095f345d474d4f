"""Worker processes, the harness of every benchmark (``convert benchmark`` and
``benchmarks/``): each model or implementation runs alone in its own Python
process, with its own threads and memory, answering one JSON line for each
request line it reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any


class Worker:
    """``python ARGV...`` as a worker (see ``serve``); ``hello`` is the first
    line it answered, once ready."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None, what: str = "worker"):
        self.what = what
        self.stderr = tempfile.TemporaryFile("w+")  # read only to say why a worker failed
        self.process = subprocess.Popen(
            [sys.executable, *map(str, argv)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
        )
        self.hello = self._answer()

    def ask(self, request: str) -> Any:
        """Sends one request line; returns the worker's JSON answer."""
        self.process.stdin.write(request + "\n")
        self.process.stdin.flush()
        return self._answer()

    def close(self) -> None:
        """Ends the worker (idempotent)."""
        if self.process.poll() is None:
            self.process.stdin.close()
        self.process.wait()
        self.stderr.close()

    def _answer(self):
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            self.stderr.seek(0)
            said = self.stderr.read().strip().splitlines() or ["no message"]
            raise RuntimeError(f"{self.what} failed: {said[-1][-300:]}")
        return json.loads(line)


def serve(hello: object, answer: Callable[[str], object]) -> None:
    """The worker side: prints ``hello``, then ``answer(request)`` for every
    request line on stdin, each as one JSON line."""
    print(json.dumps(hello), flush=True)
    for line in sys.stdin:
        print(json.dumps(answer(line.strip())), flush=True)
