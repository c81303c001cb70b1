"""Makes ``proofs/`` importable as a flat directory (``_common`` and the ``pNN_*`` modules)
whatever pytest's import mode, and quiets TensorFlow's C++ logging."""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))
