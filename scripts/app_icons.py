"""Draw the web app manifest's icons (static/icons/app-*.png) from the favicon's design; the PNGs are committed.

`python scripts/app_icons.py` redraws them, with no network: Pillow comes with the test extras (matplotlib needs it).
The favicon (static/favicon.svg, a 32-unit square) is a blue rounded square holding a white speech bubble; the icons
draw the same shapes in those units. The maskable icon fills its whole square with the blue, since the phone cuts
its own shape out of it, and keeps the bubble inside the middle circle every such shape leaves (radius 40%).
"""
from pathlib import Path

from PIL import Image, ImageDraw

ICONS = Path(__file__).resolve().parent.parent / "static" / "icons"
BLUE = "#2457c5"
WHITE = "#ffffff"
UNITS = 32
# Drawn this many times larger, then scaled down: Pillow's shapes have no anti-aliasing of their own.
OVERSAMPLE = 4


def draw_icon(size, maskable):
    """One icon, `size` pixels square."""
    big = size * OVERSAMPLE
    scale = big / UNITS
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if maskable:
        draw.rectangle((0, 0, big, big), fill=BLUE)
        # The bubble (20 × 16 units around (16, 18)) made smaller and centred, so its corners stay in the safe circle.
        bubble_scale, dx, dy = 0.85, 0, -2
    else:
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=8 * scale, fill=BLUE)
        bubble_scale, dx, dy = 1, 0, 0

    def point(x, y):
        """Favicon units to pixels, the bubble scaled about its centre (16, 18) and moved by (dx, dy)."""
        return ((16 + (x - 16) * bubble_scale + dx) * scale, (18 + (y - 18) * bubble_scale + dy) * scale)

    (left, top), (right, bottom) = point(6, 10), point(26, 22)
    draw.rounded_rectangle((left, top, right, bottom), radius=2 * scale * bubble_scale, fill=WHITE)
    draw.polygon([point(15, 21), point(15, 22), point(10, 26), point(10, 21)], fill=WHITE)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main():
    """Write the three icons the manifest names."""
    for name, size, maskable in (("app-192.png", 192, False), ("app-512.png", 512, False), ("app-maskable-512.png", 512, True)):
        draw_icon(size, maskable).save(ICONS / name, optimize=True)


if __name__ == "__main__":
    main()
