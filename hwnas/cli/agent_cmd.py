"""Run a measuring agent on this machine: it measures ONNX models sent by 'hwnas profile --agent'
and 'hwnas search --agent' with the same protocol and device definition as local profiling.

Needs no torch: on a small device install only the agent's dependencies (see the README). Every
request must carry the token from --token-file; the agent listens on 127.0.0.1 unless --host says
otherwise. Measures one batch at a time (a second client is told it is busy).

examples:
  hwnas agent --device cpu --token-file ~/.hwnas-token
  hwnas agent --device cpu --host 0.0.0.0 --port 7700 --token-file token.txt --max-upload-mb 128
  hwnas agent --devices my-devices.toml --device pi-b1 --token-file token.txt --name pi4-kitchen
"""

from __future__ import annotations

import argparse
import sys

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


def read_token(path: str) -> str:
    """The first line of ``path``, stripped; ConfigError (one line) if unreadable or too short."""
    from hwnas.core.errors import ConfigError

    try:
        with open(path, encoding="utf-8") as f:
            token = f.readline().strip()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the token file {path}: {e.__class__.__name__}") from None
    if len(token) < 16:
        raise ConfigError(
            f"the token in {path} is shorter than 16 characters (make one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))' > FILE)"
        )
    return token


def add_arguments(p: argparse.ArgumentParser) -> None:
    from hwnas.agent.wire import DEFAULT_PORT
    from hwnas.devices import builtin_names

    p.add_argument(
        "--device",
        required=True,
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
    add_token_option(p, required=True)
    p.add_argument(
        "--max-upload-mb",
        type=positive_float,
        default=64.0,
        metavar="MB",
        help="largest model accepted, in MiB (default 64)",
    )
    p.add_argument("--name", default=None, help="name in the agent's fingerprint (default: the host name)")


def run(args: argparse.Namespace) -> int:
    from hwnas.agent.server import AgentConfig, serve
    from hwnas.devices import get
    from hwnas.profiling.backends import require_available

    device = get(args.device)
    require_available(device)
    cfg = AgentConfig(
        device=device,
        token=read_token(args.token_file),
        host=args.host,
        port=args.port,
        max_upload_bytes=int(args.max_upload_mb * 2**20),
    )
    if args.name:
        cfg.name = args.name
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
        help="measure on the agent at URL (e.g. http://pi4:7700) instead of here; repeat for a "
        "fleet of identical devices that share the work",
    )
    add_token_option(p, required=False)
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

    token = read_token(args.token_file)
    return [AgentClient(u, token, timeout_s=args.agent_timeout) for u in args.agent]


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
