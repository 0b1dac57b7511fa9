"""A checkpoint as jobs see it: its identity (what decides what gets loaded), a fingerprint of its weights,
and loading it (safetensors only).

The identity and the fingerprint go into every job's run id, so a checkpoint saved anew into the same
folder, or pointed at another revision, is a new checkpoint, while its measured values (loss, FLOPs) are not
part of it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from emergence.config import CheckpointSpec
from emergence.errors import EmergenceError

WHOLE_FILE_BYTES = 256 << 20
"""Weight files up to this size are hashed whole; larger ones by 16 evenly spaced 1 MiB samples."""


def checkpoint_identity(checkpoint: CheckpointSpec) -> dict:
    """The part of a checkpoint that decides what gets loaded (not its measured loss or FLOPs)."""
    return dict(
        id=checkpoint.id,
        path=None if checkpoint.path is None else str(Path(checkpoint.path).resolve()),
        hub=checkpoint.hub,
        revision=checkpoint.revision,
        trust_remote_code=checkpoint.trust_remote_code,
    )


def weights_fingerprint(folder: Path) -> str | None:
    """A hash of a checkpoint folder's config.json and safetensors files (each file's name and size, and
    its bytes: all of them up to WHOLE_FILE_BYTES, else 16 evenly spaced 1 MiB samples). None when the
    folder holds no safetensors file (loading it then fails with the reason)."""
    files = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
    if not files:
        return None
    digest = hashlib.sha256()
    config = folder / "config.json"
    if config.is_file():
        digest.update(config.read_bytes())
    for path in files:
        size = path.stat().st_size
        digest.update(f"\n{path.name}:{size}\n".encode())
        with path.open("rb") as f:
            if size <= WHOLE_FILE_BYTES:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
                continue
            for i in range(16):
                f.seek((size - (1 << 20)) * i // 15)
                digest.update(f.read(1 << 20))
    return "sha256:" + digest.hexdigest()


def _check_folder(name: str, folder: Path) -> None:
    """A clear error for a folder that is not a model, or holds only pickled weights (which can run code)."""
    if not (folder / "config.json").is_file():
        raise EmergenceError(f"checkpoint {name}: {folder} has no config.json; is it a model folder?")
    if not any(folder.glob("*.safetensors")):
        raise EmergenceError(
            f"checkpoint {name}: {folder} has no .safetensors weights; only safetensors are loaded "
            "(pickled .bin weights can run code): re-save it with save_pretrained(safe_serialization=True)"
        )


def load_checkpoint(checkpoint: dict):
    """Load a checkpoint's model (safetensors weights only, fp32, on CUDA where there is one) and tokenizer.

    ``checkpoint`` is a checkpoint identity (``checkpoint_identity``): ``path`` (a local folder) or
    ``hub`` + ``revision``; the checkpoint's own Python code runs only when ``trust_remote_code`` is set.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = checkpoint.get("path")
    if path is not None:
        _check_folder(checkpoint["id"], Path(path))
    source = path if path is not None else checkpoint["hub"]
    options = dict(
        trust_remote_code=bool(checkpoint.get("trust_remote_code")), revision=checkpoint.get("revision")
    )
    model = AutoModelForCausalLM.from_pretrained(source, use_safetensors=True, dtype=torch.float32, **options)
    tokenizer = AutoTokenizer.from_pretrained(source, **options)
    if torch.cuda.is_available():
        model = model.to("cuda")
    return model, tokenizer


HUB_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken", "*.py"]
"""What is fetched of a hub checkpoint: configs, weights, tokenizer files and its own code (run only with
trust_remote_code)."""


def checkpoint_folder(checkpoint: CheckpointSpec) -> Path:
    """The local folder of a checkpoint: its ``path``, or its hub snapshot (fetched, or from the cache)."""
    if checkpoint.path is not None:
        return Path(checkpoint.path)
    from huggingface_hub import snapshot_download

    where = f"{checkpoint.hub}@{checkpoint.revision or 'main'}"
    try:
        return Path(snapshot_download(checkpoint.hub, revision=checkpoint.revision, allow_patterns=HUB_FILES))
    except Exception as exc:
        raise EmergenceError(
            f"checkpoint {checkpoint.id}: cannot fetch {where} from the model hub ({type(exc).__name__}); this "
            "machine has no hub access (no network, or HF_HUB_OFFLINE=1) and it is not in the local cache: "
            f"download it where a hub is reachable (`hf download {checkpoint.hub} --revision "
            f"{checkpoint.revision or 'main'} --local-dir DIR`) and give that folder as the checkpoint's 'path'"
        ) from None
