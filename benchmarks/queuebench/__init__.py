"""Side-by-side benchmark: the generated project's queue against plain RQ, in the same run.

The code behind ``benchmarks/queue_bench.py``, one module per idea.

What is compared (issue 5), each in the same run against plain RQ, and for the parts a user's
``QUEUE_FAST_PATH`` changes, with the project's fast path (``true``, the default) and its plain
path (``false``: RQ's own enqueue and SimpleWorker):

  push          ``application.queue().push`` vs ``rq.Queue.enqueue``, one process, one job a call
  push_many     ``application.queue().push_many`` vs ``rq.Queue.enqueue`` (and RQ's enqueue_many)
  drain         no-op jobs per second: ``python queues.py`` vs forking ``rq worker``
                (both started idle first; the rate is from the first job's start to the last end)
  two workers   two ``python queues.py`` processes vs one of the same path
  latency       enqueue -> job start with an idle worker (p50), ours vs forking ``rq worker``
  push_at       lateness of scheduled jobs (p95, minimum must be >= 0), fast path
  rss           the worker's resident memory after 1,000 and after 10,000 jobs, fast path
  bake          ``cookiecutter --no-input`` wall time (and ``--suite``: the generated tests)
  redis_cost    what a job costs Redis: commands, round trips, CPU, network, memory, per path;
                drains of 1, 2 and 4 workers with Redis CPU (docs/scaling.md of the project)
"""
