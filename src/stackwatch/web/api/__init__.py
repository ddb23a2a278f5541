"""The REST API, version 1: endpoints declared as data (:mod:`.endpoint`), grouped by what
they serve, with the OpenAPI document generated from the same declarations."""
