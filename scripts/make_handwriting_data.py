"""Write the glyph data of the handwriting task from the public-domain Hershey fonts.

The Hershey fonts were digitised by A. V. Hershey at the U.S. National Bureau of Standards and are
in the public domain. This script reads the "Script Simplex" face (a single-stroke cursive font)
from the ``hershey-fonts`` PyPI package (``pip install hershey-fonts``; needed only here, never
at run time) and writes ``src/eprop_jax/tasks/data/hershey_script_simplex.json``.

Output format (compact JSON)::

    {
      "font": "...", "source": "...", "license": "...", "units": "...",
      "cap_height": 21,            # baseline to cap line, in font units
      "glyphs": {
        "a": {"advance": 16, "strokes": [[[x0, y0], [x1, y1], ...], ...]},
        ...
      }
    }

Coordinates are integers in font units with ``x`` measured from the glyph's left side bearing
(so the glyph's box is ``[0, advance]``) and ``y`` pointing up from the baseline (the Hershey data
has ``y`` pointing down; we flip it). A stroke is drawn with the pen down; the pen lifts between
strokes.

Usage::

    python scripts/make_handwriting_data.py [--output PATH]
"""

from __future__ import annotations

import argparse
import json
import string
from pathlib import Path

FONT = "scripts"  # the hershey-fonts name of Hershey "Script Simplex"
CHARACTERS = string.ascii_lowercase + string.ascii_uppercase + string.digits + " "
DEFAULT_OUTPUT = (
    Path(__file__).resolve().parents[1]
    / "src"
    / "eprop_jax"
    / "tasks"
    / "data"
    / "hershey_script_simplex.json"
)


def glyph_table(characters: str = CHARACTERS) -> dict:
    """Read the font and return the JSON-ready table described in the module docstring."""
    from HersheyFonts import HersheyFonts  # only this script needs the package
    from HersheyFonts import __version__ as package_version

    font = HersheyFonts()
    font.load_default_font(FONT)
    glyphs = font.all_glyphs
    baseline = round(font.render_options["base_line"])
    cap_line = round(font.render_options["cap_line"])
    table = {}
    for char in characters:
        glyph = glyphs[char]
        left = glyph.left_offset
        strokes = [
            [[int(x - left), int(baseline - y)] for x, y in stroke] for stroke in glyph.strokes
        ]
        table[char] = {"advance": int(glyph.char_width), "strokes": strokes}
    return {
        "font": "Hershey Script Simplex",
        "source": f"hershey-fonts {package_version} (PyPI), built-in font '{FONT}'",
        "license": "public domain (Hershey fonts, U.S. National Bureau of Standards)",
        "units": "font units; x from the left side bearing, y up from the baseline",
        "cap_height": baseline - cap_line,
        "glyphs": table,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON file to write")
    args = parser.parse_args()
    table = glyph_table()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(table, separators=(",", ":"), sort_keys=True)
    args.output.write_text(text + "\n", encoding="utf-8")
    n_points = sum(len(s) for g in table["glyphs"].values() for s in g["strokes"])
    print(f"wrote {args.output} ({len(table['glyphs'])} glyphs, {n_points} points)")


if __name__ == "__main__":
    main()
