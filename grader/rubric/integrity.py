"""The rubric's ``integrity:`` settings: thresholds, the handout's starter code, well-known images.

Every key has a safe default (measured: no false pair among independent submissions, see the
README), and none of them changes a grade or a stored record: they are read by the class-level
step only, so changing one and re-exporting never regrades anyone. ::

    integrity:
      starter: [handout/xor.ipynb]          # released code, ignored (paths next to the rubric)
      known_images: [handout/images]        # files or folders: photos flagged when handed in
      weights_cosine: 0.97                  # a layer "matches" at this cosine or above
      code_similarity: 0.6                  # Jaccard of code fingerprints, starter code removed
      known_xor:                            # XOR weights a handout printed: flagged when handed in
        - {label: "the handout's sample weights", weights1: [[...], [...], [...]], weights2: [...]}
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import numpy as np


class KnownXor(BaseModel):
    """A 3-4-1 XOR network's 16 weights that everyone can copy (the handout's sample run)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str = Field("the handout's sample weights", min_length=1)
    weights1: list[list[float]] = Field(min_length=3, max_length=3)  # input -> hidden, 3x4
    weights2: list[float] = Field(min_length=4, max_length=4)  # hidden -> output

    @property
    def matrix(self) -> np.ndarray:
        """The 4x4 layout the comparison uses: weights1's rows, then weights2."""
        import numpy as np  # only the class step compares weights; reading a rubric needs no numpy (0.1 s)

        return np.vstack([np.asarray(self.weights1, dtype=float).reshape(3, 4),
                          np.asarray(self.weights2, dtype=float).reshape(1, 4)])


class IntegrityConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    # Weights: a layer pair matches at this cosine (or exactly); a file pair is evidence when the
    # matching layers hold at least this share of the parameters of both files.
    weights_cosine: float = Field(0.97, gt=0, le=1)
    weights_min_share: float = Field(0.5, gt=0, le=1)
    # XOR weights (notebook prints, equations): every one of the 16 numbers within this distance,
    # hidden neurons in any order (500 independent runs of the handout's code: closest pair 0.10 apart).
    xor_tolerance: float = Field(0.01, gt=0, le=0.1)
    # Photos: differing bits of the 64-bit perceptual (pHash) and difference (dHash) hashes, both at
    # most these (a re-encoded, resized copy: 0-2; unrelated photos: 20-40).
    image_phash_bits: int = Field(5, ge=0, le=20)
    image_dhash_bits: int = Field(5, ge=0, le=20)
    # Screenshots look alike whatever they show (one application window): only identical pixels
    # count. None: the files of the rubric's `image` checks.
    screenshots: list[str] | None = None
    # Code: Jaccard similarity of winnowed fingerprints, after removing the starter code's and the
    # code more than `code_common` students share (None: max(10, 5% of the class)).
    code_similarity: float = Field(0.6, gt=0, le=1)
    code_min_shared: int = Field(20, ge=1)
    code_common: int | None = Field(None, ge=2)
    starter: list[str] = Field(default_factory=list)
    known_images: list[str] = Field(default_factory=list)
    # XOR weights a handout printed (its sample run): an equation or a notebook holding them is flagged.
    known_xor: list[KnownXor] = Field(default_factory=list)
