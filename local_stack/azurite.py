"""Start and stop Azurite (the Azure Storage emulator, pinned in package.json).

Ports are chosen by Azurite itself (port 0) and read back from its start-up output, so
parallel runs never race for a port. The app reaches it only through the
`AzureWebJobsStorage` connection string, as it reaches Azure Storage in production.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The account key every Azurite instance uses; public and documented, not a secret.
DEVSTORE_ACCOUNT = "devstoreaccount1"
DEVSTORE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_LISTENING = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at http://127\.0\.0\.1:(\d+)")


class AzuriteNotInstalled(RuntimeError):
    pass


@dataclass
class Azurite:
    """A running Azurite process (in memory by default) and how to reach it."""

    process: subprocess.Popen
    ports: dict[str, int]
    workdir: str
    location: str | None = None  # where its data lives on disk (None: in memory, lost on a restart)

    @property
    def connection_string(self) -> str:
        base = "http://127.0.0.1"
        return (
            f"DefaultEndpointsProtocol=http;AccountName={DEVSTORE_ACCOUNT};AccountKey={DEVSTORE_KEY};"
            f"BlobEndpoint={base}:{self.ports['Blob']}/{DEVSTORE_ACCOUNT};"
            f"QueueEndpoint={base}:{self.ports['Queue']}/{DEVSTORE_ACCOUNT};"
            f"TableEndpoint={base}:{self.ports['Table']}/{DEVSTORE_ACCOUNT};"
        )

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def halt(self) -> None:
        """Stop the process and keep its data: `restart` brings it back on the same ports."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self) -> None:
        """Start the process again (after `halt`) on the same ports, over the same data."""
        again = start_azurite(
            in_memory=self.location is None, location=self.location, ports=self.ports, workdir=self.workdir
        )
        self.process = again.process

    def __enter__(self) -> Azurite:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def azurite_binary() -> Path:
    binary = ROOT / "node_modules" / ".bin" / "azurite"
    if not binary.exists():
        raise AzuriteNotInstalled("Azurite is not installed: run `npm ci` (make does this for you)")
    return binary


def start_azurite(
    *,
    in_memory: bool = True,
    location: str | None = None,
    timeout_s: float = 30,
    ports: dict[str, int] | None = None,
    workdir: str | None = None,
) -> Azurite:
    """Start blob, queue and table services on loopback ports (free ones unless given) and wait until they listen."""
    workdir = workdir or tempfile.mkdtemp(prefix="azurite-")
    location = None if in_memory else location or workdir
    wanted = ports or {}
    args = [
        str(azurite_binary()),
        "--silent",
        "--disableTelemetry",
        "--skipApiVersionCheck",
        "--blobHost",
        "127.0.0.1",
        "--queueHost",
        "127.0.0.1",
        "--tableHost",
        "127.0.0.1",
        "--blobPort",
        str(wanted.get("Blob", 0)),
        "--queuePort",
        str(wanted.get("Queue", 0)),
        "--tablePort",
        str(wanted.get("Table", 0)),
    ]
    args += ["--inMemoryPersistence"] if location is None else ["--location", location]
    process = subprocess.Popen(args, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    listening: dict[str, int] = {}
    ready = threading.Event()
    output: list[str] = []

    def read_output() -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            output.append(line)
            match = _LISTENING.search(line)
            if match:
                listening[match.group(1)] = int(match.group(2))
                if len(listening) == 3:
                    ready.set()
        ready.set()

    threading.Thread(target=read_output, daemon=True).start()
    if not ready.wait(timeout_s) or len(listening) < 3:
        process.kill()
        shutil.rmtree(workdir, ignore_errors=True)
        raise RuntimeError("Azurite did not start:\n" + "".join(output[-20:]))
    return Azurite(process, listening, workdir, location)
