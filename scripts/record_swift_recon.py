#!/usr/bin/env python3
"""Record what real swift storage servers answer to the recon checks stackwatch reads.

Writes into ``<out>/swift/``: ``<kind>-<check>.json`` (``/`` of the check written
``_``) with the whole JSON body of ``GET http://<address>/recon/<check>`` of the account,
container and object servers of ``tests/realcloud/extra/heat_swift.sh`` (127.0.0.1:6202,
6201, 6200), ``proxy-server.log``: the last ``--proxy-lines`` lines of the proxy's
log (``<root>/logs/swift-proxy-server.stdout``, its console copy) that are its own
(``swift-proxy-server: ...``; the interpreter's warnings left out), and ``INFO.json``
(release, swift version, when). Paths of the recording host
(``<root>/etc/swift/object.ring.gz``) are rewritten to conventional ones
(``/etc/swift/object.ring.gz``), tokens scrubbed. Usage (``<root>`` is the realcloud's
``$RC_ROOT``)::

    python scripts/record_swift_recon.py --root <root> [--out tests/data/recorded]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from record_logs import RELEASE, scrub, scrubber

SERVERS = {"object": "127.0.0.1:6200", "container": "127.0.0.1:6201",
           "account": "127.0.0.1:6202"}
#: the proxy's own lines (its log_name, ``swift-proxy-server`` here)
PROXY_LINE = re.compile(r"^[\w.-]*proxy-server: ")
CHECKS = ("version", "replication/{kind}", "ringmd5", "swiftconfmd5", "async", "diskusage",
          "unmounted", "quarantined")


def get(address: str, check: str) -> Any:
    with urllib.request.urlopen(f"http://{address}/recon/{check}", timeout=10) as answer:
        return json.loads(answer.read())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="the realcloud's RC_ROOT")
    parser.add_argument("--out", type=Path, default=Path("tests/data/recorded"))
    parser.add_argument("--proxy-lines", type=int, default=300)
    args = parser.parse_args(argv)
    out = args.out / "swift"
    out.mkdir(parents=True, exist_ok=True)
    pairs = scrubber(args.root)
    version = ""
    for kind, address in SERVERS.items():
        for check in CHECKS:
            if check == "async" and kind != "object":
                continue
            path = check.format(kind=kind)
            body = get(address, path)
            version = version or (body.get("version", "") if path == "version" else "")
            text = scrub(json.dumps(body, indent=1, sort_keys=True), pairs)
            (out / f"{kind}-{path.replace('/', '_')}.json").write_text(text + "\n")
    log = args.root / "logs" / "swift-proxy-server.stdout"
    own = [scrub(line, pairs) for line in log.read_text(errors="replace").splitlines()
           if PROXY_LINE.match(line)]
    (out / "proxy-server.log").write_text("".join(f"{line}\n" for line in
                                                  own[-args.proxy_lines:]))
    info = {"release": RELEASE, "swift": version,
            "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "servers": SERVERS, "proxy_lines": min(len(own), args.proxy_lines)}
    (out / "INFO.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"recorded {len(list(out.glob('*-*.json')))} answers into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
