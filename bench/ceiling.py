"""The reference for section c: the smallest honest POST endpoint, measured beside ours.

Issue 6 states the ceiling for ``POST /v1/documents`` as "a minimal FastAPI endpoint doing
three pipelined Redis writes" under wrk. This is that endpoint, served exactly as
``docenrich api`` serves ours (uvicorn, httptools, uvloop, as many processes, no access log): it
reads the JSON body, takes its ``text``, and in one pipeline stores the job hash and the
text and pushes the job id on a list. No validation, no limits, no task messages, no
metrics. Section c runs it with the same wrk script and reports our requests/s as a share
of its requests/s: that share is comparable across machines, the raw figure is not.

    .venv/bin/python -m bench.ceiling --port 8123 --redis redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import json
import os
import uuid

from fastapi import FastAPI, Request
from redis import asyncio as aioredis


def create_app() -> FastAPI:
    app = FastAPI()
    client = aioredis.from_url(os.environ["CEILING_REDIS_URL"])

    @app.post("/v1/documents", status_code=202)
    async def post_document(request: Request) -> dict:
        text = json.loads(await request.body())["text"]
        job_id = uuid.uuid4().hex
        pipe = client.pipeline(transaction=False)
        pipe.hset(f"ceiling:job:{job_id}", mapping={"status": "queued", "chars": len(text)})
        pipe.set(f"ceiling:text:{job_id}", text)
        pipe.lpush("ceiling:queue", job_id)
        await pipe.execute()
        return {"id": job_id, "status": "queued"}

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app


def main() -> None:
    import uvicorn

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--redis", required=True, help="Redis URL")
    args = ap.parse_args()
    os.environ["CEILING_REDIS_URL"] = args.redis
    # as many processes as the API under test (bench.run passes DOCENRICH_API_WORKERS to both)
    uvicorn.run("bench.ceiling:create_app", factory=True, host="127.0.0.1", port=args.port, http="httptools",
                loop="uvloop", access_log=False, log_level="warning",
                workers=int(os.environ.get("DOCENRICH_API_WORKERS", "1")))


if __name__ == "__main__":
    main()
