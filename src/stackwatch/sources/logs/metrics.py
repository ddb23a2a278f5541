"""Samples from tallies: the metrics declared in ``catalog/metrics/logs.yaml``.

Counters are cumulative since the checkpoint was created (they survive restarts).
Histograms follow Prometheus: ``<name>_bucket{le}``, ``<name>_sum``, ``<name>_count``.
Quantile gauges (p50/p90/p99) are estimated from the requests of the latest
collection only, so they describe now, not the whole history.
"""

from __future__ import annotations

from collections.abc import Iterator

from stackwatch.logparse.tally import BUCKETS, Histogram, Tally, histogram_count, quantile
from stackwatch.model import Sample, make_labels

PREFIX = "openstack_log_"
QUANTILES = (0.5, 0.9, 0.99)
AUTH = "/v3/auth/tokens"


def _is_auth(method: str, url: str) -> bool:
    return method == "POST" and url.endswith((AUTH, "/v2.0/tokens"))


def _is_validation(method: str, url: str) -> bool:
    return method in ("GET", "HEAD") and url.endswith(AUTH)


def _histogram(name: str, hist: Histogram, when: float, **labels: str) -> Iterator[Sample]:
    cumulative = 0.0
    for bound, count in zip((*BUCKETS, float("inf")), hist[:-1], strict=True):
        cumulative += count
        le = "+Inf" if bound == float("inf") else f"{bound:g}"
        yield Sample(f"{name}_bucket", cumulative, make_labels(labels, le=le), when)
    yield Sample(f"{name}_sum", hist[-1], make_labels(labels), when)
    yield Sample(f"{name}_count", cumulative, make_labels(labels), when)


def _add(target: dict[tuple[str, ...], Histogram], key: tuple[str, ...], hist: Histogram
         ) -> None:
    mine = target.get(key)
    if mine is None:
        target[key] = list(hist)
    else:
        for index, value in enumerate(hist):
            mine[index] += value


def samples(total: Tally, recent: Tally, when: float) -> list[Sample]:
    """Every sample of one collection: cumulative ``total`` plus quantiles of ``recent``."""
    out: list[Sample] = []
    p = PREFIX
    errors5xx: dict[tuple[str, str], int] = {}
    auth_fail: dict[str, int] = {}
    validation_fail: dict[str, int] = {}
    for (service, host, method, url, status), n in total.requests.items():
        out.append(Sample(f"{p}http_requests_total", n, make_labels(
            service=service, host=host, method=method, url=url, status=status), when))
        if status[:1] == "5":
            errors5xx[(service, host)] = errors5xx.get((service, host), 0) + n
        if status == "401" and _is_auth(method, url):
            auth_fail[host] = auth_fail.get(host, 0) + n
        if status == "404" and _is_validation(method, url):
            validation_fail[host] = validation_fail.get(host, 0) + n
    for (service, host), n in errors5xx.items():
        out.append(Sample(f"{p}http_server_errors_total", n,
                          make_labels(service=service, host=host), when))
    auth_hosts = {host for (_, host, m, u) in total.durations if _is_auth(m, u)}
    for host in auth_hosts | set(auth_fail):
        out.append(Sample(f"{p}identity_auth_failures_total", auth_fail.get(host, 0),
                          make_labels(host=host), when))
    check_hosts = {host for (_, host, m, u) in total.durations if _is_validation(m, u)}
    for host in check_hosts | set(validation_fail):
        out.append(Sample(f"{p}identity_token_validation_failures_total",
                          validation_fail.get(host, 0), make_labels(host=host), when))
    auth_time: dict[tuple[str, ...], Histogram] = {}
    check_time: dict[tuple[str, ...], Histogram] = {}
    for (service, host, method, url), hist in total.durations.items():
        out.extend(_histogram(f"{p}http_request_duration_seconds", hist, when,
                              service=service, host=host, method=method, url=url))
        if _is_auth(method, url):
            _add(auth_time, (host,), hist)
        elif _is_validation(method, url):
            _add(check_time, (host,), hist)
    for (host,), hist in auth_time.items():
        out.extend(_histogram(f"{p}identity_auth_duration_seconds", hist, when, host=host))
    for (host,), hist in check_time.items():
        out.extend(_histogram(f"{p}identity_token_validation_duration_seconds", hist, when,
                              host=host))
    for (service, host, method, url), hist in recent.durations.items():
        if histogram_count(hist) == 0:
            continue
        for q in QUANTILES:
            value = quantile(hist, q)
            if value is not None:
                out.append(Sample(f"{p}http_request_duration_quantile_seconds", value,
                                  make_labels(service=service, host=host, method=method,
                                              url=url, quantile=f"{q:g}"), when))
    backend_errors: dict[tuple[str, str, str], int] = {}
    for (host, frontend, backend, server, status), n in total.haproxy.items():
        out.append(Sample(f"{p}haproxy_http_responses_total", n, make_labels(
            host=host, frontend=frontend, backend=backend, server=server, status=status),
            when))
        if status[:1] == "5":
            key = (host, frontend, backend)
            backend_errors[key] = backend_errors.get(key, 0) + n
    for (host, frontend, backend), n in backend_errors.items():
        out.append(Sample(f"{p}haproxy_backend_server_errors_total", n,
                          make_labels(host=host, frontend=frontend, backend=backend), when))
    for (host, frontend, backend), hist in total.haproxy_time.items():
        out.extend(_histogram(f"{p}haproxy_total_time_seconds", hist, when,
                              host=host, frontend=frontend, backend=backend))
    for (service, host, level), n in total.records.items():
        out.append(Sample(f"{p}records_total", n,
                          make_labels(service=service, host=host, level=level), when))
    for (service, host), n in total.tracebacks.items():
        out.append(Sample(f"{p}tracebacks_total", n,
                          make_labels(service=service, host=host), when))
    for (host, device), n in total.disk_errors.items():
        out.append(Sample(f"{p}disk_io_errors_total", n,
                          make_labels(host=host, device=device), when))
    for (service, file, outcome), n in total.lines.items():
        out.append(Sample(f"{p}lines_total", n,
                          make_labels(service=service, file=file, outcome=outcome), when))
    for (service, reason), n in total.skipped.items():
        out.append(Sample(f"{p}skipped_lines_total", n,
                          make_labels(service=service, reason=reason), when))
    return out
