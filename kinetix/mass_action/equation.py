"""Parsing reaction equations such as ``"2 B => B + C"``."""

from __future__ import annotations

from ..quoting import quote


def parse_side(text: str) -> dict[str, float]:
    """``"2 B + C"`` → ``{"B": 2.0, "C": 1.0}``; repeated species add up. Raises ``ValueError``."""
    side: dict[str, float] = {}
    if not text.strip():
        return side
    for raw in text.split(" + "):
        tokens = raw.split()
        if len(tokens) == 1:
            coef, name = 1.0, tokens[0]
        elif len(tokens) == 2:
            try:
                coef = float(tokens[0])
            except ValueError:
                raise ValueError(f"cannot read term {quote(raw.strip())}: write a number, a space, a species") from None
            name = tokens[1]
        else:
            raise ValueError(f"cannot read term {quote(raw.strip())} in {quote(text.strip())}: terms are 'B' or '2 B', joined by ' + '")
        if not coef > 0 or coef == float("inf"):
            raise ValueError(f"coefficient of {quote(name)} must be a positive number, not {quote(tokens[0])}")
        side[name] = side.get(name, 0.0) + coef
    return side


def parse_equation(text: str) -> tuple[dict[str, float], dict[str, float]]:
    """``"A + B => C"`` → ``({"A": 1, "B": 1}, {"C": 1})``. Raises ``ValueError``.

    Only irreversible reactions (``=>``) are mass-action reactions here; write a reversible one as
    two reactions.
    """
    if "<=>" in text or ("=" in text and "=>" not in text):
        raise ValueError(f"{quote(text)} is not irreversible: write it as two reactions with '=>'")
    parts = text.split("=>")
    if len(parts) != 2:
        raise ValueError(f"{quote(text)} must contain exactly one '=>'")
    reactants, products = parse_side(parts[0]), parse_side(parts[1])
    if not reactants and not products:
        raise ValueError(f"{quote(text)} has neither reactants nor products")
    return reactants, products


def format_side(side: dict[str, float]) -> str:
    terms = []
    for name, coef in side.items():
        terms.append(name if coef == 1 else f"{coef:g} {name}")
    return " + ".join(terms)


def format_equation(reactants: dict[str, float], products: dict[str, float]) -> str:
    return f"{format_side(reactants)} => {format_side(products)}".strip()
