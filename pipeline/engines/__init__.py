"""Extraction engines other than the default in-process loop (pipeline/build.py + runner.encode).

ray_engine: Ray Data ``map_batches`` over an actor pool, one model per actor, Parquet shards merged into the
same arrays (and the same per-unit summaries) the local engine gives. Ray is optional
(pipeline/requirements-ray.txt); nothing here imports it at module level.
"""
