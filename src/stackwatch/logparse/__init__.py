"""Pure parsers of OpenStack and infrastructure log lines; no I/O.

One module per format — :mod:`.oslo` (oslo.log, nova/placement ``requestlog``,
eventlet wsgi), :mod:`.access` (Apache/gunicorn combined + time, uWSGI),
:mod:`.haproxy`, :mod:`.system` (libvirtd, syslog/kernel disk I/O errors),
:mod:`.other` (recognised lines without a metric) — each with a line function
returning typed records (:mod:`.records`) for tests and tools. :mod:`.engine`
parses whole buffers of lines of one file into a :class:`.tally.Tally` and index
rows, fast, accounting for every line (parsed, skipped with a reason, unparsed).
:mod:`.urls` turns paths into URL templates; :mod:`.numbers` reads numeric fields
strictly. Compiled kernels (numba, :mod:`.jit`) do the hot byte work: the engine's
batch paths (:mod:`.oslo_kernel`, :mod:`.access_kernel`, :mod:`.haproxy_kernel`,
:mod:`.batch`) and the backfill's strict scan (:mod:`.backfill_kernel`,
:mod:`.backfill_matchers`, :mod:`.bytescan`).
"""
