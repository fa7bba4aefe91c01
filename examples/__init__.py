"""Example host apps embedding client-portal-core.

* :mod:`examples.fastapi_host` and :mod:`examples.flask_host`: the same demo
  host on each framework, each a few lines of framework glue.
* :mod:`examples.host_common`: what both share (the host's own tables, its
  directory plugin, seeding and the command line).

Run ``python -m examples.fastapi_host --help`` from the repository root.
"""
