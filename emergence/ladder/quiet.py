"""Libraries' own progress bars and chatter kept off the screen while the ladder and the harness work.

A ladder build or a sweep draws one progress bar of its own (``emergence.progress``); transformers ("Loading
weights", "Writing model shards"), huggingface_hub, datasets ("Generating train split") and lm-eval would
otherwise draw theirs and log advice meant for their developers across it, once per checkpoint or job.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

LIBRARIES = ("transformers", "peft", "datasets", "huggingface_hub", "lm_eval", "tokenizers")
"""The libraries whose loggers are set to errors only and whose deprecation notices are not shown."""


def quiet_libraries() -> None:
    """Turn off, for the rest of this process, the progress bars of transformers, huggingface_hub and
    datasets, their info and warning logs (and lm-eval's), and their FutureWarning/DeprecationWarning
    notices. Errors still show. Idempotent; cheap after the first call.

    datasets is quieted through its environment variable when it is not imported yet, so that a ladder
    build, which never reads a dataset, does not pay for importing it.
    """
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(logging.ERROR)
    libraries = "|".join(LIBRARIES)
    for category in (FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category, module=rf"({libraries})(\.|$)")
    import transformers

    transformers.utils.logging.set_verbosity_error()
    if transformers.utils.logging.is_progress_bar_enabled():
        transformers.utils.logging.disable_progress_bar()  # huggingface_hub's bars too
    if "datasets" not in sys.modules:
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
        return
    import datasets

    datasets.utils.logging.set_verbosity_error()
    if not datasets.utils.are_progress_bars_disabled():
        datasets.disable_progress_bars()
