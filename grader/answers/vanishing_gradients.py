"""The answers of assignment vanishing_gradients: none here yet (its checks keep their own reference and mistakes)."""

ANSWERS: dict = {}
