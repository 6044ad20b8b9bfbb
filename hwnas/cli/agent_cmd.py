"""Run a measuring agent on this machine: it measures ONNX models sent by 'hwnas profile --agent'
and 'hwnas search --agent' with the same protocol and device definition as local profiling.

Needs no torch: on a small device install only the agent's dependencies (see the README). Every
request is signed with the token of --token-file (a file only its owner can read; make one with
--new-token) and every answer signed back; the agent listens on 127.0.0.1 unless --host says otherwise,
and anywhere else only with TLS (--tls-cert/--tls-key: a self-signed pair is made there if neither file
exists; clients pin the fingerprint it prints) or --insecure. Each batch is measured in a child process
with memory, CPU-time and wall-clock limits; one batch at a time (a second client is told it is busy).

examples:
  hwnas agent --new-token ~/.hwnas-token
  hwnas agent --device cpu --token-file ~/.hwnas-token
  hwnas agent --device cpu --host 0.0.0.0 --token-file token.txt --tls-cert agent.crt --tls-key agent.key
  hwnas agent --devices my-devices.toml --device pi-b1 --token-file token.txt --name pi4-kitchen \\
      --host 0.0.0.0 --tls-cert pi.crt --tls-key pi.key --max-memory-mb 1500
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import socket
import stat
import sys
from collections import Counter

from hwnas.cli.common import positive_float
from hwnas.cli.devices_cmd import add_devices_option

HELP = "serve measurements of this machine to 'hwnas profile --agent' (no torch needed)"


def add_token_option(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument(
        "--token-file",
        metavar="FILE",
        required=required,
        help="file whose first line is the shared secret every request carries",
    )


MIN_TOKEN_BITS = 80.0
MAKE_ONE = "make one with: hwnas agent --new-token FILE"


def token_bits(token: str) -> float:
    """An estimate of a token's entropy in bits: its length times the Shannon entropy of its characters."""
    counts = Counter(token)
    return -len(token) * sum(c / len(token) * math.log2(c / len(token)) for c in counts.values())


def read_token(path: str) -> str:
    """The first line of ``path``, stripped; ConfigError (one line) if unreadable, readable by others
    (as ssh refuses such keys) or too guessable."""
    from hwnas.core.errors import ConfigError

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, encoding="utf-8") as f:
            mode = os.fstat(f.fileno()).st_mode
            token = f.readline().strip()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the token file {path}: {e.__class__.__name__}") from None
    if os.name == "posix" and mode & 0o077:
        raise ConfigError(
            f"the token file {path} is readable by others (mode {stat.S_IMODE(mode):o}): chmod 600 {path}"
        )
    if len(token) < 16 or token_bits(token) < MIN_TOKEN_BITS:
        raise ConfigError(
            f"the token in {path} is too guessable (about {token_bits(token):.0f} bits, at least "
            f"{MIN_TOKEN_BITS:.0f} needed); {MAKE_ONE}"
        )
    return token


def new_token(path: str) -> None:
    """Write a fresh 256-bit token to a new file only its owner can read; ConfigError if it exists."""
    from hwnas.core.errors import ConfigError

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} exists: remove it first, or keep using it") from None
    except OSError as e:
        raise ConfigError(f"cannot create {path}: {e.strerror or e}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secrets.token_urlsafe(32) + "\n")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from hwnas.agent.wire import DEFAULT_PORT
    from hwnas.devices import builtin_names

    p.add_argument(
        "--new-token",
        metavar="FILE",
        default=None,
        help="write a new random token to FILE (mode 600) and exit; give the same file to the clients",
    )
    p.add_argument(
        "--device",
        metavar="DEVICE",
        help=f"one of: {', '.join(builtin_names())}, or a device of the devices file",
    )
    add_devices_option(p)
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for every interface)",
    )
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free one)")
    add_token_option(p, required=False)
    p.add_argument("--tls-cert", metavar="FILE", default=None, help="TLS certificate (PEM); made if absent")
    p.add_argument("--tls-key", metavar="FILE", default=None, help="its private key (PEM); made (mode 600) if absent")
    p.add_argument(
        "--insecure",
        action="store_true",
        help="allow plain HTTP on an address other machines reach (anyone on the path sees the models)",
    )
    p.add_argument(
        "--max-upload-mb",
        type=positive_float,
        default=64.0,
        metavar="MB",
        help="largest model accepted, in MiB (default 64)",
    )
    p.add_argument(
        "--max-request-mb", type=positive_float, default=256.0, metavar="MB", help="largest request (default 256)"
    )
    p.add_argument(
        "--max-memory-mb",
        type=float,
        default=4096.0,
        metavar="MB",
        help="address space of the measuring process, CPU runtimes (default 4096; 0: no limit)",
    )
    p.add_argument(
        "--model-seconds",
        type=positive_float,
        default=60.0,
        metavar="S",
        help="wall-clock and CPU-time limit for loading one model and running it once (default 60)",
    )
    p.add_argument(
        "--batch-seconds",
        type=positive_float,
        default=1800.0,
        metavar="S",
        help="wall-clock and CPU-time limit of one batch (default 1800)",
    )
    p.add_argument(
        "--io-timeout",
        type=positive_float,
        default=10.0,
        metavar="S",
        help="seconds a connection may take to send a request's headers, or wait between upload data (default 10)",
    )
    p.add_argument("--name", default=None, help="name in the agent's fingerprint (default: the host name)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hwnas.agent import tls
    from hwnas.agent.sandbox import Limits
    from hwnas.agent.server import LOOPBACK, AgentConfig, serve
    from hwnas.cli.devices_cmd import devices_of
    from hwnas.core.errors import ConfigError
    from hwnas.profiling.backends import require_available

    if args.new_token:
        new_token(args.new_token)
        print(f"wrote a new token to {args.new_token} (mode 600); copy it to each client's --token-file")
        return 0
    if not args.device or not args.token_file:
        raise ConfigError("hwnas agent needs --device and --token-file (or --new-token FILE to make a token)")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise ConfigError("give both --tls-cert and --tls-key, or neither")
    if args.host not in LOOPBACK and not args.tls_cert and not args.insecure:
        raise ConfigError(
            f"--host {args.host} reaches other machines: add --tls-cert FILE --tls-key FILE (a self-signed "
            "pair is made there if neither exists), or --insecure for plain HTTP"
        )
    if args.max_memory_mb < 0:
        raise ConfigError(f"--max-memory-mb must be 0 (no limit) or positive, got {args.max_memory_mb:g}")
    device = devices_of(args).get(args.device)
    require_available(device)
    token = read_token(args.token_file)
    name = args.name or socket.gethostname()
    if args.tls_cert and tls.ensure_pair(args.tls_cert, args.tls_key, name):
        print(f"made a self-signed TLS pair: {args.tls_cert}, {args.tls_key} (key mode 600)", file=sys.stderr)
    limits = Limits(
        memory_bytes=int(args.max_memory_mb * 2**20),
        model_cpu_s=args.model_seconds,
        model_wall_s=args.model_seconds,
        batch_cpu_s=args.batch_seconds,
        batch_wall_s=args.batch_seconds,
    )
    cfg = AgentConfig(
        device=device,
        token=token,
        host=args.host,
        port=args.port,
        max_upload_bytes=int(args.max_upload_mb * 2**20),
        max_request_bytes=int(args.max_request_mb * 2**20),
        name=name,
        limits=limits,
        tls_cert=Path(args.tls_cert) if args.tls_cert else None,
        tls_key=Path(args.tls_key) if args.tls_key else None,
        header_timeout_s=args.io_timeout,
        body_timeout_s=args.io_timeout,
    )
    try:
        serve(cfg, ready=lambda line: print(line, flush=True))
    except OSError as e:  # port in use, address not available
        print(f"hwnas agent: error: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 2
    return 0


def add_agent_options(p: argparse.ArgumentParser) -> None:
    """--agent URL (repeatable: a fleet), --token-file, --agent-timeout: for commands that measure."""
    p.add_argument(
        "--agent",
        action="append",
        default=[],
        metavar="URL",
        help="measure on the agent at URL (e.g. https://pi4:7700#sha256=FINGERPRINT, or http://127.0.0.1:7700) "
        "instead of here; repeat for a fleet of identical devices that share the work",
    )
    add_token_option(p, required=False)
    p.add_argument(
        "--agent-pins",
        metavar="FILE",
        default=None,
        help="pinned agent certificates, one 'HOST:PORT SHA256' a line (or pin in the URL: https://HOST:PORT#sha256=...)",
    )
    p.add_argument(
        "--agent-timeout",
        type=positive_float,
        default=900.0,
        metavar="S",
        help="seconds to wait for an agent's answer to one batch (default 900)",
    )


def clients_of(args: argparse.Namespace) -> list:  # list[AgentClient]
    """The agent clients of --agent / --token-file (empty without --agent)."""
    from hwnas.core.errors import ConfigError

    if not args.agent:
        return []
    if not args.token_file:
        raise ConfigError("--agent needs --token-file (the agent's shared secret)")
    if len(set(args.agent)) != len(args.agent):
        raise ConfigError(f"each --agent may appear once, got {args.agent}")
    from hwnas.agent.client import AgentClient
    from hwnas.agent.tls import read_pins

    token = read_token(args.token_file)
    pins = read_pins(args.agent_pins) if getattr(args, "agent_pins", None) else None
    return [AgentClient(u, token, timeout_s=args.agent_timeout, pins=pins) for u in args.agent]


def measurers_of(args: argparse.Namespace) -> list:  # list[AgentMeasurer]
    """The agents of --agent / --token-file as measurers (empty without --agent)."""
    from hwnas.agent.measurer import AgentMeasurer

    return [AgentMeasurer(c) for c in clients_of(args)]


def route_agents(args: argparse.Namespace, device_names: list[str]) -> dict[str, list]:
    """--agent for a search: ``URL`` measures every device of the search there (one device only), and
    ``DEVICE=URL`` one of them. The measurers of each routed device (the others are measured here)."""
    from hwnas.core.errors import ConfigError

    routes: dict[str, list[str]] = {}
    for text in args.agent or []:
        dev, sep, url = text.partition("=")
        if sep and "/" not in dev and ":" not in dev:
            if dev not in device_names:
                raise ConfigError(f"--agent {text}: {dev!r} is not a device of this search ({device_names})")
            routes.setdefault(dev, []).append(url)
        elif len(device_names) != 1:
            raise ConfigError(
                f"--agent {text}: name the device (--agent DEVICE=URL) when searching for "
                f"several devices ({device_names})"
            )
        else:
            routes.setdefault(device_names[0], []).append(text)
    return {dev: measurers_of(argparse.Namespace(**{**vars(args), "agent": urls})) for dev, urls in routes.items()}
