"""What happened during a training: one entry of means per logged step, and the validation scores."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["History"]


@dataclass
class History:
    """What happened during training, one entry per logged step.

    Each logged value is the mean over the steps since the previous entry (``log_every`` steps).
    The values are read as ``history["loss"]`` or ``history.loss``: ``loss``, ``lr`` and the
    objective's statistics (e.g. ``active_fraction``, ``mean_positive_distance``,
    ``mean_negative_distance``; ``batch_accuracy`` for softmax).

    Attributes
    ----------
    step : list of int
        The step (1-based) of each entry.
    seconds : list of float
        Seconds of training up to that step (time before a resume included).
    values : dict of str to list of float
        One list per logged quantity, aligned with ``step``.
    validation : list of (int, float)
        ``(step, score)`` of every validation.
    validation_raw : list of (int, float)
        With a :class:`WeightAverage`: ``(step, score)`` of the raw weights at every validation
        (``validation`` holds the averaged weights' scores).
    """

    step: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=dict)
    validation: list[tuple[int, float]] = field(default_factory=list)
    validation_raw: list[tuple[int, float]] = field(default_factory=list)

    def __getitem__(self, name: str) -> list[float]:
        return self.values[name]

    def __getattr__(self, name: str) -> list[float]:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(
            f"History has no {name!r}; it has {sorted(values)}"
        )

    def append(
        self, step: int, seconds: float, means: dict[str, float]
    ) -> None:
        """Add an entry; a quantity missing from ``means`` (or new in it) is NaN where it has no value."""
        for name in means.keys() - self.values.keys():
            self.values[name] = [math.nan] * len(self.step)
        for name, values in self.values.items():
            values.append(means.get(name, math.nan))
        self.step.append(step)
        self.seconds.append(seconds)

    @property
    def best_validation(self) -> tuple[int, float] | None:
        """``(step, score)`` of the highest validation score (the earliest on ties), or None."""
        if not self.validation:
            return None
        return max(self.validation, key=lambda entry: (entry[1], -entry[0]))

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and dicts (for JSON or a checkpoint); :meth:`from_dict` inverts it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        """Rebuild a history from :meth:`to_dict` (JSON lists become ``(step, score)`` tuples again)."""
        return cls(
            step=[int(s) for s in data.get("step", [])],
            seconds=[float(s) for s in data.get("seconds", [])],
            values={
                name: [float(v) for v in values]
                for name, values in data.get("values", {}).items()
            },
            validation=[
                (int(step), float(score))
                for step, score in data.get("validation", [])
            ],
            validation_raw=[
                (int(step), float(score))
                for step, score in data.get("validation_raw", [])
            ],
        )

    def as_dataframe(self):
        """The logged entries as a ``pandas.DataFrame``: ``step``, ``seconds`` and one column per value."""
        import pandas as pd  # only the notebooks need pandas

        return pd.DataFrame(
            {"step": self.step, "seconds": self.seconds, **self.values}
        )
