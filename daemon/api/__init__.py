"""HTTP and WebSocket edges: decode, call one service method, encode."""

__all__: list[str] = []
