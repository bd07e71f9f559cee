"""The names classic provider modules import with `from ...typing import ...`."""
from typing import Any, Dict, List, NewType, Optional, Tuple, Union, get_type_hints

sha256 = NewType("sha_256_hash", str)

__all__ = ["Any", "Dict", "List", "Optional", "Tuple", "Union", "get_type_hints", "sha256"]
