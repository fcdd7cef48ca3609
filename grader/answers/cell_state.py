"""The answers of assignment cell_state: none here yet (its checks keep their own reference and mistakes)."""

ANSWERS: dict = {}
