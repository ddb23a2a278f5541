"""The notification consumer: OpenStack's message-bus notifications into events, operation
timings, a usage audit and the consumer's own metrics (docs/notifications.md).

- :mod:`~stackwatch.bus.wire` decodes the oslo.messaging envelope (or says why not: poison);
- :mod:`~stackwatch.bus.events` distils a notification into a flat :class:`~stackwatch.model.Event`;
- :mod:`~stackwatch.bus.timings` pairs ``.start``/``.end``/``.error`` into operations;
- :mod:`~stackwatch.bus.consumer` reads its own durable queues with kombu and writes batches;
- :mod:`~stackwatch.bus.metrics` and :mod:`~stackwatch.bus.audit` read what was stored.
"""
