"""Renders lateral chest views from the simulator's CT (a negative for the input check: a frontal chest
film is wanted, and a lateral is not one). Standard library only.

    python3 render_lateral.py assets/ct/cxr.nii.gz assets/negatives/lateral-drr

Each voxel's attenuation relative to water, (HU + 1000) / 1000, is summed across the body from side to
side; the sums, windowed between their 1st and 99.5th percentiles, are the image (dense bright), at
the CT's physical aspect. Written facing left (as a lateral film is read) and facing right.
"""
import array
import gzip
import struct
import sys
import zlib

# The CT table lies along the patient's back at these first rows of the volume; a standing lateral
# film has none.
TABLE_ROWS = 62
SIDE = 256


def read_nifti(path):
    data = gzip.open(path).read()
    nx, ny, nz = struct.unpack("<3h", data[42:48])
    dx, dy, dz = struct.unpack("<3f", data[80:92])
    offset = int(struct.unpack("<f", data[108:112])[0])
    slope, intercept = struct.unpack("<2f", data[112:120])
    if struct.unpack("<h", data[70:72])[0] != 4:
        sys.exit("expected 16-bit signed voxels")
    voxels = array.array("h")
    voxels.frombytes(data[offset:offset + 2 * nx * ny * nz])
    return (nx, ny, nz), (dx, dy, dz), voxels, slope, intercept


def write_png(path, rows):
    height, width = len(rows), len(rows[0])
    raw = b"".join(b"\x00" + bytes(row) for row in rows)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main(ct, out):
    (nx, ny, nz), (dx, dy, dz), voxels, slope, intercept = read_nifti(ct)
    attenuation = [max(0.0, (v * slope + intercept + 1000.0) / 1000.0) for v in range(-32768, 32768)]
    # One row per slice (the first is the lowest, so reversed), one column per front-to-back position.
    sums = []
    for k in reversed(range(nz)):
        base = k * nx * ny
        sums.append([
            0.0 if j < TABLE_ROWS else dx * sum(attenuation[v + 32768] for v in voxels[base + j * nx:base + (j + 1) * nx])
            for j in reversed(range(ny))  # the front (the last rows) to the left
        ])
    ordered = sorted(v for row in sums for v in row)
    low, high = ordered[len(ordered) // 100], ordered[int(0.995 * len(ordered))]
    width = round(SIDE * ny * dy / (nz * dz))
    rows = [
        [max(0, min(255, int(255 * (sums[y * nz // SIDE][x * ny // width] - low) / (high - low)))) for x in range(width)]
        for y in range(SIDE)
    ]
    write_png(f"{out}/lateral-facing-left.png", rows)
    write_png(f"{out}/lateral-facing-right.png", [row[::-1] for row in rows])


if __name__ == "__main__":
    main(*sys.argv[1:3])
