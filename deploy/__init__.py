"""The local stack manager: `python -m deploy.stack {install,up,down,status,clean}` (see stack.py)."""
