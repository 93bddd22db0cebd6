"""One line out of a Hydra / OmegaConf composition error, for every CLI of the project.

Lives in data_pipeline (the package every other one may import) so the pipeline, tokenizer and trainer CLIs
report a bad override the same way: the headline, the reason and the key, without Hydra's detail dump.
"""

from __future__ import annotations


def hydra_error_line(exc: BaseException) -> str:
    """Hydra/OmegaConf messages are a headline, a reason, detail lines (`full_key:`, `object_type=`) and
    sometimes a search-path dump; keep the headline and the reason, list options on one line, name the key."""
    chain = [exc]
    while chain[-1].__cause__ is not None:
        chain.append(chain[-1].__cause__)
    lines = [line.strip() for err in chain for line in str(err).strip().splitlines() if line.strip()]
    key = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("full_key:")), "")
    noise = ("full_key", "object_type", "reference_type", "To append", "Set the environment")
    kept: list[str] = []
    for line in lines:
        if line.startswith("Config search path"):
            break
        if not line.startswith(noise):
            kept.append(line)
    text = " — ".join(kept).replace(": — ", ": ").replace(" — ", ", ") if any(
        line.startswith("Available options") for line in kept) else " — ".join(kept)
    return f"{text} (key: {key})" if key and key not in text else text
