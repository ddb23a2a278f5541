"""libvirtd's own log, and syslog / kernel lines (disk I/O errors).

libvirtd::

    2026-11-21 06:04:37.123+0000: 1234: error : qemuMonitorIO:123 : internal error: ...

syslog (RFC 3164 or rsyslog's ISO 8601 stamps), ``kern.log`` and ``dmesg``::

    Nov 21 06:04:37 compute1 kernel: [ 1234.5678] blk_update_request: I/O error, dev sdb,
    sector 2048 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 0
"""

from __future__ import annotations

import re

from stackwatch.logparse.records import SystemLine
from stackwatch.logparse.timestamps import iso_epoch, syslog_epoch

LIBVIRT = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)[+-]\d{4}: (\d+): ([a-z]+) : "
    r"(?:([^\n]*?) : )?(.*)$",
    re.MULTILINE,
)
"""Groups: time, thread, level, function (absent in ``info : hostname: x``), message."""

SYSLOG = re.compile(
    r"^(\w{3} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?"
    r"(?:Z|[+-]\d\d:?\d\d)?) (\S+) ([^\s:\[]+)(?:\[\d+\])?: (.*)$"
    r"|^\[ *\d+\.\d+\] (.*)$",
    re.MULTILINE,
)
"""Groups: time, host, program, message; or (dmesg) group 5 the kernel message."""

DISK_ERROR = re.compile(
    r"I/O error,? (?:on )?dev(?:ice)? ([\w\-]+)"
    r"|\[(\w+)\] tag#\d+ FAILED Result"
    r"|EXT4-fs error \(device ([\w\-]+)\)"
    r"|XFS \(([\w\-]+)\): [^\n]*I/O error"
    r"|I/O error in device '([^']+)'"
    r"|(ata\d+(?:\.\d+)?): (?:failed command|exception Emask)"
)
"""Kernel block-layer, SCSI, ext4, XFS, libata and QEMU block I/O error reports."""


def disk_device(message: str) -> str:
    """The device a disk I/O error message names, or ``""`` when it reports none."""
    match = DISK_ERROR.search(message)
    if match is None:
        return ""
    return next(group for group in match.groups() if group)


def parse_libvirt(line: str) -> SystemLine | None:
    """One libvirtd log line, or ``None``."""
    match = LIBVIRT.match(line.rstrip("\n"))
    if match is None:
        return None
    stamp, _, level, _, message = match.groups()
    return SystemLine(iso_epoch(stamp), "", "libvirtd", level.upper(), message,
                      disk_device(message))


def parse_syslog(line: str, now: float | None = None) -> SystemLine | None:
    """One syslog / kern.log / dmesg line, or ``None``; a year-less stamp gets the year
    that puts it not after ``now`` (default: the clock), see :func:`syslog_epoch`."""
    match = SYSLOG.match(line.rstrip("\n"))
    if match is None:
        return None
    stamp, host, program, message, dmesg = match.groups()
    if dmesg is not None:
        return SystemLine(0.0, "", "kernel", "", dmesg, disk_device(dmesg))
    when = iso_epoch(stamp) if stamp[:4].isdigit() else syslog_epoch(stamp, now=now)
    device = disk_device(message) if program == "kernel" else ""
    return SystemLine(when, host, program, "", message, device)
