"""What the dashboard, the REST API and the CLI read: typed views over the store.

One function per view, each taking a :class:`~stackwatch.query.context.Context`
and returning a pydantic model. The pages render these models, the API serves
them as JSON (and its OpenAPI document is generated from them), so a page and
its API cannot drift apart; no query lives in a template or a handler.
"""
