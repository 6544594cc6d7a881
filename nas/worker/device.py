"""Which torch device a worker evolves on: --device > NAS_DEVICE > cpu."""
from __future__ import annotations

from nas import defaults
from nas.errors import NasError


def resolve_device(flag: str | None) -> str:
    """Validate early, in one line: asking for a GPU on a CPU-only machine is an error."""
    import torch

    device = flag or defaults.device()
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise NasError(f"unknown device {device!r}; use cpu, cuda or cuda:N") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise NasError(f"--device {device}: this machine has no CUDA device (torch "
                           f"{torch.__version__} sees none); use --device cpu")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise NasError(f"--device {device}: only {torch.cuda.device_count()} CUDA devices")
    elif parsed.type != "cpu":
        raise NasError(f"unsupported device {device!r}; use cpu, cuda or cuda:N")
    return device
