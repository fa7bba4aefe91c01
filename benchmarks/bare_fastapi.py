"""A bare FastAPI app (no library) for the cost of one hop to a worker thread.

Served by uvicorn from ``bench_http``: the same empty handler on the event
loop, in a small ``ThreadPoolExecutor`` through ``run_in_executor`` (as the
library's router does, with its default of four threads), and as a plain
``def`` route, which FastAPI runs in AnyIO's default 40-thread pool.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from fastapi import FastAPI
from fastapi.responses import Response

#: The router's default ``quick_threads``.
POOL = ThreadPoolExecutor(4, thread_name_prefix="bench")
BODY = b'{"status":"ok"}'

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


def _empty() -> Response:
    return Response(BODY, media_type="application/json")


@app.get("/loop")
async def on_the_loop() -> Response:
    """The handler on the event loop: no thread hop."""
    return _empty()


@app.get("/executor")
async def in_executor() -> Response:
    """The same handler in the small pool, awaited from the loop."""
    return await asyncio.get_running_loop().run_in_executor(POOL, _empty)


@app.get("/anyio")
def in_anyio_pool() -> Response:
    """The same handler as a ``def`` route: FastAPI runs it in AnyIO's thread pool."""
    return _empty()
