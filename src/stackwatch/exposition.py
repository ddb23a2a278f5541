"""The Prometheus text exposition of samples, rendered fast and once per store change.

:func:`render` writes the text format (0.0.4) byte for byte as prometheus_client's
``generate_latest`` does for the same families (the tests compare both), but
straight from the samples: no ``Metric`` objects, label strings built once per
series. Families take their type and help text from the catalog; undeclared
samples are ``untyped`` rather than dropped; no sample carries a timestamp (the
scraper stamps the scrape, as Prometheus asks of exporters).

:class:`Exposition` keeps the rendered body of a store's latest samples and
renders again only when the store changed (:meth:`Store.generation`) or a series
aged past ``max_age``, so a scrape between two collections costs a memory copy.
The gzip form is compressed once per rendering, when first asked for.
:meth:`Exposition.warm_soon` lets the writer render after its writes settle, so
the scrape that follows a collection does not pay for it either.
"""

from __future__ import annotations

import gzip
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import orjson
from prometheus_client.utils import floatToGoString

from stackwatch.catalog.loader import Catalog
from stackwatch.model import Sample
from stackwatch.store.base import Store

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNDECLARED_HELP = "Not declared in the stackwatch catalog."
#: gzip level: level 6 (gzip's default) is 4x smaller than the text at a third of level
#: 9's time; once per rendering, not per scrape
GZIP_LEVEL = 6


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _escape_value(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _family(name: str, catalog: Catalog,
            specs: dict[str, tuple[str, str, str]]) -> tuple[str, str, str]:
    """(family name, help, type) of a sample name, as the catalog declares it."""
    found = specs.get(name)
    if found is None:
        spec = catalog.metric_for_sample(name)
        if spec is None:
            found = (name, UNDECLARED_HELP, "untyped")
        elif spec.type == "counter":  # the exposition adds _total back to the family name
            found = (spec.name.removesuffix("_total"), spec.description, "counter")
        else:
            found = (spec.name, spec.description, spec.type)
        specs[name] = found
    return found


def render(samples: Iterable[Sample], catalog: Catalog) -> bytes:
    """The text exposition of ``samples``: one family per catalog metric (or undeclared
    name) in the order first seen, its samples in the order given."""
    specs: dict[str, tuple[str, str, str]] = {}
    families: dict[str, _Family] = {}
    for sample in samples:
        key, doc, kind = _family(sample.name, catalog, specs)
        family = families.get(key)
        if family is None:
            family = families[key] = _Family(doc, kind)
        if sample.labels:
            labels = ",".join(f'{k}="{_escape_value(v)}"' for k, v in sorted(sample.labels))
            line = f"{sample.name}{{{labels}}} {_go_float(sample.value)}\n"
        else:
            line = f"{sample.name} {_go_float(sample.value)}\n"
        family.lines.append(line)
    return _joined(families)


def _joined(families: dict[str, _Family]) -> bytes:
    out: list[str] = []
    for key, family in families.items():
        name = key + "_total" if family.kind == "counter" else key
        out.append(f"# HELP {name} {_escape_help(family.doc)}\n# TYPE {name} {family.kind}\n")
        out.extend(family.lines)
    return "".join(out).encode("utf-8")


def _labels_text(stored: str) -> str:
    """The exposition's ``k="v",...`` of labels stored as JSON (sorted keys, as
    ``json.dumps`` spells them). Without a backslash, no key or value holds a quote, a
    backslash, a control or a non-ASCII character (JSON would have escaped it), so the
    text splits on its quotes into keys and values that need no escaping."""
    if "\\" not in stored:
        parts = stored.split('"')
        return ",".join([f'{k}="{v}"' for k, v in zip(parts[1::4], parts[3::4], strict=True)])
    return ",".join(f'{k}="{_escape_value(v)}"' for k, v in sorted(orjson.loads(stored).items()))


def render_rows(rows: Iterable[tuple[str, str, float, float]], catalog: Catalog,
                oldest: float = -math.inf) -> tuple[bytes, float]:
    """:func:`render` of a store's rows (:meth:`Store.latest_rows`: name, labels as
    stored, time, value), those older than ``oldest`` left out; and the time of the
    oldest kept (inf: none)."""
    specs: dict[str, tuple[str, str, str]] = {}
    families: dict[str, _Family] = {}
    earliest = math.inf
    last_name = ""
    lines: list[str] = []
    for name, stored, ts, value in rows:
        if ts < oldest:
            continue
        if ts < earliest:
            earliest = ts
        if name != last_name:  # rows come by name: a family looked up once per name
            key, doc, kind = _family(name, catalog, specs)
            family = families.get(key)
            if family is None:
                family = families[key] = _Family(doc, kind)
            lines, last_name = family.lines, name
        if stored == "{}":
            lines.append(f"{name} {_go_float(value)}\n")
        else:
            lines.append(f"{name}{{{_labels_text(stored)}}} {_go_float(value)}\n")
    return _joined(families), earliest


@dataclass(slots=True)
class _Family:
    doc: str
    kind: str
    lines: list[str] = field(default_factory=list)


def _go_float(value: float) -> str:
    """The value as Go (and prometheus_client) print it; integers below a million, the
    common case, without the library's float parsing."""
    number = float(value)
    if number.is_integer() and -1e15 < number < 1e6:
        return repr(number)
    return str(floatToGoString(number))  # type: ignore[no-untyped-call]


def render_with_prometheus_client(samples: Iterable[Sample], catalog: Catalog) -> bytes:
    """The same exposition through prometheus_client's own ``Metric`` families and
    ``generate_latest``: what :func:`render` must equal byte for byte (the tests) and be
    measured against (``bench/metrics_scrape.py``)."""
    from prometheus_client import generate_latest
    from prometheus_client.core import Metric
    from prometheus_client.registry import Collector, CollectorRegistry

    samples = list(samples)

    class Families(Collector):
        def collect(self) -> Iterator[Metric]:
            families: dict[str, Metric] = {}
            specs: dict[str, tuple[str, str, str]] = {}
            for sample in samples:
                key, doc, kind = _family(sample.name, catalog, specs)
                family = families.get(key)
                if family is None:
                    family = families[key] = Metric(key, doc, kind)
                family.add_sample(sample.name, dict(sample.labels), sample.value)
            yield from families.values()

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Families())
    return generate_latest(registry)


@dataclass(frozen=True, slots=True)
class Rendered:
    """One rendering: the body, its gzip form once asked for, and how long it holds."""

    generation: str
    body: bytes
    expires: float  # when the oldest series shown passes max_age (inf: never)
    rendered_in: float


class Exposition:
    """The latest samples of a store, rendered when the store changed since last time."""

    def __init__(self, store: Store, catalog: Catalog, clock: Callable[[], float] = time.time,
                 max_age: float = math.inf) -> None:
        self._store = store
        self._catalog = catalog
        self._clock = clock
        self._max_age = max_age
        self._lock = threading.Lock()  # one rendering at a time; scrapes meanwhile wait
        self._current: Rendered | None = None
        self._gzipped: tuple[Rendered, bytes] | None = None
        self._warm = threading.Event()
        self._warmer: threading.Thread | None = None
        self._closed = False
        self.renderings = 0
        #: True while more writes are coming (the server: runs in flight); the warm
        #: rendering waits for it, at most :attr:`patience` seconds (a scrape meanwhile
        #: renders what is there)
        self.busy: Callable[[], bool] = lambda: False
        self.patience = 60.0
        self.quiet = 0.5  # seconds without a write before the warm rendering

    def body(self) -> bytes:
        """The exposition of the store's current samples (rendered again if stale)."""
        return self._fresh().body

    def gzipped(self) -> bytes:
        """:meth:`body` compressed with gzip, compressed once per rendering."""
        rendered = self._fresh()
        cached = self._gzipped
        if cached is None or cached[0] is not rendered:
            cached = (rendered, gzip.compress(rendered.body, GZIP_LEVEL, mtime=0))
            self._gzipped = cached
        return cached[1]

    def _fresh(self) -> Rendered:
        generation = self._store.generation()
        current = self._current
        if current is not None and current.generation == generation and \
                self._clock() < current.expires:
            return current
        with self._lock:
            current = self._current  # another scrape may have rendered it meanwhile
            generation = self._store.generation()
            now = self._clock()
            if current is None or current.generation != generation or now >= current.expires:
                current = self._render(generation, now)
                self._current = current
            return current

    def _render(self, generation: str, now: float) -> Rendered:
        started = time.perf_counter()
        body, earliest = render_rows(self._store.latest_rows(), self._catalog,
                                     now - self._max_age)
        expires = earliest + self._max_age
        self.renderings += 1
        return Rendered(generation, body, expires, time.perf_counter() - started)

    def warm_soon(self) -> None:
        """Render on a thread of its own once writes have been quiet for a moment and
        :attr:`busy` says no more are coming (or :attr:`patience` has run out): the
        writer calls this after each write; a burst of writes costs one rendering (a
        rendering of a big cloud's 591,000 series, in the middle of a cycle, held the
        interpreter from the runs still being parsed and written)."""
        self._warm.set()
        if self._warmer is None and not self._closed:
            self._warmer = threading.Thread(target=self._warm_loop, name="stackwatch-metrics",
                                            daemon=True)
            self._warmer.start()

    def close(self, timeout: float = 30.0) -> None:
        """Stop the warm rendering (before the store closes), waiting for one under way."""
        self._closed = True
        self._warm.set()
        if self._warmer is not None:
            self._warmer.join(timeout)

    def _warm_loop(self) -> None:
        while not self._closed:
            self._warm.wait()
            until = time.monotonic() + self.patience
            # wait until no write came for ``quiet`` seconds and none is coming
            while not self._closed and (
                    self._warm.is_set() or (self.busy() and time.monotonic() < until)):
                self._warm.clear()
                time.sleep(self.quiet)
            if self._closed:
                return
            try:
                self._fresh()
            except Exception:  # a closed or failing store: the next scrape says so
                return
