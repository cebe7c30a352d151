"""Make the README screenshots (SVG, and PNG via rsvg-convert) from the snapshot tests' scenes.

    python screenshots/make_screenshots.py [NAME ...]

Run from anywhere; writes next to this file. The scenes (fixtures, key presses, sizes) live in
tests/ui/scenes.py, shared with tests/ui/test_snapshots.py, so the pictures show what the tests check.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.ui.scenes import BY_NAME, SCENES, Scene  # noqa: E402


async def capture(scene: Scene) -> str:
    """The scene's screen as an SVG string."""
    app, collector = scene.build()
    async with app.run_test(size=scene.size) as pilot:
        await scene.run_before(collector)(pilot)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        return app.export_screenshot(title=f"vnettop: {scene.caption}")


def to_png(svg_path: Path) -> Path | None:
    """PNG beside the SVG. rsvg-convert trims leading spaces of text runs unless told to preserve them."""
    rsvg = shutil.which("rsvg-convert")
    if rsvg is None:
        print("rsvg-convert not found (Debian: librsvg2-bin): SVG only", file=sys.stderr)
        return None
    preserved = svg_path.with_suffix(".preserve.svg")
    preserved.write_text(svg_path.read_text().replace("<svg ", '<svg xml:space="preserve" ', 1))
    png = svg_path.with_suffix(".png")
    try:
        subprocess.run([rsvg, str(preserved), "-o", str(png)], check=True)
    finally:
        preserved.unlink(missing_ok=True)
    return png


def main(names: list[str]) -> int:
    scenes = [BY_NAME[n] for n in names] if names else list(SCENES)
    for scene in scenes:
        svg = HERE / f"{scene.name}.svg"
        svg.write_text(asyncio.run(capture(scene)))
        png = to_png(svg)
        print(f"{svg.name}{' + ' + png.name if png else ''}: {scene.caption}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
