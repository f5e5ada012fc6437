"""The networks: teacher (seed 001 Table 1), student (Table 2), LoRA adapters and their merge."""

from faultedge.models.student import Student
from faultedge.models.teacher import Teacher

__all__ = ["Student", "Teacher"]
