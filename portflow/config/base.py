"""The base of every config model."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """Base of every config model: immutable, unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def from_section(cls, section: BaseModel, **extra: Any) -> Self:
        """The fields of ``section`` this model declares, plus ``extra``.

        How a task builds a stage's params from a config section: the stage gets (and its
        artifact's lineage records) only the settings it uses, so changing any other field
        of the section does not recompute it.
        """
        fields = set(cls.model_fields) & set(type(section).model_fields) - set(extra)
        return cls(**section.model_dump(include=fields), **extra)
