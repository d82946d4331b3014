#!/usr/bin/python3
"""Draw the images of the OCR unit test (UnitTests/test_ocr.c) and of the
OCR benchmark with Debian's python3-pil, as binary PGM (P5) files:

  light.pgm   640x480: light overlay text on a dark speckled background
  dark.pgm    640x480: the same text dark on a light background
  small.pgm   320x240: small light text (read after the x2 upscale)
  cine-N.pgm  9 frames 320x240 of a cine: static text, a clock that
              changes at frames 3 and 6, speckle that moves every frame
  bench.pgm   640x480 ultrasound-like frame: a speckled sector and the
              overlay text of a real ultrasound (name, ID, dates, values)

and for each still image NAME.boxes: one line "word x y w h" per drawn
word (the box PIL drew it in).  The font is DejaVu Sans when
fonts-dejavu-core is installed, else PIL's built-in bitmap font.

Usage: make_images.py OUTDIR
Exit status 77 (the test's skip code) when python3-pil is missing.
"""
import os
import random
import sys

try:
    from PIL import Image, ImageDraw, ImageFont
except ImportError as e:
    print("skip: python3-pil is missing (%s)" % e, file=sys.stderr)
    sys.exit(77)

FONT_DIR = "/usr/share/fonts/truetype/dejavu"


def font(size, bold=False):
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    path = os.path.join(FONT_DIR, name)
    if os.path.exists(path):
        return ImageFont.truetype(path, size)
    return ImageFont.load_default()


def speckle(img, box, rng, hi):
    """Fill box with random speckle of values 0..hi (never bright text)."""
    x0, y0, x1, y1 = box
    px = img.load()
    for y in range(y0, y1):
        for x in range(x0, x1):
            px[x, y] = rng.randint(0, hi)


def draw_words(draw, xy, text, fnt, fill, boxes):
    """Draw `text` at xy and record one box per space-separated word."""
    x, y = xy
    space = draw.textlength(" ", font=fnt)
    for word in text.split(" "):
        l, t, r, b = draw.textbbox((x, y), word, font=fnt)
        draw.text((x, y), word, font=fnt, fill=fill)
        boxes.append((word, l, t, r - l, b - t))
        x += draw.textlength(word, font=fnt) + space


def save_pgm(img, path):
    with open(path, "wb") as f:
        f.write(b"P5\n%d %d\n255\n" % img.size)
        f.write(img.tobytes())


def save_boxes(boxes, path):
    with open(path, "w") as f:
        for word, x, y, w, h in boxes:
            f.write("%s %d %d %d %d\n" % (word, x, y, w, h))


LINES = [
    ((20, 20), "Test,Belle"),
    ((20, 56), "CL-285BT-1811492"),
    ((380, 20), "01/01/1988"),
    ((380, 56), "St Mary Clinic"),
    ((20, 300), "GYN"),
    ((20, 336), "F 8.5M"),
    ((20, 372), "DR 150"),
    ((300, 420), "Rt Follicle1 L 0.76 cm"),
]


def still(path, size, lines, fnt, bg, fg, rng, speckle_hi):
    img = Image.new("L", size, bg)
    if speckle_hi:
        w, h = size
        speckle(img, (w // 4, h // 4, 3 * w // 4, 3 * h // 4), rng,
                speckle_hi)
    draw = ImageDraw.Draw(img)
    boxes = []
    for xy, text in lines:
        draw_words(draw, xy, text, fnt, fg, boxes)
    save_pgm(img, path + ".pgm")
    save_boxes(boxes, path + ".boxes")


def sector(img, rng):
    """An ultrasound-like sector: speckle in a fan, dark elsewhere."""
    import math
    w, h = img.size
    px = img.load()
    cx, cy, r0, r1 = w // 2, 40, 30, h - 40
    for y in range(cy, h):
        for x in range(w):
            dx, dy = x - cx, y - cy
            r = math.hypot(dx, dy)
            if r0 < r < r1 and abs(math.atan2(dx, dy)) < 0.75:
                base = 60 + 50 * math.sin(r / 23.0) + 30 * math.sin(x / 17.0)
                px[x, y] = max(0, min(255, int(base + rng.gauss(0, 45))))


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = random.Random(1988)
    f20 = font(20)
    still(os.path.join(out, "light"), (640, 480), LINES, f20, 0, 235, rng,
          110)
    still(os.path.join(out, "dark"), (640, 480), LINES, f20, 235, 10, rng, 0)
    small = [((10, 10), "Test,Belle"), ((10, 30), "CL-285BT-1811492"),
             ((190, 10), "01/01/1988"), ((10, 210), "F 8.5M")]
    still(os.path.join(out, "small"), (320, 240), small, font(11), 0, 230,
          rng, 0)

    # The cine: static name, a clock that changes at frames 3 and 6.
    f14 = font(14)
    for i in range(9):
        img = Image.new("L", (320, 240), 0)
        speckle(img, (60, 60, 260, 220), rng, 120)
        draw = ImageDraw.Draw(img)
        draw.text((10, 10), "Test,Belle", font=f14, fill=230)
        clock = "10:00:%02d" % (0 if i < 3 else 1 if i < 6 else 2)
        draw.text((200, 10), clock, font=f14, fill=230)
        save_pgm(img, os.path.join(out, "cine-%d.pgm" % i))

    # The benchmark's frame.
    img = Image.new("L", (640, 480), 0)
    sector(img, rng)
    draw = ImageDraw.Draw(img)
    boxes = []
    fb = font(13, bold=True)
    for xy, text in [((8, 6), "Reproductive and Surgical Specialists"),
                     ((8, 24), "20-04-2023 01:10:39"),
                     ((300, 6), "Test,Belle"), ((300, 24), "CL-285BT-1811492"),
                     ((500, 6), "GYN"), ((500, 24), "01/01/1988"),
                     ((560, 80), "F 8.5M"), ((560, 98), "D 7.4"),
                     ((560, 116), "G52"), ((560, 134), "FR 29"),
                     ((8, 60), "AP 100% MI 0.5 TIS 0.2"),
                     ((420, 440), "Rt Follicle1 L 0.76 cm")]:
        draw_words(draw, xy, text, fb, 220, boxes)
    save_pgm(img, os.path.join(out, "bench.pgm"))
    save_boxes(boxes, os.path.join(out, "bench.boxes"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
