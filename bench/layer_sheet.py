"""Remake the layer sheets the bot ships in bot/assets/ (what `/layers` shows at once):

    python bench/layer_sheet.py                    # efficientnet_lite0 on the CPU
    python bench/layer_sheet.py --device cuda --model efficientnet_lite0

Writes the sample photo every sheet is dreamed on (bot/assets/sheet-photo.jpg, from
tests/data/astronaut.png) unless it is there, then the model's sheet as
bot/assets/<engine.sheet.sheet_stem(model)>.<ext>, removing that model's older sheets. Run it
after changing a model's presets or engine/sheet.py: the bot only shows a shipped sheet whose name
matches the engine's `sheet_version`, and makes (and caches) one in the background otherwise.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
# run as a script, bench/ comes first on the path and bench/engine.py would shadow the engine
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from engine import Dreamer, presets  # noqa: E402
from engine.models import DEFAULT_MODEL  # noqa: E402
from engine.sheet import SHEET_SIDE, layer_sheet, sheet_params, sheet_stem  # noqa: E402

ASSETS = ROOT / "bot" / "assets"
PHOTO = ASSETS / "sheet-photo.jpg"
SOURCE = ROOT / "tests" / "data" / "astronaut.png"


def sample_photo() -> bytes:
    """The shipped sample photo's bytes, made from the test photo the first time."""
    if not PHOTO.exists():
        with Image.open(SOURCE) as image:
            small = image.convert("RGB")
            small.thumbnail((SHEET_SIDE, SHEET_SIDE), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        small.save(buffer, "JPEG", quality=92)
        ASSETS.mkdir(parents=True, exist_ok=True)
        PHOTO.write_bytes(buffer.getvalue())
        print(f"wrote {PHOTO.relative_to(ROOT)} ({len(buffer.getvalue())} bytes)")
    return PHOTO.read_bytes()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    photo = sample_photo()
    dreamer = Dreamer(device=args.device)
    dreams = []
    for preset in presets(args.model):
        started = time.perf_counter()
        encoded = dreamer.dream_bytes(photo, sheet_params(args.model, preset.name))
        dreams.append((preset.name, encoded.data))
        print(f"{preset.name}: {time.perf_counter() - started:.1f} s")
    stem = sheet_stem(args.model)
    sheet = layer_sheet(photo, dreams, stem=stem)
    for old in ASSETS.glob(f"layers-{args.model}-*"):
        old.unlink()
    (ASSETS / sheet.filename).write_bytes(sheet.data)
    print(f"wrote bot/assets/{sheet.filename} ({len(sheet.data)} bytes, {sheet.format})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
