"""Structured answers for the types that are not free text (validated by llm.complete)."""

from pydantic import BaseModel, Field


class Flashcard(BaseModel):
    front: str = Field(..., min_length=1, description="The question or cue.")
    back: str = Field(..., min_length=1, description="The answer.")


class Flashcards(BaseModel):
    cards: list[Flashcard] = Field(..., min_length=1, max_length=50)


class QuizQuestion(BaseModel):
    question: str = Field(..., min_length=1)
    choices: list[str] = Field(..., min_length=2, max_length=8)
    answer_index: int = Field(..., ge=0, description="Index in choices of the correct answer (0-based).")
    explanation: str = ""


class Quiz(BaseModel):
    questions: list[QuizQuestion] = Field(..., min_length=1, max_length=30)


SCHEMAS = {"flashcards": Flashcards, "quiz": Quiz}


def validate_structured(artifact_type: str, value: dict) -> dict:
    """Check a quiz's answer indexes point at a choice (pydantic alone cannot say so)."""
    if artifact_type == "quiz":
        for number, q in enumerate(value.get("questions", []), start=1):
            if not 0 <= q["answer_index"] < len(q["choices"]):
                raise ValueError(f"Question {number}: answer_index {q['answer_index']} is not one of its choices.")
    return value
