"""``digits``: a digit classifier's accuracy on hidden digits, scored relative to the best in class.

ML Assignment 2, Ex3: 40 x your_accuracy / class_best_accuracy. An instance of
:mod:`grader.checks.model_accuracy`, kept under its own name for the rubrics that use it::

    - kind: model_accuracy            # what `kind: digits` means
      model: digits.h5
      data: {package: digits}         # staff photos in --hidden DIR/digits/, else MNIST's test split (+ sklearn's)
      input_scaling: unit
      relative: true
      classes: 10

Each submission is evaluated on its own (the raw accuracy is stored); the class-level step
runs after the whole batch (:mod:`grader.classstep.classwide`) and turns accuracies into scores (an
accuracy far above the rest is flagged and does not set the best: :mod:`grader.classstep.classbest`), so a
late submission or a regrade rescales everyone without re-running anything. Until then the
score shown is ``points * accuracy`` and labelled provisional.

.. code-block:: yaml

    - kind: digits
      model: digits.h5
      input_scaling: unit   # unit (x / 255, the course's), raw, symmetric ([-1, 1]) or standardized
      adapt_inputs: true    # feed (28, 28, 3) and 32x32 models too (grey copied, LeNet padding)
      blur: 0               # box blur for staff photos (the course's own digits used 7)
"""

from __future__ import annotations

from pydantic import Field, model_validator

from grader.checks.model_accuracy import DataSet, ModelAccuracyParams, model_accuracy
from grader.checks.modelinputs import ScalingName
from grader.rubric.kinds import CheckContext, CheckParams, Outcome, RubricFile, check_kind


class DigitsParams(CheckParams):
    model: str = Field(min_length=1)
    input_scaling: ScalingName | None = None
    scale: float | None = Field(None, gt=0)  # older rubrics: pixels divided by this
    adapt_inputs: bool = True
    blur: int = Field(0, ge=0, le=31)
    # a student build: the public digits a self-check scores on, as an .npz (x, y) next to the rubric
    public_sample: RubricFile | None = None

    @model_validator(mode="after")
    def _one_scaling(self):
        if self.input_scaling is not None and self.scale is not None:
            raise ValueError("give either 'input_scaling' or the older 'scale', not both")
        return self

    def as_model_accuracy(self) -> ModelAccuracyParams:
        public = DataSet(npz=self.public_sample, name="mnist-public") if self.public_sample else None
        return ModelAccuracyParams(model=self.model, data=DataSet(package="digits", blur=self.blur),
                                   public_data=public, input_scaling=self.input_scaling, scale=self.scale,
                                   adapt_inputs=self.adapt_inputs, classes=10, relative=True)

    def suggest_files(self, ctx: CheckContext, pattern: str) -> list[str]:
        return self.as_model_accuracy().suggest_files(ctx, pattern)


@check_kind("digits", DigitsParams, class_relative=True)
def digits(ctx: CheckContext, p: DigitsParams) -> Outcome:
    """Accuracy on hidden digits; the class-level step scores it as points * accuracy / class best."""
    return model_accuracy(ctx, p.as_model_accuracy())
