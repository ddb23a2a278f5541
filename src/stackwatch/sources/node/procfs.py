"""Pure parsers of the ``/proc`` and ``/sys`` files and kernel log records the host check reads.

Each takes the file's text and returns typed values, or raises ``ValueError`` naming
what it could not read (the host check turns that into UNKNOWN for that item)::

    /proc/loadavg                   0.42 0.45 0.71 9/246 20730
    /proc/meminfo                   MemAvailable:   23861512 kB
    /proc/net/dev                   eth0: 546184449 14986 0 0 0 0 0 0 1127820 8622 0 0 ...
    /proc/self/mounts               /dev/vda / ext4 rw,relatime 0 0
    /proc/uptime                    9714.50 6692.66
    /sys/devices/system/cpu/online  0-3,6
    /dev/kmsg                       3,1234,5678901,-;blk_update_request: I/O error, dev sdb...

``/dev/kmsg`` records (``Documentation/ABI/testing/dev-kmsg``): ``priority,sequence,
microseconds since boot,flags[,...];message``, then continuation lines starting with a
space (``SUBSYSTEM=block``) that belong to the record before.
"""

from __future__ import annotations

from dataclasses import dataclass

#: /proc/net/dev columns after the interface name (receive then transmit)
_NET_COLUMNS = ("rx_bytes", "rx_packets", "rx_errors", "rx_drops", "rx_fifo", "rx_frame",
                "rx_compressed", "rx_multicast", "tx_bytes", "tx_packets", "tx_errors",
                "tx_drops", "tx_fifo", "tx_colls", "tx_carrier", "tx_compressed")


@dataclass(frozen=True, slots=True)
class Memory:
    """``/proc/meminfo`` in bytes."""

    total: int
    available: int
    swap_total: int
    swap_free: int


@dataclass(frozen=True, slots=True)
class Interface:
    """One line of ``/proc/net/dev``: counters since the interface appeared."""

    name: str
    rx_bytes: int
    rx_errors: int
    rx_drops: int
    tx_bytes: int
    tx_errors: int
    tx_drops: int


@dataclass(frozen=True, slots=True)
class Mount:
    """One line of ``/proc/self/mounts``."""

    device: str
    path: str
    fstype: str


@dataclass(frozen=True, slots=True)
class KernelRecord:
    """One ``/dev/kmsg`` record."""

    sequence: int
    seconds: float        # since boot
    message: str


def parse_loadavg(text: str) -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages."""
    fields = text.split()
    if len(fields) < 3:
        raise ValueError(f"expected three load averages, got {text[:40]!r}")
    try:
        return float(fields[0]), float(fields[1]), float(fields[2])
    except ValueError:
        raise ValueError(f"load averages are not numbers: {text[:40]!r}") from None


def parse_meminfo(text: str) -> Memory:
    """Memory and swap; ``MemAvailable`` (Linux 3.14+), else free + buffers + cached."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        fields = rest.split()
        if not sep or not fields:
            continue
        try:
            number = int(fields[0])
        except ValueError:
            raise ValueError(f"{key}: {fields[0]!r} is not a number") from None
        values[key.strip()] = number * (1024 if fields[1:2] == ["kB"] else 1)
    missing = [k for k in ("MemTotal", "SwapTotal", "SwapFree") if k not in values]
    if missing:
        raise ValueError(f"no {', '.join(missing)}")
    available = values.get("MemAvailable")
    if available is None:
        available = sum(values.get(k, 0) for k in ("MemFree", "Buffers", "Cached"))
    if values["MemTotal"] <= 0:
        raise ValueError(f"MemTotal is {values['MemTotal']}")
    return Memory(values["MemTotal"], available, values["SwapTotal"], values["SwapFree"])


def parse_net_dev(text: str) -> list[Interface]:
    """Every interface of ``/proc/net/dev`` (two header lines, then ``name: counters``)."""
    lines = text.splitlines()
    if len(lines) < 2 or "|" not in lines[0]:
        raise ValueError(f"no /proc/net/dev header: {text[:40]!r}")
    interfaces = []
    for line in lines[2:]:
        name, sep, rest = line.partition(":")
        if not sep:
            raise ValueError(f"not an interface line: {line[:60]!r}")
        fields = rest.split()
        if len(fields) < len(_NET_COLUMNS):
            raise ValueError(f"{name.strip()}: {len(fields)} counters, expected "
                             f"{len(_NET_COLUMNS)}")
        try:
            counters = dict(zip(_NET_COLUMNS, map(int, fields), strict=False))
        except ValueError:
            raise ValueError(f"{name.strip()}: counters are not numbers") from None
        interfaces.append(Interface(name.strip(), counters["rx_bytes"], counters["rx_errors"],
                                    counters["rx_drops"], counters["tx_bytes"],
                                    counters["tx_errors"], counters["tx_drops"]))
    return interfaces


def _unescape(field: str) -> str:
    """Mount fields escape space, tab, newline and backslash as ``\\040`` (octal)."""
    if "\\" not in field:
        return field
    out = []
    i = 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mounts(text: str) -> list[Mount]:
    """Every mount of ``/proc/self/mounts``, in order."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 3:
            raise ValueError(f"not a mount line: {line[:60]!r}")
        mounts.append(Mount(_unescape(fields[0]), _unescape(fields[1]), fields[2]))
    return mounts


def parse_cpu_list(text: str) -> int:
    """How many CPUs a kernel CPU list names (``0-3,6`` is 5)."""
    count = 0
    try:
        for part in text.strip().split(","):
            first, _, last = part.partition("-")
            count += int(last or first) - int(first) + 1
    except ValueError:
        raise ValueError(f"not a CPU list: {text[:40]!r}") from None
    if count <= 0:
        raise ValueError(f"no CPU in {text[:40]!r}")
    return count


def parse_uptime(text: str) -> float:
    """Seconds since boot."""
    try:
        return float(text.split()[0])
    except (ValueError, IndexError):
        raise ValueError(f"not an uptime: {text[:40]!r}") from None


def parse_kmsg(text: str) -> list[KernelRecord]:
    """The records of ``/dev/kmsg`` text (continuation lines are skipped; a malformed
    record is skipped too: one bad line must not hide the others)."""
    records = []
    for line in text.splitlines():
        if not line or line.startswith(" "):
            continue
        prefix, sep, message = line.partition(";")
        fields = prefix.split(",")
        if not sep or len(fields) < 3:
            continue
        try:
            records.append(KernelRecord(int(fields[1]), int(fields[2]) / 1e6, message))
        except ValueError:
            continue
    return records
