"""Write scikit-learn's digits as PNG files, one folder per class: an image folder to sweep on.

    python examples/write_digit_images.py [OUT]   # default examples/data/digits-png

1,797 grayscale 8x8 images in ``OUT/0`` ... ``OUT/9``, upscaled to 16x16 so that a random
crop has room. Nothing is downloaded; the folder is written once and reused.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

DEFAULT = Path(__file__).resolve().parent / "data" / "digits-png"


def write_digits(out: Path = DEFAULT, *, size: int = 16) -> Path:
    done = out / ".complete"
    if done.exists():
        return out
    digits = load_digits()
    for index, (pixels, label) in enumerate(zip(digits.images, digits.target)):
        folder = out / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        image = Image.fromarray((pixels * (255 / 16)).astype(np.uint8), mode="L")
        image.resize((size, size), Image.Resampling.NEAREST).save(folder / f"{index:04d}.png")
    done.touch()
    return out


if __name__ == "__main__":
    print(write_digits(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT))
