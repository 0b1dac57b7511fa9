"""The harness: a sweep of finetune-then-evaluate jobs over a ladder, run locally or on Ray.

Importing this package loads no torch; the job function imports it when a job runs.
"""

from emergence.harness.jobs import Job, draw_examples, expand_jobs
from emergence.harness.sweep import SweepSummary, run_jobs, run_sweep

__all__ = ["Job", "SweepSummary", "draw_examples", "expand_jobs", "run_jobs", "run_sweep"]
