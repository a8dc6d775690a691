"""The decision service (``policylang serve``): policies over HTTP for every team's systems.

- :mod:`~policylang.service.app` - the ASGI application and its endpoints;
- :mod:`~policylang.service.reload` - the served policies and their live, checked reloading;
- :mod:`~policylang.service.keys` - API keys, teams, roles and rate limits;
- :mod:`~policylang.service.store` - the ledger connection pool that heals after faults;
- :mod:`~policylang.service.audit` - the decision log;
- :mod:`~policylang.service.metrics` - Prometheus metrics;
- :mod:`~policylang.service.openapi` - the OpenAPI document (checked in as docs/openapi.json).
"""
