#!/usr/bin/python3
"""Decode the first frame of a DICOM file with pydicom into files the OCR
test reads: OUT.pgm (8-bit luma, P5) and OUT.raw (the decoded frame in its
native layout: samples, planar configuration as in the file) with OUT.txt
describing that layout on one line:
    width height samples bits_allocated planar photometric

Usage: dicom_to_pgm.py FILE.dcm OUT     (writes OUT.pgm, OUT.raw, OUT.txt)
Exit status 77 (the test's skip code) when pydicom or numpy is missing.
"""
import sys

try:
    import numpy as np
    import pydicom
except ImportError as e:  # pragma: no cover
    print("skip: %s" % e, file=sys.stderr)
    sys.exit(77)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    ds = pydicom.dcmread(sys.argv[1])
    out = sys.argv[2]
    a = ds.pixel_array
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    if frames > 1:
        a = a[0]
    spp = int(ds.SamplesPerPixel)
    photo = str(ds.PhotometricInterpretation)
    bits = int(ds.BitsAllocated)
    planar = int(getattr(ds, "PlanarConfiguration", 0) or 0)
    rows, cols = int(ds.Rows), int(ds.Columns)
    if bits != 8:
        print("only 8-bit frames are written", file=sys.stderr)
        return 2
    # pydicom returns colour as (rows, cols, samples), the values still in
    # the file's colour space (no YBR -> RGB conversion for RLE).
    if spp == 3:
        if photo.startswith("YBR"):
            y = a[:, :, 0].astype(np.float64)
        else:
            y = (0.299 * a[:, :, 0] + 0.587 * a[:, :, 1]
                 + 0.114 * a[:, :, 2])
        native = a.transpose(2, 0, 1) if planar == 1 else a
    else:
        y = a.astype(np.float64)
        native = a
    gray = np.clip(np.rint(y), 0, 255).astype(np.uint8)
    with open(out + ".pgm", "wb") as f:
        f.write(b"P5\n%d %d\n255\n" % (cols, rows))
        f.write(gray.tobytes())
    with open(out + ".raw", "wb") as f:
        f.write(np.ascontiguousarray(native).astype(np.uint8).tobytes())
    with open(out + ".txt", "w") as f:
        f.write("%d %d %d %d %d %s\n" % (cols, rows, spp, bits, planar, photo))
    return 0


if __name__ == "__main__":
    sys.exit(main())
