"""What NCCL will see on this node: its environment variables and the network devices in sysfs.

Read from /sys/class (no `ip`, `ibstat` or root needed), so a doctor run inside a minimal container still
shows whether InfiniBand ports are up and which interfaces NCCL_SOCKET_IFNAME could name.
"""

from __future__ import annotations

from pathlib import Path

from launch.check import ABSENT, Check

SYS_CLASS = Path("/sys/class")


def check_nccl_env(environ) -> Check:
    """Every NCCL_* variable (NCCL_IB_*, NCCL_SOCKET_IFNAME, NCCL_DEBUG, ...): none of them holds a secret, and a
    wrong interface or HCA name is the usual cause of a job that hangs at its first collective."""
    names = sorted(name for name in environ if name.startswith("NCCL_"))
    if not names:
        return Check("nccl env", "none set", "NCCL chooses interfaces and transports itself (no NCCL_* variables)")
    return Check("nccl env", f"{len(names)} set", " ".join(f"{name}={environ[name]}" for name in names))


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:  # e.g. `speed` of a link that is down raises EINVAL
        return None


def check_infiniband(sys_class: Path = SYS_CLASS) -> Check:
    root = sys_class / "infiniband"
    devices = sorted(root.iterdir()) if root.is_dir() else []
    if not devices:
        return Check("infiniband", ABSENT, f"no devices under {root}: NCCL uses sockets (or RoCE if configured)")
    ports, active = [], 0
    for device in devices:
        for port in sorted((device / "ports").iterdir()) if (device / "ports").is_dir() else []:
            state = (_read(port / "state") or "?").split(":")[-1].strip()  # "4: ACTIVE"
            active += state == "ACTIVE"
            parts = [f"{device.name}/{port.name}", state, _read(port / "rate"), _read(port / "link_layer")]
            ports.append(" ".join(part for part in parts if part))
    return Check("infiniband", f"{active} port(s) active", ", ".join(ports))


def check_network(sys_class: Path = SYS_CLASS) -> Check:
    root = sys_class / "net"
    interfaces = sorted(path for path in root.iterdir() if path.name != "lo") if root.is_dir() else []
    if not interfaces:
        return Check("network", ABSENT, f"no interfaces under {root}")
    described, up = [], 0
    for interface in interfaces:
        state = _read(interface / "operstate") or "unknown"
        up += state == "up"
        speed = _read(interface / "speed")
        speed = f" {speed} Mb/s" if speed and speed.lstrip("-").isdigit() and int(speed) > 0 else ""
        described.append(f"{interface.name} {state}{speed}")
    return Check("network", f"{up} up", ", ".join(described))


def collect(environ, sys_class: Path = SYS_CLASS) -> list[Check]:
    return [check_nccl_env(environ), check_infiniband(sys_class), check_network(sys_class)]
