"""The answers of assignment hidden_state: none here yet (its checks keep their own reference and mistakes)."""

ANSWERS: dict = {}
